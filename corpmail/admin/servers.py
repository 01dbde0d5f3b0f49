"""Mail tools > Mail servers."""
from flask import render_template
from corpmail.admin import bp


@bp.route("/servers")
def servers():
    return render_template("base.html")

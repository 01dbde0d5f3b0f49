"""Mail tools > Mail scanner."""
from flask import render_template
from corpmail.admin import bp


@bp.route("/accounts")
def accounts():
    return render_template("base.html")

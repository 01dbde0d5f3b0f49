"""Mail tools > Mail configuration."""
from flask import render_template
from corpmail.admin import bp


@bp.route("/configuration", methods=["GET", "POST"])
def configuration():
    return render_template("base.html")

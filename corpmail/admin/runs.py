"""Logs > Mail download history."""
from flask import render_template
from corpmail.admin import bp


@bp.route("/runs")
def runs():
    return render_template("base.html")

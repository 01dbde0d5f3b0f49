"""CRM pages."""
from flask import render_template
from corpmail.crm import bp


@bp.route("/tickets")
def tickets():
    return render_template("base.html")


@bp.route("/emails")
def emails():
    return render_template("base.html")


@bp.route("/emails/<int:email_id>")
def email_detail(email_id):
    return render_template("base.html")


@bp.route("/contacts")
def contacts():
    return render_template("base.html")


@bp.route("/accounts")
def accounts():
    return render_template("base.html")


@bp.route("/leads")
def leads():
    return render_template("base.html")

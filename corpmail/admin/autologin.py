"""Mail tools > Mail autologin: which users may open which mailbox from the top bar."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from corpmail.admin import bp
from corpmail.admin.forms import PostForm
from corpmail.autologin.grants import set_account_grants
from corpmail.extensions import db
from corpmail.models import ScannerAccount, User


@bp.route("/autologin")
def autologin():
    accounts = db.session.scalars(select(ScannerAccount).order_by(ScannerAccount.name)).all()
    users = db.session.scalars(select(User).order_by(User.name, User.email)).all()
    return render_template("admin/autologin.html", accounts=accounts, users=users)


@bp.route("/autologin/<int:account_id>", methods=["POST"])
def autologin_save(account_id: int):
    """Save one mailbox's list of users; a removed user's Roundcube session ends at once."""
    account = db.get_or_404(ScannerAccount, account_id)
    if not PostForm().validate_on_submit():
        abort(400)
    known = set(db.session.scalars(select(User.id)))
    wanted: set[int] = set()
    for value in request.form.getlist("user_ids"):
        if not value.isdigit() or int(value) not in known:
            abort(400)
        wanted.add(int(value))
    added, removed = set_account_grants(account, wanted)
    db.session.commit()
    flash(_("Access to %(name)s saved: %(added)d added, %(removed)d removed.",
            name=account.name, added=added, removed=removed), "success")
    return redirect(url_for("admin.autologin", _anchor=f"mailbox-{account.id}"))

"""Binding an e-mail to a CRM record by hand, and unbinding it; both POST and idempotent."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from corpmail.crm import bp
from corpmail.crm.common import RECORD_TYPES, safe_next
from corpmail.crm.forms import LinkForm
from corpmail.extensions import db
from corpmail.models import Email, EmailLink


def _validated(email_id: int):
    email = db.get_or_404(Email, email_id)
    form = LinkForm()
    if not form.validate_on_submit():
        abort(400)
    kind = RECORD_TYPES[form.record_type.data]
    back = safe_next(form.next.data, url_for("crm.email_detail", email_id=email.id))
    return email, form, kind, back


@bp.route("/emails/<int:email_id>/link", methods=["POST"])
def email_link(email_id: int):
    email, form, kind, back = _validated(email_id)
    record = db.get_or_404(kind.model, form.record_id.data)
    exists_already = db.session.scalar(
        select(EmailLink.id).where(EmailLink.email_id == email.id,
                                   EmailLink.record_type == kind.name,
                                   EmailLink.record_id == record.id)
    )
    if exists_already is None:
        db.session.add(EmailLink(email_id=email.id, record_type=kind.name, record_id=record.id,
                                 manual=True))
        try:
            db.session.commit()
        except IntegrityError:  # linked at the same moment by someone else (or the scanner)
            db.session.rollback()
    flash(_("E-mail linked to %(record)s.", record=record.label), "success")
    return redirect(back)


@bp.route("/emails/<int:email_id>/unlink", methods=["POST"])
def email_unlink(email_id: int):
    email, form, kind, back = _validated(email_id)
    db.session.execute(
        delete(EmailLink).where(EmailLink.email_id == email.id,
                                EmailLink.record_type == kind.name,
                                EmailLink.record_id == form.record_id.data)
    )
    db.session.commit()
    flash(_("Link removed."), "success")
    return redirect(back)

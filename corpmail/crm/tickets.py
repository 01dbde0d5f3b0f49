"""Tickets: list with search and status filter, detail with history and e-mails, create, edit."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from corpmail.crm import bp
from corpmail.crm.common import (
    commit_and_show,
    render_detail,
    render_list,
    render_record_form,
)
from corpmail.crm.forms import TicketForm
from corpmail.extensions import db
from corpmail.models import Contact, MailConfiguration, Ticket, TicketHistory
from corpmail.models.crm import CLOSING_STATUSES, TICKET_STATUSES, assign_ticket_number

OPEN_FILTER = "open"  # pseudo-status: every status that is not a closing one


@bp.route("/tickets")
def tickets():
    status = request.args.get("status", "")
    where = None
    if status == OPEN_FILTER:
        where = Ticket.status.not_in(CLOSING_STATUSES)
    elif status in TICKET_STATUSES:
        where = Ticket.status == status
    return render_list("ticket", where, status=status, statuses=TICKET_STATUSES)


def compose_links(ticket: Ticket, user) -> list[tuple[str, str]]:
    """(mailbox name, link) per granted mailbox: Roundcube compose with the contact's address
    and "[TT123] " in the subject (SPEC §8), opened through autologin."""
    from corpmail.autologin.unread import granted_accounts
    from corpmail.autologin.views import open_url

    to = (ticket.contact and ticket.contact.email) or (ticket.account and ticket.account.email) or ""
    subject = f"[{ticket.number}] "
    return [(a.name, open_url(a.id, to=to, subject=subject)) for a in granted_accounts(user.id)]


@bp.route("/tickets/<int:record_id>")
def ticket_detail(record_id: int):
    ticket = db.get_or_404(Ticket, record_id)
    return render_detail("ticket", ticket, compose_links=compose_links(ticket, current_user))


@bp.route("/tickets/new", methods=["GET", "POST"])
def ticket_new():
    form = TicketForm()
    if not form.is_submitted():
        form.status.data = MailConfiguration.get().ticket_default_status
        form.owner_id.data = current_user.id
        # "New ticket" from a contact or account page comes pre-filled.
        form.contact_id.data = request.args.get("contact_id", 0, type=int)
        form.account_id.data = request.args.get("account_id", 0, type=int)
    if form.validate_on_submit():
        ticket = Ticket()
        _fill_ticket(ticket, form)
        ticket.status = form.status.data
        ticket.history.append(TicketHistory(old_status=None, new_status=ticket.status,
                                            note=form.note.data or _("Created")))
        db.session.add(ticket)
        assign_ticket_number(ticket, MailConfiguration.get().ticket_prefix)
        return commit_and_show("ticket", ticket, _("Ticket %(number)s created.", number=ticket.number))
    return render_record_form(form, _("New ticket"), url_for("crm.tickets"))


@bp.route("/tickets/<int:record_id>/edit", methods=["GET", "POST"])
def ticket_edit(record_id: int):
    ticket = db.get_or_404(Ticket, record_id)
    form = TicketForm(obj=ticket)
    if not form.is_submitted():
        form.contact_id.data = ticket.contact_id or 0
        form.account_id.data = ticket.account_id or 0
        form.owner_id.data = ticket.owner_id or 0
        form.note.data = ""
    if form.validate_on_submit():
        _fill_ticket(ticket, form)
        # Through change_status, so the change shows in the history.
        ticket.change_status(form.status.data, note=form.note.data or "")
        return commit_and_show("ticket", ticket, _("Ticket %(number)s saved.", number=ticket.number))
    return render_record_form(form, _("Edit ticket %(number)s", number=ticket.number),
                              url_for("crm.ticket_detail", record_id=ticket.id))


def _fill_ticket(ticket: Ticket, form: TicketForm) -> None:
    ticket.title = form.title.data
    ticket.description = form.description.data or ""
    ticket.priority = form.priority.data
    ticket.contact_id = form.contact_id.data or None
    ticket.account_id = form.account_id.data or None
    if ticket.account_id is None and ticket.contact_id:
        ticket.account_id = db.session.get(Contact, ticket.contact_id).account_id
    ticket.owner_id = form.owner_id.data or None

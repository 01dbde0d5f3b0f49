"""Open ticket (SPEC 4.3): a reply to a ticket moves it on, or reopens it when closed."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from corpmail.extensions import db
from corpmail.scanner.actions.bind_email import link
from corpmail.scanner.context import ScanContext
from corpmail.scanner.registry import Action, register
from corpmail.scanner.tickets import existing_ticket, new_ticket


@register
class OpenTicket(Action):
    name = "open-ticket"
    description = _l("Open ticket: a reply to a ticket updates or reopens it")
    requires = ("create-email",)
    position = 30

    def run(self, ctx: ScanContext) -> None:
        if ctx.email_id is None or not ctx.ticket_actions_apply:
            return
        ticket = existing_ticket(ctx)
        if ticket is None:
            return
        cfg = ctx.config
        if ticket.is_closed and cfg.ticket_on_closed_reply == "new ticket":
            ctx.notes.append(f"reply to closed {ticket.number}: new ticket")
            new_ticket(ctx)
            return
        db.session.flush()  # the history row references the e-mail
        note = _("Reply received by e-mail")
        if ticket.status == "Wait for response":
            ticket.change_status(cfg.ticket_status_after_reply, note, ctx.email_id)
        elif ticket.is_closed:
            ticket.change_status(cfg.ticket_reopen_status, _("Reopened by an e-mail reply"), ctx.email_id)
        ctx.ticket = ticket
        link(ctx, "ticket", ticket.id)

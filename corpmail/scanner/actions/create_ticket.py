"""Create ticket (SPEC 4.4): received mail that answers no ticket opens a new one."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from corpmail.scanner.actions.bind_email import link
from corpmail.scanner.context import ScanContext
from corpmail.scanner.registry import Action, register
from corpmail.scanner.tickets import existing_ticket, new_ticket


@register
class CreateTicket(Action):
    name = "create-ticket"
    description = _l("Create ticket: received mail that is not a reply opens a ticket")
    requires = ("create-email",)
    position = 40

    def run(self, ctx: ScanContext) -> None:
        if ctx.email_id is None or ctx.ticket is not None or not ctx.ticket_actions_apply:
            return
        ticket = existing_ticket(ctx)
        if ticket is not None and not (
            ticket.is_closed and ctx.config.ticket_on_closed_reply == "new ticket"
        ):
            # It belongs to that ticket (open-ticket, when configured, moves its status).
            ctx.ticket = ticket
            link(ctx, "ticket", ticket.id)
            return
        new_ticket(ctx)

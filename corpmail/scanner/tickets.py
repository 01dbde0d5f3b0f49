"""Which ticket a message answers, and opening a new one from a message (shared by actions)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.scanner.context import ScanContext
from corpmail.scanner.matching import sender_records, ticket_numbers


def existing_ticket(ctx: ScanContext):
    """The ticket the message answers: a [TT123] number in the subject, else the ticket of
    an e-mail its In-Reply-To / References point at. Cached on the context."""
    if "existing_ticket" in ctx._cache:
        return ctx._cache["existing_ticket"]
    from corpmail.models import Email, EmailLink, Ticket

    ticket = None
    numbers = ticket_numbers(ctx.parsed.subject, ctx.config.ticket_prefix)
    if numbers:
        found = {t.number: t for t in db.session.scalars(select(Ticket).where(Ticket.number.in_(numbers)))}
        ticket = next((found[n] for n in numbers if n in found), None)
    if ticket is None:
        refs = [r for r in [ctx.parsed.in_reply_to, *(ctx.parsed.references or [])] if r]
        if refs:
            # message_key is the Message-ID when there is one (and it is the indexed column).
            ticket_id = db.session.scalar(
                select(EmailLink.record_id)
                .join(Email, Email.id == EmailLink.email_id)
                .where(Email.message_key.in_(refs), EmailLink.record_type == "ticket")
                .order_by(EmailLink.record_id.desc())
                .limit(1)
            )
            if ticket_id is not None:
                ticket = db.session.get(Ticket, ticket_id)
    ctx._cache["existing_ticket"] = ticket
    return ticket


def new_ticket(ctx: ScanContext):
    """Open a ticket from the message (SPEC 4.4) and bind the e-mail to it."""
    from corpmail.models import Ticket
    from corpmail.models.crm import assign_ticket_number
    from corpmail.scanner.actions.bind_email import link
    from corpmail.scanner.email_row import clean

    sender = ctx.parsed.sender.email if ctx.parsed.sender else None
    contact_id, account_id = sender_records(sender)
    ticket = Ticket(
        title=clean(ctx.parsed.subject, 500).strip() or _("(no subject)"),
        description=clean(ctx.parsed.text),
        status=ctx.config.ticket_default_status,
        contact_id=contact_id,
        account_id=account_id,
        owner_id=ctx.account.owner_id,
    )
    db.session.add(ticket)
    assign_ticket_number(ticket, ctx.config.ticket_prefix)
    ctx.ticket = ticket
    link(ctx, "ticket", ticket.id)
    return ticket

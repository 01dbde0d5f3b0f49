"""Bind e-mail (SPEC 4.2): link the E-mail to the CRM records its addresses and subject name."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.scanner.context import ScanContext
from corpmail.scanner.matching import bindable_addresses, find_records
from corpmail.scanner.registry import Action, register


def link(ctx: ScanContext, record_type: str, record_id: int) -> bool:
    """Bind ctx.email to a record once (idempotent); True when a link was added."""
    from corpmail.models import EmailLink

    email = ctx.email
    if email is None:
        return False
    if email.id is not None and (record_type, record_id) not in ctx.bound:
        # The e-mail may already carry links (e.g. made by hand): check the stored ones once.
        existing = ctx._cache.get("stored_links")
        if existing is None:
            existing = {
                (lt, lid)
                for lt, lid in db.session.execute(
                    select(EmailLink.record_type, EmailLink.record_id).where(
                        EmailLink.email_id == email.id
                    )
                )
            }
            ctx._cache["stored_links"] = existing
        if (record_type, record_id) in existing:
            ctx.bound.append((record_type, record_id))
            return False
    if (record_type, record_id) in ctx.bound:
        return False
    email.links.append(EmailLink(record_type=record_type, record_id=record_id, manual=False))
    ctx.bound.append((record_type, record_id))
    return True


def message_addresses(ctx: ScanContext) -> list[str]:
    p = ctx.parsed
    return [a.email for group in (p.from_, p.to, p.cc, p.bcc) for a in group or ()]


@register
class BindEmail(Action):
    name = "bind-email"
    description = _l("Bind e-mail: link it to matching contacts, accounts, leads and tickets")
    requires = ("create-email",)
    position = 20

    def run(self, ctx: ScanContext) -> None:
        addresses = bindable_addresses(message_addresses(ctx), ctx.internal_addresses)
        matches = find_records(
            addresses, ctx.parsed.subject, ctx.account.search_fields, ctx.config.ticket_prefix
        )
        for record_type, record_id in matches.links():
            link(ctx, record_type, record_id)

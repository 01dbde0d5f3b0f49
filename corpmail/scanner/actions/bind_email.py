"""Bind e-mail (SPEC 4.2): link the E-mail to the CRM records its addresses and subject name."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models.base import utcnow
from corpmail.models.prepared import insert_into
from corpmail.scanner.context import ScanContext
from corpmail.scanner.matching import RecordIndex, bindable_addresses
from corpmail.scanner.registry import Action, register


def link(ctx: ScanContext, record_type: str, record_id: int) -> bool:
    """Bind the message's e-mail to a record once (idempotent); True when a link was added."""
    return link_all(ctx, [(record_type, record_id)]) > 0


def link_all(ctx: ScanContext, pairs: list[tuple[str, int]]) -> int:
    """Bind the e-mail to several (record_type, id) records in one INSERT; how many were new."""
    from corpmail.models import EmailLink

    if ctx.email_id is None:
        return 0
    if not ctx.email_is_new and "stored_links" not in ctx._cache:
        # A stored e-mail may already carry links (e.g. made by hand): read them once.
        ctx._cache["stored_links"] = set(db.session.execute(
            select(EmailLink.record_type, EmailLink.record_id)
            .where(EmailLink.email_id == ctx.email_id)).all())
    stored = ctx._cache.get("stored_links", ())
    new = []
    for pair in pairs:
        if pair not in ctx.bound:
            ctx.bound.append(pair)
            if pair not in stored:
                new.append(pair)
    if new:
        now = utcnow()
        insert_into(EmailLink).executemany(ctx.connection or db.session.connection(), [
            {"email_id": ctx.email_id, "record_type": kind, "record_id": rid, "manual": False,
             "created_at": now} for kind, rid in new])
    return len(new)


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
        index = ctx.records or RecordIndex(ctx.account.search_fields)
        matches = index.find(addresses, ctx.parsed.subject, ctx.config.ticket_prefix)
        link_all(ctx, matches.links())

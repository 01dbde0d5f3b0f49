"""The stored e-mails as plain data: the stable JSON shape of `corpmail export emails --json`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from corpmail.extensions import db
from corpmail.models import (
    Account,
    Contact,
    Email,
    EmailAttachment,
    EmailSeen,
    Lead,
    ScannerAccount,
    Ticket,
)

_CHUNK = 500  # ids per IN (...) query: well under every backend's parameter limit
_MODELS = {"contact": Contact, "account": Account, "lead": Lead, "ticket": Ticket}


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _record_label(record_type: str, record) -> str:
    """How a bound record is named for people: tickets and accounts by number, people by e-mail."""
    if record_type == "ticket":
        return record.number or f"#{record.id}"
    if record_type == "account":
        return record.number or record.name
    return record.email or record.label


def _labels(links_by_type: dict[str, set[int]]) -> dict[tuple[str, int], str]:
    labels: dict[tuple[str, int], str] = {}
    for record_type, ids in links_by_type.items():
        model = _MODELS.get(record_type)
        if model is None:
            continue
        for chunk in _chunks(sorted(ids)):
            for record in db.session.scalars(select(model).where(model.id.in_(chunk))):
                labels[(record_type, record.id)] = _record_label(record_type, record)
    return labels


def _attachment_counts(email_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chunk in _chunks(email_ids):
        rows = db.session.execute(
            select(EmailAttachment.email_id, func.count())
            .where(EmailAttachment.email_id.in_(chunk))
            .group_by(EmailAttachment.email_id)
        )
        counts.update({email_id: n for email_id, n in rows})
    return counts


def export_emails(account_name: str | None = None) -> dict[str, Any]:
    """`{"emails": [...]}` in SPEC 10's shape, oldest record first; ValueError for an unknown account."""
    query = select(Email).order_by(Email.id).options(
        selectinload(Email.seen).selectinload(EmailSeen.account),
        selectinload(Email.links),
    )
    if account_name is not None:
        account = db.session.scalar(select(ScannerAccount).where(ScannerAccount.name == account_name))
        if account is None:
            raise ValueError(f"no mailbox named {account_name!r}")
        seen_here = select(EmailSeen.email_id).where(EmailSeen.account_id == account.id)
        query = query.where(Email.id.in_(seen_here))
    emails = list(db.session.scalars(query))

    links_by_type: dict[str, set[int]] = {}
    for email in emails:
        for link in email.links:
            links_by_type.setdefault(link.record_type, set()).add(link.record_id)
    labels = _labels(links_by_type)
    attachments = _attachment_counts([e.id for e in emails])

    out = []
    for email in emails:
        bound = [
            {
                "type": link.record_type,
                "id": link.record_id,
                # None when the record was deleted after the e-mail was bound to it
                "label": labels.get((link.record_type, link.record_id)),
            }
            for link in email.links
        ]
        out.append(
            {
                "id": email.id,
                "message_id": email.message_id,
                "subject": email.subject,
                "from": email.from_address,
                "from_name": email.from_name,
                "date": email.date.isoformat() if email.date else None,
                "direction": email.direction,
                "seen_in": [
                    {
                        "account": seen.account.name if seen.account else None,
                        "folder": seen.folder,
                        "uid": seen.uid,
                    }
                    for seen in email.seen
                ],
                "bound": bound,
                "tickets": [b["label"] for b in bound if b["type"] == "ticket" and b["label"]],
                "attachments": attachments.get(email.id, 0),
            }
        )
    return {"emails": out}

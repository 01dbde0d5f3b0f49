"""Which CRM records a message belongs to: pure address/number helpers and batched lookups."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from corpmail.extensions import db

# "[TT123]" anywhere in a subject; any letters as the prefix, so tickets numbered
# under an earlier prefix still match (the lookup is exact).
_TICKET_RE = re.compile(r"\[\s*([A-Za-z][A-Za-z_]{0,9})\s*(\d{1,18})\s*\]")


def normalize_addresses(addresses: Iterable[str | None]) -> list[str]:
    """Lower-cased, stripped, unique addresses in first-seen order; blanks and junk dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for addr in addresses:
        addr = (addr or "").strip().strip("<>").strip().lower()
        if not addr or "@" not in addr or addr in seen:
            continue
        seen.add(addr)
        out.append(addr)
    return out


def domain_of(address: str) -> str:
    """The domain part of an address, lower-case ('' when there is none)."""
    if "@" not in (address or ""):
        return ""
    _, _, domain = address.rpartition("@")
    return domain.strip().lower().rstrip(".")


def domains_of(addresses: Iterable[str]) -> list[str]:
    out: list[str] = []
    for addr in addresses:
        domain = domain_of(addr)
        if domain and domain not in out:
            out.append(domain)
    return out


def bindable_addresses(addresses: Iterable[str], internal: Iterable[str]) -> list[str]:
    """Addresses that may bind: CRM users' (and the mailbox's own) addresses never do."""
    internal_set = {a.lower() for a in internal}
    return [a for a in normalize_addresses(addresses) if a not in internal_set]


def ticket_numbers(subject: str | None, prefix: str = "TT") -> list[str]:
    """Ticket numbers written as [PREFIX123] in a subject, normalised to PREFIX123.

    The configured prefix is matched case-insensitively and written as configured;
    other bracketed letter+digit tokens are kept upper-cased (an earlier prefix).
    """
    out: list[str] = []
    for letters, digits in _TICKET_RE.findall(subject or ""):
        if letters.lower() == (prefix or "").lower():
            number = f"{prefix}{int(digits)}"
        else:
            number = f"{letters.upper()}{int(digits)}"
        if number not in out:
            out.append(number)
    return out


def direction_of(
    sender: str | None, recipients: Iterable[str], internal: Iterable[str], folder_role: str = ""
) -> str:
    """SPEC 4.1: Internal when sender and every recipient are internal; Sent when the sender
    is; Received otherwise. A message in a Sent-role folder from an unknown alias is Sent."""
    internal_set = {a.lower() for a in internal}
    sender = (sender or "").strip().lower()
    rcpts = normalize_addresses(recipients)
    if sender and sender in internal_set:
        if rcpts and all(r in internal_set for r in rcpts):
            return "Internal"
        return "Sent"
    if folder_role == "Sent":
        return "Sent"
    return "Received"


# --- lookups (one query per search field, IN (...) over all addresses of the message) ---


@dataclass
class Matches:
    """Records found for one message, each list ordered by first match."""

    contacts: list[tuple[int, int | None, str]] = field(default_factory=list)  # id, account, email
    accounts: list[int] = field(default_factory=list)
    leads: list[int] = field(default_factory=list)
    tickets: list[int] = field(default_factory=list)

    def links(self) -> list[tuple[str, int]]:
        """(record_type, id) pairs to bind; a contact's account is bound too."""
        out: list[tuple[str, int]] = []

        def add(kind: str, rid: int | None) -> None:
            if rid is not None and (kind, rid) not in out:
                out.append((kind, rid))

        for cid, account_id, _ in self.contacts:
            add("contact", cid)
            add("account", account_id)
        for aid in self.accounts:
            add("account", aid)
        for lid in self.leads:
            add("lead", lid)
        for tid in self.tickets:
            add("ticket", tid)
        return out


def find_records(
    addresses: list[str],
    subject: str | None,
    search_fields: Iterable[str],
    prefix: str = "TT",
) -> Matches:
    """Look the message's bindable addresses and subject numbers up in the CRM."""
    from corpmail.models import Account, AccountDomain, Contact, Lead, Ticket

    fields = set(search_fields)
    found = Matches()
    session = db.session
    if addresses:
        order = {a: i for i, a in enumerate(addresses)}
        contact_cols = [
            col
            for name, col in (
                ("contacts.email", Contact.email),
                ("contacts.secondary_email", Contact.secondary_email),
            )
            if name in fields
        ]
        if contact_cols:
            cond = or_(*(col.in_(addresses) for col in contact_cols))
            rows = session.execute(
                select(Contact.id, Contact.account_id, Contact.email, Contact.secondary_email)
                .where(cond)
                .order_by(Contact.id)
            ).all()
            hits = []
            for cid, account_id, email, secondary in rows:
                matched = [
                    a
                    for a, name in ((email, "contacts.email"), (secondary, "contacts.secondary_email"))
                    if a in order and name in fields
                ]
                if matched:
                    first = min(matched, key=order.__getitem__)
                    hits.append((order[first], cid, account_id, first))
            found.contacts = [(cid, aid, email) for _, cid, aid, email in sorted(hits)]
        if "accounts.email" in fields:
            found.accounts.extend(
                session.scalars(
                    select(Account.id).where(Account.email.in_(addresses)).order_by(Account.id)
                )
            )
        if "accounts.domains" in fields:
            domains = domains_of(addresses)
            if domains:
                for aid in session.scalars(
                    select(AccountDomain.account_id)
                    .where(AccountDomain.domain.in_(domains))
                    .order_by(AccountDomain.account_id)
                ):
                    if aid not in found.accounts:
                        found.accounts.append(aid)
        if "leads.email" in fields:
            found.leads.extend(
                session.scalars(select(Lead.id).where(Lead.email.in_(addresses)).order_by(Lead.id))
            )
    if "tickets.number" in fields:
        numbers = ticket_numbers(subject, prefix)
        if numbers:
            found.tickets.extend(
                session.scalars(select(Ticket.id).where(Ticket.number.in_(numbers)).order_by(Ticket.id))
            )
    return found


def sender_records(sender: str | None) -> tuple[int | None, int | None]:
    """(contact_id, account_id) for a sender address: its contact (and the contact's account),
    else an account by e-mail, else by domain. First match wins."""
    from corpmail.models import Account, AccountDomain, Contact

    sender = (sender or "").strip().lower()
    if not sender or "@" not in sender:
        return None, None
    session = db.session
    row = session.execute(
        select(Contact.id, Contact.account_id)
        .where(or_(Contact.email == sender, Contact.secondary_email == sender))
        .order_by((Contact.email == sender).desc(), Contact.id)
        .limit(1)
    ).first()
    if row is not None and row.account_id is not None:
        return row.id, row.account_id
    contact_id = row.id if row is not None else None
    account_id = session.scalar(
        select(Account.id).where(Account.email == sender).order_by(Account.id).limit(1)
    )
    if account_id is None:
        account_id = session.scalar(
            select(AccountDomain.account_id)
            .where(AccountDomain.domain == domain_of(sender))
            .order_by(AccountDomain.account_id)
            .limit(1)
        )
    return contact_id, account_id

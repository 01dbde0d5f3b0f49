"""Which CRM records a message belongs to: pure address/number helpers and batched lookups."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import String, bindparam, literal_column, null, or_, select, union_all

from corpmail.extensions import db
from corpmail.models.prepared import Prepared

LOOKUP_BATCH = 512  # addresses and domains per lookup query (bound parameters stay few)

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


class RecordIndex:
    """The CRM records each address and domain points at, looked up once per scan.

    A scan meets the same correspondents again and again: each new address (and domain)
    costs one UNION ALL query for every search field at once, later messages are answered
    from memory. Entries are forgotten after ``max_age`` seconds so that records added
    during a long scan are found; actions never add contacts, accounts or leads."""

    def __init__(self, search_fields: Iterable[str], max_age: float = 60.0) -> None:
        self.fields = frozenset(search_fields)
        self.max_age = max_age
        self._hits: dict[str, list[tuple[str, int, int | None]]] = {}
        self._born = time.monotonic()

    def find(self, addresses: list[str], subject: str | None, prefix: str = "TT") -> Matches:
        """Look the message's bindable addresses and subject numbers up in the CRM."""
        found = Matches()
        if addresses:
            self.load(addresses)
            self._fill(found, addresses)
        if "tickets.number" in self.fields:
            from corpmail.models import Ticket

            numbers = ticket_numbers(subject, prefix)
            if numbers:
                found.tickets.extend(db.session.scalars(
                    select(Ticket.id).where(Ticket.number.in_(numbers)).order_by(Ticket.id)))
        return found

    def load(self, addresses: list[str]) -> None:
        """Look up the addresses (and their domains) not known yet, in one query (per
        LOOKUP_BATCH of them)."""
        if time.monotonic() - self._born > self.max_age:
            self._hits.clear()
            self._born = time.monotonic()
        keys = [a for a in addresses if a not in self._hits]
        keys += [f"@{d}" for d in domains_of(keys) if f"@{d}" not in self._hits]
        if not keys:
            return
        for key in keys:
            self._hits[key] = []
        for start in range(0, len(keys), LOOKUP_BATCH):
            self._lookup(keys[start:start + LOOKUP_BATCH])

    def _lookup(self, keys: list[str]) -> None:
        addresses = [k for k in keys if not k.startswith("@")]
        domains = [k[1:] for k in keys if k.startswith("@")]
        rows = []
        with db.session.no_autoflush:  # pending ORM objects need not be written for a lookup
            for by_domain, values in ((False, addresses), (True, domains)):
                stmt = _lookup_statement(self.fields, by_domain, _slots(len(values)))
                if stmt is not None:
                    params = _fill_slots("d" if by_domain else "a", values)
                    rows += stmt.execute(db.session.connection(), params).fetchall()
        for kind, rid, account_id, key in rows:
            key = (key or "").lower()
            if kind == "d":
                key = "@" + key
            if key in self._hits:
                self._hits[key].append((kind, rid, account_id))

    def _fill(self, found: Matches, addresses: list[str]) -> None:
        # Binding order: contacts by the first address that matches them, then id;
        # accounts by e-mail, then by domain, each by id; leads by id.
        contacts: dict[int, tuple[int, int | None, str]] = {}
        accounts: set[int] = set()
        leads: set[int] = set()
        for order, addr in enumerate(addresses):
            for kind, rid, account_id in self._hits.get(addr, ()):
                if kind == "c" and rid not in contacts:
                    contacts[rid] = (order, account_id, addr)
                elif kind == "a":
                    accounts.add(rid)
                elif kind == "l":
                    leads.add(rid)
        found.contacts = [(cid, aid, addr) for cid, (_, aid, addr)
                          in sorted(contacts.items(), key=lambda item: (item[1][0], item[0]))]
        found.accounts = sorted(accounts)
        by_domain: set[int] = set()
        for domain in domains_of(addresses):
            by_domain.update(rid for kind, rid, _ in self._hits.get(f"@{domain}", ()) if kind == "d")
        found.accounts += sorted(by_domain - accounts)
        found.leads = sorted(leads)


def _slots(count: int) -> int:
    """IN-list sizes come in powers of two, so a few statements serve every lookup."""
    return 0 if count == 0 else 1 << (count - 1).bit_length()


def _fill_slots(prefix: str, values: list[str]) -> dict[str, str]:
    """Parameters a0..aN for a list of _slots(len) places; the last value repeats (an IN
    list may hold a value twice) instead of a filler that could match something."""
    return {f"{prefix}{i}": values[min(i, len(values) - 1)] for i in range(_slots(len(values)))}


@functools.lru_cache(maxsize=64)
def _lookup_statement(fields: frozenset[str], by_domain: bool, slots: int):
    """The enabled search fields that take addresses (or, ``by_domain``, domains), in one
    UNION ALL: (kind, id, contact's account, key), Prepared for an IN list of ``slots``
    values. SQLAlchemy's expanding IN re-rendered the statement at every lookup (~1 ms,
    most of a lookup's cost; bench/run, issue 4); addresses and domains have statements of
    their own so that a few compilations (~4-10 ms each) serve every pair of list sizes."""
    from corpmail.models import Account, AccountDomain, Contact, Lead

    if not slots:
        return None
    prefix = "d" if by_domain else "a"
    values = [bindparam(f"{prefix}{i}", type_=String) for i in range(slots)]
    parts = []
    for name, kind, rid, account_id, column in (
        ("contacts.email", "c", Contact.id, Contact.account_id, Contact.email),
        ("contacts.secondary_email", "c", Contact.id, Contact.account_id, Contact.secondary_email),
        ("accounts.email", "a", Account.id, null(), Account.email),
        ("accounts.domains", "d", AccountDomain.account_id, null(), AccountDomain.domain),
        ("leads.email", "l", Lead.id, null(), Lead.email),
    ):
        if name in fields and (kind == "d") == by_domain:
            parts.append(select(literal_column(f"'{kind}'"), rid, account_id, column)
                         .where(column.in_(values)))
    return Prepared(union_all(*parts)) if parts else None


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

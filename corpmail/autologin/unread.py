"""Unread counts of the granted mailboxes: IMAP STATUS UNSEEN, cached in the database for all workers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.mail.imap import ImapSession
from corpmail.models import AutologinGrant, MailboxUnread, ScannerAccount
from corpmail.models.base import utcnow

log = logging.getLogger(__name__)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIMEOUT = 10.0  # the top bar must not hang on a dead server


@dataclass
class Mailbox:
    """A mailbox of the top bar: id, name, and its unread count (None: unknown)."""

    id: int
    name: str
    unread: int | None = None


def granted_accounts(user_id: int) -> list[ScannerAccount]:
    """The user's granted mailboxes, by name."""
    return list(db.session.scalars(
        select(ScannerAccount)
        .join(AutologinGrant, AutologinGrant.account_id == ScannerAccount.id)
        .where(AutologinGrant.user_id == user_id)
        .order_by(ScannerAccount.name)
    ))


def count_unseen(account: ScannerAccount) -> int:
    """Unseen messages in the account's Received folder(s) (INBOX when none is set)."""
    folders = [f.name for f in account.folders if f.role == "Received" and not f.missing]
    timeout = min(float(current_app.config.get("IMAP_TIMEOUT", 30.0)), MAX_TIMEOUT)
    with ImapSession.for_account(account, timeout=timeout) as session:
        return sum(max(session.folder_state(name).unseen, 0) for name in folders or ["INBOX"])


def _claim(account_id: int, ttl: int) -> bool:
    """True when this worker should refresh the count: it was stale and we took it first."""
    if db.session.get(MailboxUnread, account_id) is None:
        try:
            db.session.add(MailboxUnread(account_id=account_id, unseen=None, checked_at=NEVER))
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another worker inserted it first: fine
    now = utcnow()
    taken = db.session.execute(
        update(MailboxUnread)
        .where(MailboxUnread.account_id == account_id,
               MailboxUnread.checked_at <= now - timedelta(seconds=ttl))
        .values(checked_at=now)
    ).rowcount
    db.session.commit()
    return taken == 1


def unread_counts(accounts: list[ScannerAccount], ttl: int, refresh: bool = True) -> dict[int, int | None]:
    """account id -> unread count (None when unknown or failing). With refresh, counts older
    than ttl seconds are asked from the server; never raises on a mail error."""
    counts: dict[int, int | None] = {}
    for account in accounts:
        if refresh and account.status == "Active" and _claim(account.id, ttl):
            try:
                value: int | None = count_unseen(account)
            except MailError as exc:
                log.info("unread count of mailbox %s failed: %s", account.name, exc)
                value = None
            except Exception:  # a badge is not worth a 500: log it, show none
                log.exception("unread count of mailbox %s failed", account.name)
                value = None
            db.session.execute(
                update(MailboxUnread).where(MailboxUnread.account_id == account.id)
                .values(unseen=value, checked_at=utcnow())
            )
            db.session.commit()
            counts[account.id] = value
            continue
        counts[account.id] = db.session.scalar(
            select(MailboxUnread.unseen).where(MailboxUnread.account_id == account.id))
    return counts


def user_mailboxes(user_id: int, ttl: int, with_counts: bool, refresh: bool) -> list[Mailbox]:
    """The user's mailboxes for the top bar and My mail, with counts when wanted."""
    accounts = granted_accounts(user_id)
    counts = unread_counts(accounts, ttl, refresh) if with_counts else {}
    return [Mailbox(a.id, a.name, counts.get(a.id)) for a in accounts]

"""Verification of locked mailboxes: unlock when the login works, Inactive after the set hours."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.models import MailConfiguration, ScannerAccount
from corpmail.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass
class Verification:
    account: str
    outcome: str  # unlocked | locked | inactive
    error: str | None = None


def verify_locked_accounts() -> list[Verification]:
    """Try to log in to every Locked account once."""
    from corpmail.mail.imap import ImapSession
    from corpmail.scanner import notify

    hours = MailConfiguration.get().lock_to_inactive_hours
    db.session.commit()
    out: list[Verification] = []
    for account in list(
        db.session.scalars(select(ScannerAccount).where(ScannerAccount.status == "Locked"))
    ):
        try:
            ImapSession.for_account(account).close()
        except MailError as exc:
            account.last_error = str(exc)
            locked_at = account.locked_at or utcnow()
            if account.locked_at is None:
                account.locked_at = locked_at
            if utcnow() - locked_at > timedelta(hours=hours):
                account.status = "Inactive"
                db.session.commit()
                log.warning("account %s locked for over %sh: now Inactive", account.name, hours)
                notify.account_inactive(account.id, hours)
                out.append(Verification(account.name, "inactive", str(exc)))
            else:
                db.session.commit()
                out.append(Verification(account.name, "locked", str(exc)))
            continue
        account.status = "Active"
        account.last_error = None
        account.locked_at = None
        account.last_login = utcnow()
        db.session.commit()
        log.info("account %s unlocked: login works again", account.name)
        out.append(Verification(account.name, "unlocked"))
    return out

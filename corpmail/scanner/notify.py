"""E-mail notifications to the configured address (locks, deactivations, long scans).

Sent through a mail server's SMTP; never raises into a scan: failures are logged."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.models import MailConfiguration, MailServer, ScannerAccount

log = logging.getLogger(__name__)


def _servers(preferred_id: int | None) -> list[MailServer]:
    """The preferred server (the account's) first, then the active ones, with SMTP set."""
    rows = list(
        db.session.scalars(select(MailServer).where(MailServer.active.is_(True)).order_by(MailServer.id))
    )
    if preferred_id is not None:
        preferred = db.session.get(MailServer, preferred_id)
        if preferred is not None:
            rows = [preferred] + [s for s in rows if s.id != preferred.id]
    return [s for s in rows if s.smtp_host]


def _credentials(server: MailServer) -> dict | None:
    """A working mailbox on the server to authenticate with, when the server wants AUTH:
    send_message's login and password, or login and OAuth 2.0 access token."""
    account = db.session.scalar(
        select(ScannerAccount)
        .where(ScannerAccount.server_id == server.id, ScannerAccount.status == "Active")
        .order_by(ScannerAccount.id)
        .limit(1)
    )
    if account is None:
        return None
    if server.auth_method == "oauth2":
        from corpmail.oauth.tokens import access_token

        try:
            return {"login": account.login, "access_token": access_token(account)}
        except MailError as exc:
            log.warning("notification: no access token for %s: %s", account.name, exc)
            return None
    if not account.password:
        return None
    return {"login": account.login, "password": account.password}


def send_notification(subject: str, body: str, server_id: int | None = None) -> bool:
    """Mail the notification address; True when sent. No address configured: nothing."""
    from corpmail.mail.smtp import send_message

    try:
        to = (MailConfiguration.get().notification_email or "").strip()
        if not to:
            return False
        servers = _servers(server_id)
        if not servers:
            log.warning("notification not sent: no active mail server with SMTP")
            return False
        timeout = float(current_app.config.get("IMAP_TIMEOUT", 30.0))
        last_error: Exception | None = None
        for server in servers:
            attempts: list[dict] = [{}]
            creds = _credentials(server)
            if creds:
                attempts.append(creds)
            for cred in attempts:
                msg = EmailMessage()
                msg["Subject"] = f"[corpmail] {subject}"
                sender = cred["login"] if "@" in cred.get("login", "") else to
                msg["From"] = sender
                msg["To"] = to
                msg["Date"] = formatdate(localtime=False)
                msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
                msg["Auto-Submitted"] = "auto-generated"  # our own scanner skips it
                msg.set_content(body)
                try:
                    send_message(server, msg, timeout=timeout, **cred)
                    log.info("notification sent to %s: %s", to, subject)
                    return True
                except MailError as exc:
                    last_error = exc
        log.warning("notification %r not sent: %s", subject, last_error)
    except Exception:  # a notification never breaks a scan
        log.exception("notification %r not sent", subject)
    return False


def account_locked(account_id: int, message: str) -> bool:
    account = db.session.get(ScannerAccount, account_id)
    if account is not None and account.uses_oauth and not account.oauth_authorized:
        return _needs_authorization(account, message)
    return account is not None and send_notification(
        _("Mailbox %(name)s locked", name=account.name),
        _(
            "The scanner could not log in to the mailbox %(name)s (%(login)s) and locked it.\n\n"
            "Server message: %(message)s\n\n"
            "The verification job retries it and unlocks it when the login works again.",
            name=account.name,
            login=account.login,
            message=message,
        ),
        account.server_id,
    )


def _needs_authorization(account: ScannerAccount, message: str) -> bool:
    """An OAuth2 mailbox whose grant is gone: only an admin's Authorize brings it back."""
    return send_notification(
        _("Mailbox %(name)s locked: authorize it again", name=account.name),
        _(
            "The scanner could not log in to the mailbox %(name)s (%(login)s) and locked it: "
            "its OAuth 2.0 authorization was revoked or has expired.\n\n"
            "%(message)s\n\n"
            "Open Mail scanner > %(name)s and click Authorize; the mailbox is unlocked as "
            "soon as the provider grants access again.",
            name=account.name,
            login=account.login,
            message=message,
        ),
        account.server_id,
    )


def account_inactive(account_id: int, hours: int) -> bool:
    account = db.session.get(ScannerAccount, account_id)
    return account is not None and send_notification(
        _("Mailbox %(name)s set inactive", name=account.name),
        _(
            "The mailbox %(name)s (%(login)s) stayed locked for more than %(hours)s hours and is "
            "now Inactive; it is no longer scanned.\n\nLast error: %(error)s",
            name=account.name,
            login=account.login,
            hours=hours,
            error=account.last_error or "-",
        ),
        account.server_id,
    )


def long_scan(run) -> bool:
    minutes = int((run.duration_s or 0) // 60)
    subject = _("Scan of %(name)s running for %(minutes)s minutes", name=run.account_name, minutes=minutes)
    body = _(
        "Scan run #%(id)s of the mailbox %(name)s started at %(start)s UTC and is still running "
        "(%(fetched)s messages fetched, %(stored)s stored so far).",
        id=run.id,
        name=run.account_name,
        start=run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        fetched=run.fetched,
        stored=run.stored,
    )
    server_id = run.account.server_id if run.account is not None else None
    return send_notification(subject, body, server_id)

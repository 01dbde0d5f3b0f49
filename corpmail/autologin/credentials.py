"""What the Roundcube plugin logs in with: the mailbox's password, or for an OAuth 2.0
mailbox a bearer token. The plugin never holds a refresh token: it asks the app again
(`fresh_token`) when `renew_in` seconds have passed, and the app renews in one place."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.models import AutologinSession, ScannerAccount
from corpmail.models.base import utcnow

log = logging.getLogger(__name__)


class CredentialsUnavailable(Exception):
    """The mailbox cannot be logged into now (no grant, provider refused or unreachable)."""


def mailbox_credentials(account: ScannerAccount) -> dict:
    """The redeem answer's login secret: {"auth": "password", "password": ...} or
    {"auth": "oauth2", "password": None, "access_token": ..., "renew_in": seconds}."""
    if not account.uses_oauth:
        return {"auth": "password", "password": account.password}
    from corpmail.oauth.tokens import AuthorizationNeeded, access_token

    try:
        token = access_token(account)
    except AuthorizationNeeded as exc:
        from corpmail.scanner import notify

        if account.status == "Locked":  # this refresh found the grant dead: tell the admin
            notify.account_locked(account.id, str(exc))
        raise CredentialsUnavailable(str(exc)) from exc
    except MailError as exc:
        raise CredentialsUnavailable(str(exc)) from exc
    return {"auth": "oauth2", "password": None, "access_token": token,
            "renew_in": _renew_in(account)}


def _renew_in(account: ScannerAccount) -> int:
    """Seconds until the app would renew this token: ask again after that."""
    if account.oauth_expires_at is None:
        return 300
    margin = int(current_app.config.get("OAUTH_REFRESH_MARGIN_SECONDS", 60))
    left = (account.oauth_expires_at - utcnow()).total_seconds() - margin
    return max(1, int(left))


def fresh_token(ref: str | None, cookie: str | None):
    """For a live Roundcube session of an OAuth mailbox: a valid access token."""
    from corpmail.autologin.tokens import Outcome, check_session

    allowed = check_session(ref, cookie)
    if not allowed.ok:
        return allowed
    account_id = db.session.scalar(
        select(AutologinSession.account_id).where(AutologinSession.ref == ref))
    account = db.session.get(ScannerAccount, account_id)
    if not account.uses_oauth:
        return Outcome.refuse("invalid")
    try:
        secret = mailbox_credentials(account)
    except CredentialsUnavailable as exc:
        log.info("no token for the Roundcube session of %s: %s", account.name, exc)
        return Outcome.refuse("inactive")
    return Outcome(True, data={"access_token": secret["access_token"],
                               "renew_in": secret["renew_in"]})

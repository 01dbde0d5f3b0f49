"""Access tokens of OAuth2 mailboxes: stored encrypted, renewed before they expire (here,
and nowhere else), and a dead grant (invalid_grant) locks the mailbox for re-authorization."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _

from corpmail.extensions import db
from corpmail.mail.errors import MailAuthError, MailConnectionError
from corpmail.models.base import utcnow
from corpmail.oauth import client

log = logging.getLogger(__name__)


class AuthorizationNeeded(MailAuthError):
    """The mailbox has no working grant: an admin must run Authorize again."""


def needs_authorization_text(account, reason: str | None = None) -> str:
    text = _("The mailbox needs OAuth 2.0 authorization: an administrator must open Mail "
             "scanner > %(name)s and click Authorize.", name=account.name)
    return f"{reason} {text}" if reason else text


def store_tokens(account, token: dict) -> None:
    """Keep a token response on the account (the caller commits). A response without a
    refresh token (no rotation) keeps the one stored."""
    now = utcnow()
    account.oauth_access_token = token["access_token"]
    if token.get("refresh_token"):
        account.oauth_refresh_token = token["refresh_token"]
    account.oauth_expires_at = _expiry(token, now)
    refresh_life = token.get("refresh_token_expires_in")  # Google tells it for test apps
    if refresh_life:
        account.oauth_refresh_expires_at = now + timedelta(seconds=int(refresh_life))
    elif token.get("refresh_token"):
        account.oauth_refresh_expires_at = None


def clear_tokens(account) -> None:
    account.oauth_access_token = None
    account.oauth_refresh_token = None
    account.oauth_expires_at = None
    account.oauth_refresh_expires_at = None


def revoke_tokens(account) -> None:
    """Revoke the account's tokens at the provider (when it has an endpoint; a failure is
    logged, not raised) and forget them: Remove authorization, and deleting the mailbox."""
    if account.uses_oauth:
        for secret in (account.oauth_refresh_token, account.oauth_access_token):
            if secret:
                try:
                    client.revoke(account.server, secret)
                except (client.ProviderError, client.ProviderUnreachable) as exc:
                    log.warning("revoking a token of %s failed: %s", account.name, exc)
    clear_tokens(account)


def access_token(account, renew: bool = False) -> str:
    """A valid access token for IMAP or SMTP, renewed when it expires within the margin
    (or now, with `renew`: the server refused the one we thought valid).

    Raises AuthorizationNeeded (a MailAuthError: the scanner locks the account) when
    there is no grant or the provider says it is dead, MailConnectionError when the
    provider cannot be reached, MailAuthError for any other refusal."""
    if not account.oauth_authorized:
        raise AuthorizationNeeded(needs_authorization_text(account))
    margin = timedelta(seconds=int(current_app.config.get("OAUTH_REFRESH_MARGIN_SECONDS", 60)))
    expires = account.oauth_expires_at
    if not renew and account.oauth_access_token_encrypted and (
            expires is None or expires - utcnow() > margin):
        return account.oauth_access_token
    return _refresh(account)


def _refresh(account) -> str:
    refresh_token = account.oauth_refresh_token
    if not refresh_token:  # an access token alone, now expired
        raise AuthorizationNeeded(needs_authorization_text(account))
    stored = account.oauth_refresh_token_encrypted
    try:
        token = client.refresh(account.server, refresh_token)
    except client.ProviderError as exc:
        if exc.error != "invalid_grant":
            raise MailAuthError(_("The OAuth 2.0 provider refused to renew the access token: "
                                  "%(error)s", error=str(exc))) from exc
        # Another process may have renewed it meanwhile (rotated refresh tokens): reuse that.
        db.session.refresh(account)
        if account.oauth_refresh_token_encrypted != stored and account.oauth_authorized:
            return access_token(account)
        reason = _("The OAuth 2.0 authorization was revoked or has expired (%(error)s).",
                   error=str(exc))
        lock_for_authorization(account, needs_authorization_text(account, reason))
        db.session.commit()
        raise AuthorizationNeeded(account.last_error) from exc
    except client.ProviderUnreachable as exc:
        raise MailConnectionError(_("The OAuth 2.0 provider could not be reached to renew the "
                                    "access token: %(error)s", error=str(exc))) from exc
    store_tokens(account, token)
    db.session.commit()
    log.info("access token of %s renewed", account.name)
    return account.oauth_access_token


def lock_for_authorization(account, message: str) -> None:
    """The grant is dead: forget its tokens and lock the account with the message (the
    caller commits and notifies). Authorize unlocks it."""
    clear_tokens(account)
    if account.status != "Locked":
        account.locked_at = utcnow()
    account.status = "Locked"
    account.last_error = message
    log.warning("account %s locked: OAuth 2.0 grant refused", account.name)


def authorized(account, token: dict) -> None:
    """A fresh grant from the Authorize flow: store it and unlock the account."""
    store_tokens(account, token)
    if account.status == "Locked":
        account.status = "Active"
        account.locked_at = None
    account.last_error = None


def _expiry(token: dict, now: datetime) -> datetime | None:
    if token.get("expires_in") is not None:
        return now + timedelta(seconds=int(token["expires_in"]))
    if token.get("expires_at") is not None:
        return datetime.fromtimestamp(int(token["expires_at"]), now.tzinfo)
    return None

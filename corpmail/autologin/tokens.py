"""Autologin tokens: issue (CRM side), redeem and check (the Roundcube plugin's side)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select, update

from corpmail.autologin.credentials import CredentialsUnavailable, mailbox_credentials
from corpmail.config import AUTOLOGIN_MAX_SECONDS
from corpmail.extensions import db
from corpmail.models import (
    AutologinGrant,
    AutologinSession,
    AutologinToken,
    ScannerAccount,
    User,
)
from corpmail.models.base import utcnow
from corpmail.web.sessions import user_for_session_id

SALT = "corpmail-autologin"
# Why a redeem or a check was refused; the plugin passes it on to /mail/refused.
REASONS = ("replayed", "expired", "invalid", "wrong_user", "revoked", "inactive", "ended")
ROUNDCUBE_LANGUAGES = {"pl": "pl_PL", "en": "en_US"}
KEEP_SPENT = timedelta(days=1)  # spent or expired tokens are purged after this
KEEP_ENDED = timedelta(days=30)  # ended sessions, kept a while for questions


@dataclass
class Outcome:
    """A redeem or check answer: ok with data, or refused with a reason."""

    ok: bool
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def refuse(cls, reason: str) -> Outcome:
        return cls(False, reason)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def secret_ok(given: str | None) -> bool:
    """The plugin's shared secret, compared in constant time."""
    expected = current_app.config.get("AUTOLOGIN_SECRET") or ""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def issue_token(user_id: int, account_id: int, compose: dict[str, str] | None = None) -> str:
    """A signed single-use token for this user and mailbox; the row is committed."""
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    # Housekeeping on the way: nothing else ever reads old rows.
    db.session.execute(delete(AutologinToken).where(AutologinToken.expires_at < now - KEEP_SPENT))
    db.session.execute(delete(AutologinSession).where(AutologinSession.ended_at < now - KEEP_ENDED))
    db.session.add(AutologinToken(
        token_hash=_hash(nonce), user_id=user_id, account_id=account_id, created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["AUTOLOGIN_TOKEN_SECONDS"]),
        compose=compose,
    ))
    db.session.commit()
    return _serializer().dumps({"n": nonce, "u": user_id, "a": account_id})


def crm_user_id(cookie: str | None) -> int | None:
    """The user logged in by this CRM session cookie (Flask's own signed cookie), if any."""
    if not cookie:
        return None
    app = current_app._get_current_object()
    serializer = app.session_interface.get_signing_serializer(app)
    if serializer is None:
        return None
    try:
        data = serializer.loads(cookie, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None
    user = user_for_session_id(data.get("_user_id")) if isinstance(data, dict) else None
    return user.id if user else None


def _access_problem(user_id: int, account_id: int, cookie: str | None) -> str | None:
    """Why this CRM cookie may not use this user's access to this mailbox, or None."""
    if crm_user_id(cookie) != user_id:
        return "wrong_user"
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return "wrong_user"
    grant = db.session.scalar(select(AutologinGrant.id).where(
        AutologinGrant.user_id == user_id, AutologinGrant.account_id == account_id))
    if grant is None:
        return "revoked"
    account = db.session.get(ScannerAccount, account_id)
    if account is None or account.status != "Active" or not account.server.active:
        return "inactive"
    return None


def redeem_token(token: str | None, cookie: str | None) -> Outcome:
    """Check and consume a token; on success open an autologin session and hand out the
    mailbox credentials. Every refusal is committed too (the token is spent)."""
    if not token or len(token) > 1000:
        return Outcome.refuse("invalid")
    try:
        payload = _serializer().loads(token, max_age=AUTOLOGIN_MAX_SECONDS)
    except SignatureExpired:
        return Outcome.refuse("expired")
    except BadSignature:
        return Outcome.refuse("invalid")
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        return Outcome.refuse("invalid")
    row = db.session.scalar(select(AutologinToken).where(AutologinToken.token_hash == _hash(payload["n"])))
    if row is None or row.user_id != payload.get("u") or row.account_id != payload.get("a"):
        return Outcome.refuse("invalid")
    now = utcnow()
    if row.expires_at <= now:
        return Outcome.refuse("expired")
    # Single use, also between workers: only one UPDATE can see used_at still NULL.
    spent = db.session.execute(
        update(AutologinToken)
        .where(AutologinToken.id == row.id, AutologinToken.used_at.is_(None))
        .values(used_at=now)
    )
    db.session.commit()
    if spent.rowcount != 1:
        return Outcome.refuse("replayed")
    problem = _access_problem(row.user_id, row.account_id, cookie)
    if problem:
        return Outcome.refuse(problem)

    account = db.session.get(ScannerAccount, row.account_id)
    user = db.session.get(User, row.user_id)
    server = account.server
    try:
        secret = mailbox_credentials(account)
    except CredentialsUnavailable:
        return Outcome.refuse("inactive")
    session = AutologinSession(ref=secrets.token_urlsafe(32), user_id=user.id, account_id=account.id)
    db.session.add(session)
    db.session.commit()
    return Outcome(True, data={
        "login": account.login,
        **secret,
        "imap": {"host": server.imap_host, "port": server.imap_port,
                 "security": server.imap_security},
        "smtp": {"host": server.smtp_host, "port": server.smtp_port,
                 "security": server.smtp_security},
        "language": ROUNDCUBE_LANGUAGES.get(user.language, "en_US"),
        "session_ref": session.ref,
        "mailbox_name": account.name,
        "compose": row.compose or None,
        "crm_url": "/",
    })


def check_session(ref: str | None, cookie: str | None) -> Outcome:
    """Is this Roundcube session still allowed: not ended, same CRM user, grant, account Active."""
    if not ref or len(ref) > 64:
        return Outcome.refuse("ended")
    session = db.session.scalar(select(AutologinSession).where(AutologinSession.ref == ref))
    if session is None or session.ended_at is not None:
        return Outcome.refuse("ended")
    if _access_problem(session.user_id, session.account_id, cookie):
        return Outcome.refuse("ended")
    return Outcome(True)


def end_sessions(user_id: int | None = None, account_id: int | None = None) -> int:
    """Mark the matching open autologin sessions ended (the caller commits); how many."""
    if user_id is None and account_id is None:
        raise ValueError("end_sessions needs a user or a mailbox")
    stmt = update(AutologinSession).where(AutologinSession.ended_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(AutologinSession.user_id == user_id)
    if account_id is not None:
        stmt = stmt.where(AutologinSession.account_id == account_id)
    return db.session.execute(stmt.values(ended_at=utcnow())).rowcount

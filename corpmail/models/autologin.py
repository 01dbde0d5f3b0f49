"""Autologin tokens (single use), the Roundcube sessions they opened, and cached unread counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from corpmail.extensions import db
from corpmail.models.base import UTCDateTime, utcnow


class AutologinToken(db.Model):
    """An issued token; only sha256 of its random part is kept, never the token itself."""

    __tablename__ = "autologin_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("scanner_accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set once: single use
    compose: Mapped[dict | None] = mapped_column(JSON)  # {"to", "subject"} to open compose


class AutologinSession(db.Model):
    """A Roundcube session opened by a redeemed token; the plugin checks it on every request."""

    __tablename__ = "autologin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("scanner_accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")
    account = relationship("ScannerAccount")


class MailboxUnread(db.Model):
    """The top bar's unread count per mailbox, shared by every web worker (TTL: mail icon refresh)."""

    __tablename__ = "mailbox_unread"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("scanner_accounts.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False,
    )
    unseen: Mapped[int | None] = mapped_column()  # None: the last check failed
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

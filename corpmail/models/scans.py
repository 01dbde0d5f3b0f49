"""Scan runs (the download history), per-message events, and the retry/quarantine record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from corpmail.extensions import db
from corpmail.models.base import UTCDateTime, utcnow

RUN_STATUSES = ["In progress", "OK", "Stopped", "Error"]
TRIGGERS = ["scheduler", "admin", "cli", "push"]
EVENT_OUTCOMES = ["skipped", "failed", "quarantined"]
MAX_ATTEMPTS = 3  # failures before a message is quarantined


class ScanRun(db.Model):
    """One scan of one mailbox: a row of Logs > Mail download history."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("scanner_accounts.id", ondelete="SET NULL"), index=True
    )
    account_name: Mapped[str] = mapped_column(String(100), default="")  # kept if the account goes
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="In progress", index=True)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    triggered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    fetched: Mapped[int] = mapped_column(default=0)
    stored: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    stop_requested: Mapped[bool] = mapped_column(default=False)
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    error: Mapped[str | None] = mapped_column(Text)

    account = relationship("ScannerAccount")
    triggered_by = relationship("User", foreign_keys=[triggered_by_id])
    stopped_by = relationship("User", foreign_keys=[stopped_by_id])
    events: Mapped[list[ScanEvent]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ScanEvent.id"
    )

    @property
    def duration_s(self) -> float | None:
        end = self.finished_at or self.heartbeat_at
        return (end - self.started_at).total_seconds() if end else None


class ScanEvent(db.Model):
    """A message of a run that was skipped, failed or quarantined, with the reason."""

    __tablename__ = "scan_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), index=True)
    folder: Mapped[str] = mapped_column(String(500))
    uid: Mapped[int] = mapped_column(db.BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[ScanRun] = relationship(back_populates="events")


class MessageFailure(db.Model):
    """A message whose processing failed: retried on later runs, quarantined after 3 failures."""

    __tablename__ = "message_failures"
    __table_args__ = (UniqueConstraint("account_id", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("scanner_accounts.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(db.BigInteger)
    uid: Mapped[int] = mapped_column(db.BigInteger)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    quarantined: Mapped[bool] = mapped_column(default=False, index=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # kept once quarantined
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # stored on a retry

    account = relationship("ScannerAccount")

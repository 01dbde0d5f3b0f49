"""Mail configuration: the scanner's run-time policy, one row edited in the admin."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corpmail.extensions import db
from corpmail.validation import split_list

ON_CLOSED_REPLY = ["reopen", "new ticket"]


class MailConfiguration(db.Model):
    __tablename__ = "mail_configuration"

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_interval: Mapped[int] = mapped_column(default=60)  # seconds
    max_messages_per_run: Mapped[int] = mapped_column(default=500)  # per account
    mark_seen: Mapped[bool] = mapped_column(default=False)
    skip_auto_generated: Mapped[bool] = mapped_column(default=True)
    email_exceptions: Mapped[str] = mapped_column(Text, default="")  # one per line
    domain_exceptions: Mapped[str] = mapped_column(Text, default="")
    max_message_size_mb: Mapped[int] = mapped_column(default=25)
    lock_to_inactive_hours: Mapped[int] = mapped_column(default=48)
    notification_email: Mapped[str] = mapped_column(String(254), default="")
    long_scan_alert_minutes: Mapped[int] = mapped_column(default=30)
    ticket_default_status: Mapped[str] = mapped_column(String(32), default="Open")
    ticket_status_after_reply: Mapped[str] = mapped_column(String(32), default="Answered")
    ticket_reopen_status: Mapped[str] = mapped_column(String(32), default="Open")
    ticket_on_closed_reply: Mapped[str] = mapped_column(String(16), default="reopen")
    ticket_prefix: Mapped[str] = mapped_column(String(10), default="TT")
    mail_icon_show: Mapped[bool] = mapped_column(default=True)
    mail_icon_unread: Mapped[bool] = mapped_column(default=True)
    mail_icon_refresh_s: Mapped[int] = mapped_column(default=60)

    @classmethod
    def get(cls) -> MailConfiguration:
        """The single configuration row, created with the defaults when missing."""
        row = db.session.get(cls, 1)
        if row is None:
            row = cls(id=1)
            db.session.add(row)
            db.session.flush()
        return row

    def exception_lists(self) -> tuple[list[str], list[str]]:
        return split_list(self.email_exceptions), split_list(self.domain_exceptions)

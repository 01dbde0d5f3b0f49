"""E-mail records made by the scanner, where they were seen, their attachments and links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from corpmail.extensions import db
from corpmail.models.base import UTCDateTime, utcnow

DIRECTIONS = ["Received", "Sent", "Internal"]
LINK_TYPES = ["contact", "account", "lead", "ticket"]


class Email(db.Model):
    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Dedup key: the Message-ID, or "digest:<sha256>" of sender, date, subject and body.
    message_key: Mapped[str] = mapped_column(String(998), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998))  # no angle brackets, case kept
    subject: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    # No index on from_address nor date: the lists search with LIKE '%...%' and sort on
    # coalesce(date, created_at), which cannot use one; each cost the scan a page per message.
    from_address: Mapped[str] = mapped_column(String(254), default="")
    to: Mapped[list] = mapped_column(JSON, default=list)  # [{"name", "email"}]
    cc: Mapped[list] = mapped_column(JSON, default=list)
    bcc: Mapped[list] = mapped_column(JSON, default=list)
    reply_to: Mapped[list] = mapped_column(JSON, default=list)
    date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)  # space-separated ids
    direction: Mapped[str] = mapped_column(String(16), default="Received")
    headers: Mapped[str] = mapped_column(Text, default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str | None] = mapped_column(Text)  # sanitized at store time
    size: Mapped[int] = mapped_column(default=0)
    truncated: Mapped[bool] = mapped_column(default=False)  # over the size limit: headers + text
    defects: Mapped[list] = mapped_column(JSON, default=list)  # what was wrong with the message
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    seen: Mapped[list[EmailSeen]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="EmailSeen.id"
    )
    attachments: Mapped[list[EmailAttachment]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="EmailAttachment.id"
    )
    links: Mapped[list[EmailLink]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="EmailLink.id"
    )

    @property
    def from_display(self) -> str:
        if self.from_name and self.from_address:
            return f"{self.from_name} <{self.from_address}>"
        return self.from_name or self.from_address

    def all_addresses(self) -> list[str]:
        out = [self.from_address] if self.from_address else []
        for field in (self.to, self.cc, self.bcc):
            out.extend(a["email"] for a in field or [] if a.get("email"))
        return out


class EmailSeen(db.Model):
    """One mailbox folder an e-mail was found in (one record, many mailboxes)."""

    __tablename__ = "email_seen"
    __table_args__ = (
        UniqueConstraint("email_id", "account_id", "folder"),
        Index("ix_email_seen_account_folder_uid", "account_id", "folder", "uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("scanner_accounts.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(500))
    uid: Mapped[int] = mapped_column(db.BigInteger)
    uidvalidity: Mapped[int | None] = mapped_column(db.BigInteger)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    email: Mapped[Email] = relationship(back_populates="seen")
    account = relationship("ScannerAccount")


class EmailAttachment(db.Model):
    """Attachment metadata; the bytes live content-addressed on disk by sha256."""

    __tablename__ = "email_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_id: Mapped[str | None] = mapped_column(String(255))  # for inline cid: parts
    inline: Mapped[bool] = mapped_column(default=False)

    email: Mapped[Email] = relationship(back_populates="attachments")


class EmailLink(db.Model):
    """An e-mail bound to a CRM record (contact, account, lead or ticket)."""

    __tablename__ = "email_links"
    __table_args__ = (
        UniqueConstraint("email_id", "record_type", "record_id"),
        Index("ix_email_links_record", "record_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int]
    manual: Mapped[bool] = mapped_column(default=False)  # linked by a person, not the scanner
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    email: Mapped[Email] = relationship(back_populates="links")

"""Mail servers, scanner accounts (mailboxes), their folders and autologin grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from corpmail.extensions import db
from corpmail.mail import crypto
from corpmail.models.base import UTCDateTime, utcnow
from corpmail.validation import split_list

SECURITY_CHOICES = ["none", "ssl", "starttls"]
AUTH_METHODS = ["basic", "oauth2"]
FOLDER_ROLES = ["Received", "Sent", "Spam", "Trash", "All"]
ACCOUNT_STATUSES = ["Active", "Inactive", "Locked"]
SEARCH_FIELDS = [
    "contacts.email",
    "contacts.secondary_email",
    "accounts.email",
    "accounts.domains",
    "leads.email",
    "tickets.number",
]


class MailServer(db.Model):
    __tablename__ = "mail_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    visible: Mapped[bool] = mapped_column(default=True)
    auth_method: Mapped[str] = mapped_column(String(16), default="basic")
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(default=143)
    imap_security: Mapped[str] = mapped_column(String(16), default="none")
    imap_validate_cert: Mapped[bool] = mapped_column(default=True)
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int | None] = mapped_column(default=587)
    smtp_security: Mapped[str] = mapped_column(String(16), default="starttls")
    smtp_validate_cert: Mapped[bool] = mapped_column(default=True)
    rc_spellcheck: Mapped[bool] = mapped_column(default=False)
    rc_ip_check: Mapped[bool] = mapped_column(default=False)
    rc_identities_level: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    accounts: Mapped[list[ScannerAccount]] = relationship(back_populates="server")


class ScannerAccount(db.Model):
    """A mailbox the scanner reads, and the policy it applies to every message."""

    __tablename__ = "scanner_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("mail_servers.id"))
    login: Mapped[str] = mapped_column(String(254))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")
    actions: Mapped[list] = mapped_column(JSON, default=list)  # ordered action names
    search_fields: Mapped[list] = mapped_column(JSON, default=lambda: list(SEARCH_FIELDS))
    email_exceptions: Mapped[str] = mapped_column(Text, default="")  # one per line
    domain_exceptions: Mapped[str] = mapped_column(Text, default="")  # one per line
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The scan lease: one scanner at a time per mailbox, enforced by a conditional UPDATE.
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    server: Mapped[MailServer] = relationship(back_populates="accounts")
    owner = relationship("User")
    folders: Mapped[list[ScannerFolder]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="ScannerFolder.name"
    )
    grants: Mapped[list[AutologinGrant]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )

    @property
    def password(self) -> str | None:
        if not self.password_encrypted:
            return None
        return crypto.decrypt(self.password_encrypted)

    @password.setter
    def password(self, value: str | None) -> None:
        self.password_encrypted = crypto.encrypt(value) if value else None

    def exception_lists(self) -> tuple[list[str], list[str]]:
        return split_list(self.email_exceptions), split_list(self.domain_exceptions)


class ScannerFolder(db.Model):
    """A folder chosen for scanning, with its role and the scan watermark."""

    __tablename__ = "scanner_folders"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("scanner_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))  # IMAP folder name, as the server lists it
    role: Mapped[str] = mapped_column(String(16), default="Received")
    uidvalidity: Mapped[int | None] = mapped_column(db.BigInteger)
    watermark: Mapped[int] = mapped_column(db.BigInteger, default=0)  # highest UID done
    missing: Mapped[bool] = mapped_column(default=False)  # gone from the server at last scan

    account: Mapped[ScannerAccount] = relationship(back_populates="folders")


class AutologinGrant(db.Model):
    __tablename__ = "autologin_grants"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("scanner_accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[ScannerAccount] = relationship(back_populates="grants")
    user = relationship("User")

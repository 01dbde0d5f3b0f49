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
SCAN_MODES = ["auto", "push", "poll"]  # auto: push when the server announces IDLE
SEARCH_FIELDS = [
    "contacts.email",
    "contacts.secondary_email",
    "accounts.email",
    "accounts.domains",
    "leads.email",
    "tickets.number",
]


def _encrypted(column: str) -> property:
    """The plain-text view of an encrypted column: None when empty, encrypted when set."""

    def get(self) -> str | None:
        stored = getattr(self, column)
        return crypto.decrypt(stored) if stored else None

    def set_(self, value: str | None) -> None:
        setattr(self, column, crypto.encrypt(value) if value else None)

    return property(get, set_)


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
    # OAuth 2.0 (auth_method "oauth2"): a provider name resolved by corpmail.oauth.providers;
    # the URLs and scopes override the provider's own (required for "generic").
    oauth_provider: Mapped[str | None] = mapped_column(String(16))
    oauth_client_id: Mapped[str | None] = mapped_column(String(255))
    oauth_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_authorize_url: Mapped[str | None] = mapped_column(String(500))
    oauth_token_url: Mapped[str | None] = mapped_column(String(500))
    oauth_revoke_url: Mapped[str | None] = mapped_column(String(500))
    oauth_scopes: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    oauth_client_secret = _encrypted("oauth_client_secret_encrypted")

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
    # OAuth 2.0 tokens (server auth_method "oauth2"), set by the Authorize flow.
    oauth_access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # access token
    oauth_refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # if told
    scan_mode: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")
    # What push mode is doing now, written by the scanner process (corpmail.scanner.push):
    # idle | connecting | retrying | polling; None when no scanner watches the mailbox.
    push_state: Mapped[str | None] = mapped_column(String(16))
    push_note: Mapped[str | None] = mapped_column(String(500))
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

    password = _encrypted("password_encrypted")
    oauth_access_token = _encrypted("oauth_access_token_encrypted")
    oauth_refresh_token = _encrypted("oauth_refresh_token_encrypted")

    @property
    def uses_oauth(self) -> bool:
        return self.server is not None and self.server.auth_method == "oauth2"

    @property
    def oauth_authorized(self) -> bool:
        """Tokens are stored: the scanner can log in (refreshing when needed)."""
        return bool(self.oauth_refresh_token_encrypted or self.oauth_access_token_encrypted)

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

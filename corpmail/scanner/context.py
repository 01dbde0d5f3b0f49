"""The context one message carries through the actions, and the skip signal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from corpmail.mail.message import ParsedMessage
    from corpmail.models import Ticket
    from corpmail.scanner.matching import RecordIndex


class SkipMessage(Exception):
    """Raised by a rule or an action: the message is not stored (a signal, not an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConfigSnapshot:
    """The run-time policy read once per run (MailConfiguration), immune to rollbacks."""

    max_messages_per_run: int = 500
    mark_seen: bool = False
    skip_auto_generated: bool = True
    email_exceptions: tuple[str, ...] = ()
    domain_exceptions: tuple[str, ...] = ()
    max_message_size_mb: int = 25
    ticket_default_status: str = "Open"
    ticket_status_after_reply: str = "Answered"
    ticket_reopen_status: str = "Open"
    ticket_on_closed_reply: str = "reopen"
    ticket_prefix: str = "TT"

    @classmethod
    def from_model(cls, cfg: Any) -> ConfigSnapshot:
        emails, domains = cfg.exception_lists()
        return cls(
            max_messages_per_run=cfg.max_messages_per_run,
            mark_seen=cfg.mark_seen,
            skip_auto_generated=cfg.skip_auto_generated,
            email_exceptions=tuple(emails),
            domain_exceptions=tuple(domains),
            max_message_size_mb=cfg.max_message_size_mb,
            ticket_default_status=cfg.ticket_default_status,
            ticket_status_after_reply=cfg.ticket_status_after_reply,
            ticket_reopen_status=cfg.ticket_reopen_status,
            ticket_on_closed_reply=cfg.ticket_on_closed_reply,
            ticket_prefix=cfg.ticket_prefix or "TT",
        )

    @property
    def max_message_size(self) -> int:
        return max(1, self.max_message_size_mb) * 1024 * 1024


@dataclass(frozen=True)
class AccountSnapshot:
    """The scanned mailbox's settings, read once per run."""

    id: int
    name: str
    login: str
    owner_id: int | None
    actions: tuple[str, ...] = ()
    search_fields: tuple[str, ...] = ()
    email_exceptions: tuple[str, ...] = ()
    domain_exceptions: tuple[str, ...] = ()

    @classmethod
    def from_model(cls, account: Any) -> AccountSnapshot:
        emails, domains = account.exception_lists()
        return cls(
            id=account.id,
            name=account.name,
            login=account.login or "",
            owner_id=account.owner_id,
            actions=tuple(account.actions or ()),
            search_fields=tuple(account.search_fields or ()),
            email_exceptions=tuple(emails),
            domain_exceptions=tuple(domains),
        )

    @property
    def own_address(self) -> str | None:
        """The mailbox's own address, when its login looks like one."""
        login = self.login.strip().lower()
        return login if "@" in login else None


@dataclass(frozen=True)
class FolderInfo:
    name: str
    role: str
    uidvalidity: int


@dataclass
class ScanContext:
    """Everything the actions of one message share. Actions read and fill it in order."""

    config: ConfigSnapshot
    account: AccountSnapshot
    folder: FolderInfo
    uid: int
    raw: bytes
    parsed: ParsedMessage
    message_key: str
    direction: str = "Received"
    # lower-case addresses of CRM users (plus the mailbox's own): never bound, decide direction
    internal_addresses: frozenset[str] = frozenset()
    email_id: int | None = None  # the stored E-mail, set by create-email
    email_is_new: bool = False  # create-email made it in this transaction (no stored links)
    records: RecordIndex | None = None  # the scan's address -> CRM record cache
    connection: Connection | None = None  # the message's transaction (None: the session's)
    bound: list[tuple[str, int]] = field(default_factory=list)  # (record_type, id) linked
    ticket: Ticket | None = None  # the ticket the message belongs to (open-ticket/create-ticket)
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ticket_actions_apply(self) -> bool:
        """Tickets are opened/created only for received mail outside Spam/Trash folders."""
        return self.direction == "Received" and self.folder.role not in ("Spam", "Trash", "Sent")

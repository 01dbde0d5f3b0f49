"""The small CRM mail binds to: accounts, contacts, leads, tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from corpmail.extensions import db
from corpmail.models.base import UTCDateTime, utcnow

TICKET_STATUSES = ["Open", "In progress", "Wait for response", "Answered", "Closed", "Rejected"]
CLOSING_STATUSES = {"Closed", "Rejected"}
TICKET_PRIORITIES = ["Low", "Normal", "High", "Urgent"]
LEAD_STATUSES = ["New", "Contacted", "Qualified", "Lost"]


class Account(db.Model):
    """An organisation; mail from any of its domains binds to it."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    website: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    domain_rows: Mapped[list[AccountDomain]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountDomain.domain"
    )
    contacts: Mapped[list[Contact]] = relationship(back_populates="account")

    @property
    def domains(self) -> list[str]:
        return [row.domain for row in self.domain_rows]

    @domains.setter
    def domains(self, values) -> None:
        wanted = []
        for value in values:
            value = value.strip().lower().lstrip("@")
            if value and value not in wanted:
                wanted.append(value)
        keep = [row for row in self.domain_rows if row.domain in wanted]
        have = {row.domain for row in keep}
        self.domain_rows = keep + [AccountDomain(domain=d) for d in wanted if d not in have]

    @property
    def label(self) -> str:
        return self.name


class AccountDomain(db.Model):
    __tablename__ = "account_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253), index=True)  # lower-case

    account: Mapped[Account] = relationship(back_populates="domain_rows")


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-case
    secondary_email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-case
    phone: Mapped[str | None] = mapped_column(String(50))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account | None] = relationship(back_populates="contacts")

    @property
    def label(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.email or f"#{self.id}"


class Lead(db.Model):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    company: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-case
    status: Mapped[str] = mapped_column(String(32), default="New")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def label(self) -> str:
        return self.name or self.company or self.email or f"#{self.id}"


class Ticket(db.Model):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # prefix + id, assigned right after the first flush (see assign_ticket_number)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="Open")
    priority: Mapped[str] = mapped_column(String(16), default="Normal")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact | None] = relationship()
    account: Mapped[Account | None] = relationship()
    owner = relationship("User")
    history: Mapped[list[TicketHistory]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketHistory.id"
    )

    @property
    def label(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSING_STATUSES

    def change_status(self, new_status: str, note: str = "", email_id: int | None = None) -> None:
        """Set the status and record the change on the ticket's history."""
        if new_status == self.status:
            return
        self.history.append(
            TicketHistory(old_status=self.status, new_status=new_status, note=note, email_id=email_id)
        )
        self.status = new_status


def assign_ticket_number(ticket: Ticket, prefix: str) -> None:
    """Give a flushed ticket its number: the configured prefix and its id (TT123)."""
    db.session.flush()
    ticket.number = f"{prefix}{ticket.id}"


class TicketHistory(db.Model):
    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    old_status: Mapped[str | None] = mapped_column(String(32))
    new_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="SET NULL"))

    ticket: Mapped[Ticket] = relationship(back_populates="history")

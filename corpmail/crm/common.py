"""Shared CRM helpers: the record-type registry, search, paging, page rendering, safe redirects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select

from corpmail.extensions import db
from corpmail.models import Account, AccountDomain, Contact, Email, EmailLink, Lead, Ticket

PER_PAGE = 25  # list pages
EMAILS_PER_PAGE = 10  # the e-mails card on a record page
MAX_QUERY = 200  # longer search text is cut, never an error


@dataclass(frozen=True)
class RecordType:
    """One kind of CRM record an e-mail can be bound to (EmailLink.record_type)."""

    name: str
    model: Any
    endpoint: str  # detail page, takes record_id
    title: Any  # lazy string, singular
    icon: str

    def url(self, record_id: int) -> str:
        return url_for(self.endpoint, record_id=record_id)


RECORD_TYPES: dict[str, RecordType] = {
    "contact": RecordType("contact", Contact, "crm.contact_detail", _l("Contact"), "person"),
    "account": RecordType("account", Account, "crm.account_detail", _l("Account"), "building"),
    "lead": RecordType("lead", Lead, "crm.lead_detail", _l("Lead"), "funnel"),
    "ticket": RecordType("ticket", Ticket, "crm.ticket_detail", _l("Ticket"), "ticket-detailed"),
}


def search_text() -> str:
    return (request.args.get("q") or "").strip()[:MAX_QUERY]


def page_number() -> int:
    return request.args.get("page", 1, type=int) or 1


def match_terms(text: str, columns: list) -> Any | None:
    """Every word of the query must appear (case-insensitively) in one of the columns.

    Word by word, so "jan kowalski" finds a contact whose first and last names
    are in two columns; autoescape makes % and _ literal.
    """
    terms = text.split()
    if not terms:
        return None
    return and_(*(or_(*(col.icontains(term, autoescape=True) for col in columns)) for term in terms))


def _domain_match(term: str):
    return exists().where(
        AccountDomain.account_id == Account.id,
        AccountDomain.domain.icontains(term, autoescape=True),
    )


def record_search(record_type: str, text: str) -> Select:
    """The select behind a list page's search box (and the link-to-record search)."""
    if record_type == "account":
        stmt = select(Account).order_by(func.lower(Account.name), Account.id)
        terms = text.split()
        if terms:
            cols = [Account.name, Account.email, Account.website, Account.number]
            stmt = stmt.where(
                and_(*(or_(*(c.icontains(t, autoescape=True) for c in cols), _domain_match(t))
                       for t in terms))
            )
        return stmt
    if record_type == "contact":
        stmt = select(Contact).outerjoin(Contact.account).order_by(
            func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id
        )
        cond = match_terms(text, [Contact.first_name, Contact.last_name, Contact.email,
                                  Contact.secondary_email, Contact.phone, Account.name])
    elif record_type == "lead":
        stmt = select(Lead).order_by(func.lower(Lead.company), func.lower(Lead.name), Lead.id)
        cond = match_terms(text, [Lead.company, Lead.name, Lead.email, Lead.status])
    elif record_type == "ticket":
        stmt = select(Ticket).order_by(Ticket.id.desc())
        cond = match_terms(text, [Ticket.number, Ticket.title, Ticket.description])
    else:
        abort(404)
    return stmt.where(cond) if cond is not None else stmt


def paginate(stmt: Select, per_page: int = PER_PAGE):
    return db.paginate(stmt, page=page_number(), per_page=per_page, error_out=False)


def record_emails(record_type: str, record_id: int):
    """A record's e-mails, newest first, one page of EMAILS_PER_PAGE."""
    stmt = (
        select(Email)
        .join(EmailLink, EmailLink.email_id == Email.id)
        .where(EmailLink.record_type == record_type, EmailLink.record_id == record_id)
        .order_by(func.coalesce(Email.date, Email.created_at).desc(), Email.id.desc())
    )
    return paginate(stmt, per_page=EMAILS_PER_PAGE)


def render_list(record_type: str, where: ColumnElement | None = None, **context) -> str:
    """A list page ``crm/<type>s.html``: search box text, optional extra filter, one page."""
    q = search_text()
    stmt = record_search(record_type, q)
    if where is not None:
        stmt = stmt.where(where)
    return render_template(f"crm/{record_type}s.html", q=q, pagination=paginate(stmt), **context)


def render_detail(record_type: str, record, **context) -> str:
    """A record page ``crm/<type>_detail.html`` with its e-mails card."""
    return render_template(f"crm/{record_type}_detail.html", record=record, record_type=record_type,
                           emails=record_emails(record_type, record.id), **{record_type: record},
                           **context)


def recent_tickets(column, record_id: int) -> list[Ticket]:
    """The newest 20 tickets whose ``column`` (Ticket.contact_id / account_id) is record_id."""
    return db.session.scalars(
        select(Ticket).where(column == record_id).order_by(Ticket.id.desc()).limit(20)
    ).all()


def render_record_form(form, title: str, cancel: str) -> str:
    """The shared create/edit page ``crm/form.html``."""
    return render_template("crm/form.html", form=form, title=title, cancel=cancel)


def commit_and_show(record_type: str, record, message: str):
    """Commit, flash ``message`` as a success and redirect to the record's page."""
    db.session.commit()
    flash(message, "success")
    return redirect(RECORD_TYPES[record_type].url(record.id))


def safe_next(target: str | None, fallback: str) -> str:
    """Only redirect to a path on this site (no scheme, no host, no //)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and not urlsplit(target).netloc):
        return target
    return fallback

"""Each scanner action run alone on a hand-built context (SQLite, no mail server)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.message import parse_message
from corpmail.models import Account, Contact, Email, EmailLink, Ticket
from corpmail.models.crm import assign_ticket_number
from corpmail.scanner.actions.bind_email import BindEmail
from corpmail.scanner.actions.create_email import CreateEmail
from corpmail.scanner.actions.create_ticket import CreateTicket
from corpmail.scanner.actions.open_ticket import OpenTicket
from corpmail.scanner.context import AccountSnapshot, ConfigSnapshot, FolderInfo, ScanContext
from corpmail.scanner.email_row import clean
from corpmail.storage import attachment_path


def raw_message(subject="Question", sender="jan@client.example", to="box@corp.example",
                body="Hello there.", attachment=None, msgid="<m1@client.example>", **headers) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Message-ID"] = msgid
    msg["Date"] = "Mon, 06 May 2024 09:08:07 +0200"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="offer.pdf")
    return msg.as_bytes()


@pytest.fixture
def make_ctx(app, admin_user):
    def make(raw: bytes, direction="Received", config=None, role="Received", fields=None) -> ScanContext:
        parsed = parse_message(raw)
        account = AccountSnapshot(
            id=1, name="box", login="box@corp.example", owner_id=admin_user.id,
            search_fields=tuple(fields or ("contacts.email", "contacts.secondary_email",
                                           "accounts.email", "accounts.domains", "leads.email",
                                           "tickets.number")),
        )
        return ScanContext(
            config=config or ConfigSnapshot(), account=account,
            folder=FolderInfo("INBOX", role, 77), uid=5, raw=raw, parsed=parsed,
            message_key=parsed.message_id or "digest:x", direction=direction,
            internal_addresses=frozenset({"box@corp.example", admin_user.email}),
        )

    return make


@pytest.fixture
def scanner_row(app, admin_user):
    """The account row the EmailSeen foreign key points at (id 1)."""
    from corpmail.models import MailServer, ScannerAccount

    server = MailServer(name="s", imap_host="127.0.0.1")
    account = ScannerAccount(id=1, name="box", server=server, login="box@corp.example")
    db.session.add(account)
    db.session.commit()
    return account


@pytest.fixture
def client_contact(app):
    client = Account(name="Client")
    client.domains = ["client.example"]
    jan = Contact(first_name="Jan", email="jan@client.example", account=client)
    db.session.add_all([client, jan])
    db.session.commit()
    return jan


def test_create_email_stores_fields_seen_and_attachment(make_ctx, scanner_row, admin_user, app):
    ctx = make_ctx(raw_message(attachment=b"%PDF-1.4 offer", body="See <b>offer</b>"))
    CreateEmail().run(ctx)
    db.session.commit()
    email = db.session.scalar(select(Email))
    assert email.id == ctx.email_id
    assert email.message_id == "m1@client.example"
    assert email.message_key == "m1@client.example"
    assert email.subject == "Question" and email.from_address == "jan@client.example"
    assert email.to == [{"name": "", "email": "box@corp.example"}]
    assert email.date.isoformat() == "2024-05-06T07:08:07+00:00"  # stored in UTC
    assert email.direction == "Received" and email.owner_id == admin_user.id
    assert [(s.account_id, s.folder, s.uid, s.uidvalidity) for s in email.seen] == [(1, "INBOX", 5, 77)]
    (att,) = email.attachments
    assert (att.filename, att.content_type, att.size) == ("offer.pdf", "application/pdf", 14)
    assert attachment_path(att.sha256).read_bytes() == b"%PDF-1.4 offer"
    assert not email.truncated


def test_create_email_marks_truncated_over_the_size_limit(make_ctx, scanner_row):
    big = raw_message(attachment=b"x" * (1024 * 1024 + 10))
    ctx = make_ctx(big, config=ConfigSnapshot(max_message_size_mb=1))
    ctx.parsed = parse_message(big, max_size=ctx.config.max_message_size)
    CreateEmail().run(ctx)
    db.session.commit()
    email = db.session.get(Email, ctx.email_id)
    assert email.truncated
    assert email.attachments == []


def test_clean_makes_text_storable():
    assert clean("a\x00b") == "ab"
    assert clean("bad \udcff surrogate") == "bad ? surrogate"
    assert clean("abcdef", 3) == "abc"
    assert clean(None) == ""


def test_bind_email_binds_contact_and_account_idempotently(make_ctx, scanner_row, client_contact):
    ctx = make_ctx(raw_message())
    CreateEmail().run(ctx)
    BindEmail().run(ctx)
    BindEmail().run(ctx)  # a second run adds nothing
    db.session.commit()
    links = db.session.scalars(select(EmailLink)).all()
    assert sorted((link.record_type, link.record_id) for link in links) == [
        ("account", client_contact.account_id), ("contact", client_contact.id)]

    # Against a stored e-mail with a hand-made link: still no duplicates.
    ctx2 = make_ctx(raw_message())
    ctx2.email_id = ctx.email_id
    BindEmail().run(ctx2)
    db.session.commit()
    assert len(db.session.scalars(select(EmailLink)).all()) == 2


def test_bind_email_never_binds_users(make_ctx, scanner_row, admin_user):
    db.session.add(Contact(first_name="Ada", email=admin_user.email))
    db.session.commit()
    ctx = make_ctx(raw_message(sender=admin_user.email, to="jan@nowhere.example"), direction="Sent")
    CreateEmail().run(ctx)
    BindEmail().run(ctx)
    assert ctx.bound == []


def _ticket(status: str) -> Ticket:
    t = Ticket(title="T", status=status)
    db.session.add(t)
    assign_ticket_number(t, "TT")
    db.session.commit()
    return t


@pytest.mark.parametrize("status,after", [("Wait for response", "Answered"), ("Closed", "Open"),
                                          ("Rejected", "Open"), ("In progress", "In progress")])
def test_open_ticket_moves_status(make_ctx, scanner_row, status, after):
    t = _ticket(status)
    ctx = make_ctx(raw_message(subject=f"Re: [{t.number}] T"))
    CreateEmail().run(ctx)
    OpenTicket().run(ctx)
    CreateTicket().run(ctx)  # belongs to the ticket: no new one
    db.session.commit()
    assert ctx.ticket is t and t.status == after
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 1
    assert ("ticket", t.id) in ctx.bound
    if status != after:
        assert t.history[-1].email_id == ctx.email_id


def test_open_ticket_ignores_sent_mail(make_ctx, scanner_row):
    t = _ticket("Wait for response")
    ctx = make_ctx(raw_message(subject=f"[{t.number}] answer", sender="box@corp.example"),
                   direction="Sent")
    CreateEmail().run(ctx)
    OpenTicket().run(ctx)
    CreateTicket().run(ctx)
    assert t.status == "Wait for response" and ctx.ticket is None


def test_create_ticket_from_sender(make_ctx, scanner_row, client_contact, admin_user):
    ctx = make_ctx(raw_message(subject="", body="No subject here"),
                   config=ConfigSnapshot(ticket_prefix="HD", ticket_default_status="In progress"))
    CreateEmail().run(ctx)
    CreateTicket().run(ctx)
    db.session.commit()
    t = ctx.ticket
    assert t.number == f"HD{t.id}" and t.title == "(no subject)"
    assert t.status == "In progress" and "No subject here" in t.description
    assert (t.contact_id, t.account_id, t.owner_id) == (
        client_contact.id, client_contact.account_id, admin_user.id)
    assert ctx.bound == [("ticket", t.id)]


def test_create_ticket_not_for_spam_folder(make_ctx, scanner_row):
    ctx = make_ctx(raw_message(), role="Spam")
    CreateEmail().run(ctx)
    CreateTicket().run(ctx)
    assert ctx.ticket is None


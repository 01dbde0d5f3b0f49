"""CRM record pages: CRUD, validation, search, paging, ticket numbers and history, e-mails card."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import (
    Account,
    AutologinGrant,
    Contact,
    Email,
    EmailLink,
    Lead,
    MailConfiguration,
    MailServer,
    ScannerAccount,
    Ticket,
    TicketHistory,
)

LIST_PAGES = ["/accounts", "/contacts", "/leads", "/tickets", "/emails"]


@pytest.fixture
def user_client(client_as, plain_user):
    return client_as(plain_user)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def rows_in(html: str) -> int:
    """Data rows of the list table (rows with a detail link in the first cell)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr>")


def make_email(subject: str, when: datetime | None = None, direction: str = "Received", **kw) -> Email:
    email = Email(message_key=f"{subject}-{id(kw)}-{when}@test", message_id=f"{subject}@test",
                  subject=subject, from_name="Sender", from_address="sender@client.test",
                  to=[{"name": "", "email": "desk@corp.test"}], date=when,
                  direction=direction, text_body="body of " + subject, **kw)
    db.session.add(email)
    db.session.flush()
    return email


# --------------------------------------------------------------------------- access
def test_anonymous_is_sent_to_login_from_every_crm_page(app, client, post_form):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("crm.")]
    assert len(rules) > 15
    for rule in rules:
        url = re.sub(r"<int:\w+>", "1", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            # POSTs carry a valid CSRF token, so it is the login check that answers.
            resp = client.get(url) if method == "GET" else post_form(client, url, {})
            assert resp.status_code == 302, (method, url, resp.status_code)
            assert "/login" in resp.headers["Location"], url


def test_plain_user_can_use_every_list_and_form_page(user_client):
    for url in LIST_PAGES + ["/accounts/new", "/contacts/new", "/leads/new", "/tickets/new"]:
        resp = user_client.get(url)
        assert resp.status_code == 200, url
        assert 'class="navbar' in text(resp)  # inside the product's layout


def test_missing_record_is_a_404_page_in_the_layout(user_client):
    for url in ["/accounts/999", "/contacts/999/edit", "/leads/999", "/tickets/999", "/emails/999"]:
        resp = user_client.get(url)
        assert resp.status_code == 404, url
        html = text(resp)
        assert 'data-status="404"' in html and "Page not found" in html and "navbar" in html


def test_plain_user_gets_a_403_page_in_the_layout_on_admin(user_client):
    resp = user_client.get("/admin/configuration")
    assert resp.status_code == 403
    assert 'data-status="403"' in text(resp) and "Access denied" in text(resp)


def test_post_without_csrf_token_is_refused(user_client):
    resp = user_client.post("/accounts/new", data={"name": "No token"})
    assert resp.status_code == 400
    assert db.session.scalar(select(Account).where(Account.name == "No token")) is None


# --------------------------------------------------------------------------- accounts
def test_account_create_normalises_email_and_domains(user_client, post_form, plain_user):
    resp = post_form(user_client, "/accounts/new", {
        "name": "Acme Ltd", "email": "  Office@ACME.example ", "website": "acme.example",
        "domains": "ACME.example, @acme-group.example  acme.example", "number": "",
    })
    assert resp.status_code == 302
    account = db.session.scalar(select(Account).where(Account.name == "Acme Ltd"))
    assert account.email == "office@acme.example"
    assert account.domains == ["acme-group.example", "acme.example"]
    assert account.number == f"ACC{account.id}"
    assert account.owner_id == plain_user.id
    page = text(user_client.get(resp.headers["Location"]))
    assert "Acme Ltd" in page and "acme-group.example" in page


@pytest.mark.parametrize("field,value,message", [
    ("email", "not-an-address", "valid e-mail address"),
    ("domains", "good.example bad_domain!", "is not a valid domain"),
    ("name", "", "This field is required"),
])
def test_account_validation_errors(user_client, post_form, field, value, message):
    data = {"name": "Valid name", "email": "", "domains": ""}
    data[field] = value
    resp = post_form(user_client, "/accounts/new", data)
    assert resp.status_code == 200
    assert message in text(resp)
    assert db.session.scalar(select(Account.id)) is None


def test_account_edit_and_duplicate_number(user_client, post_form):
    one = Account(name="One", number="A-1")
    two = Account(name="Two", number="A-2")
    two.domains = ["two.example"]
    db.session.add_all([one, two])
    db.session.commit()
    form = text(user_client.get(f"/accounts/{two.id}/edit"))
    assert "two.example" in form  # the domains field shows the current list
    resp = post_form(user_client, f"/accounts/{two.id}/edit",
                     {"name": "Two", "number": "A-1", "domains": "two.example"})
    assert "Another account already has this number" in text(resp)
    resp = post_form(user_client, f"/accounts/{two.id}/edit",
                     {"name": "Two Renamed", "number": "A-2", "domains": "three.example"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert two.name == "Two Renamed" and two.domains == ["three.example"]


def test_account_search_and_paging(user_client):
    for i in range(30):
        account = Account(name=f"Company {i:02d}", number=f"N{i}")
        account.domains = [f"c{i}.example"]
        db.session.add(account)
    db.session.add(Account(name="Żabka Polska", email="biuro@zabka.example"))
    db.session.commit()
    page1 = text(user_client.get("/accounts"))
    assert rows_in(page1) == 25 and "31 records" in page1
    page2 = text(user_client.get("/accounts?page=2"))
    assert rows_in(page2) == 6
    assert rows_in(text(user_client.get("/accounts?q=company+07"))) == 1
    assert rows_in(text(user_client.get("/accounts?q=COMPANY"))) == 25
    assert rows_in(text(user_client.get("/accounts?q=c12.EXAMPLE"))) == 1  # by domain
    assert "Żabka" in text(user_client.get("/accounts?q=BIURO@"))  # by e-mail
    empty = text(user_client.get("/accounts?q=%25_"))  # LIKE wildcards are literal
    assert rows_in(empty) == 1 and "No accounts found" in empty


# --------------------------------------------------------------------------- contacts
def test_contact_crud_with_account_select(user_client, post_form):
    account = Account(name="Globex")
    db.session.add(account)
    db.session.commit()
    form = text(user_client.get("/contacts/new"))
    assert f'<option value="{account.id}">Globex</option>' in form
    resp = post_form(user_client, "/contacts/new", {
        "first_name": "Jan", "last_name": "Kowalski", "email": "Jan.Kowalski@Globex.example",
        "secondary_email": "", "phone": "+48 600 100 200", "account_id": account.id,
    })
    assert resp.status_code == 302
    contact = db.session.scalar(select(Contact))
    assert contact.email == "jan.kowalski@globex.example"
    assert contact.secondary_email is None and contact.account_id == account.id
    detail = text(user_client.get(f"/contacts/{contact.id}"))
    assert "Jan Kowalski" in detail and "Globex" in detail

    resp = post_form(user_client, f"/contacts/{contact.id}/edit", {
        "first_name": "Jan", "last_name": "Kowalski", "email": "jan@globex.example",
        "secondary_email": "JK@Home.example", "phone": "", "account_id": 0,
    })
    assert resp.status_code == 302
    db.session.expire_all()
    assert contact.secondary_email == "jk@home.example" and contact.account_id is None


@pytest.mark.parametrize("data,message", [
    ({"first_name": "", "last_name": "", "email": ""}, "Give a name or an e-mail address"),
    ({"last_name": "X", "email": "x@"}, "valid e-mail address"),
    ({"last_name": "X", "phone": "call me maybe"}, "Use digits"),
    ({"last_name": "X", "account_id": 4242}, "Not a valid choice"),
])
def test_contact_validation(user_client, post_form, data, message):
    resp = post_form(user_client, "/contacts/new", {"account_id": 0, **data})
    assert resp.status_code == 200 and message in text(resp)
    assert db.session.scalar(select(Contact.id)) is None


def test_contact_search_word_by_word_and_paging(user_client):
    acme = Account(name="Acme")
    db.session.add(acme)
    db.session.add(Contact(first_name="Jan", last_name="Kowalski", email="jk@x.example", account=acme))
    db.session.add(Contact(first_name="Anna", last_name="Nowak", secondary_email="anna@home.example"))
    for i in range(26):
        db.session.add(Contact(first_name="Bulk", last_name=f"Person {i:02d}"))
    db.session.commit()
    assert rows_in(text(user_client.get("/contacts?q=kowalski+JAN"))) == 1
    assert rows_in(text(user_client.get("/contacts?q=home.example"))) == 1
    assert rows_in(text(user_client.get("/contacts?q=acme"))) == 1  # by account name
    assert rows_in(text(user_client.get("/contacts?q=bulk"))) == 25
    assert rows_in(text(user_client.get("/contacts?q=bulk&page=2"))) == 1


# --------------------------------------------------------------------------- leads
def test_lead_crud_search_and_status_filter(user_client, post_form):
    resp = post_form(user_client, "/leads/new", {"company": "Initech", "name": "Peter",
                                                 "email": "PETER@Initech.example", "status": "New"})
    assert resp.status_code == 302
    lead = db.session.scalar(select(Lead))
    assert lead.email == "peter@initech.example"
    resp = post_form(user_client, f"/leads/{lead.id}/edit", {"company": "Initech", "name": "Peter",
                                                            "email": "", "status": "Qualified"})
    assert resp.status_code == 302
    db.session.add(Lead(company="Other", name="Olga", status="Lost"))
    db.session.commit()
    db.session.expire_all()
    assert lead.status == "Qualified" and lead.email is None
    assert rows_in(text(user_client.get("/leads?q=initech"))) == 1
    assert rows_in(text(user_client.get("/leads?status=Lost"))) == 1
    assert rows_in(text(user_client.get("/leads"))) == 2
    bad = post_form(user_client, "/leads/new", {"company": "", "name": "", "status": "New"})
    assert "Give a company or a name" in text(bad)
    bad = post_form(user_client, "/leads/new", {"company": "C", "status": "Bogus"})
    assert "Not a valid choice" in text(bad)


# --------------------------------------------------------------------------- tickets
def test_ticket_number_uses_the_configured_prefix(user_client, post_form, plain_user):
    MailConfiguration.get().ticket_prefix = "HD"
    contact = Contact(first_name="Ann", last_name="Lee", email="ann@lee.example",
                      account=Account(name="Lee Inc"))
    db.session.add(contact)
    db.session.commit()
    resp = post_form(user_client, "/tickets/new", {
        "title": "Printer on fire", "description": "Smoke.", "status": "Open", "priority": "Urgent",
        "contact_id": contact.id, "account_id": 0, "owner_id": plain_user.id, "note": "",
    })
    assert resp.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.number == f"HD{ticket.id}"
    assert ticket.account_id == contact.account_id  # taken from the contact
    assert [(h.old_status, h.new_status) for h in ticket.history] == [(None, "Open")]
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    assert f"HD{ticket.id}" in page and "Printer on fire" in page and "Urgent" in page
    assert rows_in(text(user_client.get(f"/tickets?q=hd{ticket.id}"))) == 1


def test_ticket_status_change_is_recorded_in_history(user_client, post_form, plain_user):
    ticket = Ticket(title="Broken", status="Open", number="TT1")
    db.session.add(ticket)
    db.session.commit()
    form = {"title": "Broken", "description": "", "priority": "High", "contact_id": 0,
            "account_id": 0, "owner_id": plain_user.id}
    resp = post_form(user_client, f"/tickets/{ticket.id}/edit",
                     {**form, "status": "Wait for response", "note": "Asked for logs"})
    assert resp.status_code == 302
    post_form(user_client, f"/tickets/{ticket.id}/edit", {**form, "status": "Wait for response",
                                                          "note": ""})  # no change, no row
    db.session.expire_all()
    rows = db.session.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket.id)).all()
    assert [(h.old_status, h.new_status, h.note) for h in rows] == [
        ("Open", "Wait for response", "Asked for logs")]
    assert ticket.priority == "High" and ticket.owner_id == plain_user.id
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    history = page.split('id="history"', 1)[1]
    assert "Asked for logs" in history and "Wait for response" in history


def test_ticket_validation_and_status_filter(user_client, post_form):
    resp = post_form(user_client, "/tickets/new", {"title": "", "status": "Open",
                                                   "priority": "Normal", "contact_id": 0,
                                                   "account_id": 0, "owner_id": 0})
    assert resp.status_code == 200 and "This field is required" in text(resp)
    resp = post_form(user_client, "/tickets/new", {"title": "x", "status": "Nope",
                                                   "priority": "Normal", "contact_id": 0,
                                                   "account_id": 0, "owner_id": 0})
    assert "Not a valid choice" in text(resp)
    db.session.add_all([Ticket(title="a", status="Open", number="TT10"),
                        Ticket(title="b", status="Closed", number="TT11")])
    db.session.commit()
    assert rows_in(text(user_client.get("/tickets?status=open"))) == 1
    assert rows_in(text(user_client.get("/tickets?status=Closed"))) == 1
    assert rows_in(text(user_client.get("/tickets"))) == 2


def test_reply_by_email_needs_a_mailbox_grant(app, user_client, plain_user):
    contact = Contact(first_name="Zoë", email="zoe+desk@client.example")
    ticket = Ticket(title="Help", number="TT123", contact=contact)
    db.session.add(ticket)
    db.session.commit()
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    button = re.search(r'<button[^>]*id="reply-by-email"[^>]*>', page).group(0)
    assert "disabled" in button and "data-bs-toggle=\"tooltip\"" in page

    server = MailServer(name="S", imap_host="127.0.0.1")
    mailbox = ScannerAccount(name="desk", server=server, login="desk@corp.example")
    db.session.add(AutologinGrant(account=mailbox, user_id=plain_user.id))
    db.session.commit()
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    link = re.search(r'<a[^>]*id="reply-by-email"[^>]*href="([^"]+)"|<a[^>]*href="([^"]+)"[^>]*id="reply-by-email"', page)
    href = (link.group(1) or link.group(2)).replace("&amp;", "&")
    # Through autologin: the app's open link, compose data in its query (never a token).
    assert href.startswith(f"/mail/open/{mailbox.id}?compose=1&")
    query = parse_qs(urlsplit(href).query)
    assert query["to"] == ["zoe+desk@client.example"]
    assert query["subject"] == ["[TT123] "]

    other = ScannerAccount(name="sales", server=server, login="sales@corp.example")
    db.session.add(AutologinGrant(account=other, user_id=plain_user.id))
    db.session.commit()
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    chooser = page[page.index('id="reply-by-email-chooser"'):]
    hrefs = re.findall(r'href="(/mail/open/[^"]+)"', chooser)[:2]
    assert [h.split("?")[0] for h in hrefs] == [f"/mail/open/{mailbox.id}", f"/mail/open/{other.id}"]


# --------------------------------------------------------------------------- e-mails card
@pytest.mark.parametrize("kind", ["account", "contact", "lead", "ticket"])
def test_record_page_lists_its_emails_newest_first_paginated(user_client, kind):
    record = {"account": Account(name="Acme"), "contact": Contact(last_name="Doe"),
              "lead": Lead(name="Lee"), "ticket": Ticket(title="T", number="TT9")}[kind]
    db.session.add(record)
    db.session.flush()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(12):
        email = make_email(f"Subject {i:02d}", start + timedelta(days=i),
                           direction="Sent" if i == 11 else "Received")
        db.session.add(EmailLink(email_id=email.id, record_type=kind, record_id=record.id))
    make_email("Unrelated mail", start)
    db.session.commit()
    url = f"/{kind}s/{record.id}"
    page = text(user_client.get(url))
    card = page.split('id="emails"', 1)[1]
    subjects = re.findall(r"Subject (\d\d)", card)
    assert subjects == [f"{i:02d}" for i in range(11, 1, -1)]  # newest first, 10 per page
    assert "Unrelated mail" not in page
    assert "Sent" in card and "Received" in card  # direction badges
    page2 = text(user_client.get(url + "?page=2")).split('id="emails"', 1)[1]
    assert re.findall(r"Subject (\d\d)", page2) == ["01", "00"]

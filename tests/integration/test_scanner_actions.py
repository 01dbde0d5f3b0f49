"""Each scanner action end to end: real Dovecot mailbox -> scan -> CRM records."""

from __future__ import annotations

import pytest
from scanner_util import count, links_of, make_message
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import (
    Account,
    Contact,
    Email,
    EmailLink,
    Lead,
    MailConfiguration,
    ScanEvent,
    Ticket,
)
from corpmail.models.crm import assign_ticket_number
from corpmail.scanner.engine import scan_account


@pytest.fixture
def crm(app, admin_user):
    """An account with a domain, a contact of it, and a lead."""
    client = Account(name="Client Ltd", email="office@client.example")
    client.domains = ["client.example"]
    other = Account(name="Partner SA")
    other.domains = ["partner.example"]
    jan = Contact(first_name="Jan", last_name="Kowalski", email="jan@client.example",
                  secondary_email="jan.k@private.example", account=client)
    lead = Lead(company="Prospect", name="Pia", email="pia@prospect.example")
    db.session.add_all([client, other, jan, lead])
    db.session.commit()
    return {"client": client, "other": other, "jan": jan, "lead": lead}


def put(dovecot, account, *raws, folder="INBOX"):
    return dovecot.append_many(account.login, account.password, folder, list(raws))


def scan(account):
    result = scan_account(account.id, "cli")
    db.session.expire_all()
    assert result.error is None, result.error
    return result


def ticket(number: str) -> Ticket:
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def test_new_mail_creates_ticket_with_contact_and_account(dovecot, scanner_account, crm, admin_user):
    put(dovecot, scanner_account, make_message("Printer is broken", body="It jams.",
                                               attachment=("log.txt", b"jam at tray 2")))
    result = scan(scanner_account)
    assert (result.fetched, result.stored, result.failed) == (1, 1, 0)

    email = db.session.scalar(select(Email))
    assert email.direction == "Received"
    assert email.from_address == "jan@client.example"
    assert email.owner_id == admin_user.id
    assert [(s.account_id, s.folder) for s in email.seen] == [(scanner_account.id, "INBOX")]
    assert len(email.attachments) == 1 and email.attachments[0].filename == "log.txt"

    t = db.session.scalar(select(Ticket))
    assert t.number == f"TT{t.id}"
    assert t.title == "Printer is broken"
    assert "It jams." in t.description
    assert t.status == "Open"
    assert t.contact_id == crm["jan"].id and t.account_id == crm["client"].id
    assert t.owner_id == admin_user.id
    assert links_of(email) == {
        ("contact", crm["jan"].id), ("account", crm["client"].id), ("ticket", t.id)
    }


def test_reply_moves_waiting_ticket_to_answered_and_reopens_closed(dovecot, scanner_account, crm):
    waiting = Ticket(title="Waiting", status="Wait for response", contact=crm["jan"])
    closed = Ticket(title="Done", status="Closed", contact=crm["jan"])
    db.session.add_all([waiting, closed])
    assign_ticket_number(waiting, "TT")
    assign_ticket_number(closed, "TT")
    db.session.commit()
    put(dovecot, scanner_account,
        make_message(f"Re: [{waiting.number}] Waiting"),
        make_message(f"RE: [{closed.number}] Done, but again"))
    assert scan(scanner_account).stored == 2

    assert ticket(waiting.number).status == "Answered"
    assert ticket(closed.number).status == "Open"
    assert count(Ticket) == 2  # no new ticket for replies
    for number, (old, new) in ((waiting.number, ("Wait for response", "Answered")),
                               (closed.number, ("Closed", "Open"))):
        t = ticket(number)
        assert [(h.old_status, h.new_status) for h in t.history] == [(old, new)]
        email_id = t.history[0].email_id
        assert email_id is not None
        assert ("ticket", t.id) in links_of(db.session.get(Email, email_id))


def test_reply_to_closed_ticket_opens_new_one_when_configured(dovecot, scanner_account, crm):
    cfg = MailConfiguration.get()
    cfg.ticket_on_closed_reply = "new ticket"
    closed = Ticket(title="Done", status="Closed")
    db.session.add(closed)
    assign_ticket_number(closed, "TT")
    db.session.commit()
    put(dovecot, scanner_account, make_message(f"Re: [{closed.number}] Done"))
    scan(scanner_account)
    assert ticket(closed.number).status == "Closed"
    tickets = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert len(tickets) == 2 and tickets[1].status == "Open"
    assert ("ticket", tickets[1].id) in links_of(db.session.scalar(select(Email)))


def test_reply_by_in_reply_to_joins_the_ticket(dovecot, scanner_account, crm):
    first = make_message("Need help", msgid="<first-1@client.example>")
    put(dovecot, scanner_account, first)
    scan(scanner_account)
    t = db.session.scalar(select(Ticket))
    t.change_status("Wait for response")
    db.session.commit()
    put(dovecot, scanner_account, make_message("Re: Need help", in_reply_to="<first-1@client.example>"))
    scan(scanner_account)
    assert count(Ticket) == 1
    assert db.session.get(Ticket, t.id).status == "Answered"
    assert count(EmailLink, EmailLink.record_type == "ticket", EmailLink.record_id == t.id) == 2


def test_binding_by_contact_email_domain_and_ticket_number(dovecot, scanner_account, crm, admin_user):
    existing = Ticket(title="Old", status="Open")
    db.session.add(existing)
    assign_ticket_number(existing, "TT")
    scanner_account.actions = ["create-email", "bind-email"]  # binding only, no tickets
    db.session.commit()
    put(dovecot, scanner_account,
        # secondary e-mail of the contact, upper-case: the contact and its account
        make_message("a", sender="JAN.K@PRIVATE.EXAMPLE"),
        # unknown address in an account's domain: the account only
        make_message("b", sender="someone@partner.example"),
        # number in the subject: the ticket
        make_message(f"c [{existing.number}]", sender="nobody@elsewhere.example"),
        # the lead as a Cc; a CRM user's address never binds (even if a lead has it)
        make_message("d", sender="pia@prospect.example", cc=admin_user.email),
        # nothing known
        make_message("e", sender="x@unknown.example"))
    db.session.add(Lead(name="Admin as lead", email=admin_user.email))
    db.session.commit()
    assert scan(scanner_account).stored == 5
    by_subject = {e.subject: links_of(e) for e in db.session.scalars(select(Email))}
    assert by_subject["a"] == {("contact", crm["jan"].id), ("account", crm["client"].id)}
    assert by_subject["b"] == {("account", crm["other"].id)}
    assert by_subject[f"c [{existing.number}]"] == {("ticket", existing.id)}
    assert by_subject["d"] == {("lead", crm["lead"].id)}
    assert by_subject["e"] == set()
    assert count(Ticket) == 1


def test_search_fields_limit_binding(dovecot, scanner_account, crm):
    scanner_account.search_fields = ["accounts.domains"]
    db.session.commit()
    put(dovecot, scanner_account, make_message("x"))
    scan(scanner_account)
    email = db.session.scalar(select(Email))
    assert ("contact", crm["jan"].id) not in links_of(email)
    assert ("account", crm["client"].id) in links_of(email)


def test_direction_sent_and_internal_make_no_ticket(dovecot, scanner_account, admin_user):
    own = scanner_account.login
    put(dovecot, scanner_account,
        make_message("out", sender=own, to="customer@client.example"),
        make_message("in-house", sender=admin_user.email, to=own))
    scan(scanner_account)
    directions = {e.subject: e.direction for e in db.session.scalars(select(Email))}
    assert directions == {"out": "Sent", "in-house": "Internal"}
    assert count(Ticket) == 0


def test_skip_rules_exceptions_and_auto_generated(dovecot, scanner_account):
    cfg = MailConfiguration.get()
    cfg.domain_exceptions = "spam.example"
    scanner_account.email_exceptions = "noisy@client.example"
    db.session.commit()
    put(dovecot, scanner_account,
        make_message("s1", sender="a@spam.example"),
        make_message("s2", sender="noisy@client.example"),
        make_message("s3", headers={"Auto-Submitted": "auto-replied"}),
        make_message("kept"))
    result = scan(scanner_account)
    assert (result.stored, result.skipped) == (1, 3)
    reasons = {e.subject: e.reason for e in db.session.scalars(select(ScanEvent))}
    assert set(reasons) == {"s1", "s2", "s3"}
    assert "spam.example" in reasons["s1"]
    assert "noisy@client.example" in reasons["s2"]
    assert reasons["s3"].startswith("Auto-generated")
    assert [e.subject for e in db.session.scalars(select(Email))] == ["kept"]


def test_record_index_looks_many_addresses_up_in_batches(app, monkeypatch):
    """Lookups run as Prepared statements with IN lists padded to powers of two (the last
    value repeated), addresses and domains apart, at most LOOKUP_BATCH keys a batch: every
    key is answered, the padding matches nothing extra, a domain-only or address-only
    lookup works."""
    from corpmail.models import Account, AccountDomain, Contact
    from corpmail.models.prepared import Prepared
    from corpmail.scanner import matching

    accounts = [Account(name=f"A{i}", domain_rows=[AccountDomain(domain=f"a{i}.example")])
                for i in range(5)]
    db.session.add_all(accounts)
    db.session.flush()
    db.session.add_all(Contact(first_name="C", last_name=str(i), email=f"c{i}@a{i % 5}.example",
                               account_id=accounts[i % 5].id) for i in range(700))
    db.session.add(Contact(first_name="Empty", last_name="Email", email=""))  # padding must not match it
    db.session.commit()
    queries = []
    real = Prepared.execute
    monkeypatch.setattr(Prepared, "execute",
                        lambda self, conn, params=None: queries.append(len(params)) or real(self, conn, params))

    index = matching.RecordIndex(("contacts.email", "accounts.domains"))
    wanted = [f"c{i}@a{i % 5}.example" for i in range(700)] + ["nobody@elsewhere.example"]
    found = index.find(wanted, "")
    # 700 addresses + 6 domains: batches of at most 512 keys, the second has both kinds
    assert queries == [512, 256, 8]
    assert {cid for cid, _acc, _email in found.contacts} == {
        c.id for c in db.session.scalars(select(Contact).where(Contact.email != ""))}
    assert sorted(found.accounts) == sorted(a.id for a in accounts)

    fresh = matching.RecordIndex(("accounts.domains",))
    assert fresh.find(["x@a3.example"], "").accounts == [accounts[3].id]  # domains only
    assert matching.RecordIndex(("contacts.email",)).find(["c7@a2.example"], "").contacts == [
        (db.session.scalar(select(Contact.id).where(Contact.email == "c7@a2.example")),
         accounts[2].id, "c7@a2.example")]

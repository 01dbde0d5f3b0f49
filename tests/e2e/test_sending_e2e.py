"""Sending in a real browser: a ticket's Reply by e-mail -> Roundcube compose -> Send.

The message goes through the mail server's SMTP (Dovecot submission, with the mailbox's
own login) into another mailbox of the same Dovecot, a copy lands in Sent, and a scan
of the sending mailbox stores it bound to the contact and the ticket.
"""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_S = 15


def find_subject(stack, login: str, password: str, folder: str, marker: str) -> list[int]:
    client = stack.dovecot.client(login, password)
    try:
        client.select_folder(folder, readonly=True)
        return client.search(["SUBJECT", marker])
    finally:
        client.logout()


def wait_for_message(stack, login: str, password: str, folder: str, marker: str) -> list[int]:
    """UIDs of the messages whose subject holds marker, once at least one is there."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while True:
        uids = find_subject(stack, login, password, folder, marker)
        if uids or time.monotonic() > deadline:
            return uids
        time.sleep(0.1)  # polling the mailbox for the delivery, not a fixed wait


@pytest.fixture
def ticket_setup(webmail_stack):
    """A user granted one mailbox, and a ticket whose contact is another mailbox."""
    from flask import url_for

    from corpmail.extensions import db
    from corpmail.models import Contact, MailConfiguration, Ticket
    from corpmail.models.crm import assign_ticket_number

    stack = webmail_stack
    user_id, email, password = stack.add_user()
    account_id, login, mailbox_password = stack.add_mailbox(granted=[user_id])
    customer_login, customer_password = stack.dovecot.add_user()
    with stack.app.app_context():
        contact = Contact(first_name="Ewa", last_name="Klient", email=customer_login.lower())
        db.session.add(contact)
        db.session.flush()
        ticket = Ticket(title="The printer prints nothing", contact_id=contact.id,
                        status="Open")
        db.session.add(ticket)
        db.session.flush()
        assign_ticket_number(ticket, MailConfiguration.get().ticket_prefix)
        db.session.commit()
        with stack.app.test_request_context():
            url = url_for("crm.ticket_detail", record_id=ticket.id)
        data = {"contact_id": contact.id, "ticket_id": ticket.id, "number": ticket.number,
                "ticket_url": stack.base_url + url}
    return {**data, "user": (user_id, email, password),
            "account": (account_id, login, mailbox_password),
            "customer": (customer_login, customer_password)}


def test_reply_by_email_sends_and_the_scanner_binds_it(webmail_stack, page, ticket_setup):
    from sqlalchemy import select

    from corpmail.extensions import db
    from corpmail.models import Email, EmailLink, EmailSeen
    from corpmail.scanner.engine import scan_account

    stack = webmail_stack
    setup = ticket_setup
    _user_id, email, password = setup["user"]
    account_id, login, mailbox_password = setup["account"]
    customer_login, customer_password = setup["customer"]
    marker = f"e2e-{uuid.uuid4().hex[:12]}"

    stack.login_crm(page, email, password)
    page.goto(setup["ticket_url"])
    page.click("#reply-by-email")

    # Roundcube compose, logged in as the mailbox, with the contact and [TT<n>] filled in.
    subject = page.locator("#compose-subject")
    subject.wait_for()
    assert subject.input_value() == f"[{setup['number']}] "
    recipients = page.locator("#compose_to .recipient, .recipient-input .recipient").first
    recipients.wait_for()
    assert customer_login.lower() in page.input_value("#_to").lower()
    subject.fill(f"[{setup['number']}] Your printer {marker}")
    page.fill("#composebody", f"Dear customer,\n\nplease restart it. ({marker})\n")
    page.locator("button.send").first.click()
    # Roundcube leaves compose once the message is sent (and saved to Sent).
    page.wait_for_function("() => !location.search.includes('_action=compose')")

    # Delivered to the other mailbox, and a copy in the sender's Sent.
    assert wait_for_message(stack, customer_login, customer_password, "INBOX", marker), \
        "the message did not arrive in the recipient's mailbox"
    assert wait_for_message(stack, login, mailbox_password, "Sent", marker), \
        "no copy in Sent"

    # The scanner stores it from Sent and binds it to the contact and the ticket.
    with stack.app.app_context():
        result = scan_account(account_id, "cli")
        assert result.status == "OK" and result.error is None, result
        assert result.stored == 1 and result.failed == 0, result
        db.session.expire_all()
        stored = db.session.scalars(select(Email).where(Email.subject.contains(marker))).all()
        assert len(stored) == 1
        message = stored[0]
        assert message.subject == f"[{setup['number']}] Your printer {marker}"
        assert message.from_address == login.lower()
        assert message.direction == "Sent"
        links = {(link.record_type, link.record_id) for link in db.session.scalars(
            select(EmailLink).where(EmailLink.email_id == message.id))}
        assert ("contact", setup["contact_id"]) in links
        assert ("ticket", setup["ticket_id"]) in links
        seen = db.session.scalars(select(EmailSeen).where(EmailSeen.email_id == message.id)).all()
        assert [(s.account_id, s.folder) for s in seen] == [(account_id, "Sent")]

"""E-mail pages: list filters, sanitized HTML in a sandboxed frame, attachments, manual links."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.html import sanitize_html
from corpmail.models import (
    Account,
    Contact,
    Email,
    EmailAttachment,
    EmailLink,
    EmailSeen,
    MailServer,
    ScannerAccount,
    Ticket,
)
from corpmail.storage import store_attachment

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
HOSTILE = """
<html><head><script>alert('head')</script><style>body{background:url(https://evil.example/bg)}</style></head>
<body onload="alert('onload')">
<p>Hello <b>there</b></p>
<script>alert('xss')</script>
<img src="https://tracker.example/pixel.gif" onerror="alert('onerror')">
<img src="cid:logo@corp" alt="logo">
<img src="cid:svg@corp" alt="svg">
<a href="javascript:alert('js')">click</a>
<a href="https://ok.example/page">a fine link</a>
<iframe src="https://evil.example/frame"></iframe>
<form action="https://evil.example/steal"><input name="password"></form>
<div style="color:red" onclick="alert('click')">red text</div>
</body></html>
"""


@pytest.fixture
def user_client(client_as, plain_user):
    return client_as(plain_user)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def add_attachment(email: Email, data: bytes, filename: str, content_type: str,
                   content_id: str | None = None, inline: bool = False) -> EmailAttachment:
    att = EmailAttachment(email=email, filename=filename, content_type=content_type,
                          size=len(data), sha256=store_attachment(data), content_id=content_id,
                          inline=inline)
    db.session.add(att)
    db.session.flush()
    return att


@pytest.fixture
def hostile_email(app):
    email = Email(message_key="hostile@test", message_id="Hostile@Test", subject="Hostile HTML",
                  from_name="Mallory", from_address="mallory@evil.example",
                  to=[{"name": "Desk", "email": "desk@corp.example"}],
                  cc=[{"name": "", "email": "boss@corp.example"}],
                  date=datetime(2024, 5, 6, 7, 8, tzinfo=UTC), direction="Received",
                  headers="From: Mallory <mallory@evil.example>\nSubject: Hostile HTML",
                  text_body="Hello there (text part)", html_body=sanitize_html(HOSTILE),
                  defects=["bad charset in Subject"])
    db.session.add(email)
    db.session.flush()
    logo = add_attachment(email, PNG, "logo.png", "image/png", content_id="logo@corp", inline=True)
    page = add_attachment(email, b"<html><script>alert(1)</script></html>", "zażółć page.html",
                          "text/html")
    svg = add_attachment(email, b"<svg onload='alert(1)'/>", "pic.svg", "image/svg+xml",
                         content_id="svg@corp", inline=True)
    db.session.commit()
    email.logo, email.page, email.svg = logo, page, svg
    return email


# --------------------------------------------------------------------------- the HTML body
def test_detail_page_shows_headers_defects_and_a_sandboxed_frame(user_client, hostile_email):
    resp = user_client.get(f"/emails/{hostile_email.id}")
    assert resp.status_code == 200
    html = text(resp)
    for expected in ("Hostile HTML", "mallory@evil.example", "desk@corp.example",
                     "boss@corp.example", "Hostile@Test", "bad charset in Subject",
                     "Hello there (text part)"):
        assert expected in html, expected
    assert "alert(" not in html  # the message's code never reaches the CRM page
    frame = re.search(r"<iframe[^>]*>", html, re.DOTALL).group(0)
    assert 'sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame
    assert f'src="/emails/{hostile_email.id}/body"' in frame
    assert "Remote images are blocked" in html
    assert f'href="/emails/{hostile_email.id}?remote=1"' in html


def test_body_is_sanitized_with_remote_images_blocked(user_client, hostile_email):
    resp = user_client.get(f"/emails/{hostile_email.id}/body")
    assert resp.status_code == 200
    body = text(resp)
    lowered = body.lower()
    for bad in ("<script", "onload", "onerror", "onclick", "javascript:", "<iframe", "<form",
                "alert("):
        assert bad not in lowered, bad
    assert "Hello <b>there</b>" in body and "red text" in body and "https://ok.example/page" in body
    assert not re.search(r'\ssrc="https://tracker', body)  # blocked until asked
    assert "tracker.example/pixel.gif" in body  # kept aside (data-blocked-src) for ?remote=1
    # cid: replaced by the inline attachment's URL
    assert f'src="/emails/{hostile_email.id}/inline/{hostile_email.logo.id}"' in body
    assert f"/inline/{hostile_email.svg.id}" not in body  # SVG is never an inline image
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "https:" not in csp
    assert "img-src 'self' data: cid:" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_remote_images_shown_on_request(user_client, hostile_email):
    page = text(user_client.get(f"/emails/{hostile_email.id}?remote=1"))
    assert "Remote images are blocked" not in page
    assert f'src="/emails/{hostile_email.id}/body?remote=1"' in page
    resp = user_client.get(f"/emails/{hostile_email.id}/body?remote=1")
    assert 'src="https://tracker.example/pixel.gif"' in text(resp)
    assert "https:" in resp.headers["Content-Security-Policy"]
    assert "<script" not in text(resp).lower()


def test_plain_text_only_email_has_no_frame(user_client):
    email = Email(message_key="plain@test", subject="Plain", text_body="Just <text>")
    db.session.add(email)
    db.session.commit()
    html = text(user_client.get(f"/emails/{email.id}"))
    assert "<iframe" not in html and "Just &lt;text&gt;" in html


# --------------------------------------------------------------------------- attachments
def test_attachment_download_headers(user_client, hostile_email):
    resp = user_client.get(f"/emails/{hostile_email.id}/attachments/{hostile_email.page.id}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/octet-stream"  # HTML never served as HTML
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''za%C5%BC%C3%B3%C5%82%C4%87%20page.html" in disposition
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert resp.data == b"<html><script>alert(1)</script></html>"

    svg = user_client.get(f"/emails/{hostile_email.id}/attachments/{hostile_email.svg.id}")
    assert svg.mimetype == "application/octet-stream"
    png = user_client.get(f"/emails/{hostile_email.id}/attachments/{hostile_email.logo.id}")
    assert png.mimetype == "image/png" and png.headers["Content-Disposition"].startswith("attachment;")


def test_inline_images_only_for_safe_raster_types(user_client, hostile_email):
    resp = user_client.get(f"/emails/{hostile_email.id}/inline/{hostile_email.logo.id}")
    assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data == PNG
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert user_client.get(f"/emails/{hostile_email.id}/inline/{hostile_email.svg.id}").status_code == 404
    assert user_client.get(f"/emails/{hostile_email.id}/inline/{hostile_email.page.id}").status_code == 404


def test_attachment_of_another_email_or_missing_file_is_404(user_client, hostile_email):
    other = Email(message_key="other@test", subject="Other")
    db.session.add(other)
    db.session.flush()
    ghost = EmailAttachment(email=other, filename="gone.pdf", content_type="application/pdf",
                            size=3, sha256="0" * 64)
    db.session.add(ghost)
    db.session.commit()
    assert user_client.get(f"/emails/{other.id}/attachments/{hostile_email.page.id}").status_code == 404
    assert user_client.get(f"/emails/{other.id}/attachments/{ghost.id}").status_code == 404


def test_detail_lists_attachments_with_size_and_download_link(user_client, hostile_email):
    html = text(user_client.get(f"/emails/{hostile_email.id}"))
    section = html.split('id="attachments"', 1)[1]
    assert "zażółć page.html" in section and "logo.png" in section
    assert f"/emails/{hostile_email.id}/attachments/{hostile_email.page.id}" in section
    assert "38 Bytes" in section  # the HTML file's size


# --------------------------------------------------------------------------- list
def test_email_list_search_and_filters(user_client):
    server = MailServer(name="srv", imap_host="127.0.0.1")
    sales = ScannerAccount(name="sales", server=server, login="sales@corp.example")
    desk = ScannerAccount(name="desk", server=server, login="desk@corp.example")
    db.session.add_all([sales, desk])
    for i in range(27):
        e = Email(message_key=f"bulk{i}@test", subject=f"Invoice {i}", from_address="billing@vendor.example",
                  direction="Received", date=datetime(2024, 1, 1 + i, tzinfo=UTC))
        e.seen.append(EmailSeen(account=sales, folder="INBOX", uid=i + 1))
        db.session.add(e)
    sent = Email(message_key="sent@test", subject="Our offer", from_address="me@corp.example",
                 from_name="Me Myself", direction="Sent")
    sent.seen.append(EmailSeen(account=desk, folder="Sent", uid=1))
    db.session.add(sent)
    db.session.commit()

    def count(query: str) -> int:
        html = text(user_client.get("/emails" + query))
        return len(re.findall(r'href="/emails/\d+"', html.split("<tbody>", 1)[1]))

    assert count("") == 25 and count("?page=2") == 3
    assert count("?q=INVOICE+2") == 9  # 2, 20..26 and "Invoice 2" itself
    assert count("?q=vendor.example") == 25
    assert count("?q=myself") == 1
    assert count("?direction=Sent") == 1
    assert count(f"?mailbox={desk.id}") == 1
    assert count(f"?mailbox={sales.id}&direction=Sent") == 0
    page = text(user_client.get("/emails?direction=Sent"))
    assert "Our offer" in page and "Invoice" not in page.split("<tbody>", 1)[1]


# --------------------------------------------------------------------------- manual links
def test_link_and_unlink_by_hand_are_idempotent(user_client, post_form, hostile_email):
    contact = Contact(first_name="Jan", last_name="Kowalski", email="jan@client.example")
    db.session.add(contact)
    db.session.commit()
    url = f"/emails/{hostile_email.id}"

    search = text(user_client.get(url + "?link_type=contact&link_q=kowal"))
    assert "Jan Kowalski" in search.split('id="link-form"', 1)[1]

    data = {"record_type": "contact", "record_id": contact.id}
    for _ in range(2):
        resp = post_form(user_client, url + "/link", data)
        assert resp.status_code == 302 and resp.headers["Location"].endswith(url)
    links = db.session.scalars(select(EmailLink).where(EmailLink.email_id == hostile_email.id)).all()
    assert [(lk.record_type, lk.record_id, lk.manual) for lk in links] == [("contact", contact.id, True)]

    detail = text(user_client.get(url)).split('id="records"', 1)[1]
    assert f'href="/contacts/{contact.id}"' in detail and "manual" in detail
    assert "Hostile HTML" in text(user_client.get(f"/contacts/{contact.id}"))

    for _ in range(2):
        resp = post_form(user_client, url + "/unlink", data)
        assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(EmailLink.id).where(EmailLink.email_id == hostile_email.id)) is None


def test_unlink_from_the_record_page_returns_there(user_client, post_form, hostile_email):
    ticket = Ticket(title="T", number="TT5")
    account = Account(name="Acme")
    db.session.add_all([ticket, account])
    db.session.flush()
    db.session.add_all([
        EmailLink(email_id=hostile_email.id, record_type="ticket", record_id=ticket.id),
        EmailLink(email_id=hostile_email.id, record_type="account", record_id=account.id),
    ])
    db.session.commit()
    page = text(user_client.get(f"/tickets/{ticket.id}"))
    assert f'action="/emails/{hostile_email.id}/unlink"' in page
    resp = post_form(user_client, f"/emails/{hostile_email.id}/unlink",
                     {"record_type": "ticket", "record_id": ticket.id,
                      "next": f"/tickets/{ticket.id}?page=1"})
    assert resp.headers["Location"].endswith(f"/tickets/{ticket.id}?page=1")
    remaining = db.session.scalars(select(EmailLink.record_type)).all()
    assert remaining == ["account"]  # only the chosen link went


def test_link_refuses_bad_input(user_client, post_form, hostile_email):
    url = f"/emails/{hostile_email.id}"
    assert post_form(user_client, url + "/link", {"record_type": "contact",
                                                  "record_id": 999}).status_code == 404
    assert post_form(user_client, url + "/link", {"record_type": "user",
                                                  "record_id": 1}).status_code == 400
    assert post_form(user_client, "/emails/999/link", {"record_type": "contact",
                                                       "record_id": 1}).status_code == 404
    # an outside "next" is ignored
    contact = Contact(last_name="X")
    db.session.add(contact)
    db.session.commit()
    resp = post_form(user_client, url + "/link", {"record_type": "contact", "record_id": contact.id,
                                                  "next": "https://evil.example/"})
    assert resp.headers["Location"].endswith(url)
    assert user_client.post(url + "/link", data={"record_type": "contact",
                                                 "record_id": contact.id}).status_code == 400

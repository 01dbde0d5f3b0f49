"""Attachments and the e-mail body: the headers that keep a message's files from ever being a
document of the CRM's origin, for every content type a sender may claim."""

from __future__ import annotations

import pytest

from corpmail.extensions import db
from corpmail.models import Email, EmailAttachment
from corpmail.storage import store_attachment

PAYLOAD = b"<html><body><script>alert(document.cookie)</script></body></html>"
# Claimed types that a browser would run as a document, or sniff into one.
ACTIVE_TYPES = ["text/html", "TEXT/HTML", "text/html; charset=utf-8", "image/svg+xml",
                "application/xhtml+xml", "text/xml", "application/xml",
                "application/javascript", "text/javascript", "application/x-shockwave-flash",
                "message/rfc822", "application/pdf+html", "", "nonsense", "image/png\r\nX: y"]


@pytest.fixture
def user_client(client_as, plain_user):
    return client_as(plain_user)


def attached(content_type: str, filename: str = "file.html") -> tuple[int, int]:
    email = Email(message_key=f"h-{content_type!r}", subject="files", html_body="<p>x</p>")
    db.session.add(email)
    db.session.flush()
    att = EmailAttachment(email_id=email.id, filename=filename, content_type=content_type,
                          size=len(PAYLOAD), sha256=store_attachment(PAYLOAD))
    db.session.add(att)
    db.session.commit()
    return email.id, att.id


@pytest.mark.parametrize("content_type", ACTIVE_TYPES)
def test_an_active_type_downloads_as_opaque_bytes(app, user_client, content_type):
    email_id, att_id = attached(content_type)
    resp = user_client.get(f"/emails/{email_id}/attachments/{att_id}")
    assert resp.status_code == 200 and resp.data == PAYLOAD
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # ...and never offered inline (the cid: image route), whatever it claims to be.
    assert user_client.get(f"/emails/{email_id}/inline/{att_id}").status_code == 404


def test_a_text_attachment_keeps_its_type_but_still_only_downloads(app, user_client):
    email_id, att_id = attached("text/plain", "notes.txt")
    resp = user_client.get(f"/emails/{email_id}/attachments/{att_id}")
    assert resp.mimetype == "text/plain"  # nosniff: never read as HTML
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize("filename", ['a"; filename="evil.html', "a\r\nSet-Cookie: x=1.txt",
                                      "../../etc/passwd", "<svg onload=alert(1)>.svg"])
def test_a_hostile_file_name_cannot_change_the_headers(app, user_client, filename):
    email_id, att_id = attached("application/octet-stream", filename)
    resp = user_client.get(f"/emails/{email_id}/attachments/{att_id}")
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.count('"') == 2
    assert "Set-Cookie" not in resp.headers and "\n" not in disposition


@pytest.mark.parametrize("query", ["", "?remote=1"])
def test_the_body_document_headers(app, user_client, query):
    email_id, _ = attached("text/plain")
    resp = user_client.get(f"/emails/{email_id}/body{query}")
    assert resp.mimetype == "text/html"
    csp = dict(part.strip().split(" ", 1) for part in
               resp.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"  # no script-src: scripts fall back to 'none'
    assert "script-src" not in csp and "connect-src" not in csp and "frame-src" not in csp
    assert csp["form-action"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == "'self'"
    assert "allow-scripts" not in csp["sandbox"] and "allow-forms" not in csp["sandbox"]
    assert csp["img-src"].startswith("'self' data: cid:")
    assert ("http:" in csp["img-src"]) == (query == "?remote=1")  # remote only when asked
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "private, no-store"

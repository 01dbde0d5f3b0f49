"""auto_generated_reason: SPEC §4.5 headers and DSN bounces."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpmail.mail.autogen import auto_generated_reason
from corpmail.mail.message import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def reason(headers: str, body: str = "body") -> str | None:
    raw = (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()
    return auto_generated_reason(parse_message(raw))


@pytest.mark.parametrize("header,expected", [
    ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
    ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted: auto-generated"),
    ("auto-submitted: Auto-Notified", "Auto-Submitted: Auto-Notified"),
    ("X-Autoreply: yes", "X-Autoreply: yes"),
    ("X-Autorespond: Vacation", "X-Autorespond: Vacation"),
    ("Precedence: bulk", "Precedence: bulk"),
    ("Precedence: JUNK", "Precedence: JUNK"),
    ("Precedence: list", "Precedence: list"),
])
def test_headers_mark_auto_generated(header, expected):
    assert reason(f"From: a@b.pl\nSubject: s\n{header}") == expected


@pytest.mark.parametrize("header", [
    "", "Auto-Submitted: no", "Auto-Submitted: No ", "Precedence: first-class",
    "X-Autoreply: no", "Subject2: auto-replied",
])
def test_ordinary_mail_is_not_auto_generated(header):
    assert reason(f"From: a@b.pl\nSubject: s\n{header}") is None


def test_dsn_bounces_from_corpus():
    # This one carries no Auto-Submitted header: the report type alone marks it.
    m = parse_message((CORPUS / "multipart_report_emails/multipart_report_multiple_status.eml")
                      .read_bytes())
    assert m.header("Auto-Submitted") is None
    assert auto_generated_reason(m) == "delivery status report (bounce)"
    m = parse_message((CORPUS / "multipart_report_emails/report_530.eml").read_bytes())
    assert auto_generated_reason(m) == "Auto-Submitted: auto-generated (failure)"


def test_ordinary_corpus_mail_is_not_auto_generated():
    for name in ("attachment_emails/attachment_pdf.eml", "plain_emails/raw_email_reply.eml",
                 "rfc6532/utf8_headers.eml", "forwarded_message.eml"):
        assert auto_generated_reason(parse_message((CORPUS / name).read_bytes())) is None, name


def test_mailer_daemon_with_delivery_status_part():
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.firma.pl\r\n\r\nFinal-Recipient: rfc822; x@y.pl\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    headers = 'From: MAILER-DAEMON@mx.firma.pl\nSubject: Undeliverable\n' \
              'Content-Type: multipart/mixed; boundary="b"'
    assert reason(headers, body) == "delivery status report (bounce) from mailer-daemon@mx.firma.pl"
    # The same parts from a person are not a bounce.
    assert reason(headers.replace("MAILER-DAEMON", "jan"), body) is None
    # multipart/report with another report type (e.g. a read receipt) is not a bounce.
    mdn = 'From: jan@firma.pl\nContent-Type: multipart/report; ' \
          'report-type=disposition-notification; boundary="b"'
    assert reason(mdn, "--b\r\nContent-Type: text/plain\r\n\r\nread\r\n--b--\r\n") is None

"""SMTP sending and Test connection against the real relay, Dovecot submission and IMAP."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from corpmail.devstack.dovecot import free_port
from corpmail.mail.diagnostics import test_connection as run_diagnostics
from corpmail.mail.errors import MailAuthError, MailConnectionError, MailProtocolError
from corpmail.mail.imap import ImapSession
from corpmail.mail.smtp import send_message
from corpmail.models import MailServer


def server_row(dovecot, smtp_relay, **overrides) -> MailServer:
    """A transient MailServer (no database needed) pointing at the fixtures."""
    fields = dict(
        name="wire", imap_host=dovecot.host, imap_port=dovecot.imap_port, imap_security="none",
        imap_validate_cert=True, smtp_host=smtp_relay.host, smtp_port=smtp_relay.port,
        smtp_security="none", smtp_validate_cert=True,
    )
    fields.update(overrides)
    return MailServer(**fields)


def message(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Łukasz Nadawca <sender@example.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{time.time_ns()}@example.test>"
    msg.set_content("Dzień dobry,\nzażółć gęślą jaźń.\n")
    return msg


def inbox_subjects(dovecot, login: str, password: str) -> list[str]:
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as imap:
        imap.login(login, password)
        imap.select("INBOX")
        from email import message_from_bytes, policy

        return [str(message_from_bytes(raw, policy=policy.default)["Subject"])
                for _, raw in imap.fetch_raw(imap.uids_above(0))]


def test_send_through_relay_lands_in_mailbox(app, mail_server, dovecot):
    """The mail_server fixture's SMTP (the relay) delivers into Dovecot over LMTP."""
    login, password = dovecot.add_user()
    send_message(mail_server, message(login, "Zamówienie 17 — zażółć"))
    assert inbox_subjects(dovecot, login, password) == ["Zamówienie 17 — zażółć"]


def test_unknown_recipient_is_refused_with_server_text(dovecot, smtp_relay):
    with pytest.raises(MailProtocolError) as caught:
        send_message(server_row(dovecot, smtp_relay), message("nobody@nowhere.test", "x"))
    assert "User doesn't exist" in str(caught.value)


def test_submission_with_starttls_and_login(dovecot, smtp_relay):
    """Dovecot submission (AUTH after STARTTLS) -> relay -> LMTP: an end-to-end send."""
    sender, sender_password = dovecot.add_user()
    rcpt, rcpt_password = dovecot.add_user()
    server = server_row(dovecot, smtp_relay, smtp_port=dovecot.submission_port,
                        smtp_security="starttls", smtp_validate_cert=False)
    msg = message(rcpt, "Via submission")
    msg.replace_header("From", sender)
    send_message(server, msg, login=sender, password=sender_password)
    assert inbox_subjects(dovecot, rcpt, rcpt_password) == ["Via submission"]


def test_submission_with_non_ascii_password(dovecot, smtp_relay):
    sender, sender_password = dovecot.add_user(password="hasło-zażółć")
    rcpt, rcpt_password = dovecot.add_user()
    server = server_row(dovecot, smtp_relay, smtp_port=dovecot.submission_port,
                        smtp_security="starttls", smtp_validate_cert=False)
    send_message(server, message(rcpt, "Ünïcode login"), login=sender, password=sender_password)
    assert inbox_subjects(dovecot, rcpt, rcpt_password) == ["Ünïcode login"]
    with pytest.raises(MailAuthError):
        send_message(server, message(rcpt, "x"), login=sender, password="hasło-złe")


def test_submission_wrong_password_is_auth_error(dovecot, smtp_relay):
    sender, _ = dovecot.add_user()
    server = server_row(dovecot, smtp_relay, smtp_port=dovecot.submission_port,
                        smtp_security="starttls", smtp_validate_cert=False)
    with pytest.raises(MailAuthError) as caught:
        send_message(server, message(sender, "x"), login=sender, password="wrong")
    assert "535" in str(caught.value)


def test_starttls_validation_refuses_self_signed(dovecot, smtp_relay):
    server = server_row(dovecot, smtp_relay, smtp_port=dovecot.submission_port,
                        smtp_security="starttls", smtp_validate_cert=True)
    with pytest.raises(MailConnectionError) as caught:
        send_message(server, message("a@b.test", "x"), login="a", password="b")
    assert "certificate" in str(caught.value).lower()


def test_starttls_not_offered_is_protocol_error(dovecot, smtp_relay):
    server = server_row(dovecot, smtp_relay, smtp_security="starttls")
    with pytest.raises(MailProtocolError) as caught:
        send_message(server, message("a@b.test", "x"))
    assert "STARTTLS" in str(caught.value)


def test_unreachable_smtp_is_connection_error(dovecot, smtp_relay):
    server = server_row(dovecot, smtp_relay, smtp_port=free_port())
    with pytest.raises(MailConnectionError) as caught:
        send_message(server, message("a@b.test", "x"), timeout=3)
    assert "refused" in str(caught.value)


def test_diagnostics_real_result(app, mail_server, dovecot):
    login, password = dovecot.add_user()
    result = run_diagnostics(mail_server, login, password)
    imap, smtp = result["imap"], result["smtp"]
    assert imap["ok"] is True and imap["error"] is None and imap["login"] == "ok"
    assert "IMAP4REV1" in imap["capabilities"] and "IDLE" in imap["capabilities"]
    assert imap["latency_ms"] > 0 and imap["tls_version"] is None
    assert smtp["ok"] is True and smtp["error"] is None
    assert "8BITMIME" in smtp["extensions"] and any(
        e.startswith("SIZE") for e in smtp["extensions"])
    assert "AUTH" not in " ".join(smtp["extensions"])  # the relay never offers AUTH
    assert smtp["latency_ms"] > 0


def test_diagnostics_without_credentials_skips_login(dovecot, smtp_relay):
    result = run_diagnostics(server_row(dovecot, smtp_relay))
    assert result["imap"]["ok"] and result["imap"]["login"] == "skipped"


def test_diagnostics_tls_versions(dovecot, smtp_relay):
    server = server_row(dovecot, smtp_relay, imap_port=dovecot.imaps_port, imap_security="ssl",
                        imap_validate_cert=False, smtp_port=dovecot.submission_port,
                        smtp_security="starttls", smtp_validate_cert=False)
    login, password = dovecot.add_user()
    result = run_diagnostics(server, login, password)
    assert result["imap"]["ok"], result
    assert result["imap"]["tls_version"].startswith("TLS")
    assert result["smtp"]["ok"], result
    assert result["smtp"]["tls_version"].startswith("TLS")
    assert result["smtp"]["login"] == "ok"
    assert any(e.startswith("AUTH") for e in result["smtp"]["extensions"])


def test_diagnostics_real_errors(dovecot, smtp_relay):
    login, _ = dovecot.add_user()
    wrong = run_diagnostics(server_row(dovecot, smtp_relay), login, "wrong")
    assert wrong["imap"]["ok"] is False
    assert "[AUTHENTICATIONFAILED]" in wrong["imap"]["login"]
    assert wrong["imap"]["error"] == wrong["imap"]["login"]

    down = run_diagnostics(server_row(dovecot, smtp_relay, imap_port=free_port(),
                                      smtp_port=free_port()))
    assert down["imap"]["ok"] is False and "refused" in down["imap"]["error"]
    assert down["smtp"]["ok"] is False and "refused" in down["smtp"]["error"]

    untrusted = run_diagnostics(server_row(dovecot, smtp_relay, imap_port=dovecot.imaps_port,
                                           imap_security="ssl", imap_validate_cert=True))
    assert "certificate" in untrusted["imap"]["error"].lower()

    no_smtp = run_diagnostics(server_row(dovecot, smtp_relay, smtp_host=None))
    assert no_smtp["smtp"]["ok"] is False and no_smtp["smtp"]["error"]

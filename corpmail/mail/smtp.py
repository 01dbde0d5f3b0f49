"""Sending over SMTP (none | ssl | starttls) with errors mapped to our own."""

from __future__ import annotations

import base64
import contextlib
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage

from flask_babel import gettext as _

from corpmail.mail.errors import MailAuthError, MailConnectionError, MailError, MailProtocolError
from corpmail.mail.imap import SECURITIES, connection_error_text, make_ssl_context

log = logging.getLogger(__name__)


def _reply_text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def map_smtp_error(exc: BaseException, host: str, port: int, timeout: float) -> MailError:
    """smtplib / socket / TLS errors -> MailConnectionError, MailAuthError, MailProtocolError."""
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailAuthError(_("Login refused: %(code)s %(text)s", code=exc.smtp_code,
                               text=_reply_text(exc.smtp_error)))
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailConnectionError(_("%(where)s closed the connection: %(e)s",
                                     where=f"{host}:{port}", e=exc))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{rcpt}: {code} {_reply_text(text)}"
                            for rcpt, (code, text) in exc.recipients.items())
        return MailProtocolError(_("Recipients refused: %(r)s", r=refused))
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailProtocolError(_("The server answered: %(code)s %(text)s",
                                   code=exc.smtp_code, text=_reply_text(exc.smtp_error)))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailProtocolError(_("The server does not support it: %(e)s", e=exc))
    if isinstance(exc, OSError):
        return MailConnectionError(connection_error_text(exc, host, port, timeout))
    if isinstance(exc, smtplib.SMTPException):
        return MailProtocolError(str(exc))
    return MailProtocolError(_("Unexpected answer from %(where)s: %(e)s",
                               where=f"{host}:{port}", e=exc))


def connect_smtp(host: str, port: int, security: str, validate_cert: bool = True,
                 timeout: float = 30.0) -> smtplib.SMTP:
    """Connected and greeted (EHLO, after STARTTLS when asked). The caller quits."""
    if not host:
        raise MailProtocolError(_("No SMTP server is configured."))
    if security not in SECURITIES:
        raise MailProtocolError(_("Unknown security setting %(s)s.", s=security))
    context = make_ssl_context(validate_cert)
    # gethostname(), not smtplib's getfqdn(): no reverse DNS lookup on every connection.
    local = socket.gethostname() or "localhost"
    smtp: smtplib.SMTP | None = None
    try:
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, local_hostname=local, timeout=timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=local, timeout=timeout)
        smtp.ehlo()
        if security == "starttls":
            if not smtp.has_extn("starttls"):
                raise MailProtocolError(_("%(where)s does not offer STARTTLS.",
                                          where=f"{host}:{port}"))
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp
    except Exception as exc:
        if smtp is not None:
            close_smtp(smtp)
        raise map_smtp_error(exc, host, port, timeout) from exc


def close_smtp(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        with contextlib.suppress(Exception):
            smtp.close()


def smtp_login(smtp: smtplib.SMTP, login: str, password: str) -> None:
    """AUTH; smtplib encodes credentials as ASCII, so non-ASCII ones go as PLAIN in UTF-8."""
    if (login + password).isascii():
        smtp.login(login, password)
        return
    token = base64.b64encode(f"\0{login}\0{password}".encode()).decode()
    code, answer = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def smtp_oauth_login(smtp: smtplib.SMTP, login: str, access_token: str) -> None:
    """AUTH XOAUTH2 (or OAUTHBEARER when that is all the server offers) with a bearer token."""
    from corpmail.mail.imap import oauth_mechanism

    offered = ["AUTH=" + m for m in (smtp.esmtp_features.get("auth") or "").upper().split()]
    if oauth_mechanism(offered) == "OAUTHBEARER":
        mechanism, raw = "OAUTHBEARER", f"n,a={login},\1auth=Bearer {access_token}\1\1"
    else:
        mechanism, raw = "XOAUTH2", f"user={login}\1auth=Bearer {access_token}\1\1"
    code, answer = smtp.docmd("AUTH", f"{mechanism} {base64.b64encode(raw.encode()).decode()}")
    if code == 334:  # an error challenge (a JSON status): an empty line gets the final answer
        code, answer = smtp.docmd("")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def smtp_tls_version(smtp: smtplib.SMTP) -> str | None:
    sock = smtp.sock
    return sock.version() if isinstance(sock, ssl.SSLSocket) else None


def send_message(server, msg: EmailMessage, login: str | None = None,
                 password: str | None = None, timeout: float = 30.0,
                 access_token: str | None = None) -> None:
    """Send through the server's SMTP settings; logs in when credentials are given (a
    password, or an OAuth 2.0 access token)."""
    host, port = server.smtp_host, server.smtp_port or 25
    smtp = connect_smtp(host, port, server.smtp_security, server.smtp_validate_cert, timeout)
    try:
        if login and access_token:
            smtp_oauth_login(smtp, login, access_token)
        elif login and password:
            smtp_login(smtp, login, password)
        refused = smtp.send_message(msg)
        if refused:
            log.warning("SMTP %s:%s refused some recipients: %s", host, port, ", ".join(refused))
    except Exception as exc:
        raise map_smtp_error(exc, host, port, timeout) from exc
    finally:
        close_smtp(smtp)

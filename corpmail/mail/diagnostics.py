"""Test connection: IMAP connect + CAPABILITY (+ login), SMTP connect + EHLO, measured."""

from __future__ import annotations

import time
from typing import Any

from flask_babel import gettext as _

from corpmail.mail.errors import MailAuthError, MailError
from corpmail.mail.imap import ImapSession, _config_timeout
from corpmail.mail.smtp import (
    close_smtp,
    connect_smtp,
    map_smtp_error,
    smtp_login,
    smtp_oauth_login,
    smtp_tls_version,
)

MAX_TIMEOUT = 10.0  # a page waits for this; never the full scan timeout


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def test_imap(server, login: str | None = None, password: str | None = None,
              timeout: float | None = None, access_token: str | None = None) -> dict[str, Any]:
    timeout = timeout or min(_config_timeout(), MAX_TIMEOUT)
    result: dict[str, Any] = {"ok": False, "latency_ms": None, "capabilities": [],
                              "tls_version": None, "login": "skipped", "error": None}
    start = time.perf_counter()
    try:
        session = ImapSession.connect(server.imap_host, server.imap_port, server.imap_security,
                                      server.imap_validate_cert, timeout)
    except MailError as exc:
        result.update(latency_ms=_ms(start), error=str(exc))
        return result
    with session:
        try:
            result["capabilities"] = list(session.capabilities)
            result["latency_ms"] = _ms(start)  # connect + greeting + TLS + CAPABILITY
            result["tls_version"] = session.tls_version
            result["ok"] = True
            if login and (password or access_token):
                try:
                    if access_token:
                        session.oauth_login(login, access_token)
                    else:
                        session.login(login, password)
                    result["login"] = "ok"
                    result["capabilities"] = list(session.capabilities)  # post-login list
                except MailAuthError as exc:
                    result.update(ok=False, login=str(exc), error=str(exc))
        except MailError as exc:
            result.update(ok=False, error=str(exc))
            if result["latency_ms"] is None:
                result["latency_ms"] = _ms(start)
    return result


def test_smtp(server, login: str | None = None, password: str | None = None,
              timeout: float | None = None, access_token: str | None = None) -> dict[str, Any]:
    timeout = timeout or min(_config_timeout(), MAX_TIMEOUT)
    result: dict[str, Any] = {"ok": False, "latency_ms": None, "extensions": [],
                              "tls_version": None, "login": "skipped", "error": None}
    if not server.smtp_host:
        result["error"] = _("No SMTP server is configured.")
        return result
    host, port = server.smtp_host, server.smtp_port or 25
    start = time.perf_counter()
    try:
        smtp = connect_smtp(host, port, server.smtp_security, server.smtp_validate_cert, timeout)
    except MailError as exc:
        result.update(latency_ms=_ms(start), error=str(exc))
        return result
    try:
        result["latency_ms"] = _ms(start)  # connect + greeting + EHLO (+ STARTTLS, EHLO)
        result["extensions"] = [
            f"{name.upper()} {params}".strip() for name, params in smtp.esmtp_features.items()
        ]
        result["tls_version"] = smtp_tls_version(smtp)
        result["ok"] = True
        if login and (password or access_token) and smtp.has_extn("auth"):
            try:
                if access_token:
                    smtp_oauth_login(smtp, login, access_token)
                else:
                    smtp_login(smtp, login, password)
                result["login"] = "ok"
            except Exception as exc:  # noqa: BLE001
                error = str(map_smtp_error(exc, host, port, timeout))
                result.update(ok=False, login=error, error=error)
    finally:
        close_smtp(smtp)
    return result


def test_connection(server, login: str | None = None, password: str | None = None,
                    access_token: str | None = None) -> dict[str, dict[str, Any]]:
    """{"imap": {...}, "smtp": {...}}: the real result or the exact error of each. With an
    OAuth 2.0 access token the logins use it (XOAUTH2 / OAUTHBEARER) instead of a password."""
    return {"imap": test_imap(server, login, password, access_token=access_token),
            "smtp": test_smtp(server, login, password, access_token=access_token)}


# pytest would collect the test_* names above when imported into a test module.
test_imap.__test__ = test_smtp.__test__ = test_connection.__test__ = False  # type: ignore[attr-defined]

"""After real work (a mailbox added from the CLI, a scan, a CRM login, an autologin issued,
redeemed and checked, OAuth tokens stored), the database's bytes and every log line hold no
mailbox password, OAuth token, client secret, CRM password or autologin token in clear."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select, text

from corpmail.autologin.tokens import _serializer
from corpmail.extensions import db
from corpmail.key_rotation import ENCRYPTED_COLUMNS
from corpmail.models import AutologinGrant, MailServer, ScannerAccount
from tests.integration.scanner_util import make_message

MAILBOX_PASSWORD = "Mbx-pass-7f3a9c2e"
OAUTH = {"oauth_access_token": "ya29.access-4b1d9e0c",
         "oauth_refresh_token": "1//refresh-8c2f7a61"}
CLIENT_SECRET = "GOCSPX-client-5e9b3d"
TOKEN_INPUT = re.compile(r'name="_corpmail_token" value="([^"]+)"')


@pytest.fixture
def captured_logs():
    """Every log record of every logger, at DEBUG, as the text a log file would hold."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def database_bytes(app) -> bytes:
    """The whole database as bytes: the SQLite files (WAL included), or every PostgreSQL
    row as text (bytea columns show as hex, searched below as hex too)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        db.session.remove()
        db.engine.dispose()
        path = Path(url.split("///", 1)[1])
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert path in files
        return b"".join(p.read_bytes() for p in files)
    rows = []
    for table in db.metadata.sorted_tables:
        rows += db.session.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars()
    return "\n".join(rows).encode()


def test_no_secret_in_clear_in_the_database_or_the_logs(
        app, cli, dovecot, smtp_relay, client_as, plain_user, admin_user, captured_logs):
    login, password = dovecot.add_user(password=MAILBOX_PASSWORD)
    dovecot.append(login, password, "INBOX", make_message(subject="Secret check"))
    outputs = []

    def run(*args: str) -> None:
        result = cli.invoke(args=list(args))
        outputs.append(result.output)
        assert result.exit_code == 0, result.output

    run("server", "add", "Local", "--imap", f"{dovecot.host}:{dovecot.imap_port}",
        "--imap-security", "none", "--smtp", f"{smtp_relay.host}:{smtp_relay.port}",
        "--smtp-security", "none")
    run("account", "add", "desk", "--server", "Local", "--login", login, "--password",
        password, "--folder", "INBOX=Received", "--actions", "create-email,bind-email",
        "--owner", admin_user.email)
    run("scan", "--json")

    account = db.session.scalar(select(ScannerAccount))
    for name, value in OAUTH.items():  # as the OAuth flow stores them
        setattr(account, name, value)
    account.server.oauth_client_secret = CLIENT_SECRET
    db.session.add(AutologinGrant(account_id=account.id, user_id=plain_user.id))
    db.session.commit()
    assert db.session.scalar(select(MailServer)).oauth_client_secret == CLIENT_SECRET

    user_client = client_as(plain_user)  # the CRM password goes through the login form
    page = user_client.get(f"/mail/open/{account.id}").get_data(as_text=True)
    token = TOKEN_INPUT.search(page).group(1)
    nonce = _serializer().loads(token)["n"]
    plugin = app.test_client()
    headers = {"X-Corpmail-Secret": app.config["AUTOLOGIN_SECRET"]}
    cookie = user_client.get_cookie("session").value
    answer = plugin.post("/internal/autologin/redeem", headers=headers,
                         data={"token": token, "crm_session": cookie}).get_json()
    assert answer["password"] == MAILBOX_PASSWORD  # handed over, server to server only
    assert plugin.post("/internal/autologin/check", headers=headers, data={
        "session_ref": answer["session_ref"], "crm_session": cookie}).get_json()["ok"]

    secrets = {"mailbox password": MAILBOX_PASSWORD, "autologin token": token,
               "autologin token's nonce": nonce, "CRM password": plain_user.plain_password,
               "OAuth client secret": CLIENT_SECRET, **OAUTH}
    stored = database_bytes(app)
    logs = "\n".join(captured_logs + outputs).encode()
    # Really read what was written: the scanned message, the account, the session rows.
    assert b"Secret check" in stored and login.encode() in stored
    assert answer["session_ref"].encode() in stored and len(captured_logs) > 5
    found = [f"{what} in {where}" for what, secret in secrets.items()
             for where, blob in (("the database", stored), ("the logs", logs))
             if secret.encode() in blob or secret.encode().hex().encode() in blob]
    assert found == []


def test_every_secret_column_is_encrypted_at_rest(app, admin_user, mail_server):
    """The registry's columns hold Fernet tokens (gAAAA...), never the value itself."""
    account = ScannerAccount(name="enc", server=mail_server, login="enc@example",
                             status="Active", actions=["create-email"], owner=admin_user)
    account.password = MAILBOX_PASSWORD
    for name, value in OAUTH.items():
        setattr(account, name, value)
    mail_server.oauth_client_secret = CLIENT_SECRET
    db.session.add(account)
    db.session.commit()
    for model, column in ENCRYPTED_COLUMNS:
        table = model.__table__
        for value in db.session.execute(select(table.c[column])).scalars():
            assert value and value.startswith("gAAAA"), (table.name, column, value)

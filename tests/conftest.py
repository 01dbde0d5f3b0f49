"""Shared fixtures: a real Dovecot and SMTP relay per session, a fresh app + database per test.

Layers:
- ``dovecot`` / ``smtp_relay`` (session): real servers on 127.0.0.1 high ports, started
  once; every test takes its own mailbox with ``dovecot.add_user()``.
- ``app`` (function): a new instance folder and an empty database with the schema from
  ``db.create_all()``; an app context stays pushed for the test, so ``db.session`` works
  directly. Tests under ``tests/integration`` run once on SQLite and once on PostgreSQL
  (``db_kind``); elsewhere on SQLite only. ``db_backend`` gives an empty database URL.
- Web helpers keep CSRF protection ON: ``client_as`` logs in through the real form,
  ``post_form`` adds a valid token.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `tests.support` importable however pytest is started
    sys.path.insert(0, str(ROOT.parent))

from tests.support import databases, web

ALL_ACTIONS = ["create-email", "bind-email", "open-ticket", "create-ticket"]
ADMIN_PASSWORD = "admin-secret-1"
USER_PASSWORD = "user-secret-1"


# --------------------------------------------------------------------------- collection
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


def pytest_generate_tests(metafunc) -> None:
    """Integration tests that use the database run on every backend; others on SQLite."""
    if "db_kind" not in metafunc.fixturenames:
        return
    is_integration = "integration" in Path(str(metafunc.definition.fspath)).parts
    params = databases.backends() if is_integration else ["sqlite"]
    metafunc.parametrize("db_kind", params, indirect=True, scope="function")


# --------------------------------------------------------------------------- mail stack
@pytest.fixture(scope="session")
def dovecot():
    """A real Dovecot 2.3 for the whole session, from its own config in a temp folder.

    Attributes: ``host``, ``imap_port`` (plain IMAP, STARTTLS offered), ``imaps_port``
    (implicit TLS, self-signed certificate), ``lmtp_port``, ``submission_port`` (SMTP
    submission with AUTH and STARTTLS, relaying through ``smtp_relay``), ``base``.
    Methods: ``add_user(login=None, password=None) -> (login, password)`` (a new unique
    mailbox per call; the users file is re-read on the next login), ``append(login,
    password, folder, raw, flags=(), msg_time=None) -> uid``, ``append_many(...)``,
    ``client(login, password)`` (a logged-in imapclient), ``restart()``, ``log_tail()``.
    Wrong passwords cost nothing (no auth penalty), so tests may fail logins freely.
    """
    from corpmail.devstack.dovecot import Dovecot, free_port

    # Not under pytest's tmp folder: that is 0700 and the mail uid (nobody) must traverse it.
    base = tempfile.mkdtemp(prefix="corpmail-test-dovecot-")
    # Submission relays to the smtp_relay fixture, whose port is chosen here.
    server = Dovecot(base, tls=True, submission_relay=("127.0.0.1", free_port()))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_relay(dovecot):
    """aiosmtpd on 127.0.0.1 (no AUTH) delivering every message into ``dovecot`` over LMTP.

    Attributes: ``host``, ``port``, ``handler.delivered`` (count of deliveries). A message
    to an unknown mailbox is refused with LMTP's 550.
    """
    from corpmail.devstack.smtp_relay import SmtpRelay

    relay_host, relay_port = dovecot.submission_relay
    relay = SmtpRelay(dovecot.host, dovecot.lmtp_port, relay_host, relay_port).start()
    yield relay
    relay.stop()


@pytest.fixture
def mailbox(dovecot) -> tuple[str, str]:
    """A fresh empty mailbox on ``dovecot``: ``(login, password)``."""
    return dovecot.add_user()


# --------------------------------------------------------------------------- app + db
@pytest.fixture
def db_kind(request) -> str:
    """``"sqlite"`` or ``"postgresql"``: the backend this test runs on. Tests under
    tests/integration that use ``app`` or ``db_backend`` run once per backend (ids
    ``[sqlite]`` / ``[postgresql]``); elsewhere SQLite only. PostgreSQL tests are skipped
    when 127.0.0.1:5432 does not answer. ``CORPMAIL_TEST_BACKENDS=sqlite`` narrows the run.
    """
    kind = getattr(request, "param", "sqlite")
    if kind not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown database backend {kind}")
    if kind == "postgresql":
        reason = databases.pg_unavailable_reason()
        if reason:
            pytest.skip(reason)
    return kind


@pytest.fixture
def db_backend(db_kind, tmp_path):
    """The URL of a fresh, EMPTY database of this test's backend (no tables): for tests
    that create the schema themselves (``corpmail init`` / Alembic in a subprocess).
    SQLite: ``tmp_path/instance/corpmail.db``. PostgreSQL: a new database on
    127.0.0.1:5432 (user postgres), dropped after the test (~1 s: prefer ``app`` when the
    test does not need an empty database).
    """
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'instance' / 'corpmail.db'}"
        return
    name, url = databases.create_pg_database()
    yield url
    databases.drop_pg_database(name)


@pytest.fixture(scope="session")
def shared_pg_url():
    """One PostgreSQL database for the session, used by ``app``; dropped at the end."""
    name, url = databases.create_pg_database()
    yield url
    databases.drop_pg_database(name)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra config for ``app``: override this fixture in a module or class to change it."""
    return {}


@pytest.fixture
def app(request, db_kind, tmp_path, app_config):
    """A fresh app per test: instance folder ``tmp_path/instance``, empty database with the
    schema from ``db.create_all()`` (SQLite: a new file in the instance folder;
    PostgreSQL: the session's database with every row deleted and sequences restarted
    before the test, so ids start at 1 -- much faster than a new database; the URL is
    ``app.config["SQLALCHEMY_DATABASE_URI"]`` for subprocesses), CSRF ON,
    IMAP_TIMEOUT 10 s and SCAN_IN_THREAD False
    (the admin's "Run scanning manually" runs in the request, so a test sees its result
    and no thread outlives the test; set it True through ``app_config`` to test the thread).
    An app context stays pushed during the test; ``db.session`` is that context's session,
    so after a request that changed rows call ``db.session.expire_all()`` before asserting.
    """
    from corpmail.app import create_app
    from corpmail.extensions import db

    if db_kind == "postgresql":
        url = request.getfixturevalue("shared_pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'instance' / 'corpmail.db'}"
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": True,
        "IMAP_TIMEOUT": 10.0,
        "SCAN_IN_THREAD": False,
    }
    config.update(app_config)
    application = create_app(config, instance_path=str(tmp_path / "instance"))

    # Requests reuse the app context pushed below, so ``g`` would outlive a request:
    # Flask-Login's user and Flask-Babel's locale would leak into the next request.
    @application.teardown_request
    def _forget_request_state(_exc):
        from flask import g

        g.pop("_login_user", None)
        g.pop("_flask_babel", None)
        g.pop(application.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF's raw token

    ctx = application.app_context()
    ctx.push()
    db.create_all()
    if db_kind == "postgresql":
        databases.wipe_pg(db.engine, db.metadata)
    try:
        yield application
    finally:
        db.session.remove()
        db.engine.dispose()  # release PostgreSQL connections before the database is dropped
        ctx.pop()


@pytest.fixture
def db(app):
    """The Flask-SQLAlchemy ``db`` bound to ``app`` (a convenience)."""
    from corpmail.extensions import db as _db

    return _db


@pytest.fixture
def cli(app):
    """``app.test_cli_runner()``: ``cli.invoke(args=["scan", "--json"])``."""
    return app.test_cli_runner()


def _make_user(email: str, password: str, is_admin: bool, name: str):
    from corpmail.extensions import db
    from corpmail.models import User

    user = User(email=email, name=name, is_admin=is_admin, language="en")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    user.plain_password = password  # not a column: for client_as and tests
    return user


@pytest.fixture
def admin_user(app):
    """An admin ``admin@example.test`` (password in ``admin_user.plain_password``)."""
    return _make_user("admin@example.test", ADMIN_PASSWORD, True, "Ada Admin")


@pytest.fixture
def plain_user(app):
    """A non-admin user ``user@example.test`` (password in ``plain_user.plain_password``)."""
    return _make_user("user@example.test", USER_PASSWORD, False, "Paul User")


@pytest.fixture
def client(app):
    """An anonymous test client."""
    return app.test_client()


@pytest.fixture
def client_as(app) -> Callable:
    """``client_as(user, password=None)`` -> a new test client logged in as ``user`` through
    the real /login form (GET, then POST with the form's own CSRF token). The password
    defaults to ``user.plain_password`` (set by ``admin_user`` / ``plain_user``)."""

    def make(user, password: str | None = None):
        test_client = app.test_client()
        web.login(test_client, user.email, password or user.plain_password)
        return test_client

    return make


@pytest.fixture
def post_form(app) -> Callable:
    """``post_form(client, url, data=None, follow_redirects=False, **kw)`` -> response.

    Adds a valid ``csrf_token`` for the client's session (made the way Flask-WTF makes it,
    so POST-only URLs work too). ``data``: dict (list values become repeated fields, kept
    in order), MultiDict or a list of pairs. To test refusal, use ``client.post`` directly.
    """

    def post(test_client, url: str, data: Any = None, follow_redirects: bool = False, **kw):
        return web.post_form(test_client, app, url, data, follow_redirects, **kw)

    return post


@pytest.fixture
def csrf_token(app) -> Callable:
    """``csrf_token(client)`` -> a valid token string for that client's session."""
    return lambda test_client: web.csrf_token(test_client, app)


# --------------------------------------------------------------------------- mail rows
@pytest.fixture
def mail_server(app, dovecot, smtp_relay):
    """A ``MailServer`` row "Test Dovecot": IMAP = ``dovecot`` (plain, security none),
    SMTP = ``smtp_relay`` (security none)."""
    from corpmail.extensions import db
    from corpmail.models import MailServer

    server = MailServer(
        name="Test Dovecot", active=True, visible=True, auth_method="basic",
        imap_host=dovecot.host, imap_port=dovecot.imap_port, imap_security="none",
        imap_validate_cert=False,
        smtp_host=smtp_relay.host, smtp_port=smtp_relay.port, smtp_security="none",
        smtp_validate_cert=False,
    )
    db.session.add(server)
    db.session.commit()
    return server


@pytest.fixture
def scanner_account(app, mail_server, dovecot, admin_user):
    """A ``ScannerAccount`` on a fresh empty Dovecot mailbox: folder INBOX with role
    Received, all four actions in order, owner ``admin_user``. The mailbox password is
    in ``scanner_account.password`` (decrypted); put mail in with
    ``dovecot.append(scanner_account.login, scanner_account.password, "INBOX", raw)``."""
    from corpmail.extensions import db
    from corpmail.models import ScannerAccount, ScannerFolder

    login, password = dovecot.add_user()
    account = ScannerAccount(
        name=login.split("@")[0], server=mail_server, login=login, status="Active",
        actions=list(ALL_ACTIONS), owner=admin_user,
    )
    account.password = password
    account.folders.append(ScannerFolder(name="INBOX", role="Received"))
    db.session.add(account)
    db.session.commit()
    return account


# --------------------------------------------------------------------------- OAuth 2.0 stack
@pytest.fixture(scope="session")
def oauth_server():
    """A local OAuth 2.0 authorization server (tests/support/oauth_server.py) for the
    session: code + PKCE, rotating refresh tokens, introspection, revocation. Tests set
    ``access_token_seconds`` (read at each issue) and register their own client."""
    from tests.support.oauth_server import OAuthTestServer

    server = OAuthTestServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_server):
    """A second Dovecot whose ``oauth2`` passdb checks bearer tokens (XOAUTH2, OAUTHBEARER)
    at ``oauth_server``'s introspection endpoint, for IMAP and submission; users added with
    ``add_user`` also keep their password (to put mail in). Its submission relays through
    ``oauth_dovecot.relay`` (aiosmtpd) into its own LMTP."""
    from corpmail.devstack.dovecot import Dovecot, free_port
    from corpmail.devstack.smtp_relay import SmtpRelay

    client_id, secret = oauth_server.resource_client
    introspection = oauth_server.introspection_url.replace("://", f"://{client_id}:{secret}@", 1)
    base = tempfile.mkdtemp(prefix="corpmail-test-oauth-dovecot-")
    server = Dovecot(base, submission_relay=("127.0.0.1", free_port()),
                     oauth2_introspection_url=introspection)
    server.start()
    server.relay = SmtpRelay(server.host, server.lmtp_port, *server.submission_relay).start()
    yield server
    server.relay.stop()
    server.stop()
    shutil.rmtree(base, ignore_errors=True)

"""Shared fixtures: a real Dovecot and SMTP relay per session, a fresh app + database per test.

Layers:
- ``dovecot`` / ``smtp_relay`` (session): real servers on 127.0.0.1 high ports, started
  once; every test takes its own mailbox with ``dovecot.add_user()``.
- ``app`` (function): a new instance folder and an empty database with the schema from
  ``db.create_all()``; an app context stays pushed for the test, so ``db.session`` works
  directly. Tests under ``tests/integration`` run once on SQLite and once on PostgreSQL
  (``db_backend``); elsewhere on SQLite only.
- Web helpers keep CSRF protection ON: ``client_as`` logs in through the real form,
  ``post_form`` adds a valid token.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # `tests.support` importable however pytest is started
    sys.path.insert(0, str(ROOT.parent))

from tests.support import databases, web  # noqa: E402
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
    if "db_backend" not in metafunc.fixturenames:
        return
    is_integration = "integration" in Path(str(metafunc.definition.fspath)).parts
    params = databases.backends() if is_integration else ["sqlite"]
    metafunc.parametrize("db_backend", params, indirect=True)


# --------------------------------------------------------------------------- mail stack
@pytest.fixture(scope="session")
def dovecot():
    """A real Dovecot 2.3 for the whole session, from its own config in a temp folder.

    Attributes: ``host``, ``imap_port`` (plain IMAP, STARTTLS offered), ``imaps_port``
    (implicit TLS, self-signed certificate), ``lmtp_port``, ``base`` (its folder).
    Methods: ``add_user(login=None, password=None) -> (login, password)`` (a new unique
    mailbox per call; the users file is re-read on the next login), ``append(login,
    password, folder, raw, flags=(), msg_time=None) -> uid``, ``append_many(...)``,
    ``client(login, password)`` (a logged-in imapclient), ``restart()``, ``log_tail()``.
    Wrong passwords cost nothing (no auth penalty), so tests may fail logins freely.
    """
    from corpmail.devstack.dovecot import Dovecot

    # Not under pytest's tmp folder: that is 0700 and the mail uid (nobody) must traverse it.
    base = tempfile.mkdtemp(prefix="corpmail-test-dovecot-")
    server = Dovecot(base, tls=True)
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

    relay = SmtpRelay(dovecot.host, dovecot.lmtp_port).start()
    yield relay
    relay.stop()


@pytest.fixture
def mailbox(dovecot) -> tuple[str, str]:
    """A fresh empty mailbox on ``dovecot``: ``(login, password)``."""
    return dovecot.add_user()


# --------------------------------------------------------------------------- app + db
@pytest.fixture
def db_backend(request, tmp_path):
    """The database URL for this test: ``sqlite`` (a file in the instance folder) or
    ``postgresql`` (a fresh database on 127.0.0.1:5432, user postgres, dropped after the
    test; the test is skipped when PostgreSQL is unreachable). Parametrised over both for
    tests under tests/integration; ``request.node.callspec`` shows which one ran.
    ``CORPMAIL_TEST_BACKENDS=sqlite`` narrows the run.
    """
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'instance' / 'corpmail.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown db_backend {backend}")
    reason = databases.pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    name, url = databases.create_pg_database()
    yield url
    databases.drop_pg_database(name)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra config for ``app``: override this fixture in a module or class to change it."""
    return {}


@pytest.fixture
def app(db_backend, tmp_path, app_config):
    """A fresh app per test: instance folder ``tmp_path/instance``, empty database with the
    schema from ``db.create_all()``, CSRF ON, IMAP_TIMEOUT 10 s and SCAN_IN_THREAD False
    (the admin's "Run scanning manually" runs in the request, so a test sees its result
    and no thread outlives the test; set it True through ``app_config`` to test the thread).
    An app context stays pushed during the test; ``db.session`` is that context's session,
    so after a request that changed rows call ``db.session.expire_all()`` before asserting.
    """
    from corpmail.app import create_app
    from corpmail.extensions import db

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": db_backend,
        "WTF_CSRF_ENABLED": True,
        "IMAP_TIMEOUT": 10.0,
        "SCAN_IN_THREAD": False,
    }
    config.update(app_config)
    application = create_app(config, instance_path=str(tmp_path / "instance"))
    ctx = application.app_context()
    ctx.push()
    db.create_all()
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

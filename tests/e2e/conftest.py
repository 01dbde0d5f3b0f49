"""End-to-end fixtures: the real stack (nginx + php-fpm + Roundcube + the app under gunicorn,
Dovecot + SMTP relay) for the session, and headless Chromium through Playwright.

- ``webmail_stack`` (session): see :class:`WebmailStack` for every attribute and helper.
- ``webmail_stack_env`` (session): extra ``CORPMAIL_*`` environment for the app under
  gunicorn (override it in a conftest/module to change e.g. the token life).
- ``browser`` (session): Playwright's sync ``Browser`` on Debian's /usr/bin/chromium
  (never ``playwright install``).
- ``page`` (function): a fresh ``BrowserContext`` (no cookies) and one ``Page`` in it,
  closed after the test; ``page.context`` opens more pages sharing its cookies.

Skipped (not failed) when Roundcube, php-fpm, nginx, chromium or Playwright are missing:
``scripts/install`` installs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
HOST = "127.0.0.1"


def _missing() -> str | None:
    from corpmail.devstack import webmail

    try:
        webmail.php_fpm_binary()
        webmail.nginx_binary()
    except webmail.WebmailError as exc:
        return str(exc)
    if not webmail.RC_SHARE.is_dir():
        return "Roundcube is not installed (run scripts/install)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class WebmailStack:
    """The running stack of one test session.

    URLs (no trailing slash): ``base_url`` (nginx, the public site: ``/`` the app,
    ``/webmail/`` Roundcube), ``webmail_url`` (``base_url + "/webmail/"``), ``app_url``
    (gunicorn directly, where the plugin redeems tokens; ``/internal/*`` answers only here).

    Servers: ``dovecot`` and ``smtp_relay`` (the session fixtures of tests/conftest.py),
    ``webmail`` (a :class:`corpmail.devstack.webmail.Webmail`: ``base`` folder with
    ``log/`` holding Roundcube's, nginx's and php-fpm's logs), ``gunicorn`` (Popen).

    The app's data: ``instance_path`` (the instance folder the gunicorn app uses),
    ``database_url`` (its SQLite file), ``secret`` (the shared autologin secret, also
    written into the plugin's config), ``app`` (a Flask app object in THIS process on the
    same instance folder and database: ``with stack.app.app_context(): ...`` runs app code
    -- models, scan_account, grants -- against what the browser sees; commit, and call
    ``db.session.expire_all()`` before reading rows the web process changed).

    Helpers (each commits and returns plain values, usable outside an app context):
    ``add_user(email=None, password=..., admin=False, lang="en", name=None) -> (id, email,
    password)``; ``mail_server_id()`` (one MailServer "E2E Dovecot": IMAP = Dovecot plain,
    SMTP = Dovecot submission with the mailbox's own login, so Roundcube can send; mail
    then goes submission -> relay -> LMTP into the recipient's mailbox);
    ``add_mailbox(name=None, granted=(user ids...), login=None, password=None) -> (account
    id, login, password)`` (a fresh Dovecot mailbox + an Active ScannerAccount with INBOX =
    Received and Sent = Sent, all four actions, granted to those users);
    ``grant(account_id, user_id)`` / ``revoke(account_id, user_id)`` (revoke also ends the
    Roundcube sessions of that grant, as the admin page does); ``login_crm(page, email,
    password)`` (the CRM's login form, in a Playwright page); ``log_tail(name)`` (one of
    "gunicorn", "roundcube" (Roundcube's errors), "nginx", "php").
    """

    def __init__(self, base: Path, dovecot, smtp_relay, env: dict[str, str]) -> None:
        from corpmail.devstack.webmail import Webmail

        self.base = base
        self.dovecot = dovecot
        self.smtp_relay = smtp_relay
        self.instance_path = base / "instance"
        self.instance_path.mkdir(parents=True)
        self.database_url = f"sqlite:///{self.instance_path / 'corpmail.db'}"
        self.app_port = _free_port()
        self.web_port = _free_port()
        self.app_url = f"http://{HOST}:{self.app_port}"
        self.webmail = Webmail(base / "webmail", listen=(HOST, self.web_port),
                               app=(HOST, self.app_port),
                               imap_host=f"{dovecot.host}:{dovecot.imap_port}")
        self.base_url = self.webmail.base_url
        self.webmail_url = self.base_url + "/webmail/"
        self.env = dict(os.environ, CORPMAIL_INSTANCE_PATH=str(self.instance_path),
                        CORPMAIL_DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        self.env.update(env)
        self.gunicorn: subprocess.Popen | None = None
        self.app = None
        self.secret = ""
        self._server_id: int | None = None
        self._users = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> WebmailStack:
        from corpmail.app import create_app
        from corpmail.extensions import db

        # The in-process app first: it creates the instance secrets (SECRET_KEY,
        # autologin_secret, ...) that gunicorn then reads, and the schema.
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url},
                              instance_path=str(self.instance_path))
        with self.app.app_context():
            db.create_all()
        self.secret = self.app.config["AUTOLOGIN_SECRET"]

        self.webmail.generate()
        self.webmail.write_plugin_config(app_url=self.app_url, secret=self.secret,
                                         allowed_hosts=[self.dovecot.host])
        self.webmail.start()

        with open(self.base / "gunicorn.log", "ab") as log:
            self.gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8",
                 "--worker-class", "gthread", "--bind", f"{HOST}:{self.app_port}",
                 "--access-logfile", "-", "--graceful-timeout", "2",
                 "corpmail.app:create_app()"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.app_url + "/login", timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if self.gunicorn.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_tail("gunicorn")
                    self.stop()
                    raise RuntimeError(f"the app did not start under gunicorn:\n{tail}")
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.gunicorn.pid, signal.SIGTERM)
            try:
                self.gunicorn.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.gunicorn.pid, signal.SIGKILL)
                self.gunicorn.wait(5)
        self.gunicorn = None
        self.webmail.stop()
        if self.app is not None:
            from corpmail.extensions import db

            with self.app.app_context():
                db.engine.dispose()

    def log_tail(self, name: str, size: int = 3000) -> str:
        logs = self.webmail.log_dir
        path = {"gunicorn": self.base / "gunicorn.log", "roundcube": logs / "errors.log",
                "nginx": logs / "nginx-error.log", "php": logs / "php-errors.log"}[name]
        try:
            return path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # ---------------------------------------------------------------- data helpers
    def add_user(self, email: str | None = None, password: str = "user-secret-1",
                 admin: bool = False, lang: str = "en",
                 name: str | None = None) -> tuple[int, str, str]:
        from corpmail.extensions import db
        from corpmail.models import User

        self._users += 1
        email = email or f"e2e-user{self._users}-{os.getpid()}@corpmail.test"
        with self.app.app_context():
            user = User(email=email, name=name or email.split("@")[0], is_admin=admin,
                        language=lang)
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
            return user.id, email, password

    def mail_server_id(self) -> int:
        from corpmail.extensions import db
        from corpmail.models import MailServer

        if self._server_id is None:
            with self.app.app_context():
                server = MailServer(
                    name="E2E Dovecot", active=True, visible=True, auth_method="basic",
                    imap_host=self.dovecot.host, imap_port=self.dovecot.imap_port,
                    imap_security="none", imap_validate_cert=False,
                    smtp_host=self.dovecot.host, smtp_port=self.dovecot.submission_port,
                    smtp_security="none", smtp_validate_cert=False)
                db.session.add(server)
                db.session.commit()
                self._server_id = server.id
        return self._server_id

    def add_mailbox(self, name: str | None = None, granted: tuple[int, ...] | list[int] = (),
                    login: str | None = None,
                    password: str | None = None) -> tuple[int, str, str]:
        from corpmail.extensions import db
        from corpmail.models import AutologinGrant, ScannerAccount, ScannerFolder

        server_id = self.mail_server_id()
        login, password = self.dovecot.add_user(login, password)
        with self.app.app_context():
            account = ScannerAccount(
                name=name or login.split("@")[0], server_id=server_id, login=login,
                status="Active",
                actions=["create-email", "bind-email", "open-ticket", "create-ticket"])
            account.password = password
            account.folders.append(ScannerFolder(name="INBOX", role="Received"))
            account.folders.append(ScannerFolder(name="Sent", role="Sent"))
            for user_id in granted:
                account.grants.append(AutologinGrant(user_id=user_id))
            db.session.add(account)
            db.session.commit()
            return account.id, login, password

    def grant(self, account_id: int, user_id: int) -> None:
        from corpmail.extensions import db
        from corpmail.models import AutologinGrant

        with self.app.app_context():
            db.session.add(AutologinGrant(account_id=account_id, user_id=user_id))
            db.session.commit()

    def revoke(self, account_id: int, user_id: int) -> None:
        from sqlalchemy import select

        from corpmail.autologin.grants import revoke_grant
        from corpmail.extensions import db
        from corpmail.models import AutologinGrant

        with self.app.app_context():
            grant = db.session.scalar(select(AutologinGrant).filter_by(
                account_id=account_id, user_id=user_id))
            if grant is not None:
                revoke_grant(grant)
                db.session.commit()

    def login_crm(self, page, email: str, password: str) -> None:
        """Log in through the CRM's real login form (CSRF on); lands on the CRM's home."""
        page.goto(self.base_url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.locator("form [type=submit]").first.click()
        page.wait_for_load_state()


@pytest.fixture(scope="session")
def webmail_stack_env() -> dict[str, str]:
    """Extra environment for the app under gunicorn, e.g.
    ``{"CORPMAIL_AUTOLOGIN_TOKEN_SECONDS": "5"}``. Override to change it."""
    return {}


@pytest.fixture(scope="session")
def webmail_stack(dovecot, smtp_relay, webmail_stack_env) -> Iterator[WebmailStack]:
    """nginx (public site) + php-fpm + Roundcube + the app (gunicorn) for the session, on
    the session's Dovecot and SMTP relay. Everything lives in one temp folder, removed at
    the end. See :class:`WebmailStack`."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    # Not pytest's tmp folder (0700): the stack's processes must traverse it.
    base = Path(tempfile.mkdtemp(prefix="corpmail-e2e-"))
    stack = WebmailStack(base, dovecot, smtp_relay, webmail_stack_env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright's sync API, for the session."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (run scripts/install)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    """A new browser context (own cookies) and a page in it; both closed after the test."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()

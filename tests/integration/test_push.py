"""Push mode against a real Dovecot and SMTP relay: IDLE brings mail in without a scan being
asked for, survives a server restart, renews itself, and falls back to polling without IDLE."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import smtplib
import tempfile
import time

import pytest
from scanner_util import corpmail_process, count, make_message
from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import (
    Email,
    MailConfiguration,
    MailServer,
    ScannerAccount,
    ScannerFolder,
    ScanRun,
)
from corpmail.scanner.push import PushService

TIMEOUT = 10.0  # seconds any one wait may take before the test fails


@pytest.fixture
def app_config():
    return {
        "PUSH_WORKERS": 2,
        "PUSH_REFRESH_SECONDS": 0.2,
        "PUSH_REIDLE_SECONDS": 1.5,
        "PUSH_BACKOFF_BASE_SECONDS": 0.2,
        "PUSH_BACKOFF_MAX_SECONDS": 1.0,
        "PUSH_MAX_FAILURES": 20,  # a Dovecot restart takes 1-3 s: keep retrying through it
        "PUSH_FALLBACK_SECONDS": 60,
    }


@pytest.fixture
def push(app):
    service = PushService(app).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def dovecot_without_idle():
    """A private Dovecot whose capability list lacks IDLE."""
    from corpmail.devstack.dovecot import Dovecot

    base = tempfile.mkdtemp(prefix="corpmail-test-noidle-")
    server = Dovecot(base, without_capabilities=("IDLE",)).start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def wait_for(predicate, what: str, timeout: float = TIMEOUT):
    """Poll until predicate() is truthy; each poll sees the other threads' commits."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # end the read transaction: see new rows, hold no SQLite lock
        value = predicate()
        if value:
            db.session.rollback()
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def push_state(account) -> tuple[str | None, str | None]:
    row = db.session.execute(
        select(ScannerAccount.push_state, ScannerAccount.push_note)
        .where(ScannerAccount.id == account.id)).one()
    return row.push_state, row.push_note


def wait_idle(push, account, connections: int = 1) -> None:
    wait_for(lambda: push.idle_connections == connections and push_state(account)[0] == "idle",
             f"{connections} IDLE connection(s)")


def send(relay, to: str, subject: str) -> None:
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as smtp:
        smtp.sendmail("jan@client.example", [to], make_message(subject=subject, to=to))


def stored(subject: str) -> bool:
    return count(Email, Email.subject == subject) == 1


def triggers() -> set[str]:
    return set(db.session.scalars(select(ScanRun.trigger)))


def test_delivered_message_is_stored_without_a_manual_scan(app, scanner_account, smtp_relay,
                                                           push, caplog):
    caplog.set_level(logging.DEBUG, logger="corpmail.scanner.push")
    wait_idle(push, scanner_account)

    started = time.monotonic()
    send(smtp_relay, scanner_account.login, "Pushed in")
    wait_for(lambda: stored("Pushed in"), "the pushed message")
    assert time.monotonic() - started < 5

    # Past PUSH_REIDLE_SECONDS the connection has renewed its IDLE and still reports mail.
    wait_for(lambda: "IDLE renewed" in caplog.text, "an IDLE renewal")
    send(smtp_relay, scanner_account.login, "After renewal")
    wait_for(lambda: stored("After renewal"), "the message after the renewal")
    assert triggers() == {"push"}
    assert scanner_account.password not in caplog.text


def finished_runs(trigger: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ScanRun).where(
        ScanRun.trigger == trigger, ScanRun.status != "In progress"))


def test_the_scanner_process_runs_push_next_to_the_periodic_scan(app, scanner_account,
                                                                smtp_relay):
    MailConfiguration.get().scan_interval = 3600  # only the first periodic pass, at start
    # Polled at first, so that the periodic pass at start cannot find the mailbox busy
    # with push mode's first scan (a busy mailbox is skipped, and there would be no
    # periodic pass to wait for); then switched to push while the scanner runs.
    scanner_account.scan_mode = "poll"
    db.session.commit()
    proc = corpmail_process(app, "scanner", CORPMAIL_PUSH_REFRESH_SECONDS="0.2")
    try:
        wait_for(lambda: proc.poll() is None and finished_runs("scheduler") >= 1,
                 "the first periodic pass")
        scanner_account.scan_mode = "push"
        db.session.commit()
        wait_for(lambda: proc.poll() is None and push_state(scanner_account)[0] == "idle",
                 "the scanner's IDLE connection")
        send(smtp_relay, scanner_account.login, "Through the scanner")
        wait_for(lambda: stored("Through the scanner"), "the pushed message")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "push mode started" in err and "push mode stopped" in err
    assert db.session.scalar(select(ScanRun.trigger).where(ScanRun.stored == 1)) == "push"
    assert push_state(scanner_account) == (None, None)  # cleared on the way out


def test_push_resumes_after_the_server_restarts_and_nothing_is_lost(
        app, dovecot, scanner_account, smtp_relay, push):
    wait_idle(push, scanner_account)
    send(smtp_relay, scanner_account.login, "Before restart")
    wait_for(lambda: stored("Before restart"), "the message before the restart")

    dovecot.stop()
    # Delivered while the IMAP server is down (straight into the Maildir, as LMTP would).
    maildir = dovecot.mail_root / scanner_account.login / "Maildir" / "new"
    path = maildir / f"{int(time.time())}.outage.corpmail"
    path.write_bytes(make_message(subject="During outage", to=scanner_account.login))
    if os.geteuid() == 0:
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)
    dovecot.start()

    wait_for(lambda: stored("During outage"), "the message delivered during the outage")
    wait_idle(push, scanner_account)
    send(smtp_relay, scanner_account.login, "After restart")
    wait_for(lambda: stored("After restart"), "the message after the restart")
    assert triggers() == {"push"}
    db.session.refresh(scanner_account)
    assert scanner_account.status == "Active"


def test_accounts_added_switched_to_poll_and_back_while_running(app, push, request):
    account = request.getfixturevalue("scanner_account")  # created after the service started
    wait_idle(push, account)

    account.scan_mode = "poll"
    db.session.commit()
    wait_for(lambda: push.idle_connections == 0 and push_state(account) == (None, None),
             "the IDLE connection to close")

    account.scan_mode = "push"
    account.folders.append(ScannerFolder(name="Sent", role="Sent"))  # not watched: not Received
    db.session.commit()
    wait_idle(push, account)


def test_server_without_idle_falls_back_to_polling(app, dovecot_without_idle, admin_user, push):
    from corpmail.scanner.scheduler import ScannerService

    server = MailServer(name="No IDLE", imap_host=dovecot_without_idle.host,
                        imap_port=dovecot_without_idle.imap_port, imap_security="none")
    login, password = dovecot_without_idle.add_user()
    account = ScannerAccount(name="no-idle", server=server, login=login, status="Active",
                             actions=["create-email"], owner=admin_user)
    account.password = password
    account.folders.append(ScannerFolder(name="INBOX", role="Received"))
    db.session.add(account)
    db.session.commit()

    state, note = wait_for(lambda: push_state(account)[0] == "polling" and push_state(account),
                           "the fallback to polling")
    assert "IDLE" in note
    assert push.idle_connections == 0

    # The periodic scan, the scheduler's own job, brings the mail in.
    dovecot_without_idle.append(login, password, "INBOX", make_message(subject="Polled"))
    ScannerService(app).scan_tick()
    assert stored("Polled")
    assert triggers() == {"scheduler"}


def test_account_add_takes_a_scan_mode(cli, mail_server, admin_user):
    args = ["account", "add", "Polled", "--server", mail_server.name, "--login", "p@corp.test",
            "--password", "pw-1", "--folder", "INBOX=Received", "--actions", "create-email",
            "--owner", admin_user.email]
    result = cli.invoke(args=args + ["--mode", "poll"])
    assert result.exit_code == 0, result.output
    assert "mode poll" in result.output
    assert db.session.scalar(select(ScannerAccount.scan_mode)) == "poll"
    assert cli.invoke(args=args + ["--mode", "sometimes"]).exit_code != 0


def test_admin_sets_the_scan_mode_and_sees_the_push_state(
        client_as, admin_user, post_form, mail_server, scanner_account):
    from test_admin_pages import account_data

    assert scanner_account.scan_mode == "auto"
    admin = client_as(admin_user)
    data = account_data(mail_server.id, admin_user.id, ["create-email"], password="",
                        scan_mode="push")
    assert post_form(admin, f"/admin/accounts/{scanner_account.id}/edit", data).status_code == 302
    db.session.expire_all()
    account = db.session.get(ScannerAccount, scanner_account.id)
    assert account.scan_mode == "push"

    account.push_state, account.push_note = "polling", "The server does not announce IDLE: polling."
    db.session.commit()
    listing = admin.get("/admin/accounts").get_data(as_text=True)
    assert "Poll (no push)" in listing and "does not announce IDLE" in listing
    page = admin.get(f"/admin/accounts/{account.id}/edit").get_data(as_text=True)
    assert 'data-role="push-note"' in page and '<option selected value="push">' in page

    db.session.add(ScanRun(account_id=account.id, account_name=account.name, trigger="push",
                           status="OK"))
    db.session.commit()
    assert "push (IDLE)" in admin.get("/admin/runs").get_data(as_text=True)


def test_idle_that_keeps_failing_falls_back_to_polling(app, admin_user):
    from corpmail.devstack.dovecot import free_port

    server = MailServer(name="Nobody home", imap_host="127.0.0.1", imap_port=free_port(),
                        imap_security="none")
    account = ScannerAccount(name="unreachable", server=server, login="u@corp.test",
                             status="Active", actions=["create-email"], owner=admin_user)
    account.password = "pw"
    account.folders.append(ScannerFolder(name="INBOX", role="Received"))
    db.session.add(account)
    db.session.commit()
    app.config.update(PUSH_MAX_FAILURES=3, PUSH_BACKOFF_BASE_SECONDS=0.05)
    service = PushService(app).start()
    try:
        state, note = wait_for(lambda: push_state(account)[0] == "polling" and push_state(account),
                               "the fallback after failures")
    finally:
        service.stop()
    assert "3 times" in note and "refused" in note
    assert push_state(account) == (None, None)  # nobody watches it once the scanner stops

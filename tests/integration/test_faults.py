"""Faults a scan must survive (issue 5): each ends with every message stored exactly once, no
run left "In progress", and a clear line on the run or in the log.

- the connection cut mid-FETCH literal, stalled until the read timeout, refused for a while
  (a FaultProxy between the scanner and Dovecot);
- Dovecot stopped and started during a scan;
- the database unavailable for a moment: SQLite locked by another writer past the busy
  timeout, PostgreSQL connections terminated by the server mid-transaction;
- attachment storage failing for a write;
- `corpmail scan` killed by SIGKILL at 20 different moments, then a final scan.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import signal
import sqlite3
import threading
import time
from email import message_from_bytes
from pathlib import Path

import psycopg
import pytest
from scanner_util import corpmail_env, corpmail_process, count, make_message
from sqlalchemy import select, update

from corpmail.extensions import db
from corpmail.models import (
    Email,
    EmailAttachment,
    EmailSeen,
    MailConfiguration,
    MessageFailure,
    ScanEvent,
    ScannerAccount,
    ScanRun,
)
from corpmail.models import prepared
from corpmail.scanner.engine import scan_account
from corpmail.scanner.registry import Action, register, unregister
from corpmail.scanner.verify import verify_locked_accounts
from corpmail.storage import attachment_path
from tests.support import databases
from tests.support.faultproxy import FaultProxy
from tests.support.warm_cli import WarmCli

READ_TIMEOUT = 2.0  # the scanner's IMAP read timeout in these tests
BATCH = 20  # messages per FETCH: a fault in a later batch leaves earlier ones committed


@pytest.fixture
def app_config():
    return {
        "IMAP_TIMEOUT": READ_TIMEOUT,
        "IMAP_CONNECT_TIMEOUT": READ_TIMEOUT,
        "SCAN_RETRIES": 4,
        "SCAN_BACKOFF": 0.1,  # ~0.1, 0.2, 0.4, 0.8 s (jitter: half to all): 0.75-1.5 s in all
        "SCAN_BACKOFF_MAX": 1.0,
        "FETCH_BATCH_SIZE": BATCH,
    }


@pytest.fixture
def proxy(dovecot):
    with FaultProxy(dovecot.host, dovecot.imap_port) as p:
        yield p


@pytest.fixture
def proxied(scanner_account, mail_server, proxy):
    """The scanner account, reaching Dovecot through the proxy."""
    mail_server.imap_host, mail_server.imap_port = proxy.host, proxy.port
    db.session.commit()
    return scanner_account


@pytest.fixture
def retry_log(caplog):
    caplog.set_level(logging.WARNING, logger="corpmail.scanner.retry")
    return caplog


# --------------------------------------------------------------------------- helpers
def fill(dovecot, account, n: int, prefix: str = "msg", attach_every: int = 0) -> None:
    """n messages in INBOX (MULTIAPPEND, 100 per command); every `attach_every`-th carries
    an attachment of its own."""
    raws = [
        make_message(f"{prefix} {i}", body=f"Body of {prefix} {i}.\n" * 20,
                     attachment=(f"{prefix}-{i}.bin", os.urandom(3000))
                     if attach_every and i % attach_every == 0 else None)
        for i in range(n)
    ]
    client = dovecot.client(account.login, account.password)
    try:
        for start in range(0, n, 100):
            client.multiappend("INBOX", raws[start:start + 100])
    finally:
        client.logout()
    MailConfiguration.get().max_messages_per_run = 100_000
    db.session.commit()


def scan(account, **kw):
    result = scan_account(account.id, "cli", **kw)
    db.session.expire_all()
    return result


def server_message_ids(dovecot, account) -> list[str]:
    client = dovecot.client(account.login, account.password)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        headers = client.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    finally:
        client.logout()
    ids = (message_from_bytes(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])["Message-ID"]
           for item in headers.values())
    return ["".join(value.split()).strip("<>") for value in ids]  # unfolded, without <>


def assert_each_message_stored_once(dovecot, account) -> None:
    db.session.rollback()  # read what other connections committed
    on_server = server_message_ids(dovecot, account)
    assert len(set(on_server)) == len(on_server)
    stored = list(db.session.scalars(select(Email.message_id)))
    assert len(stored) == len(on_server)
    assert sorted(stored) == sorted(on_server)
    assert count(EmailSeen) == len(on_server)
    assert count(ScanRun, ScanRun.status == "In progress") == 0
    assert count(MessageFailure, MessageFailure.resolved_at.is_(None)) == 0
    for email in db.session.scalars(select(Email).where(Email.attachments.any())):
        for att in email.attachments:  # nothing half-stored: every row has its bytes
            assert attachment_path(att.sha256).stat().st_size == att.size


def assert_ok(result) -> None:
    assert (result.status, result.error) == ("OK", None)
    assert (result.failed, result.quarantined, result.duplicates) == (0, 0, 0)


# --------------------------------------------------------------------------- the wire
def test_cut_mid_fetch_literal_reconnects_and_resumes(dovecot, proxied, proxy, retry_log):
    fill(dovecot, proxied, 60, attach_every=5)
    proxy.cut_after_literal(200, skip=30)  # 200 bytes into message 31: batch 2 of 3 is lost

    result = scan(proxied)

    assert proxy.fired == ["cut"]
    assert proxy.accepted >= 2  # logged in again
    assert_ok(result)
    assert result.stored == 60
    assert proxied.status == "Active"  # a one-off cut does not lock the mailbox
    assert "broke" in retry_log.text and "Going on in" in retry_log.text
    assert_each_message_stored_once(dovecot, proxied)


def test_message_failed_before_a_cut_is_not_retried_again_in_the_same_run(
        dovecot, proxied, proxy):
    @register
    class Explode(Action):
        name = "explode-faults-test"
        description = "raises on BOOM subjects"
        requires = ("create-email",)

        def run(self, ctx) -> None:
            if "BOOM" in ctx.parsed.subject:
                raise RuntimeError("kaboom")

    try:
        proxied.actions = ["create-email", "explode-faults-test"]
        db.session.commit()
        fill(dovecot, proxied, 3, prefix="BOOM")  # three failures in batch 1
        fill(dovecot, proxied, 22)
        proxy.cut_after_literal(100, skip=21)  # in batch 2: the scan reads its failures again
        result = scan(proxied)
    finally:
        unregister("explode-faults-test")
    assert proxy.fired == ["cut"]
    assert (result.fetched, result.stored, result.failed) == (25, 22, 3)
    assert [f.attempts for f in db.session.scalars(select(MessageFailure))] == [1, 1, 1]


def test_stalled_connection_times_out_and_the_scan_goes_on(dovecot, proxied, proxy, retry_log):
    fill(dovecot, proxied, 40)
    proxy.stall_after_literal(100, skip=25)  # silent in the middle of batch 2

    started = time.monotonic()
    result = scan(proxied)
    elapsed = time.monotonic() - started

    assert proxy.fired == ["stall"]
    assert_ok(result)
    assert result.stored == 40
    assert f"within {READ_TIMEOUT} s (timed out)" in retry_log.text
    # One read timeout, no second one waiting for a LOGOUT on the dead connection.
    assert READ_TIMEOUT <= elapsed < 2 * READ_TIMEOUT + 2
    assert_each_message_stored_once(dovecot, proxied)


def test_refused_connections_for_a_while_then_recovery(dovecot, proxied, proxy, retry_log):
    fill(dovecot, proxied, 10, prefix="early")
    proxy.refuse_for(0.5)  # shorter than the backoff: ridden out within the run
    result = scan(proxied)
    assert_ok(result)
    assert result.stored == 10
    assert "Connection refused" in retry_log.text and "Connecting again" in retry_log.text

    fill(dovecot, proxied, 10, prefix="late")
    proxy.refuse_for(60)  # longer than the backoff: the account locks (SPEC 5)
    result = scan(proxied)
    assert result.connect_failed and "Connection refused" in result.error
    account = db.session.get(ScannerAccount, proxied.id)
    assert account.status == "Locked" and "Connection refused" in account.last_error
    run = db.session.get(ScanRun, result.run_id)
    assert run.status == "Error" and "Connection refused" in run.error
    assert count(ScanRun, ScanRun.status == "In progress") == 0

    proxy.heal()
    assert [v.outcome for v in verify_locked_accounts()] == ["unlocked"]
    result = scan(proxied)
    assert_ok(result)
    assert result.stored == 10
    assert_each_message_stored_once(dovecot, proxied)


def test_dovecot_stopped_and_started_during_a_scan(app, dovecot, scanner_account, retry_log):
    # Dovecot takes 1-3 s to stop (more on a busy machine): backoff to wait for it, 9-19 s.
    app.config.update(SCAN_RETRIES=12, SCAN_BACKOFF=0.2, SCAN_BACKOFF_MAX=2.0)
    fill(dovecot, scanner_account, 300)
    restarts: list[threading.Thread] = []

    def restart_once(_result, _folder, done, _total):
        if done == 40 and not restarts:
            restarts.append(threading.Thread(target=dovecot.restart))
            restarts[0].start()

    try:
        result = scan(scanner_account, progress=restart_once)
    finally:
        for thread in restarts:
            thread.join(30)
        if not dovecot.running:  # the session's Dovecot must outlive this test
            dovecot.start()
    assert restarts
    assert_ok(result)
    assert result.stored == 300
    assert "Going on in" in retry_log.text
    assert_each_message_stored_once(dovecot, scanner_account)


# --------------------------------------------------------------------------- the database
class TestDatabaseUnavailable:
    @pytest.fixture
    def app_config(self, db_kind, app_config):
        if db_kind == "sqlite":  # a short busy timeout: a lock held longer is a fault
            return {**app_config, "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.3}}}
        return app_config

    def test_sqlite_locked_by_another_writer(self, app, db_kind, dovecot, scanner_account,
                                             retry_log):
        if db_kind != "sqlite":
            pytest.skip("SQLite's write lock")
        fill(dovecot, scanner_account, 60)
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        locked, holders = threading.Event(), []

        def hold_write_lock() -> None:
            conn = sqlite3.connect(path, timeout=5, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")  # another writer: the scanner's writes wait
            locked.set()
            time.sleep(1.0)  # past the 0.3 s busy timeout, within the backoff
            conn.execute("COMMIT")
            conn.close()

        def lock_once(_result, _folder, done, _total):
            if done == 25 and not holders:
                holders.append(threading.Thread(target=hold_write_lock))
                holders[0].start()
                locked.wait(5)

        result = scan(scanner_account, progress=lock_once)
        holders[0].join(10)
        assert_ok(result)
        assert result.stored == 60
        assert "The database is unavailable: database is locked." in retry_log.text
        assert count(MessageFailure) == 0  # the database's fault blamed no message
        assert_each_message_stored_once(dovecot, scanner_account)

    def test_postgresql_connection_terminated_mid_transaction(
            self, app, db_kind, dovecot, scanner_account, retry_log, monkeypatch):
        if db_kind != "postgresql":
            pytest.skip("PostgreSQL's pg_terminate_backend")
        fill(dovecot, scanner_account, 60)
        # Terminate the scanner's own backend while it is inside a message's transaction:
        # at the 10th and 30th e-mail INSERT, and at the 45th watermark UPDATE. The
        # scanner's per-message statements run on the DBAPI cursor (models/prepared.py),
        # which fires no engine events: the hook wraps that call.
        kill_at = {"INSERT INTO emails": {10, 30}, "UPDATE scanner_folders": {45}}
        seen = {key: 0 for key in kill_at}
        killed = []
        real_run_driver = prepared.run_driver

        def terminate(conn, method, statement, params):
            for prefix, moments in kill_at.items():
                if statement.startswith(prefix):
                    seen[prefix] += 1
                    if seen[prefix] in moments:
                        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                        with psycopg.connect(databases.PG_ADMIN_DSN, autocommit=True) as admin:
                            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                        killed.append(prefix)
            return real_run_driver(conn, method, statement, params)

        monkeypatch.setattr(prepared, "run_driver", terminate)
        result = scan(scanner_account)
        assert len(killed) == 3
        assert_ok(result)
        assert result.stored == 60
        assert retry_log.text.count("The database is unavailable") == 3
        assert count(MessageFailure) == 0
        assert_each_message_stored_once(dovecot, scanner_account)


# --------------------------------------------------------------------------- attachments
class FullDisk:
    """The `os` module as corpmail.storage sees it, except that writing an attachment fails
    half-way with ENOSPC while armed (the first write only)."""

    def __init__(self) -> None:
        self.armed = True
        self.failures = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, mode="r", *args, **kwargs):
        fh = os.fdopen(fd, mode, *args, **kwargs)
        if not self.armed:
            return fh
        self.armed = False
        self.failures += 1
        real_write = fh.write

        def write(data):
            real_write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        fh.write = write
        return fh


def test_attachment_write_failing_is_retried_and_nothing_half_stored(
        app, dovecot, scanner_account, monkeypatch):
    fill(dovecot, scanner_account, 6, attach_every=3)  # messages 0 and 3 carry attachments
    disk = FullDisk()
    monkeypatch.setattr("corpmail.storage.os", disk)

    result = scan(scanner_account)
    assert disk.failures == 1
    assert (result.status, result.stored, result.failed) == ("OK", 5, 1)
    failure = db.session.scalar(select(MessageFailure))
    assert "No space left on device" in failure.last_error and failure.attempts == 1
    event_row = db.session.scalar(select(ScanEvent).where(ScanEvent.outcome == "failed"))
    assert "No space left on device" in event_row.reason
    assert count(Email) == 5 and count(EmailAttachment) == 1  # the failed one left no rows
    store = Path(app.config["ATTACHMENTS_DIR"])
    assert not list(store.rglob(".tmp-*"))  # nor a half-written file
    assert len([p for p in store.rglob("*") if p.is_file()]) == 1

    result = scan(scanner_account)  # the next run retries it, the disk has room again
    assert (result.stored, result.failed) == (1, 0)
    assert db.session.get(MessageFailure, failure.id).resolved_at is not None
    assert count(EmailAttachment) == 2
    assert_each_message_stored_once(dovecot, scanner_account)


# --------------------------------------------------------------------------- SIGKILL
KILLS = 20
LEASE = 1  # seconds


def test_scan_killed_at_20_moments_then_a_final_scan(app, dovecot, scanner_account, tmp_path):
    """`corpmail scan` killed by SIGKILL at a different moment after its run started, 20
    times in a row; then a final `corpmail scan` stores the rest: every message once.

    The killed scans are forked from a warm interpreter (tests/support/warm_cli.py): 20
    cold starts would cost 20-40 s here. The final scan is a cold `corpmail scan`."""
    seed = random.randrange(1 << 30)
    print(f"\nSIGKILL moments seed: {seed}")
    # ms after the run started; more than KILLS: a scan that ends first is not a kill
    moments = random.Random(seed).sample(range(0, 300, 3), 2 * KILLS)
    settings = {"CORPMAIL_SCAN_LEASE_SECONDS": str(LEASE), "CORPMAIL_FETCH_BATCH_SIZE": str(BATCH)}
    total = stored = 0
    progress, kills = [], 0
    with WarmCli(corpmail_env(app, **settings), tmp_path / "scans.log") as warm:
        for moment in moments:
            if total - stored < 100:  # keep mail waiting, so that kills land mid-scan
                fill(dovecot, scanner_account, 100, prefix=f"batch {total}", attach_every=10)
                total += 100
            runs_before = count(ScanRun)
            db.session.rollback()
            pid = warm.start("scan")
            deadline = time.monotonic() + 30
            while count(ScanRun) == runs_before:  # the child's run has started
                db.session.rollback()
                assert time.monotonic() < deadline, warm.log_tail()
                time.sleep(0.02)
            db.session.rollback()
            time.sleep(moment / 1000)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            code = warm.wait()
            assert code in (0, -signal.SIGKILL), warm.log_tail()  # 0: done before the moment
            db.session.rollback()
            run = db.session.scalars(select(ScanRun).order_by(ScanRun.id.desc())).first()
            # A kill that lands after the run was closed (the process was exiting) is not a
            # kill mid-scan: only a run left In progress counts.
            killed_mid_scan = code == -signal.SIGKILL and run.status == "In progress"
            assert code == -signal.SIGKILL or run.status == "OK", (run.status, run.error)
            stored = count(Email)
            progress.append(stored)
            # The dead run's lease expires within LEASE s; expire it now instead of waiting.
            db.session.execute(update(ScannerAccount).values(lease_expires_at=None))
            db.session.commit()
            kills += killed_mid_scan
            if kills == KILLS:
                break
    print(f"e-mails stored after each scan: {progress} of {total}")
    assert kills == KILLS

    time.sleep(LEASE + 0.5)  # the last dead run is now stale
    final = corpmail_process(app, "scan", "--json", **settings)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    row = json.loads(out)["accounts"][0]
    assert (row["error"], row["failed"], row["duplicates"]) == (None, 0, 0)
    assert row["stored"] == total - stored
    db.session.rollback()
    runs = db.session.scalars(select(ScanRun).order_by(ScanRun.id)).all()
    killed = [r for r in runs if r.status == "Error"]
    assert len(killed) == KILLS and all("stale" in r.error for r in killed)
    assert {r.status for r in runs} == {"Error", "OK"}
    assert_each_message_stored_once(dovecot, scanner_account)

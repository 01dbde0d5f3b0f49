"""`corpmail scan` and `corpmail scanner` as an admin runs them: JSON shape, exit codes,
a SIGKILL mid-batch, two processes at once, the scheduler process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from scanner_util import corpmail_process, count, make_message
from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import Email, EmailSeen, MailConfiguration, ScanRun

LEASE = 2  # seconds: a killed scan's lease expires quickly in these tests


@pytest.fixture
def app_config():
    return {"SCAN_LEASE_SECONDS": LEASE}


def corpmail(app, *args, **env_extra) -> subprocess.Popen:
    return corpmail_process(app, *args, CORPMAIL_SCAN_LEASE_SECONDS=str(LEASE),
                            CORPMAIL_IMAP_TIMEOUT="10", **env_extra)


def fill(dovecot, account, n: int, prefix="msg") -> None:
    dovecot.append_many(account.login, account.password, "INBOX",
                        [make_message(f"{prefix} {i}") for i in range(n)])
    MailConfiguration.get().max_messages_per_run = 10_000
    db.session.commit()


def emails() -> int:
    n = count(Email)
    db.session.rollback()  # end the read so the next poll sees new commits
    return n


def test_scan_json_shape_and_exit_codes(cli, dovecot, scanner_account):
    fill(dovecot, scanner_account, 3)
    result = cli.invoke(args=["scan", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["accounts", "totals"]
    (row,) = data["accounts"]
    assert list(row) == ["account", "fetched", "stored", "duplicates", "skipped", "failed",
                         "quarantined", "duration_s", "error"]
    assert (row["account"], row["fetched"], row["stored"], row["error"]) == (
        scanner_account.name, 3, 3, None)
    assert list(data["totals"]) == ["fetched", "stored", "duplicates", "skipped", "failed",
                                    "quarantined", "duration_s"]
    assert data["totals"]["stored"] == 3

    text = cli.invoke(args=["scan"])
    assert text.exit_code == 0
    assert f"{scanner_account.name}: fetched 0, stored 0" in text.output

    scanner_account.password = "wrong"
    db.session.commit()
    failed = cli.invoke(args=["scan", "--account", scanner_account.name, "--json"])
    assert failed.exit_code == 1
    row = json.loads(failed.output)["accounts"][0]
    assert row["error"] and "Login refused" in row["error"]

    unknown = cli.invoke(args=["scan", "--account", "nope"])
    assert unknown.exit_code == 1
    assert "no mailbox" in unknown.output and "Traceback" not in unknown.output


def test_scan_all_repeats_until_nothing_new(cli, dovecot, scanner_account):
    fill(dovecot, scanner_account, 7)
    MailConfiguration.get().max_messages_per_run = 3
    db.session.commit()
    result = cli.invoke(args=["scan", "--all", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["accounts"][0]
    assert (row["fetched"], row["stored"]) == (7, 7)
    assert count(ScanRun) == 3


def test_killed_scan_loses_and_duplicates_nothing(app, dovecot, scanner_account):
    from corpmail.scanner.engine import scan_all

    total = 250
    fill(dovecot, scanner_account, total)
    proc = corpmail(app, "scan", CORPMAIL_FETCH_BATCH_SIZE="100")
    deadline = time.monotonic() + 60
    while emails() < 20:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-batch: no chance to clean up
    proc.wait()
    stored_before = emails()
    assert 20 <= stored_before < total
    assert count(ScanRun, ScanRun.status == "In progress") == 1
    db.session.rollback()

    time.sleep(LEASE + 0.5)  # the dead run's lease expires
    results = scan_all("cli")
    db.session.expire_all()
    assert results[0].error is None
    assert results[0].stored == total - stored_before
    assert results[0].duplicates == 0
    assert count(Email) == total
    assert count(EmailSeen) == total
    assert db.session.scalar(select(func.count(func.distinct(Email.subject)))) == total
    assert count(ScanRun, ScanRun.status == "In progress") == 0
    dead = db.session.scalar(select(ScanRun).order_by(ScanRun.id).limit(1))
    assert dead.status == "Error" and "stale" in dead.error


def test_two_scans_at_once_never_process_a_message_twice(app, dovecot, scanner_account):
    total = 100
    fill(dovecot, scanner_account, total)
    procs = [corpmail(app, "scan", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    rows = []
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        rows.append(json.loads(out)["accounts"][0])
    assert sum(r["stored"] for r in rows) == total
    assert sum(r["duplicates"] for r in rows) == 0
    assert sum(r["fetched"] for r in rows) == total
    # Either the second found the mailbox busy, or it started after the first had finished.
    assert any((r["error"] or "").startswith("Busy") or r["fetched"] == 0 for r in rows)
    db.session.expire_all()
    assert count(Email) == total and count(EmailSeen) == total


def test_scanner_process_scans_on_schedule_and_stops_on_sigterm(app, dovecot, scanner_account):
    cfg = MailConfiguration.get()
    cfg.scan_interval = 1
    db.session.commit()
    proc = corpmail(app, "scanner")
    try:
        dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("one"))
        deadline = time.monotonic() + 30
        while emails() < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # Mail arriving later is picked up by a later tick, without a restart.
        dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("two"))
        while emails() < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert count(ScanRun, ScanRun.status == "In progress") == 0


def descendants(pid: int) -> set[int]:
    """Every live process under pid (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_sigterm_mid_way_through_a_long_scan_leaves_no_parser_process(
        app, dovecot, scanner_account):
    """A long run parses ahead in a helper process (scanner/parse_ahead.py). SIGTERM while
    it works stops the scanner cleanly, the helper goes with it, and the next scan stores
    the rest: every message once."""
    total = 1500
    fill(dovecot, scanner_account, total)
    MailConfiguration.get().scan_interval = 3600
    db.session.commit()
    proc = corpmail(app, "scanner", CORPMAIL_PUSH_ENABLED="false")
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while emails() < 100 or not helpers:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{emails()} stored, helpers {helpers}"
            helpers = descendants(proc.pid)
            time.sleep(0.05)
        assert emails() < total, "the scan ended before the signal: make the mailbox bigger"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert count(ScanRun, ScanRun.status == "Stopped") == 1
    deadline = time.monotonic() + 10
    while alive := {pid for pid in helpers if os.path.exists(f"/proc/{pid}")}:
        assert time.monotonic() < deadline, f"parser processes left behind: {alive}"
        time.sleep(0.1)

    final = corpmail(app, "scan", "--json")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert json.loads(out)["accounts"][0]["duplicates"] == 0
    assert emails() == total and count(EmailSeen) == total


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_killed_scan_leaves_no_parser_process_behind(app, dovecot, scanner_account):
    """A long scan parses in a process of its own (scanner/parse_ahead.py), started by a
    fork server: both end with a scanner killed by SIGKILL, which never shuts them down."""
    fill(dovecot, scanner_account, 600)
    proc = corpmail(app, "scan", CORPMAIL_PARSE_WORKERS="1")
    deadline = time.monotonic() + 60
    while True:  # until the parser process is up: the fork server's child, a grandchild
        helpers = descendants(proc.pid)
        if any(descendants(helper) for helper in helpers):
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert proc.poll() is None  # still scanning: the kill lands mid-scan
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while left := [pid for pid in helpers if running(pid)]:
        assert time.monotonic() < deadline, f"still running after the scanner died: {left}"
        time.sleep(0.05)

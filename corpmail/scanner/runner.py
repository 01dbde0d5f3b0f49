"""Scans started from the admin pages: a background thread, stop requests, quarantine retries."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import select, update

from corpmail.extensions import db
from corpmail.models import MessageFailure, ScannerFolder, ScanRun
from corpmail.scanner import lease

log = logging.getLogger(__name__)

_start_lock = threading.Lock()


def scan_in_progress() -> bool:
    """A run is going on (runs whose process died are closed first)."""
    lease.close_stale_runs()
    return db.session.scalar(select(ScanRun.id).where(ScanRun.status == "In progress").limit(1)) is not None


def _run(app: Flask, trigger: str, user_id: int | None, account_id: int | None) -> None:
    from corpmail.scanner.engine import scan_all

    with app.app_context():
        try:
            scan_all(trigger, user_id=user_id, account_id=account_id)
        except Exception:  # a thread has nobody to raise to
            log.exception("background scan failed")
        finally:
            db.session.remove()


def start_scan_in_background(
    app: Flask, trigger: str = "admin", user_id: int | None = None, account_id: int | None = None
) -> bool:
    """Start one pass over the active accounts (or one) without blocking the caller.

    False when a run is already in progress. With SCAN_IN_THREAD off (tests) the pass runs
    right here, in its own app context, so the caller sees its result."""
    with _start_lock:
        if scan_in_progress():
            return False
        if not app.config.get("SCAN_IN_THREAD", True):
            _run(app, trigger, user_id, account_id)
            return True
        thread = threading.Thread(
            target=_run, args=(app, trigger, user_id, account_id), name="corpmail-scan", daemon=True
        )
        thread.start()
        return True


def request_stop(run_id: int, user_id: int | None) -> bool:
    """Ask a running scan to stop after its current message; True when it was running."""
    result = db.session.execute(
        update(ScanRun)
        .where(ScanRun.id == run_id, ScanRun.status == "In progress")
        .values(stop_requested=True, stopped_by_id=user_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return (result.rowcount or 0) == 1


def retry_quarantined(failure_id: int, user_id: int | None = None) -> str:
    """Process a failed (usually quarantined) message again, now.

    The message is fetched again by UID when the folder still has it, else the raw bytes
    kept at quarantine are used. Returns the outcome: stored | duplicate | skipped |
    failed | gone | busy | not found | resolved (already). The retry is a small run of its
    own on the log (trigger admin)."""
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        return _retry(failure_id, user_id)
    finally:
        session.expire_on_commit = keep


def _retry(failure_id: int, user_id: int | None) -> str:
    from corpmail.mail.errors import MailError
    from corpmail.mail.imap import ImapSession
    from corpmail.models.base import utcnow
    from corpmail.scanner.context import FolderInfo
    from corpmail.scanner.engine import AccountScan, ScanResult

    failure = db.session.get(MessageFailure, failure_id)
    if failure is None:
        return "not found"
    if failure.resolved_at is not None:
        return "resolved"
    account = failure.account
    owner = lease.new_owner()
    if not lease.claim(account.id, owner):
        return "busy"
    run_id = None
    try:
        run = ScanRun(
            account_id=account.id, account_name=account.name, trigger="admin",
            triggered_by_id=user_id, status="In progress", heartbeat_at=utcnow(),
        )
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        result = ScanResult(account=account.name, account_id=account.id, run_id=run.id)
        scan = AccountScan(account, run, owner, result)
        real = db.session.scalar(
            select(ScannerFolder).where(
                ScannerFolder.account_id == account.id, ScannerFolder.name == failure.folder
            )
        )
        # A detached stand-in: a retry never moves the folder's real watermark.
        folder = ScannerFolder(
            name=failure.folder, role=real.role if real else "Received",
            uidvalidity=failure.uidvalidity, watermark=failure.uid,
        )
        raw = None
        try:
            with ImapSession.for_account(account) as imap:
                state = imap.select(failure.folder, readonly=True)
                if state.uidvalidity == failure.uidvalidity:
                    for _uid, data in imap.fetch_raw([failure.uid]):
                        raw = data
        except MailError as exc:
            log.info("retry of failure %s: fetching again failed (%s); using the kept copy", failure_id, exc)
        if raw is None:
            raw = failure.raw
        if raw is None:
            outcome = "gone"
            run.error = "the message is gone from the server and no copy was kept"
        else:
            finfo = FolderInfo(name=folder.name, role=folder.role, uidvalidity=failure.uidvalidity)
            outcome = scan.process(folder, finfo, failure.uid, raw, failure)
            if outcome == "quarantined":
                outcome = "failed"
        run.status = "OK" if outcome != "gone" else "Error"
        run.finished_at = utcnow()
        run.heartbeat_at = run.finished_at
        db.session.commit()
        return outcome
    except lease.LeaseLost:
        db.session.rollback()
        return "busy"
    except Exception as exc:  # e.g. the database went away: no run is left "In progress"
        db.session.rollback()
        _close_failed_run(run_id, exc)
        raise
    finally:
        lease.release(account.id, owner)


def _close_failed_run(run_id: int | None, exc: Exception) -> None:
    """Best effort: when the database is still gone, stale-run recovery closes it later."""
    from corpmail.models.base import utcnow

    if run_id is None:
        return
    try:
        db.session.execute(
            update(ScanRun).where(ScanRun.id == run_id, ScanRun.status == "In progress")
            .values(status="Error", error=str(exc)[:2000] or type(exc).__name__,
                    finished_at=utcnow(), heartbeat_at=utcnow())
            .execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:  # noqa: BLE001
        db.session.rollback()
        log.warning("retry run %s could not be closed; stale-run recovery will", run_id)

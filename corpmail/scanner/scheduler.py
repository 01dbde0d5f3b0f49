"""The `corpmail scanner` process: APScheduler jobs for scanning, verification and alerts."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import select

from corpmail.extensions import db

log = logging.getLogger(__name__)

TICK_SECONDS = 5  # the scan job wakes this often and scans when the configured interval passed
VERIFY_SECONDS = 300  # locked accounts are retried this often
ALERT_SECONDS = 60  # long-running scans are looked for this often


class ScannerService:
    """The jobs, each in its own app context. The scan interval is read from the database
    on every tick, so a change in Mail configuration takes effect without a restart."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stop_event = threading.Event()
        self.last_scan_started: float | None = None
        self.alerted: set[int] = set()

    def scan_tick(self) -> None:
        from corpmail.models import MailConfiguration
        from corpmail.scanner.engine import scan_all

        with self.app.app_context():
            try:
                interval = max(1, int(MailConfiguration.get().scan_interval))
                db.session.commit()
                now = time.monotonic()
                if self.last_scan_started is not None and now - self.last_scan_started < interval:
                    return
                self.last_scan_started = now
                results = scan_all("scheduler", stop_event=self.stop_event)
                for r in results:
                    if r.fetched or r.error:
                        log.info(
                            "scanned %s: fetched %s stored %s duplicates %s skipped %s failed %s "
                            "quarantined %s in %.1fs%s",
                            r.account, r.fetched, r.stored, r.duplicates, r.skipped, r.failed,
                            r.quarantined, r.duration_s, f" ({r.error})" if r.error else "",
                        )
            except Exception:  # the scheduler must keep running
                log.exception("scan job failed")
            finally:
                db.session.remove()

    def verify(self) -> None:
        from corpmail.scanner.verify import verify_locked_accounts

        with self.app.app_context():
            try:
                for v in verify_locked_accounts():
                    log.info("verified %s: %s", v.account, v.outcome)
            except Exception:
                log.exception("verification job failed")
            finally:
                db.session.remove()

    def alert_long_scans(self) -> None:
        """Mail the admins once about each run going on longer than configured."""
        from corpmail.models import MailConfiguration, ScanRun
        from corpmail.models.base import utcnow
        from corpmail.scanner import lease, notify

        with self.app.app_context():
            try:
                lease.close_stale_runs()
                minutes = MailConfiguration.get().long_scan_alert_minutes
                db.session.commit()
                if not minutes or minutes <= 0:
                    return
                cutoff = utcnow() - timedelta(minutes=minutes)
                for run in db.session.scalars(
                    select(ScanRun).where(ScanRun.status == "In progress", ScanRun.started_at < cutoff)
                ):
                    if run.id not in self.alerted:
                        self.alerted.add(run.id)
                        notify.long_scan(run)
            except Exception:
                log.exception("long-scan alert job failed")
            finally:
                db.session.remove()

    def build(self) -> BlockingScheduler:
        scheduler = BlockingScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        scheduler.add_job(self.scan_tick, "interval", seconds=TICK_SECONDS, id="scan",
                          next_run_time=_now())
        scheduler.add_job(self.verify, "interval", seconds=VERIFY_SECONDS, id="verify",
                          next_run_time=_now())
        scheduler.add_job(self.alert_long_scans, "interval", seconds=ALERT_SECONDS, id="alerts")
        return scheduler


def _now():
    from datetime import datetime

    return datetime.now(UTC)


def run_scanner(app: Flask) -> None:
    """Block until SIGTERM/SIGINT; a running scan stops after its current message."""
    from corpmail.scanner.push import PushService

    service = ScannerService(app)
    scheduler = service.build()
    push = PushService(app, service.stop_event) if app.config["PUSH_ENABLED"] else None

    def shutdown(signum, _frame) -> None:
        log.info("signal %s: stopping the scanner", signum)
        service.stop_event.set()
        # From the signal handler: wake the blocking loop; running jobs finish their message.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("scanner started (tick %ss, push mode %s)", TICK_SECONDS, "on" if push else "off")
    try:
        if push is not None:
            push.start()
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        service.stop_event.set()
    finally:
        if push is not None:
            push.stop()
    log.info("scanner stopped")

"""Push mode: IMAP IDLE on the Received folders of push accounts; a scan runs as mail arrives.

One watcher thread multiplexes every IDLE socket with `selectors`. Everything that blocks
(connecting, DONE + IDLE again, scans, push-state writes) runs in small bounded pools and
reports back to the watcher as an event on a queue, so the watcher's bookkeeping has a
single owner and needs no locks. The periodic scan of the scheduler stays on as the
safety net; push only makes new mail arrive sooner.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.mail.idle import IdleSession
from corpmail.models import ScannerAccount
from corpmail.scanner.retry import backoff_seconds

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.5  # another scan holds the mailbox's lease: ask again this soon
STABLE_SECONDS = 60.0  # a connection that lived this long ends a run of failures
MAX_WAIT_SECONDS = 1.0  # the watcher looks at its deadlines at least this often

# ScannerAccount.push_state; None: not watched (poll mode, inactive, scanner stopped).
IDLING, CONNECTING, RETRYING, POLLING = "idle", "connecting", "retrying", "polling"


@dataclass(frozen=True)
class Target:
    """One IDLE connection's worth: an account's Received folder and the settings it logs
    in with (a change in any of them means a new connection)."""

    account_id: int
    account_name: str
    folder: str
    settings: tuple


class Watch:
    """The state of one target. `busy`: a pool task holds the session right now."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.state = "waiting"  # waiting | connecting | idle | renewing | polling
        self.session: IdleSession | None = None
        self.fd = -1  # the session's socket while registered with the selector
        self.busy = False
        self.dropped = False  # no longer wanted: close it when the pool hands it back
        self.failures = 0
        self.retry_at = 0.0
        self.idle_since = 0.0
        self.connected_at = 0.0
        self.note = ""


@dataclass
class PushSettings:
    workers: int
    reidle_s: float
    refresh_s: float
    backoff_base_s: float
    backoff_max_s: float
    max_failures: int
    fallback_s: float

    @classmethod
    def from_config(cls, config) -> PushSettings:
        return cls(
            workers=max(1, int(config["PUSH_WORKERS"])),
            reidle_s=float(config["PUSH_REIDLE_SECONDS"]),
            refresh_s=float(config["PUSH_REFRESH_SECONDS"]),
            backoff_base_s=float(config["PUSH_BACKOFF_BASE_SECONDS"]),
            backoff_max_s=float(config["PUSH_BACKOFF_MAX_SECONDS"]),
            max_failures=max(1, int(config["PUSH_MAX_FAILURES"])),
            fallback_s=float(config["PUSH_FALLBACK_SECONDS"]),
        )


class PushService:
    """IDLE connections for the scanner process. `start()`, then `stop()` (or set the
    stop event); `idle_connections` counts the connections idling right now."""

    def __init__(self, app: Flask, stop_event: threading.Event | None = None) -> None:
        self.app = app
        self.settings = PushSettings.from_config(app.config)
        self.stop_event = stop_event or threading.Event()
        self.idle_connections = 0
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="corpmail-push")
        # One writer keeps the push-state updates of an account in order.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="corpmail-push-state")
        self._thread = threading.Thread(target=self._run, name="corpmail-push-watcher", daemon=True)
        # Owned by the watcher thread only:
        self._watches: dict[tuple[int, str], Watch] = {}
        self._modes: dict[int, str] = {}
        self._saved: dict[int, tuple[str | None, str]] = {}
        self._scanning: set[int] = set()
        self._dirty: set[int] = set()
        self._scan_retry: dict[int, float] = {}
        self._next_refresh = 0.0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> PushService:
        self._clear_states(None)  # what a previous scanner process left behind
        self._thread.start()
        log.info("push mode started (%s workers, IDLE renewed every %ss)",
                 self.settings.workers, self.settings.reidle_s)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Close the IDLE connections; running scans stop after their current message."""
        self.stop_event.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True, cancel_futures=True)
        while not self._events.empty():  # a connection made while we were stopping
            event = self._events.get_nowait()
            if event[0] == "idling":
                event[2].close()
        self._clear_states([a for a, (state, _note) in self._saved.items() if state])
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("push mode stopped")

    # ------------------------------------------------------------ the watcher
    def _run(self) -> None:
        try:
            with self.app.app_context():  # notes are translated (default locale) like the engine's
                self._loop()
        except Exception:  # noqa: BLE001 - the periodic scan goes on without push
            log.exception("push watcher failed; new mail waits for the periodic scan")
        finally:
            for watch in self._watches.values():
                self._drop(watch)
            self.idle_connections = 0

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now >= self._next_refresh:
                self._refresh()
                self._next_refresh = now + self.settings.refresh_s
            self._run_due(now)
            wait = min(self._next_deadline(), self._next_refresh) - time.monotonic()
            for key, _mask in self._selector.select(max(0.0, min(wait, MAX_WAIT_SECONDS))):
                if key.data is None:
                    self._drain_wake()
                else:
                    self._readable(key.data)
            self._handle_events()
            self._save_states()

    def _refresh(self) -> None:
        """Re-read the accounts: start, stop or reconnect watches to match them."""
        try:
            wanted, self._modes = self._wanted()
        except Exception:  # noqa: BLE001 - e.g. the database is away for a moment
            log.exception("push: reading the accounts failed")
            return
        for key, watch in list(self._watches.items()):
            if wanted.get(key) != watch.target:
                self._drop(watch)
                del self._watches[key]
        for key, target in wanted.items():
            if key not in self._watches:
                self._watches[key] = Watch(target)

    @staticmethod
    def _wanted() -> tuple[dict[tuple[int, str], Target], dict[int, str]]:
        try:
            accounts = db.session.scalars(
                select(ScannerAccount)
                .where(ScannerAccount.status == "Active", ScannerAccount.scan_mode != "poll")
                .options(selectinload(ScannerAccount.folders), selectinload(ScannerAccount.server))
            ).all()
            wanted, modes = {}, {}
            for account in accounts:
                modes[account.id] = account.scan_mode
                server = account.server
                settings = (server.imap_host, server.imap_port, server.imap_security,
                            server.imap_validate_cert, server.auth_method, account.login,
                            account.password_encrypted)
                for folder in account.folders:
                    if folder.role == "Received" and not folder.missing:
                        wanted[(account.id, folder.name)] = Target(
                            account.id, account.name, folder.name, settings)
            return wanted, modes
        finally:
            db.session.remove()

    def _run_due(self, now: float) -> None:
        for watch in self._watches.values():
            if watch.state in ("waiting", "polling") and now >= watch.retry_at:
                watch.state, watch.busy = "connecting", True
                self._pool.submit(self._connect, watch)
            elif watch.state == "idle" and now - watch.idle_since >= self.settings.reidle_s:
                self._unregister(watch)
                watch.state, watch.busy = "renewing", True
                self._pool.submit(self._renew, watch)
        for account_id, at in list(self._scan_retry.items()):
            if now >= at:
                del self._scan_retry[account_id]
                self._request_scan(account_id)

    def _next_deadline(self) -> float:
        times = [w.retry_at for w in self._watches.values() if w.state in ("waiting", "polling")]
        times += [w.idle_since + self.settings.reidle_s
                  for w in self._watches.values() if w.state == "idle"]
        times += self._scan_retry.values()
        return min(times, default=time.monotonic() + MAX_WAIT_SECONDS)

    def _readable(self, watch: Watch) -> None:
        try:
            news = watch.session.read_news()
        except MailError as exc:
            # No scan now: one during an outage would lock the account; the scan after
            # the reconnection finds whatever came meanwhile.
            self._unregister(watch)
            watch.session.close()
            watch.session = None
            self._failed(watch, _("IDLE connection lost: %(error)s", error=exc))
            return
        if news:
            self._request_scan(watch.target.account_id)

    def _drop(self, watch: Watch) -> None:
        """A watch no longer wanted: close its connection now, or when the pool returns it."""
        watch.dropped = True
        if watch.busy or watch.session is None:
            return
        if watch.state == "idle":
            self._unregister(watch)
        watch.session.close()
        watch.session = None

    def _unregister(self, watch: Watch) -> None:
        self._selector.unregister(watch.fd)
        watch.fd = -1

    # ------------------------------------------------------------ events from the pools
    def _post(self, *event) -> None:
        self._events.put(event)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):  # full (a wake-up is pending anyway) or closed
            pass

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _handle_events(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            kind = event[0]
            if kind == "scanned":
                self._scanned(*event[1:])
                continue
            watch: Watch = event[1]
            watch.busy = False
            if kind == "idling":
                session = event[2]
                if watch.dropped:
                    session.close()
                    continue
                now = time.monotonic()
                if watch.state == "connecting":
                    watch.connected_at = now
                    log.info("push: %s %s idling", watch.target.account_name, watch.target.folder)
                else:
                    log.debug("push: %s %s IDLE renewed", watch.target.account_name,
                              watch.target.folder)
                watch.session, watch.state, watch.idle_since, watch.note = session, "idle", now, ""
                watch.fd = session.fileno()
                self._selector.register(watch.fd, selectors.EVENT_READ, watch)
                # Mail that came before IDLE began is not announced: look once now.
                self._request_scan(watch.target.account_id)
            elif kind == "failed" and not watch.dropped:
                self._failed(watch, event[2])
            elif kind == "no-idle" and not watch.dropped:
                self._fall_back(watch, _("The server does not announce IDLE: polling."))

    def _failed(self, watch: Watch, error: str) -> None:
        if watch.connected_at and time.monotonic() - watch.connected_at >= STABLE_SECONDS:
            watch.failures = 0
        watch.connected_at = 0.0
        watch.failures += 1
        if watch.failures >= self.settings.max_failures:
            self._fall_back(watch, _("IDLE failed %(n)s times in a row (%(error)s): polling.",
                                     n=watch.failures, error=error))
            return
        delay = backoff_seconds(watch.failures, self.settings.backoff_base_s,
                                self.settings.backoff_max_s)
        log.info("push: %s %s: %s; again in %.1fs", watch.target.account_name,
                 watch.target.folder, error, delay)
        watch.state, watch.retry_at, watch.note = "waiting", time.monotonic() + delay, error

    def _fall_back(self, watch: Watch, note: str) -> None:
        """Poll this account (the periodic scan) and try IDLE again after a while."""
        insisted = self._modes.get(watch.target.account_id) == "push"
        log.log(logging.WARNING if insisted else logging.INFO, "push: %s %s: %s",
                watch.target.account_name, watch.target.folder, note)
        watch.state, watch.note = "polling", note
        watch.retry_at = time.monotonic() + self.settings.fallback_s

    # ------------------------------------------------------------ scans
    def _request_scan(self, account_id: int) -> None:
        if account_id in self._scanning:
            self._dirty.add(account_id)  # scan again when this one ends
            return
        self._scan_retry.pop(account_id, None)
        self._scanning.add(account_id)
        self._pool.submit(self._scan, account_id)

    def _scanned(self, account_id: int, busy: bool) -> None:
        self._scanning.discard(account_id)
        if busy:  # the periodic scan (or another) holds the mailbox: try again soon
            self._dirty.discard(account_id)
            self._scan_retry[account_id] = time.monotonic() + BUSY_RETRY_SECONDS
        elif account_id in self._dirty:
            self._dirty.discard(account_id)
            self._request_scan(account_id)

    # ------------------------------------------------------------ pool tasks
    def _connect(self, watch: Watch) -> None:
        target, session = watch.target, None
        try:
            with self.app.app_context():
                try:
                    account = db.session.get(ScannerAccount, target.account_id)
                    if account is None:
                        self._post("failed", watch, _("The account is gone."))
                        return
                    session = IdleSession.for_account(account)
                finally:
                    db.session.remove()
                if not session.can_idle:
                    session.close()
                    self._post("no-idle", watch)
                    return
                session.select(target.folder, readonly=True)
                session.start_idle()
        except Exception as exc:  # noqa: BLE001 - MailError, or a bug: either way, retry
            if session is not None:
                session.close()
            if not isinstance(exc, MailError):
                log.exception("push: connecting %s failed", target.account_name)
            self._post("failed", watch, str(exc))
            return
        self._post("idling", watch, session)

    def _renew(self, watch: Watch) -> None:
        """DONE, then IDLE again: servers end an IDLE after 30 minutes (RFC 2177)."""
        session = watch.session
        try:
            session.stop_idle()
            session.start_idle()
        except Exception as exc:  # noqa: BLE001
            session.close()
            if not isinstance(exc, MailError):
                log.exception("push: renewing IDLE of %s failed", watch.target.account_name)
            self._post("failed", watch, str(exc))
            return
        self._post("idling", watch, session)

    def _scan(self, account_id: int) -> None:
        from corpmail.scanner.engine import scan_account

        busy = False
        try:
            with self.app.app_context():
                try:
                    result = scan_account(account_id, trigger="push", stop_event=self.stop_event)
                    busy = result.busy
                    if result.fetched or (result.error and not busy):
                        log.info("push scan of %s: stored %s of %s%s", result.account,
                                 result.stored, result.fetched,
                                 f" ({result.error})" if result.error else "")
                finally:
                    db.session.remove()
        except Exception:  # noqa: BLE001 - the account may be gone; the watcher goes on
            log.exception("push scan of account %s failed", account_id)
        self._post("scanned", account_id, busy)

    # ------------------------------------------------------------ push state on the account
    @staticmethod
    def _account_state(watches: list[Watch]) -> tuple[str | None, str]:
        """One account's push state from its folders' watches (the worst one wins)."""
        if not watches:
            return None, ""
        for watch in watches:
            if watch.state == "polling":
                return POLLING, watch.note
        for watch in watches:
            if watch.state == "waiting" and watch.failures:
                return RETRYING, watch.note
        if all(w.state in ("idle", "renewing") for w in watches):
            return IDLING, ""
        return CONNECTING, ""

    def _save_states(self) -> None:
        by_account: dict[int, list[Watch]] = {account_id: [] for account_id in self._saved}
        idle = 0
        for watch in self._watches.values():
            by_account.setdefault(watch.target.account_id, []).append(watch)
            idle += watch.state in ("idle", "renewing")
        self.idle_connections = idle
        for account_id, watches in by_account.items():
            state = self._account_state(watches)
            if self._saved.get(account_id, (None, "")) != state:
                self._saved[account_id] = state
                self._writer.submit(self._write_state, account_id, *state)

    def _write_state(self, account_id: int, state: str | None, note: str) -> None:
        try:
            with self.app.app_context():
                try:
                    db.session.execute(
                        update(ScannerAccount).where(ScannerAccount.id == account_id)
                        .values(push_state=state, push_note=note[:500] or None)
                        .execution_options(synchronize_session=False))
                    db.session.commit()
                finally:
                    db.session.remove()
        except Exception:  # noqa: BLE001 - only the display suffers
            log.exception("push: saving the push state of account %s failed", account_id)

    def _clear_states(self, account_ids: list[int] | None) -> None:
        """No scanner watches these accounts (None: any) any more."""
        if account_ids == []:
            return
        stmt = update(ScannerAccount).where(ScannerAccount.push_state.is_not(None))
        if account_ids is not None:
            stmt = stmt.where(ScannerAccount.id.in_(account_ids))
        try:
            with self.app.app_context():
                try:
                    db.session.execute(stmt.values(push_state=None, push_note=None)
                                       .execution_options(synchronize_session=False))
                    db.session.commit()
                finally:
                    db.session.remove()
        except Exception:  # noqa: BLE001
            log.exception("push: clearing push states failed")

"""Riding out faults during a scan: a broken, stalled or refused IMAP connection and a database
fault are retried with backoff (SCAN_RETRIES, SCAN_BACKOFF, SCAN_BACKOFF_MAX in config.py)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy.exc import OperationalError

from corpmail.extensions import db
from corpmail.mail.errors import MailConnectionError
from corpmail.models.base import utcnow

if TYPE_CHECKING:
    from concurrent.futures import Future

    from corpmail.mail.imap import ImapSession
    from corpmail.scanner.engine import AccountScan

log = logging.getLogger(__name__)

# Faults of the path, not of a message: no message is blamed, the scan resumes from the
# watermarks committed with each message. (SQLite busy past its timeout and a PostgreSQL
# connection the server dropped both surface as OperationalError.)
TRANSIENT = (MailConnectionError, OperationalError)


def backoff_seconds(failures: int, base: float, cap: float, rnd=random.random) -> float:
    """Exponential backoff with "equal jitter": half of base * 2^(failures-1) (capped) is
    fixed, the other half random, so mailboxes cut off together do not return together."""
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay / 2 + rnd() * delay / 2


@dataclass(frozen=True)
class Backoff:
    retries: int  # tries in a row after a fault; the count restarts once messages move again
    first: float  # seconds before the first one (jitter: half of it to all of it)
    most: float  # the doubling stops here

    @classmethod
    def from_config(cls) -> Backoff:
        cfg = current_app.config
        return cls(int(cfg["SCAN_RETRIES"]), float(cfg["SCAN_BACKOFF"]),
                   float(cfg["SCAN_BACKOFF_MAX"]))

    def delays(self) -> Iterator[float]:
        """The waits before each try: doubling, capped, jittered."""
        for failures in range(1, self.retries + 1):
            yield backoff_seconds(failures, self.first, self.most)


def connect(account, backoff: Backoff, stop_event: threading.Event | None = None,
            opening: Future | None = None) -> ImapSession:
    """Log in; a refused, broken or silent connection is tried again with backoff, a refused
    login never (it would only fail again). ``opening``: a login already started for the
    account (scanner/connect_ahead.py), the first try."""
    from corpmail.mail.imap import ImapSession

    delays = backoff.delays()
    while True:
        try:
            if opening is not None:
                first, opening = opening, None
                return first.result()
            return ImapSession.for_account(account)
        except MailConnectionError as exc:
            delay = next(delays, None)
            if delay is None:
                raise
            log.warning("account %s: %s Connecting again in %.1f s.", account.name, exc, delay)
            _sleep(delay, stop_event)
            if stop_event is not None and stop_event.is_set():
                raise


def scan_with_retries(scan: AccountScan, imap: ImapSession, backoff: Backoff) -> None:
    """Run `scan.scan_folders` over `imap` (closed at the end). On a transient fault: roll
    back the message in hand, wait, log in again if the connection is gone, and go on
    from the committed watermarks.

    Raises the fault when `backoff.retries` tries in a row handled no message, or when
    logging in again failed through its own retries (the caller locks the account)."""
    delays, handled = backoff.delays(), scan.result.fetched
    try:
        while True:
            try:
                # Committed with the first folder's state (or the run's end): an idle
                # mailbox costs no commit of its own for it.
                scan.account.last_login = utcnow()
                scan.scan_folders(imap)
                return
            except TRANSIENT as exc:
                db.session.rollback()
                if scan.result.fetched > handled:  # messages moved since the last fault
                    delays, handled = backoff.delays(), scan.result.fetched
                delay = next(delays, None)
                if delay is None:
                    raise
                log.warning("account %s: %s Going on in %.1f s.",
                            scan.account.name, _describe(exc), delay)
                _sleep(delay, scan.stop_event)
                if scan.stop_event is not None and scan.stop_event.is_set():
                    scan.stopped = True
                    return
                if isinstance(exc, MailConnectionError):
                    imap.close()
                    imap = connect(scan.account, backoff, scan.stop_event)
    finally:
        imap.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OperationalError):
        first_line = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        return f"The database is unavailable: {first_line}."
    return str(exc)


def _sleep(seconds: float, stop_event: threading.Event | None) -> None:
    if stop_event is not None:
        stop_event.wait(seconds)  # a shutdown does not wait for the backoff
    else:
        time.sleep(seconds)

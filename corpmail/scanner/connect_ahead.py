"""Log in to the next mailbox of a pass while the current one is scanned.

A pass over mailboxes with nothing new spends about half of its time waiting for the IMAP
server to connect and log in (~10-20 ms a mailbox with Dovecot, whose login process does
the work), the other half in corpmail's own work (lease, run row, STATUS, two commits;
bench/run, idle_ms_per_mailbox, issue 4). A thread that opens the next mailbox's connection
meanwhile overlaps the two. It only connects and logs in, with settings read beforehand
in the scan's thread: it touches neither the database nor ORM objects. OAuth accounts are
not opened ahead: getting their token may renew and save it, a database write.

A connection opened ahead is the scan's first attempt to connect (retry.connect): a
refused login fails the scan as its own would. One left unused (the mailbox was busy, the
pass stopped) or too old to trust is closed.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

from flask import Flask, current_app

from corpmail.mail.imap import ImapSession

log = logging.getLogger(__name__)

MAX_AGE = 60.0  # seconds: a connection opened longer ago is closed, a new one is made


class ConnectAhead:
    """At most one connection being opened ahead, for one account."""

    def __init__(self) -> None:
        self._threads: ThreadPoolExecutor | None = None
        self._pending: tuple[int, float, Future] | None = None

    def open(self, account) -> None:
        """Start logging in to ``account`` (a ScannerAccount, read here, in the caller's
        thread); a connection still opened ahead for another account is closed."""
        self.discard()
        try:
            if account.uses_oauth or account.server is None:
                return
            server = account.server
            target = SimpleNamespace(
                login=account.login, password=account.password,
                server=SimpleNamespace(imap_host=server.imap_host, imap_port=server.imap_port,
                                       imap_security=server.imap_security,
                                       imap_validate_cert=server.imap_validate_cert,
                                       auth_method=server.auth_method))
        except Exception:  # e.g. a password that cannot be decrypted: its scan reports it
            log.debug("account %s: not opened ahead", account.id, exc_info=True)
            return
        if self._threads is None:
            self._threads = ThreadPoolExecutor(1, thread_name_prefix="imap-ahead")
        opening = self._threads.submit(_log_in, current_app._get_current_object(), target)
        self._pending = (account.id, time.monotonic(), opening)

    def take(self, account_id: int) -> Future | None:
        """The login started for ``account_id``, if one was and is recent: the caller owns
        its session (and passes it on to retry.connect); else None."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        wanted, started, opening = pending
        if wanted != account_id or time.monotonic() - started > MAX_AGE:
            close_when_done(opening)
            return None
        return opening

    def discard(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            close_when_done(pending[2])

    def close(self) -> None:
        self.discard()
        if self._threads is not None:
            self._threads.shutdown(wait=False)


def _log_in(app: Flask, target: SimpleNamespace) -> ImapSession:
    """In the thread: the app's context, for its timeouts and so that a refusal's text is
    in the scan's language."""
    with app.app_context():
        return ImapSession.for_account(target)


def close_when_done(opening: Future) -> None:
    """Close the session of a login ahead, whenever it is made (now, if it already is); a
    session the scan used is closed already, and closing it again does nothing."""

    def close(done: Future) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().close()

    opening.add_done_callback(close)

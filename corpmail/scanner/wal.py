"""SQLite: WAL checkpoints in a background thread while a long scan writes.

In WAL mode the commit that takes the log past ``wal_autocheckpoint`` pages copies the log
back into the database file, with its fsyncs, before it returns. A long scan commits ~10
pages per message, so every few hundred messages one message paid for that: ~100-150 µs
per message on average on these machines (bench/run, issue 4). While a long run writes,
a thread of the scanner runs a PASSIVE checkpoint every half second instead: it copies
what no reader still needs, never waits for or blocks the writer, and SQLite does the
work with the GIL released. The log then stays below the threshold, so the scan's own
commits only append to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between checkpoints


@contextmanager
def background_checkpoints(engine: Engine, wanted: bool = True) -> Iterator[None]:
    """Checkpoint ``engine``'s SQLite database from a thread for the block's duration
    (a no-op for other databases, or when not ``wanted``)."""
    if not wanted or engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_checkpoints, args=(engine, stop),
                              name="sqlite-checkpoints", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _checkpoints(engine: Engine, stop: threading.Event) -> None:
    try:
        connection = engine.raw_connection()
    except Exception as exc:  # noqa: BLE001 - the commits checkpoint as before
        log.warning("no background checkpoints: %s", exc)
        return
    try:
        while not stop.wait(INTERVAL):
            cursor = connection.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
            finally:
                cursor.close()
    except Exception as exc:  # noqa: BLE001 - e.g. the database went away: the scan says so
        log.warning("background checkpoints stopped: %s", exc)
    finally:
        connection.close()

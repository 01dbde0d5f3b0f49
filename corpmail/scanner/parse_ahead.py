"""Parse fetched messages in a helper process while the scan writes the ones before them.

MIME parsing is about a quarter of a scan's time and the database work most of the rest;
in one process they queue behind each other on one core (threads do not help: the parser
is pure Python, bench notes in issue 4). With ``PARSE_WORKERS`` > 0 a long run sends chunks
of raw messages to a process pool and gets ``ParsedMessage`` objects back, in UID order,
a few chunks ahead of the message being written. Nothing about a message's transaction
changes: the scan still commits each message on its own.

When the scan stores mail, the helper also makes each message's E-mail columns
(scanner/email_row.py: text cleaned, HTML sanitised, ~0.3 ms for a 2.5 KB body, JSON
serialised) and writes the attachments of the messages it parsed to the attachment store
(content-addressed, so a file is the same whoever writes it): creating a file costs
0.05-1.5 ms of CPU on these machines' disks, a large part of a scan. Messages that are
auto-generated, and so likely skipped, are left to the scanner, which writes their
attachments only if it stores them; other skipped messages may leave an unreferenced
file, as a rolled-back message already could.

The pool's process comes from a fork server, not from a fork of the scanner: it shares
none of the scanner's database connections, sockets or threads. It starts once per
scanner process, at its first long run, and exits with the scanner, even a killed one
(_exit_with_scanner). Short runs parse in-line (a pool costs more than
it saves on a few messages), and so does any chunk sent while the pool is still starting
or after it broke.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from corpmail.mail.autogen import auto_generated_reason
from corpmail.mail.message import ParsedMessage, parse_message
from corpmail.scanner.email_row import email_columns
from corpmail.storage import store_attachment

log = logging.getLogger(__name__)

MIN_MESSAGES = 200  # a run with fewer new messages parses in-line
CHUNK = 16  # messages per task: one round trip to the pool carries many
AHEAD = 4  # chunks in flight: enough to hide a chunk's parse time, bounded memory

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_ready: Future | None = None  # the pool's first task: done when a worker is up


def parse_chunk(raws: list[bytes], max_size: int | None,
                attachments_to: str | None = None) -> list[ParsedMessage]:
    """Runs in the helper process: parses and, when the scan stores mail (``attachments_to``,
    the attachment store), makes each message's E-mail columns (HTML sanitised) and writes
    the attachments of the messages not auto-generated."""
    messages = [parse_message(raw, max_size=max_size) for raw in raws]
    if attachments_to:
        root = Path(attachments_to)
        for message in messages:
            message.columns = email_columns(message)
            if message.attachments and auto_generated_reason(message) is None:
                for attachment in message.attachments:
                    attachment.sha256 = store_attachment(attachment.data, root)
    return messages


def _parse_here(chunk: list[tuple[int, bytes]], max_size: int | None) -> list[ParsedMessage]:
    """The parsing in the scanner process, when the helper cannot do it (Create e-mail
    then makes the columns and writes attachments itself)."""
    return [parse_message(raw, max_size=max_size) for _uid, raw in chunk]


def parsed(stream: Iterator[tuple[int, bytes]], max_size: int | None, expected: int,
           workers: int, on_chunk: Callable[[list[ParsedMessage]], None] | None = None,
           attachments_to: str | None = None) -> Iterator[tuple[int, bytes, ParsedMessage]]:
    """(uid, raw, parsed) for each (uid, raw) of ``stream``, in the same order.

    ``expected`` is how many messages the stream holds: below MIN_MESSAGES, or with no
    ``workers``, every message is parsed here, as it comes. Otherwise ``on_chunk`` sees
    each chunk's messages before the first of them is yielded (the scan looks their
    addresses up in one query). ``attachments_to``: see parse_chunk."""
    pool = _get_pool(workers) if workers > 0 and expected >= MIN_MESSAGES else None
    if pool is None:
        for uid, raw in stream:
            yield uid, raw, parse_message(raw, max_size=max_size)
        return
    pending: deque[tuple[list[tuple[int, bytes]], Future | list[ParsedMessage]]] = deque()
    chunk: list[tuple[int, bytes]] = []
    try:
        for item in stream:
            chunk.append(item)
            if len(chunk) == CHUNK:
                pending.append((chunk, _submit(pool, chunk, max_size, attachments_to)))
                chunk = []
            while len(pending) > AHEAD:
                yield from _results(*pending.popleft(), max_size, on_chunk)
        if chunk:
            pending.append((chunk, _submit(pool, chunk, max_size, attachments_to)))
        while pending:
            yield from _results(*pending.popleft(), max_size, on_chunk)
    finally:
        for _chunk, work in pending:  # the scan stopped early: drop the work ahead
            if isinstance(work, Future):
                work.cancel()


def _submit(pool: ProcessPoolExecutor, chunk: list[tuple[int, bytes]],
            max_size: int | None, attachments_to: str | None) -> Future | list[ParsedMessage]:
    if _ready is None or not _ready.done():  # still starting: do not wait for it
        return _parse_here(chunk, max_size)
    try:
        return pool.submit(parse_chunk, [raw for _uid, raw in chunk], max_size, attachments_to)
    except (BrokenProcessPool, RuntimeError):  # broken, or shut down at exit
        _discard(pool)
        return _parse_here(chunk, max_size)


def _results(chunk: list[tuple[int, bytes]], work: Future | list[ParsedMessage],
             max_size: int | None, on_chunk) -> Iterator[tuple[int, bytes, ParsedMessage]]:
    if isinstance(work, Future):
        try:
            work = work.result()
        except Exception as exc:  # noqa: BLE001 - the helper died (OOM killer...) or a
            # result could not travel back: parse here, where a message never fails to parse
            log.warning("parser process failed (%s); parsing in the scanner process", exc)
            if isinstance(exc, BrokenProcessPool):
                _discard(None)
            work = _parse_here(chunk, max_size)
    if on_chunk is not None:
        on_chunk(work)
    for (uid, raw), message in zip(chunk, work, strict=True):
        yield uid, raw, message


def _get_pool(workers: int) -> ProcessPoolExecutor | None:
    global _pool, _ready
    with _lock:
        if _pool is None:
            try:
                context = multiprocessing.get_context("forkserver")
                _pool = ProcessPoolExecutor(workers, mp_context=context,
                                            initializer=_exit_with_scanner)
                _ready = _pool.submit(parse_chunk, [], None)  # starts the workers
            except (OSError, ValueError) as exc:
                log.warning("no parser process (%s); parsing in the scanner process", exc)
                return None
        return _pool


def _exit_with_scanner() -> None:
    """Pool initializer, in the parser process: exit as soon as the scanner process is gone.
    A scanner killed with SIGKILL never shuts its pool down, and the parser process would
    live on, waiting for work, and keep the fork server alive with it (each child holds
    the fork server's "alive" pipe): ~37 MB each, for good. The parent's sentinel becomes
    readable when the scanner process ends, however it ends."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-scanner", daemon=True).start()


def _discard(pool: ProcessPoolExecutor | None) -> None:
    """Forget a broken pool; the next long run starts a new one."""
    global _pool, _ready
    with _lock:
        if pool is not None and pool is not _pool:
            return
        broken, _pool, _ready = _pool, None, None
    if broken is not None:
        broken.shutdown(wait=False, cancel_futures=True)


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM on Linux, else ru_maxrss (bench/run reports it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_rss_mb() -> float | None:
    """The helper process's peak RSS (bench/run reports it with the scanner's), or None
    when no helper runs."""
    return _in_worker(peak_rss_mb)


def worker_cpu_s() -> float | None:
    """The helper process's CPU time so far (bench/run), or None when no helper runs."""
    return _in_worker(time.process_time)


def _in_worker(fn: Callable[[], float]) -> float | None:
    with _lock:
        pool = _pool
    return None if pool is None else pool.submit(fn).result(timeout=30)

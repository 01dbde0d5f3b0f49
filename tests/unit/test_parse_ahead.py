"""scanner/parse_ahead.py: messages parsed in a helper process come back in order and equal
to what the scanner process would parse; short runs and a dead helper parse in-line."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from corpmail.mail.message import parse_message
from corpmail.scanner import parse_ahead
from tests.support.mail_strategies import CORPUS_FILES

MAX_SIZE = 10 * 1024 * 1024


@pytest.fixture
def raws() -> list[bytes]:
    corpus = [p.read_bytes() for p in CORPUS_FILES]
    return (corpus * 3)[: parse_ahead.MIN_MESSAGES + 37]  # not a whole number of chunks


@pytest.fixture
def inline_chunks(monkeypatch) -> list[int]:
    """The chunks the scanner process parsed itself."""
    calls: list[int] = []
    real = parse_ahead._parse_here
    monkeypatch.setattr(parse_ahead, "_parse_here",
                        lambda chunk, max_size: calls.append(len(chunk)) or real(chunk, max_size))
    return calls


@pytest.fixture
def warm_pool():
    """A started helper, as a scanner process has after its first long run."""
    parse_ahead._get_pool(1)
    parse_ahead._ready.result(timeout=60)
    yield
    parse_ahead._discard(None)


def run(raws, workers=1, expected=None, attachments_to=None):
    stream = ((uid, raw) for uid, raw in enumerate(raws, start=1))
    return list(parse_ahead.parsed(stream, MAX_SIZE, len(raws) if expected is None else expected,
                                   workers, attachments_to=attachments_to))


def test_the_helper_parses_in_order_what_the_scanner_would(raws, warm_pool, inline_chunks):
    got = run(raws)
    assert inline_chunks == []  # every chunk went to the helper
    assert [uid for uid, _, _ in got] == list(range(1, len(raws) + 1))
    assert [raw for _, raw, _ in got] == raws
    assert [p for _, _, p in got] == [parse_message(r, max_size=MAX_SIZE) for r in raws]
    assert parse_ahead.worker_peak_rss_mb() > 10


def test_short_runs_and_no_workers_parse_inline_without_a_pool(raws):
    parse_ahead._discard(None)
    few = raws[: parse_ahead.MIN_MESSAGES - 1]
    assert [p for _, _, p in run(few)] == [parse_message(r, max_size=MAX_SIZE) for r in few]
    assert [p for _, _, p in run(raws, workers=0)] == [parse_message(r, max_size=MAX_SIZE)
                                                      for r in raws]
    assert parse_ahead._pool is None and parse_ahead.worker_peak_rss_mb() is None


def test_a_killed_helper_costs_nothing_but_time(raws, warm_pool, caplog):
    stream = parse_ahead.parsed(((u, r) for u, r in enumerate(raws, start=1)), MAX_SIZE,
                                len(raws), 1)
    got = [next(stream)]
    for pid in list(parse_ahead._pool._processes):
        os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="corpmail.scanner.parse_ahead"):
        got += list(stream)
    assert [p for _, _, p in got] == [parse_message(r, max_size=MAX_SIZE) for r in raws]
    assert "parser process failed" in caplog.text
    assert parse_ahead._pool is None  # forgotten: the next long run starts a new one
    parse_ahead._get_pool(1)
    parse_ahead._ready.result(timeout=60)
    assert len(run(raws)) == len(raws)


def test_a_scan_that_stops_early_drops_the_work_ahead(raws, warm_pool):
    stream = parse_ahead.parsed(((u, r) for u, r in enumerate(raws, start=1)), MAX_SIZE,
                                len(raws), 1)
    assert [next(stream)[0] for _ in range(3)] == [1, 2, 3]
    stream.close()  # what a `break` in the scan loop does
    assert len(run(raws)) == len(raws)  # the pool is still fine


def test_a_result_that_cannot_come_back_is_parsed_here(raws, warm_pool, monkeypatch, caplog):
    """Whatever goes wrong with a chunk in the helper, its messages are parsed in the
    scanner: one odd message never fails a scan."""
    monkeypatch.setattr(parse_ahead, "parse_chunk", _unpicklable_result)
    with caplog.at_level(logging.WARNING, logger="corpmail.scanner.parse_ahead"):
        got = run(raws)
    assert [p for _, _, p in got] == [parse_message(r, max_size=MAX_SIZE) for r in raws]
    assert "parser process failed" in caplog.text
    assert parse_ahead._pool is not None  # the helper itself is fine: kept


def _unpicklable_result(raws, max_size, attachments_to=None):
    return [lambda: None for _ in raws]


def test_the_helper_writes_attachments_of_mail_that_is_not_auto_generated(raws, warm_pool,
                                                                          inline_chunks, tmp_path):
    """The helper stores attachments ahead (sha256 set, file in the store); an
    auto-generated message (a bounce, likely skipped) is left to the scanner."""
    from corpmail.mail.autogen import auto_generated_reason
    from corpmail.storage import read_attachment

    got = [p for _, _, p in run(raws, attachments_to=str(tmp_path))]
    assert inline_chunks == []
    written = skipped = 0
    for message in got:
        for att in message.attachments:
            if auto_generated_reason(message) is None:
                assert read_attachment(att.sha256, tmp_path) == att.data
                written += 1
            else:
                assert att.sha256 is None
                skipped += 1
    assert written > 10 and skipped > 0  # the corpus has both kinds
    # the same messages the scanner would parse itself (digests are not compared)
    assert got == [parse_message(r, max_size=MAX_SIZE) for r in raws]


def test_the_helper_makes_the_email_columns_of_stored_mail_ahead(raws, warm_pool, inline_chunks,
                                                                 tmp_path):
    """A scan that stores mail gets each message's E-mail columns from the helper (HTML
    sanitised, JSON serialised), the same Create e-mail would make; one that does not, none."""
    from corpmail.scanner.email_row import email_columns

    got = [p for _, _, p in run(raws, attachments_to=str(tmp_path))]
    assert inline_chunks == []
    assert all(p.columns == email_columns(parse_message(r, max_size=MAX_SIZE))
               for p, r in zip(got, raws, strict=True))
    with_html = [p for p in got if p.html]
    assert len(with_html) > 10
    assert all(p.columns["html_body"] and "<script" not in p.columns["html_body"].lower()
               for p in with_html)
    assert all(p.columns is None for _, _, p in run(raws))  # no attachment store: nothing stored

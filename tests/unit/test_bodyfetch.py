"""The BODY.PEEK[] reader's grammar on replies Dovecot does not give but other servers may:
UID after the literal, a quoted or NIL body, a second literal, BYE, a cut connection.
(Real-server behaviour is in tests/integration/test_imap_session.py.)"""

from __future__ import annotations

import io
import itertools

import pytest
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from corpmail.mail import bodyfetch


class ScriptedImap:
    """The three imaplib.IMAP4 calls the reader makes, over a canned reply."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.file = None
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent += data
        assert data.startswith(b"CMF7 ")
        self.file = io.BytesIO(self.reply)

    def readline(self) -> bytes:
        return self.file.readline()

    def read(self, size: int) -> bytes:
        return self.file.read(size)


@pytest.fixture(autouse=True)
def fixed_tag(monkeypatch):
    monkeypatch.setattr(bodyfetch, "_tags", itertools.repeat(7))


def fetch(reply: bytes, uids=(1, 2)):
    imap = ScriptedImap(reply)
    bodies = bodyfetch.fetch_bodies(imap, list(uids))
    assert imap.sent.endswith(b" UID FETCH " + b",".join(b"%d" % u for u in uids)
                              + b" (UID BODY.PEEK[])\r\n")
    return bodies


def test_uid_before_or_after_the_literal():
    reply = (b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n"
             b"* 2 FETCH (BODY[] {6}\r\nworld! UID 2)\r\n"
             b"CMF7 OK Fetch completed.\r\n")
    assert fetch(reply) == {1: b"hello", 2: b"world!"}


def test_literal_bytes_that_look_like_protocol_are_body():
    body = b"* 9 FETCH (UID 9 BODY[] {3}\r\nCMF7 OK\r\n"
    reply = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\nCMF7 OK done\r\n" % (len(body), body)
    assert fetch(reply, [1]) == {1: body}


def test_quoted_nil_and_unsolicited_replies():
    reply = (b"* 3 EXISTS\r\n"
             b"* 1 FETCH (FLAGS (\\Seen))\r\n"
             b'* 1 FETCH (UID 1 BODY[] "a \\"tiny\\" one")\r\n'
             b"* 2 FETCH (UID 2 BODY[] NIL)\r\n"
             b"* 1 EXPUNGE\r\n"
             b"CMF7 OK done\r\n")
    assert fetch(reply) == {1: b'a "tiny" one', 2: None}


def test_a_refused_fetch_raises_with_the_servers_words():
    with pytest.raises(IMAPClientError, match="Invalid uidset"):
        fetch(b"CMF7 BAD Error in IMAP command UID FETCH: Invalid uidset\r\n")


def test_bye_and_cut_connections_abort():
    with pytest.raises(IMAPClientAbortError, match="shutting down"):
        fetch(b"* BYE Server shutting down.\r\n")
    with pytest.raises(IMAPClientAbortError, match="3 of 10 bytes"):
        fetch(b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc")
    with pytest.raises(IMAPClientAbortError, match="closed in the middle"):
        fetch(b"* 1 FETCH (UID 1 BODY[] {3}\r\nabc)\r\n")


def test_sizes_in_either_order_and_unsolicited_lines_skipped():
    imap = ScriptedImap(b"* 1 FETCH (UID 10 RFC822.SIZE 1234)\r\n"
                        b"* 2 FETCH (RFC822.SIZE 99 UID 11)\r\n"
                        b"* 2 FETCH (FLAGS (\\Deleted))\r\n"
                        b"* 1 EXPUNGE\r\n"
                        b"CMF7 OK done\r\n")
    assert bodyfetch.fetch_sizes(imap, [10, 11, 12]) == {10: 1234, 11: 99}
    assert imap.sent == b"CMF7 UID FETCH 10,11,12 (UID RFC822.SIZE)\r\n"

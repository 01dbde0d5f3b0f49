"""A fast MIME splitter for well-formed messages, building the same compat32 Message tree.

The stdlib feedparser walks every body line through Python code (and compiles a regex per
multipart boundary), which makes it the bottleneck of a scan: a 60 KB base64 attachment is
~1,000 lines. Here part boundaries are found with bytes.find, and header blocks are split
into fields with one regex (the stdlib parser only for unusual ones). Anything unusual
(header defects, missing boundaries, a missing close delimiter, deep nesting) returns None, and the caller falls back to the stdlib parser,
which knows how to recover from broken MIME.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

_HEADERS = BytesParser(policy=compat32)
# One header field: a name of printable ASCII but ":" (the feedparser's headerRE), its first
# line, and any continuation lines (starting with a space or tab), each ending in "\n".
_FIELD_RE = re.compile(r"([!-9;-~]+):[^\n]*\n(?:[ \t][^\n]*\n)*")
_MAX_DEPTH = 20


class SplitMessage(Message):
    """A compat32 Message whose leaf body is kept as the original bytes (`raw_body`): the
    surrogate-escaped str the stdlib parser stores in _payload is made only if _payload is
    read. Most callers want the bytes, and the str round trip cost as much as the parse."""

    raw_body: bytes | None = None
    _text: str | list[Message] | None = None

    @property  # type: ignore[override]
    def _payload(self):  # type: ignore[no-untyped-def]
        if self._text is None and self.raw_body is not None:
            self._text = self.raw_body.decode("ascii", "surrogateescape")
        return self._text

    @_payload.setter
    def _payload(self, value):  # type: ignore[no-untyped-def]
        self._text = value
        self.raw_body = None

    def keep_body(self, body: bytes) -> None:
        """Make `body` the payload (what _payload gives, decoded when first read)."""
        self._text, self.raw_body = None, body


class _Unusual(Exception):
    """The message needs the stdlib parser."""


def split_message(raw: bytes) -> Message | None:
    """The compat32 Message tree of `raw`, or None when the stdlib parser should do it."""
    try:
        return _message(raw, 0, "text/plain")
    except _Unusual:
        return None


def _message(data: bytes, depth: int, default_type: str) -> Message:
    head_end, body_start = _header_end(data)
    msg = parse_headers(data[:head_end], SplitMessage)
    if msg.defects:
        raise _Unusual
    if default_type != "text/plain":
        msg.set_default_type(default_type)
    body = data[body_start:]
    if msg.get_content_maintype() == "multipart":
        if depth >= _MAX_DEPTH:
            raise _Unusual
        boundary = msg.get_boundary()
        if not boundary:
            raise _Unusual
        sub_default = "message/rfc822" if msg.get_content_subtype() == "digest" else "text/plain"
        msg._payload = [  # type: ignore[attr-defined]
            _message(part, depth + 1, sub_default) for part in _parts(body, boundary)
        ]
    elif isinstance(msg, SplitMessage):
        # message/* bodies stay text: the caller keeps them whole (forwarded .eml, DSN text).
        msg.keep_body(body)
    else:
        msg._payload = body.decode("ascii", "surrogateescape")  # type: ignore[attr-defined]
    return msg


def parse_headers(head: bytes, factory: type[Message] = Message) -> Message:
    """The compat32 Message of a header block (its lines, without the blank line after it), as
    BytesParser(policy=compat32).parsebytes(head + b"\\n", headersonly=True) gives it."""
    msg = _header_block(head, factory)
    return msg if msg is not None else _HEADERS.parsebytes(head + b"\n", headersonly=True)


def _header_block(head: bytes, factory: type[Message]) -> Message | None:
    """Fast path of parse_headers for the usual block; None for anything the feedparser would
    treat specially (a bare CR line break, a line that is not a header or a continuation, a
    "From " envelope line, a first line that is a continuation, a line without an end)."""
    text = head.decode("ascii", "surrogateescape")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # the feedparser breaks lines at a bare CR too
    msg = factory(policy=compat32)
    pos, size = 0, len(text)
    while pos < size:
        m = _FIELD_RE.match(text, pos)
        if m is None:
            break
        # The whole field as one "line": the stdlib joins continuation lines the same way.
        msg.set_raw(*compat32.header_source_parse([m.group()]))
        pos = m.end()
    if pos == size:
        msg.set_payload("")  # the blank line parsebytes is given is not payload
    elif text.startswith(("\n", "\r\n"), pos):  # an earlier blank line: the rest is payload
        msg.set_payload(text[pos + (1 if text[pos] == "\n" else 2):] + "\n")
    else:
        return None
    return msg


def _header_end(data: bytes) -> tuple[int, int]:
    """(end of the header block, start of the body); a part may start with its blank line."""
    if data.startswith(b"\r\n"):
        return 0, 2
    if data.startswith(b"\n"):
        return 0, 1
    # The first of CRLF CRLF and LF LF; once one is found, the other is only looked for before
    # it (a search that finds nothing would read the whole body).
    end = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n", 0, len(data) if end < 0 else end + 1)
    if lf >= 0:
        end, start = lf, lf + 2
    elif end >= 0:
        start = end + 4
    else:
        if not data.strip():
            return 0, len(data)
        raise _Unusual  # headers run to the end, or no blank line: let the stdlib decide
    return end + (2 if data[end:end + 2] == b"\r\n" else 1), start


def _parts(body: bytes, boundary: str) -> list[bytes]:
    """Bodies between `--boundary` delimiter lines (RFC 2046 §5.1.1); close delimiter required."""
    try:
        delimiter = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        raise _Unusual from None
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    size = len(body)
    while True:
        i = body.find(delimiter, pos)
        if i < 0:
            raise _Unusual  # no close delimiter: truncated or broken, stdlib recovers better
        pos = i + len(delimiter)
        if i > 0 and body[i - 1] != 0x0A:  # not at the start of a line
            continue
        j = pos
        closing = body.startswith(b"--", j)
        if closing:
            j += 2
        while j < size and body[j] in (0x20, 0x09):  # transport padding
            j += 1
        if j < size and body[j] not in (0x0D, 0x0A):
            continue  # a longer boundary that merely starts with ours
        if start is not None:
            end = i
            if end > start and body[end - 1] == 0x0A:  # the line break belongs to the delimiter
                end -= 2 if end - 1 > start and body[end - 2] == 0x0D else 1
            parts.append(body[start:end])
        elif closing:
            raise _Unusual
        if closing:
            return parts
        if body.startswith(b"\r\n", j):
            j += 2
        elif j < size:
            j += 1
        start = j

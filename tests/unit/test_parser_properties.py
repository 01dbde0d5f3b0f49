"""Property-based tests of parse_message (hypothesis): random MIME trees, random header bytes,
mutated and truncated corpus messages. The parser never falls back to "kept as text", never
returns text a database refuses, and keeps whatever a mail client would show."""

from __future__ import annotations

import os
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpmail.mail.message import ParsedMessage, message_key, parse_message
from tests.support.mail_strategies import (
    assert_shown,
    corpus_messages,
    header_end,
    header_names,
    header_values,
    mails,
    mutations,
    render,
)

# Seconds for the whole module, the same examples every run (derandomize). To hunt for new
# bugs, CORPMAIL_FUZZ_EXAMPLES=5000 draws that many fresh examples per test.
_HUNT = int(os.environ.get("CORPMAIL_FUZZ_EXAMPLES", "0"))
FAST = settings(max_examples=_HUNT or 100, deadline=None, derandomize=not _HUNT,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_storable(parsed: ParsedMessage) -> None:
    """Nothing the parser hands to the database may be refused by it (NUL, lone surrogates),
    and the last-resort fallback (the message kept as bare text) was not needed."""
    assert not any(d.startswith("message could not be parsed") for d in parsed.defects), \
        parsed.defects
    texts = [parsed.subject, parsed.text, parsed.html or "", parsed.headers,
             parsed.message_id or "", parsed.in_reply_to or "", *parsed.references,
             *parsed.defects]
    for addr in parsed.from_ + parsed.to + parsed.cc + parsed.bcc + parsed.reply_to:
        texts += [addr.name, addr.email]
    for att in parsed.attachments:
        texts += [att.filename, att.content_type, att.content_id or ""]
        assert att.filename and "/" not in att.filename
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # raises on a lone surrogate
    assert "\n" not in parsed.subject
    assert message_key(parsed)


@FAST
@given(mails())
def test_random_mime_trees_keep_what_a_client_shows(mail):
    parsed = parse_message(render(mail))
    assert_storable(parsed)
    assert_shown(mail, parsed)


@FAST
@given(mails(depth=2), st.lists(st.tuples(header_names, header_values), min_size=1, max_size=5))
def test_random_header_bytes_do_not_disturb_the_rest(mail, extra):
    """Extra headers of arbitrary bytes (8-bit, NUL, encoded-word debris) beside good ones."""
    mail = replace(mail, extra_headers=extra)
    parsed = parse_message(render(mail))
    assert_storable(parsed)
    assert_shown(mail, parsed)


@FAST
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_arbitrary_header_block_and_body(head, body):
    """Pure noise before and after the blank line: parsed, storable, body kept as text."""
    parsed = parse_message(head.replace(b"\n\n", b"\n") + b"\n\n" + body)
    assert_storable(parsed)


@FAST
@given(st.data())
def test_truncated_corpus_messages_keep_their_headers(data):
    """A message cut anywhere after its header block (a dropped connection, a size limit)
    keeps subject, sender, recipients and ids; cut anywhere at all, it is still storable."""
    name, raw = data.draw(corpus_messages(), label="corpus file")
    whole = parse_message(raw)
    cut = data.draw(st.integers(0, len(raw)), label="cut at")
    parsed = parse_message(raw[:cut])
    assert_storable(parsed)
    if cut >= header_end(raw) and cut > 0:
        assert parsed.subject == whole.subject, name
        assert parsed.from_ == whole.from_ and parsed.to == whole.to, name
        assert parsed.message_id == whole.message_id and parsed.date == whole.date, name


@FAST
@given(st.data())
def test_mutated_corpus_bodies_keep_their_headers(data):
    """Random byte edits in the body (flips, inserts, deletes, repeats) never reach the
    headers a client shows in the message list."""
    name, raw = data.draw(corpus_messages(), label="corpus file")
    whole = parse_message(raw)
    mutated = data.draw(mutations(raw, start=header_end(raw)), label="mutated")
    parsed = parse_message(mutated)
    assert_storable(parsed)
    assert parsed.subject == whole.subject, name
    assert parsed.from_ == whole.from_ and parsed.message_id == whole.message_id, name


@FAST
@given(st.data())
def test_mutated_corpus_messages_anywhere_are_storable(data):
    _name, raw = data.draw(corpus_messages(), label="corpus file")
    parsed = parse_message(data.draw(mutations(raw), label="mutated"))
    assert_storable(parsed)


@FAST
@given(mails(depth=2), st.data())
def test_mutated_random_trees_are_storable(mail, data):
    """Broken MIME of every shape: random edits anywhere in a generated multipart message."""
    parsed = parse_message(data.draw(mutations(render(mail)), label="mutated"))
    assert_storable(parsed)


# --- bugs the properties found, kept as plain examples ------------------------------------


def test_rfc2231_file_name_with_raw_8bit_bytes_keeps_the_message():
    """filename*= with a raw 8-bit byte beside the %-escapes used to drop the whole message
    to the last-resort fallback (UnicodeEncodeError): subject and sender were lost."""
    raw = (b"From: a@b.test\r\nSubject: kept\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
           b"--X\r\nContent-Type: text/plain\r\n\r\nhello\r\n--X\r\n"
           b"Content-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename*=utf-8''caf%C3%A9\xb9.txt\r\n\r\n"
           b"data\r\n--X--\r\n")
    parsed = parse_message(raw)
    assert_storable(parsed)
    assert (parsed.subject, parsed.text.strip()) == ("kept", "hello")
    assert [a.data for a in parsed.attachments] == [b"data"]
    assert parsed.attachments[0].filename.startswith("café")


def test_content_type_with_a_nul_byte_is_not_passed_on():
    raw = b"From: a@b.test\r\nContent-Type: \x00text/plain\r\n\r\nhello\r\n"
    parsed = parse_message(raw)
    assert_storable(parsed)
    assert parsed.content_type == "application/octet-stream"

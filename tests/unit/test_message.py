"""parse_message / message_key: the whole corpus, known corpus files, hand-made edge cases."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

import pytest

from corpmail.mail.message import Address, ParsedMessage, message_key, parse_message

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CORPUS_FILES = sorted(CORPUS.rglob("*.eml"))
POLISH = "Zażółć gęślą jaźń"


def corpus(name: str) -> ParsedMessage:
    return parse_message((CORPUS / name).read_bytes())


def build(headers: str, body: bytes = b"body\r\n") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + body


# --- every corpus message -------------------------------------------------------------------


def test_corpus_is_complete():
    assert len(CORPUS_FILES) == 113
    assert (CORPUS / "LICENSE").is_file()


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_message_parses_sanely(path: Path):
    raw = path.read_bytes()
    m = parse_message(raw)
    assert isinstance(m.subject, str) and "\n" not in m.subject
    assert m.size == len(raw)
    assert m.date is None or m.date.utcoffset().total_seconds() == 0
    for addr in m.from_ + m.to + m.cc + m.bcc + m.reply_to:
        assert isinstance(addr, Address)
        assert addr.email == addr.email.lower()
        assert addr.email == "" or "@" in addr.email
    assert m.sender is None or m.sender == m.from_[0]
    assert isinstance(m.text, str) and "\x00" not in m.text
    assert m.html is None or isinstance(m.html, str)
    for att in m.attachments:
        assert att.filename and "/" not in att.filename and "\\" not in att.filename
        assert "/" in att.content_type and isinstance(att.data, bytes)
        assert att.content_id is None or not att.content_id.startswith("<")
    assert all(isinstance(d, str) and d for d in m.defects)
    for value in (m.subject, m.text, m.headers, m.html or "", *m.all_addresses()):
        value.encode("utf-8")  # no lone surrogates: storable in any database
    key = message_key(m)
    assert key and key == message_key(parse_message(raw))


# --- known corpus files ---------------------------------------------------------------------


def test_unicode_subject_and_pdf_attachment():
    m = corpus("attachment_emails/attachment_pdf.eml")
    assert m.subject == "Another PDF with 🎉 Unicode chars in it 🍿"
    assert m.sender == Address("Test Tester", "xxxx@xxxx.com")
    [pdf] = m.attachments
    assert (pdf.filename, pdf.content_type, pdf.size) == ("broken.pdf", "application/pdf", 1026)
    assert pdf.data.startswith(b"%PDF-1.4")
    assert hashlib.sha256(pdf.data).hexdigest().startswith("c7d1b9b20df8")
    assert not pdf.inline
    assert m.text.startswith("Just attaching another PDF, here, to see what")


def test_multi_charset_subjects():
    assert corpus("plain_emails/raw_email.eml").subject == "NOTE: 한국말로 하는 것"
    assert corpus("multi_charset/japanese_iso_2022.eml").subject == "まみむめも"
    assert corpus("multi_charset/japanese_iso_2022.eml").text.startswith("すみません。")
    assert (corpus("plain_emails/raw_email_with_partially_quoted_subject.eml").subject
            == 'Re: Test: "漢字" mid "漢字" tail')
    assert corpus("attachment_7bit.eml").subject == "статус"
    assert corpus("attachment_emails/attachment_with_quoted_filename.eml").subject == (
        "Eelanalüüsi päring")


def test_attachment_names_encoded_words_rfc2231_and_raw_utf8():
    [att] = corpus("attachment_emails/attachment_with_quoted_filename.eml").attachments
    assert (att.filename, att.content_type, att.size) == ("Eelanalüüsi päring.jpg", "image/jpeg",
                                                          1952)
    [att] = corpus("multi_charset/japanese_attachment.eml").attachments
    assert att.filename == "てすと.txt"
    [att] = corpus("multi_charset/japanese_attachment_long_name.eml").attachments
    assert att.filename == "かきくけこ" * 5 + ".txt"
    [att] = corpus("attachment_emails/attachment_nonascii_filename.eml").attachments
    assert att.filename == "ciële.txt" and att.data == b"Hi there.\r\n"


def test_windows_1251_body_and_forwarded_message_as_eml():
    m = corpus("attachment_8bit.eml")
    assert "отдел расписания" in m.text
    [fwd] = m.attachments
    assert fwd.content_type == "message/rfc822" and fwd.filename == "Message01.eml"
    inner = parse_message(fwd.data)  # the .eml is a message of its own
    assert inner.text.startswith("Добрый\xa0день,\xa0уважаемые\xa0коллеги!")


def test_rfc6532_raw_utf8_headers():
    m = corpus("rfc6532/utf8_headers.eml")
    assert m.subject == "Säying Hello"
    assert m.sender == Address("Jöhn Doe", "jdöe@mächine.example")
    assert m.to == [Address("Märy Smith", "märy@exämple.net")]


def test_folded_quoted_names_and_groups():
    m = corpus("address_quoted_newlines.eml")
    assert [a.name for a in m.cc] == [
        "Third Name", "Quoted Mailing List One", "Quoted Mailing List Two"]
    assert m.to[1] == Address("Other Name", "other.name@domain.com")
    assert len(m.bcc) == 3 and "list2-second-name@domain.com" in m.all_addresses()
    m = corpus("rfc2822/example03.eml")
    assert m.cc == [Address("", "boss@nil.test"),
                    Address('Giant; "Big" Box', "sysservices@example.net")]
    assert m.date == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)


def test_reply_headers():
    m = corpus("plain_emails/raw_email_reply.eml")
    assert m.in_reply_to == "348F04F142D69C21-291E56D292BC@xxxx.net"
    assert m.references == ["473FF3B8.9020707@xxx.org", "348F04F142D69C21-291E56D292BC@xxxx.net"]
    assert m.message_id == "473FFE27.20003@xxx.org" == message_key(m)


def test_inline_cid_parts_and_html():
    m = corpus("attachment_inline1.eml")
    assert "cid:part1.02000503.06000807@mail.ru" in m.html
    cids = {a.content_id: a for a in m.attachments}
    assert set(cids) == {"part1.02000503.06000807@mail.ru", "part41.01020108.09060604@mail.ru",
                         "part51.09060808.01070700@mail.ru"}
    assert all(a.inline and a.content_type == "image/png" for a in m.attachments)
    assert cids["part1.02000503.06000807@mail.ru"].data.startswith(b"\x89PNG")


def test_html_only_message_gets_text():
    m = corpus("multipart_report_emails/report_530.eml")
    assert m.text.startswith("The original message was received at")
    m = corpus("error_emails/multiple_invalid_content_dispositions.eml")
    assert m.html.strip() == "<p>foo</p>" and m.text == "foo"


def test_dsn_parts_are_kept():
    m = corpus("multipart_report_emails/multi_address_bounce1.eml")
    assert m.content_type == "multipart/report"
    assert m.sender.email == "mailer-daemon@lvmail01.ll.com"
    status, original = m.attachments
    assert status.content_type == "message/delivery-status"
    assert b"Final-Recipient:" in status.data
    assert original.content_type == "message/rfc822"
    assert original.filename == "Test of bounce email.eml"


def test_broken_messages_yield_defects_but_text():
    m = corpus("error_emails/bad_date_header2.eml")
    assert m.date is None and any("Date" in d for d in m.defects)
    assert any("boundary" in d for d in m.defects)
    m = corpus("error_emails/content_transfer_encoding_spam.eml")
    assert any("Content-Transfer-Encoding" in d for d in m.defects)
    assert "We supply" in m.text
    m = corpus("error_emails/missing_body.eml")
    assert m.defects and isinstance(m.text, str)
    m = corpus("plain_emails/mix_caps_content_type.eml")
    assert m.sender == Address("Big Bug", "bb@bug.com")  # address among the name words


def test_obsolete_header_syntax():
    m = corpus("rfc2822/example13.eml")
    assert m.sender.email == "jdoe@machine.example"
    assert any("obsolete" in d for d in m.defects)


# --- hand-made edge cases -------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["iso-8859-2", "utf-8", "windows-1250"])
def test_polish_encoded_subject_and_name(charset):
    subject = Header(POLISH, charset).encode()
    name = Header("Łukasz Żółw", charset).encode()
    m = parse_message(build(f"From: {name} <Lukasz@Firma.PL>\nSubject: {subject}\n"))
    assert m.subject == POLISH
    assert m.sender == Address("Łukasz Żółw", "lukasz@firma.pl")


def test_encoded_words_split_inside_a_character_and_folded():
    data = POLISH.encode("utf-8")
    half = 5  # "Zaż" ends inside the two bytes of "ż"
    assert data[:half].decode("utf-8", "replace").endswith("\ufffd")
    words = [f"=?UTF-8?B?{base64.b64encode(part).decode()}?=" for part in (data[:half],
                                                                             data[half:])]
    m = parse_message(build(f"Subject: {words[0]}\n {words[1]}\n"))
    assert m.subject == POLISH


@pytest.mark.parametrize("charset,text", [
    ("koi8-r", "Привет, мир"), ("gb2312", "你好世界"), ("windows-1250", POLISH),
    ("iso-8859-2", POLISH), ("shift_jis", "こんにちは"), ("big5", "中文測試"),
])
def test_encoded_words_in_any_charset(charset, text):
    m = parse_message(build(f"Subject: Re: {Header(text, charset).encode()}\n"))
    assert m.subject == f"Re: {text}"
    assert m.defects == ["no Date header"]


def test_unknown_charset_in_encoded_word_is_decoded_best_effort():
    m = parse_message(build("Subject: =?x-made-up?Q?Za=C5=BC=C3=B3=C5=82=C4=87?= ok\n"))
    assert m.subject == "Zażółć ok"
    assert any("x-made-up" in d for d in m.defects)
    m = parse_message(build("Subject: =?utf-8?B?not base64 at all!?=\n"))  # never raises
    assert isinstance(m.subject, str)


def test_raw_8bit_header_uses_the_body_charset():
    raw = (b"Subject: " + POLISH.encode("iso-8859-2") + b"\r\n"
           b"Content-Type: text/plain; charset=iso-8859-2\r\n\r\n" + POLISH.encode("iso-8859-2"))
    m = parse_message(raw)
    assert m.subject == POLISH and m.text == POLISH


@pytest.mark.parametrize("codec", ["windows-1250", "iso-8859-2"])
def test_polish_body_without_charset_is_guessed(codec):
    body = f"Dzień dobry,\r\n{POLISH}. Źdźbło, śnieg, ćma, łąka.\r\n".encode(codec)
    m = parse_message(build("Subject: x\nContent-Type: text/plain", body))
    assert POLISH in m.text and "Źdźbło, śnieg, ćma, łąka." in m.text
    assert any("charset" in d for d in m.defects)


def test_western_body_without_charset_stays_western():
    body = "Café crème brûlée à la française, déjà vu".encode("cp1252")
    m = parse_message(build("Subject: x\nContent-Type: text/plain; charset=us-ascii", body))
    assert m.text == "Café crème brûlée à la française, déjà vu"


def test_body_not_valid_in_declared_charset():
    m = parse_message(build("Subject: x\nContent-Type: text/plain; charset=utf-8",
                            POLISH.encode("windows-1250")))
    assert m.text == POLISH and any("not valid utf-8" in d for d in m.defects)
    m = parse_message(build("Subject: x\nContent-Type: text/plain; charset=us-ascii",
                            POLISH.encode("utf-8")))
    assert m.text == POLISH


def test_transfer_encodings_and_charsets():
    qp = b"Za=C5=BC=C3=B3=C5=82=C4=87 g=C4=99=C5=9Bl=C4=85 ja=C5=BA=C5=84=\r\n!"
    m = parse_message(build("Content-Type: text/plain; charset=UTF-8\n"
                            "Content-Transfer-Encoding: Quoted-Printable ", qp))
    assert m.text == POLISH + "!"
    b64 = base64.encodebytes(POLISH.encode("iso-8859-2"))
    m = parse_message(build("Content-Type: text/plain; charset=\"ISO-8859-2\"\n"
                            "Content-Transfer-Encoding: base64", b64))
    assert m.text.strip() == POLISH


@pytest.mark.parametrize("value,expected", [
    ("Tue, 1 Jul 2003 10:52:37 +0200", datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)),
    ("Mon, 20 Nov 1995 19:12:08 -0000", datetime(1995, 11, 20, 19, 12, 8, tzinfo=UTC)),
    ("1 Jul 2003 10:52:37", datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
    ("Pn, 29 paX 2007 21:13:00 +0100", None),
    ("yesterday", None),
    ("Mon, 30 Jun 99999 15:33:50 +0600", None),
    ("Mon, 30 Jun 3609 15:33:50 +0600", None),  # plain_emails/raw_email_bad_time.eml
])
def test_dates_are_utc_or_none(value, expected):
    m = parse_message(build(f"Date: {value}\nSubject: d\n"))
    assert m.date == expected
    if m.date:
        assert m.date.tzinfo == UTC
    else:
        assert any("Date" in d for d in m.defects)


def test_addresses():
    m = parse_message(build(
        "From: =?utf-8?Q?Kowalski=2C_Jan?= <Jan.Kowalski@Firma.PL>\n"
        'To: "Nowak, Anna" <ANNA@firma.pl>, zespol@FIRMA.pl,\n'
        " Team: a@x.pl, =?iso-8859-2?Q?=A3ukasz?= <b@x.pl>;\n"
        "Cc: undisclosed-recipients:;\n"
        "Bcc: JAN.KOWALSKI@firma.pl\n"
        "Reply-To: Biuro <biuro@firma.pl>\n"
    ))
    assert m.sender == Address("Kowalski, Jan", "jan.kowalski@firma.pl")
    assert m.to == [Address("Nowak, Anna", "anna@firma.pl"), Address("", "zespol@firma.pl"),
                    Address("", "a@x.pl"), Address("Łukasz", "b@x.pl")]
    assert m.cc == []
    assert m.reply_to == [Address("Biuro", "biuro@firma.pl")]
    assert m.all_addresses() == ["jan.kowalski@firma.pl", "anna@firma.pl", "zespol@firma.pl",
                                 "a@x.pl", "b@x.pl"]


def test_message_ids_and_header_lookup():
    m = parse_message(build(
        "Message-ID:\n <AbC.123@Host.Example>\nIn-Reply-To: <x@y> (comment)\n"
        "References: <a@b>\n <c@d>  <e@f>\nX-Custom: =?utf-8?B?xbvDs8WCdw==?=\n"
    ))
    assert m.message_id == "AbC.123@Host.Example" == message_key(m)
    assert m.in_reply_to == "x@y"
    assert m.references == ["a@b", "c@d", "e@f"]
    assert m.header("x-custom") == "Żółw" and m.header("X-Missing") is None
    assert "X-Custom: Żółw" in m.headers


def test_digest_key_without_message_id_is_stable_and_distinct():
    raw = build(f"From: A <a@b.pl>\nDate: Tue, 1 Jul 2003 10:52:37 +0200\nSubject: {POLISH}",
                b"Hello\r\n")
    k1, k2 = message_key(parse_message(raw)), message_key(parse_message(raw))
    assert k1 == k2 and k1.startswith("digest:") and len(k1) == len("digest:") + 64
    other = message_key(parse_message(raw.replace(b"Hello", b"Hallo")))
    assert other.startswith("digest:") and other != k1
    # Same message delivered to two mailboxes with different Received/Delivered-To lines.
    relayed = b"Received: from mx by y; Tue, 1 Jul 2003\r\nDelivered-To: c@d.pl\r\n" + raw
    assert message_key(parse_message(relayed)) == k1


def test_attachments_rfc2231_generated_names_inline_and_nested():
    raw = build(
        'Subject: att\nContent-Type: multipart/mixed; boundary="b1"',
        (
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
            "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment;\r\n"
            " filename*0*=utf-8''Faktura%20%C5%BAr%C3%B3d%C5%82;\r\n filename*1*=owa.pdf\r\n\r\n"
            + base64.b64encode(b"%PDF-1.4 fake").decode() + "\r\n"
            "--b1\r\nContent-Type: image/png\r\nContent-ID: <logo@firma>\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(b"\x89PNG fake").decode() + "\r\n"
            "--b1\r\nContent-Type: application/vnd.ms-excel;\r\n"
            ' name="=?iso-8859-2?Q?=A3=B1ka.xls?="\r\n\r\nxls\r\n'
            "--b1\r\nContent-Type: message/rfc822\r\n\r\n"
            "Subject: Inner/one\r\nFrom: x@y.pl\r\n\r\nInner body\r\n"
            "--b1--\r\n"
        ).encode(),
    )
    m = parse_message(raw)
    assert m.text.strip() == "See attached."
    pdf, png, xls, eml = m.attachments
    assert (pdf.filename, pdf.data, pdf.inline) == ("Faktura źródłowa.pdf", b"%PDF-1.4 fake",
                                                    False)
    assert png.filename.endswith(".png") and png.content_id == "logo@firma" and png.inline
    assert png.data == b"\x89PNG fake"
    assert xls.filename == "Łąka.xls"
    assert eml.filename == "one.eml" and eml.content_type == "message/rfc822"
    assert b"Inner body" in eml.data and "Inner body" not in m.text


def test_over_max_size_keeps_headers_and_text_only():
    payload = base64.encodebytes(random.Random(1).randbytes(300_000)).decode()
    raw = build(
        'Subject: big\nMessage-ID: <big@x>\nContent-Type: multipart/mixed; boundary="b"',
        ("--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>big</b></p>\r\n"
         "--b\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64"
         f"\r\n\r\n{payload}\r\n--b--\r\n").encode(),
    )
    m = parse_message(raw, max_size=100 * 1024)
    assert m.truncated and m.attachments == [] and m.html is None
    assert m.text == "Hello big" and m.subject == "big" and m.message_id == "big@x"
    assert m.defects[0].startswith("truncated: over 100 KB")
    assert m.size == len(raw)
    full = parse_message(raw, max_size=10 * 1024 * 1024)
    assert not full.truncated and full.attachments[0].filename == "a.zip"
    assert full.attachments[0].size == 300_000
    huge = raw + b" " * (10 * 1024 * 1024)
    assert parse_message(huge, max_size=10 * 1024 * 1024).defects[0].startswith(
        "truncated: over 10 MB")


def test_nul_bytes_and_html_only():
    m = parse_message(build("Content-Type: text/html; charset=utf-8",
                            b"<html><body><p>A\x00B</p><script>x()</script></body></html>"))
    assert m.text == "AB" and m.html is not None


@pytest.mark.parametrize("raw", [
    b"", b"\r\n", b"\x00" * 100, b"garbage without headers", b"From: \xff\xfe\r\n\r\n\xff",
    b"Content-Type: multipart/mixed\r\n\r\n--x--", b"Subject: =?\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n" + b"--a\r\nContent-Type: multipart/mixed;"
    b" boundary=a\r\n\r\n" * 200,
    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8=",
    b"Content-Type: text/plain; charset=utf-7\r\n\r\n+2D0- lone surrogate, NUL:\x00",
])
def test_never_raises_on_odd_input(raw):
    m = parse_message(raw)
    assert isinstance(m, ParsedMessage) and m.size == len(raw)
    m.text.encode("utf-8")
    assert "\x00" not in m.text
    message_key(m)


def test_never_raises_on_mutated_corpus():
    rng = random.Random(20240501)
    for path in CORPUS_FILES[::3]:
        raw = bytearray(path.read_bytes())
        for _ in range(3):
            mutated = bytearray(raw)
            for _ in range(rng.randint(1, 20)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            cut = bytes(mutated[: rng.randrange(1, len(mutated) + 1)])
            for sample in (bytes(mutated), cut):
                m = parse_message(sample)
                assert isinstance(m.subject, str) and isinstance(m.text, str)
                m.text.encode("utf-8")
                m.subject.encode("utf-8")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_fast_splitter_agrees_with_stdlib_parser(path, monkeypatch):
    """The bytes.find MIME splitter must give what the stdlib feedparser gives."""
    from corpmail.mail import message as message_module
    from corpmail.mail.mimesplit import split_message

    raw = path.read_bytes()
    if split_message(raw) is None:
        pytest.skip("unusual MIME: parsed by the stdlib only")
    fast = parse_message(raw)
    monkeypatch.setattr(message_module, "split_message", lambda raw: None)
    slow = parse_message(raw)
    for name in ("message_id", "subject", "from_", "to", "cc", "bcc", "reply_to", "date",
                 "in_reply_to", "references", "headers", "text", "html", "content_type"):
        assert getattr(fast, name) == getattr(slow, name), name

    def plain_parts(m):
        return [(a.filename, a.content_type, a.content_id, a.inline, a.data)
                for a in m.attachments if not a.content_type.startswith("message/")]

    # Non-message parts are byte-identical; message/* parts are the original bytes in the fast
    # path, re-serialised (or, for a base64 .eml, left undecoded) by the stdlib path.
    assert plain_parts(fast) == plain_parts(slow)
    assert [(a.filename, a.content_type) for a in fast.attachments] == [
        (a.filename, a.content_type) for a in slow.attachments]


def test_fast_splitter_edges():
    from corpmail.mail.mimesplit import split_message

    body = (b"preamble\r\n--abc \t\r\nContent-Type: text/plain\r\n\r\none\r\n"
            b"--abc-1 is not a delimiter\r\n\r\n--abc\r\n\r\ntwo\n--abc--\r\nepilogue")
    msg = split_message(b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n' + body)
    assert [p._payload for p in msg._payload] == [
        "one\r\n--abc-1 is not a delimiter\r\n", "two"]
    # Broken MIME goes to the stdlib parser, which records what was wrong.
    assert split_message(b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n--abc\r\n\r\nx') \
        is None
    assert split_message(b"Content-Type: multipart/mixed\r\n\r\n--abc\r\n\r\nx\r\n--abc--") is None
    assert split_message(b"Subject: only headers, no blank line") is None
    m = parse_message(b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n--abc\r\n\r\nx')
    assert m.text == "x" and any("boundary" in d for d in m.defects)


# Header blocks for the splitter's own field split: (block, taken by the fast path).
HEADER_BLOCKS = [
    (b"From: a@b.c\r\nSubject: hi\r\n", True),
    (b"From: a@b.c\nSubject: hi\n", True),
    (b"", True),
    (b"Subject: folded\r\n  on two\r\n\tand three lines\r\nX-Empty:\r\nX-Sp:   \r\n", True),
    (b"Subject: mixed\r\nTo: x@y.z\nX-8bit: \xc5\xbc\xc3\xb3\xb3\r\nX-Ctl: a\x00\x0b\x0cb\r\n", True),
    (b"Subject:no space\r\nX-Colon:: v\r\n=?x?q?y?=: odd but a name\r\n", True),
    (b"Subject: before\r\n\r\nan earlier blank line: the rest is payload\r\n", True),
    (b"Subject: bare\rCR\r\n", False),  # the feedparser breaks lines at a bare CR
    (b"From mbox line\r\nSubject: s\r\n", False),  # envelope (unixfrom) line
    (b"Subject: s\r\nFrom other line\r\nTo: t\r\n", False),  # misplaced envelope line
    (b" first line folded\r\nSubject: s\r\n", False),
    (b"Subject: s\r\nno colon here\r\nTo: t\r\n", False),
    (b": no name\r\nSubject: s\r\n", False),
    (b"Name : obsolete\r\n", False),
    (b"X\xc5\xbc: 8-bit name\r\n", False),
    (b"Subject: no line end", False),
]


@pytest.mark.parametrize(("block", "fast"), HEADER_BLOCKS)
def test_header_fields_split_as_the_stdlib_parser_does(block, fast):
    """parse_headers gives the stdlib's Message for any block; unusual ones go to the stdlib."""
    from email.message import Message
    from email.parser import BytesParser
    from email.policy import compat32

    from corpmail.mail.mimesplit import _header_block, parse_headers

    def state(msg):  # defects compare by identity: compare their types
        return {**msg.__dict__, "defects": [type(d) for d in msg.defects]}

    expected = BytesParser(policy=compat32).parsebytes(block + b"\n", headersonly=True)
    assert (_header_block(block, Message) is not None) == fast
    assert state(parse_headers(block)) == state(expected)


@pytest.mark.parametrize(("block", "fast"), HEADER_BLOCKS)
def test_messages_parse_the_same_without_the_header_fast_path(block, fast, monkeypatch):
    from corpmail.mail import mimesplit

    raw = block + b"\r\n" + b"body\r\n"
    multipart = (b'Content-Type: multipart/mixed; boundary="b"\r\nSubject: top\r\n\r\n--b\r\n'
                 + raw + b"\r\n--b--\r\n")
    for sample in (raw, multipart):
        fast_result = parse_message(sample)
        monkeypatch.setattr(mimesplit, "_header_block", lambda head, factory: None)
        slow_result = parse_message(sample)
        monkeypatch.undo()
        assert fast_result == slow_result


def test_splitter_leaf_keeps_its_bytes_and_reads_as_the_stdlib_str():
    from corpmail.mail.mimesplit import split_message

    body = b"za\xc5\xbc\xc3\xb3\xff\r\nline"
    msg = split_message(b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                        b"Content-Type: text/plain\r\n\r\n" + body + b"\r\n--b--\r\n")
    leaf = msg._payload[0]
    assert leaf.raw_body == body  # what parse_message reads, without a str round trip
    assert leaf._payload == body.decode("ascii", "surrogateescape")  # what the stdlib stores
    assert not leaf.is_multipart() and leaf.get_payload(decode=True) == body
    leaf.set_payload("replaced")
    assert leaf.raw_body is None and leaf.get_payload() == "replaced"


@pytest.mark.parametrize("headers", [
    [], [("Subject", "no type")], [("Content-Type", "text/plain")],
    [("content-type", 'text/plain; charset="UTF-8"')],
    [("Content-Type", "text/plain; charset*=us-ascii'en'ISO-8859-2")],
    [("Content-Type", "text/plain; charset*=bogus''utf-8")],
    [("Content-Type", "text/plain; charset=\udcc5\udcbc")],
    [("Content-Type", "text/plain; charset=cp1250"), ("Content-Type", "text/plain; charset=x")],
    [("Content-Type", 'text/plain; name="a;b"; charset=koi8-r')],
])
def test_memoised_content_charset_is_get_content_charset(headers):
    from email.message import Message

    from corpmail.mail.message import _content_charset

    msg = Message()
    for name, value in headers:
        msg.set_raw(name, value)
    for _ in range(2):  # computed, then from the memo
        assert _content_charset(msg) == msg.get_content_charset()


def test_utf8_crlf_shortcut_agrees_with_decode_then_replace():
    from corpmail.mail.message import _utf8_lf

    rng = random.Random(7)
    pieces = [b"\r", b"\n", b"\r\n", b"a", b"\xc5", b"\xbc", b"\xff", b"\xe2\x82", b"\xac", b""]
    taken = 0
    for _ in range(5000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        try:
            expected = data.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            expected = None
        got = _utf8_lf(data)
        assert got is None or got == expected, data
        if expected is not None and data.count(b"\r") == data.count(b"\r\n"):
            assert got == expected, data  # the shortcut is taken whenever it can be
            taken += 1
    assert taken > 500


@pytest.mark.parametrize("body", [
    "Zażółć\r\ngęślą\r\n".encode(), "bare\rCR\r\nża".encode(), b"not \xff utf-8\r\nx",
    b"\r\n\r\n", "ża\n\r\n".encode(),
])
def test_text_bodies_read_the_same_without_the_crlf_shortcut(body, monkeypatch):
    from corpmail.mail import message as message_module

    raw = build("Content-Type: text/plain; charset=UTF-8", body)
    fast = parse_message(raw)
    monkeypatch.setattr(message_module, "_utf8_lf", lambda data: None)
    assert fast == parse_message(raw)

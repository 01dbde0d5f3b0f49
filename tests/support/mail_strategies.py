"""Hypothesis strategies for mail: random MIME trees that know what a mail client would show,
random header bytes, and mutations of the corpus messages.

A drawn `Mail` is a description (subject, sender, a tree of parts, every encoding choice);
`render()` turns it into the bytes a server would hand over, deterministically. Tests parse
those bytes and compare with the description: the oracle is the generator itself.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

from hypothesis import strategies as st

from corpmail.mail.message import ParsedMessage, parse_message

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CORPUS_FILES = sorted(CORPUS.rglob("*.eml"))

# Body charsets and the characters each can carry (iso-8859-1 reads as cp1252, as mail
# clients do; C0/C1 controls are left out since no client shows them).
CHARSETS = ("utf-8", "iso-8859-2", "windows-1250", "iso-8859-1", "us-ascii")
_NO_CONTROLS = ("Cs", "Cc", "Co", "Cn")


def _chars(codec: str | None = None, extra: str = "") -> st.SearchStrategy[str]:
    return st.characters(codec=codec, exclude_categories=_NO_CONTROLS,
                         include_characters=extra or None)


def _codec(charset: str) -> str:
    return {"us-ascii": "ascii", "iso-8859-1": "latin-1"}.get(charset, charset)


# ------------------------------------------------------------------------- the description
@dataclass
class Leaf:
    ctype: str  # text/plain, text/html, or a binary type
    content: str | bytes  # text for text bodies, bytes for attachments
    charset: str | None  # text only
    cte: str  # 7bit, 8bit, quoted-printable, base64
    filename: str | None = None
    name_style: str = "plain"  # plain, rfc2231, rfc2047, raw-utf8
    disposition: str | None = None  # None, inline, attachment
    content_id: str | None = None  # without <>
    explicit_type: bool = True  # False: no Content-Type header (text/plain us-ascii default)

    @property
    def is_body(self) -> bool:
        """A part a client shows as the message text, not as an attachment."""
        return (self.ctype in ("text/plain", "text/html") and self.disposition != "attachment"
                and not self.filename)


@dataclass
class Multipart:
    subtype: str
    parts: list


@dataclass
class Forwarded:
    mail: Mail


@dataclass
class Mail:
    subject: str
    subject_style: str  # ascii, rfc2047-b, rfc2047-q, raw-utf8
    from_name: str
    from_addr: str
    to_addr: str
    date: datetime
    message_id: str
    body: Leaf | Multipart | Forwarded
    crlf: bool
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def shown_subject(self) -> str:
        return re.sub(r"\s+", " ", self.subject).strip()

    def leaves(self) -> list[Leaf]:
        """Every leaf of the top-level tree (forwarded messages are kept whole, not walked)."""
        out: list[Leaf] = []

        def walk(node) -> None:
            if isinstance(node, Multipart):
                for part in node.parts:
                    walk(part)
            elif isinstance(node, Leaf):
                out.append(node)

        walk(self.body)
        return out

    def forwarded(self) -> list[Mail]:
        out: list[Mail] = []

        def walk(node) -> None:
            if isinstance(node, Multipart):
                for part in node.parts:
                    walk(part)
            elif isinstance(node, Forwarded):
                out.append(node.mail)

        walk(self.body)
        return out


# ------------------------------------------------------------------------- strategies
_WORD = st.text(_chars(extra="ąćęłńóśźżĄĆĘŁŃÓŚŹŻ🎉"), min_size=1, max_size=12).filter(
    lambda w: w.strip() == w and w.strip())
subjects = st.lists(_WORD, min_size=0, max_size=8).map(" ".join)
names = st.lists(
    st.text(st.characters(categories=("L", "Nd"), include_characters="ąęłńśźż-'."),
            min_size=1, max_size=10),
    min_size=0, max_size=3).map(" ".join)
_LOCAL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._-"), min_size=1,
                 max_size=20).filter(lambda s: not s.startswith(".") and not s.endswith(".")
                                     and ".." not in s)
_DOMAIN = st.lists(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1,
                           max_size=10), min_size=1, max_size=3).map(
    lambda labels: ".".join(labels) + ".test")
addresses = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN)
_FILENAME = st.text(_chars(extra="ąćęłńóśźż🎉"), min_size=1, max_size=40).filter(
    lambda n: n.strip() == n and not set(n) & set('/\\"%*\'') and n not in (".", ".."))


@st.composite
def text_leaf(draw, ctype: str = "text/plain") -> Leaf:
    charset = draw(st.sampled_from(CHARSETS))
    line = st.text(_chars(codec=_codec(charset)), max_size=80)
    text = "\n".join(draw(st.lists(line, max_size=6)))
    if ctype == "text/html":
        text = f"<html><body><p>{text}</p></body></html>"
    ctes = ["quoted-printable", "base64", "8bit"] + (["7bit"] if text.isascii() else [])
    cte = draw(st.sampled_from(ctes))
    explicit = True
    if ctype == "text/plain" and cte == "7bit" and charset == "us-ascii":
        explicit = draw(st.booleans())
    return Leaf(ctype, text, charset, cte, explicit_type=explicit)


@st.composite
def attachment_leaf(draw) -> Leaf:
    ctype = draw(st.sampled_from(["application/octet-stream", "application/pdf", "image/png",
                                  "text/plain", "text/csv"]))
    filename = draw(st.none() | _FILENAME)
    style = draw(st.sampled_from(["plain", "rfc2231", "rfc2047", "raw-utf8"]))
    if filename is not None and not filename.isascii() and style == "plain":
        style = "rfc2231"
    inline = draw(st.booleans())
    cid = draw(st.none() | st.builds(lambda a, d: f"{a}@{d}", _LOCAL, _DOMAIN)) if inline else None
    disposition = "inline" if inline else "attachment"
    if ctype.startswith("text/") and filename is None and disposition == "inline":
        disposition = "attachment"  # would be a body part, not an attachment
    return Leaf(ctype, draw(st.binary(max_size=3000)), None, "base64", filename, style,
                disposition, cid)


def _trees(leaves: st.SearchStrategy, depth: int) -> st.SearchStrategy:
    if depth == 0:
        return leaves
    inner = _trees(leaves, depth - 1)
    return leaves | st.builds(
        Multipart, st.sampled_from(["mixed", "alternative", "related", "x-unknown"]),
        st.lists(inner, min_size=1, max_size=4))


@st.composite
def mails(draw, depth: int = 3, forward: bool = True) -> Mail:
    """A well-formed message with a random MIME tree and random (valid) encodings."""
    leaves = text_leaf() | text_leaf("text/html") | attachment_leaf()
    if forward:
        leaves = leaves | st.builds(Forwarded, mails(depth=1, forward=False))
    subject = draw(subjects)
    plain_ok = "=?" not in subject  # else a client would decode it as an encoded word too
    style = "ascii" if subject.isascii() and plain_ok and draw(st.booleans()) else draw(
        st.sampled_from(["rfc2047-b", "rfc2047-q"] + (["raw-utf8"] if plain_ok else [])))
    return Mail(
        subject=subject,
        subject_style=style,
        from_name=draw(names),
        from_addr=draw(addresses),
        to_addr=draw(addresses),
        date=draw(st.datetimes(datetime(1995, 1, 1), datetime(2024, 12, 31),
                               timezones=st.just(UTC))).replace(microsecond=0),
        message_id=draw(st.builds(lambda a, d: f"{a}@{d}", _LOCAL, _DOMAIN)),
        body=draw(_trees(leaves, depth)),
        crlf=draw(st.booleans()),
    )


header_names = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"),
                       min_size=1, max_size=20).map(lambda n: b"X-Fuzz-" + n.encode())
header_values = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b" ").replace(b"\n", b" "))  # one line, any other byte


# ------------------------------------------------------------------------- rendering
def _encoded_header(text: str, style: str, nl: str) -> bytes:
    if style == "ascii" or not text:
        return text.encode("ascii")
    if style == "raw-utf8":
        return text.encode("utf-8")
    if style == "rfc2047-b":
        return Header(text, "utf-8", maxlinelen=76, header_name="Subject").encode(
            linesep=nl).encode("ascii")
    # Q encoding, one word per 15 characters, folded: the space between words is not text.
    return (nl + " ").join(_q_word(w) for w in _split_words(text)).encode("ascii")


def _split_words(text: str, size: int = 15) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _q_word(text: str) -> str:
    data = text.encode("utf-8")
    out = "".join(chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}" for b in data)
    return f"=?utf-8?q?{out}?="


def _from_header(mail: Mail) -> bytes:
    if not mail.from_name:
        return mail.from_addr.encode()
    if mail.from_name.isascii():
        return f'"{mail.from_name}" <{mail.from_addr}>'.encode()
    name = Header(mail.from_name, "utf-8").encode()
    return f"{name} <{mail.from_addr}>".encode()


def _encode_body(leaf: Leaf) -> bytes:
    if isinstance(leaf.content, bytes):
        data = leaf.content
    else:
        data = leaf.content.encode(_codec(leaf.charset or "utf-8"))
    if leaf.cte == "base64":
        return base64.encodebytes(data)
    if leaf.cte == "quoted-printable":
        return binascii.b2a_qp(data)
    return data


def _param_name(leaf: Leaf, param: str) -> bytes:
    name = leaf.filename or ""
    if leaf.name_style == "rfc2231" or (leaf.name_style == "plain" and not name.isascii()):
        return f"{param}*=utf-8''{quote(name, safe='')}".encode()
    if leaf.name_style == "rfc2047":
        return f'{param}="{Header(name, "utf-8").encode(maxlinelen=10_000)}"'.encode()
    return f'{param}="{name}"'.encode()  # plain ASCII, or raw UTF-8 (RFC 6532)


def _leaf_bytes(leaf: Leaf, nl: bytes) -> bytes:
    headers: list[bytes] = []
    if leaf.explicit_type:
        ctype = leaf.ctype.encode()
        if leaf.charset:
            ctype += b"; charset=" + leaf.charset.encode()
        if leaf.filename and leaf.disposition is None:
            ctype += b"; " + _param_name(leaf, "name")
        headers.append(b"Content-Type: " + ctype)
    headers.append(b"Content-Transfer-Encoding: " + leaf.cte.encode())
    if leaf.disposition:
        disp = leaf.disposition.encode()
        if leaf.filename:
            disp += b"; " + _param_name(leaf, "filename")
        headers.append(b"Content-Disposition: " + disp)
    if leaf.content_id:
        headers.append(b"Content-ID: <" + leaf.content_id.encode() + b">")
    body = _encode_body(leaf).replace(b"\r\n", b"\n").replace(b"\n", nl)
    return nl.join(headers) + nl + nl + body


def _node_bytes(node, nl: bytes, counter: list[int]) -> bytes:
    if isinstance(node, Leaf):
        return _leaf_bytes(node, nl)
    if isinstance(node, Forwarded):
        return b"Content-Type: message/rfc822" + nl + nl + render(node.mail, nl, counter)
    counter[0] += 1
    boundary = f"==corpmail-fuzz-{counter[0]}-7f3a9c==".encode()
    out = [f"Content-Type: multipart/{node.subtype}; boundary=\"".encode() + boundary + b'"',
           b"", b"This is a multi-part message in MIME format."]
    for part in node.parts:
        out.append(b"--" + boundary)
        out.append(_node_bytes(part, nl, counter))
    out.append(b"--" + boundary + b"--")
    out.append(b"")
    return nl.join(out)


def render(mail: Mail, nl: bytes | None = None, counter: list[int] | None = None) -> bytes:
    """The message's bytes, every choice in `mail` applied (a forwarded message takes the
    line ends of the one around it, and boundaries unique in the whole message)."""
    nl = nl or (b"\r\n" if mail.crlf else b"\n")
    head = [
        b"From: " + _from_header(mail),
        b"To: " + mail.to_addr.encode(),
        b"Subject: " + _encoded_header(mail.subject, mail.subject_style, nl.decode()),
        b"Date: " + format_datetime(mail.date).encode(),
        b"Message-ID: <" + mail.message_id.encode() + b">",
        b"MIME-Version: 1.0",
    ]
    for name, value in mail.extra_headers:
        head.insert(len(head) // 2, name + b": " + value)
    body = _node_bytes(mail.body, nl, counter if counter is not None else [0])
    return nl.join(head) + nl + body


# ------------------------------------------------------------------------- corpus mutations
def header_end(raw: bytes) -> int:
    """Offset of the first byte after the blank line ending the header block (len if none)."""
    found = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    return min(found) if found else len(raw)


@st.composite
def corpus_messages(draw) -> tuple[str, bytes]:
    path = draw(st.sampled_from(CORPUS_FILES))
    return str(path.relative_to(CORPUS)), path.read_bytes()


@st.composite
def mutations(draw, raw: bytes, start: int = 0) -> bytes:
    """`raw` with a few random byte edits (flip, insert, delete, duplicate) at or after `start`."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 8))):
        if len(data) <= start:
            break
        pos = draw(st.integers(start, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 400))]
    return bytes(data)


# ------------------------------------------------------------------------- the oracle
def normalise_text(text: str) -> str:
    """Text as the parser returns it: LF line ends, no surrounding blank space."""
    return text.replace("\r\n", "\n").strip()


def _normalise_bytes(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def leaf_bytes(leaf: Leaf) -> bytes:
    """The decoded content of a leaf as a parser keeps it for an attachment (LF line ends)."""
    if isinstance(leaf.content, bytes):
        return leaf.content
    return leaf.content.encode(_codec(leaf.charset or "utf-8"))


def assert_shown(mail: Mail, parsed: ParsedMessage) -> None:
    """What a mail client shows of `mail` is in `parsed` (a ParsedMessage): the subject, the
    sender, the date, the first text part as the text, every other part as body or file."""
    assert not any(d.startswith("message could not be parsed") for d in parsed.defects), \
        parsed.defects
    assert parsed.subject == mail.shown_subject
    assert parsed.sender is not None
    assert parsed.sender.email == mail.from_addr
    assert parsed.sender.name == re.sub(r"\s+", " ", mail.from_name).strip()
    assert parsed.message_id == mail.message_id
    assert parsed.date == mail.date
    texts = [leaf for leaf in mail.leaves() if leaf.is_body and leaf.ctype == "text/plain"]
    if texts:
        assert normalise_text(texts[0].content) in parsed.text
    files = [_normalise_bytes(a.data).strip() for a in parsed.attachments]
    for leaf in mail.leaves():
        if leaf.is_body:
            shown = parsed.text if leaf.ctype == "text/plain" else parsed.html or ""
            if normalise_text(leaf.content) in shown:
                continue
            # A second body part where a client shows only one (alternative, related): a file.
            assert _normalise_bytes(leaf_bytes(leaf)).strip() in files, (leaf, parsed.text)
        else:
            matching = [a for a in parsed.attachments
                        if _normalise_bytes(a.data) == _normalise_bytes(leaf_bytes(leaf))]
            assert matching, leaf
            if leaf.filename:
                assert leaf.filename in [a.filename for a in matching]
            if leaf.content_id:
                assert leaf.content_id in [a.content_id for a in matching]
    forwarded = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert len(forwarded) == len(mail.forwarded())
    for inner, att in zip(mail.forwarded(), forwarded):  # a forwarded mail opens on its own
        assert parse_message(att.data).subject == inner.shown_subject

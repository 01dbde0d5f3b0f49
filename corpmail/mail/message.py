"""Raw RFC 822 bytes -> ParsedMessage: headers, addresses, bodies and attachments, best-effort.

Speed matters (a scan parses thousands of messages a second), so: well-formed MIME is split
with bytes.find (mimesplit), broken MIME goes to the stdlib parser with policy=compat32 (~4x
faster than the default policy, STACK-NOTES); both give the same compat32 Message tree. Header
decoding is our own (charsets), more forgiving than the stdlib's.
parse_message never raises: whatever was wrong is noted in `defects`.
"""

from __future__ import annotations

import binascii
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32, compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from corpmail.mail.charsets import codec_for, decode_bytes, decode_words, recover_8bit
from corpmail.mail.html import html_to_text
from corpmail.mail.mimesplit import split_message


@dataclass
class Address:
    name: str
    email: str  # lower-cased, "" if unparseable


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None  # without <>
    inline: bool
    # set once the bytes are in the attachment store (scanner/parse_ahead.py); not compared
    sha256: str | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class ParsedMessage:
    message_id: str | None  # without <>, case kept; None when absent
    subject: str
    sender: Address | None  # first From address
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    reply_to: list[Address]
    date: datetime | None  # tz-aware UTC
    in_reply_to: str | None  # without <>
    references: list[str]  # without <>
    headers: str  # the decoded header block, as text
    text: str  # text body (from HTML if only HTML)
    html: str | None  # raw (unsanitized) HTML body, cid: references kept
    attachments: list[Attachment]
    size: int  # len(raw)
    defects: list[str]  # human-readable notes of what was wrong
    content_type: str = "text/plain"  # top-level MIME type, lower-case
    truncated: bool = False  # over max_size: headers + text only
    header_items: list[tuple[str, str]] = field(default_factory=list, repr=False)
    # the message's columns of its E-mail row, when the scanner's parser process made them
    # ahead (scanner/email_row.py, scanner/parse_ahead.py); not compared
    columns: dict | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """First value of a header, decoded; None when absent."""
        name = name.lower()
        for key, value in self.header_items:
            if key.lower() == name:
                return value
        return None

    def all_addresses(self) -> list[str]:
        """From + To + Cc + Bcc e-mail addresses, lower-case, unique, in order."""
        seen: dict[str, None] = {}
        for group in (self.from_, self.to, self.cc, self.bcc):
            for addr in group:
                if addr.email:
                    seen.setdefault(addr.email, None)
        return list(seen)


class _VerbatimPolicy(Compat32):
    """compat32 that writes parsed headers back as received: the stock one refolds every
    header through email.header.Header, which made re-serialising a forwarded message cost
    more than parsing it."""

    def _fold(self, name, value, sanitize):  # type: ignore[no-untyped-def]
        if isinstance(value, str):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_PARSER = BytesParser(policy=compat32)
_VERBATIM_LF = _VerbatimPolicy()
_VERBATIM_CRLF = _VerbatimPolicy(linesep="\r\n")
_OBS_HEADER_RE = re.compile(rb"[!-9;-~]+[ \t]+:")
_OBS_FIX_RE = re.compile(rb"(?m)^([!-9;-~]+)[ \t]+:")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_WS_RE = re.compile(r"\s+")
_BARE_ADDR_RE = re.compile(r"[^\s<>@\"',;:]+@[^\s<>@\"',;:]+\.[^\s<>@\"',;:]+")
_ANGLE_RE = re.compile(r"<([^<>]*)>")
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_B64_JUNK_RE = re.compile(rb"[^A-Za-z0-9+/]")
_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to")
_MAX_DEPTH = 40
_FUTURE_SLACK = timedelta(days=7)
_PLAIN_CTE = frozenset({"", "7bit", "8bit", "binary", "7-bit", "8-bit", "none"})
_EXTENSIONS = {
    "message/rfc822": ".eml", "message/delivery-status": ".txt", "text/plain": ".txt",
    "text/html": ".html", "text/rfc822-headers": ".txt", "image/jpeg": ".jpg",
    "application/octet-stream": ".bin",
}


def parse_message(raw: bytes, max_size: int | None = None) -> ParsedMessage:
    """Parse raw message bytes; never raises, over max_size keeps headers + text only."""
    defects: list[str] = []
    if isinstance(raw, str):  # be lenient with callers; the wire gives bytes
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        return _parse(raw, max_size, defects)
    except Exception as exc:  # a last resort: the message is kept with what can be read
        defects.append(f"message could not be parsed ({type(exc).__name__}); kept as text")
        return _fallback(raw, defects)


def message_key(parsed: ParsedMessage) -> str:
    """Dedup key: the Message-ID, else a digest of sender, date, subject and text body."""
    if parsed.message_id:
        return parsed.message_id
    sender = ""
    if parsed.sender:
        sender = parsed.sender.email or parsed.sender.name
    digest = hashlib.sha256()
    for part in (sender, parsed.date.isoformat() if parsed.date else "", parsed.subject,
                 parsed.text.strip()):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return "digest:" + digest.hexdigest()


def _parse(raw: bytes, max_size: int | None, defects: list[str]) -> ParsedMessage:
    msg = split_message(raw)  # fast path for well-formed MIME
    if msg is None:
        msg = _PARSER.parsebytes(raw)
    if not msg._headers and _OBS_HEADER_RE.match(raw):
        # Obsolete syntax "Name  : value" (RFC 5322 §4.5) is not a header to the stdlib parser:
        # normalise the header block and parse again (rare, so the copy is acceptable).
        head, sep, body = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw[:65536] \
            else raw.partition(b"\r\n\r\n")
        msg = _PARSER.parsebytes(_OBS_FIX_RE.sub(rb"\1:", head) + sep + body)
        defects.append("obsolete header syntax (space before colon)")
    truncated = max_size is not None and len(raw) > max_size
    if truncated:
        defects.append(f"truncated: over {_format_size(max_size or 0)}; "
                       "headers and text kept, HTML and attachments dropped")

    items: list[tuple[str, str]] = []
    raw_values: dict[str, list[str]] = {}
    hint: str | None = None
    hint_known = False
    # The hot loop of a scan (~20 headers a message): cheap checks first, calls only if needed.
    for name, value in msg.raw_items():
        if not isinstance(value, str):
            value = str(value)
        if not value.isascii():
            if not hint_known:
                hint, hint_known = _charset_hint(msg), True
            value = recover_8bit(value, defects, name, hint)
        if "\n" in value or "\r" in value:
            value = _unfold(value)
        else:
            value = value.strip()
        key = name.lower()
        if key in raw_values:
            raw_values[key].append(value)
        else:
            raw_values[key] = [value]
        decoded = decode_words(value, defects, name) if "=?" in value else value
        if "\x00" in decoded or not decoded.isascii():
            decoded = _clean(decoded)
        items.append((name, decoded))

    def first(name: str) -> str | None:
        values = raw_values.get(name)
        return values[0] if values else None

    addresses = {}
    for name in _ADDRESS_HEADERS:
        addresses[name] = _addresses(raw_values.get(name, []), defects, name.title())
    if raw_values.get("from") and not any(a.email for a in addresses["from"]):
        defects.append("From: no e-mail address could be read")

    subject = first("subject")
    subject = _WS_RE.sub(" ", _clean(decode_words(subject, defects, "Subject"))).strip() \
        if subject else ""
    message_id = _first_id(first("message-id"))
    if message_id and len(message_id) > 998:
        defects.append("Message-ID longer than 998 characters, cut")
        message_id = message_id[:998]

    body = _Body(truncated, defects, b"\r\n" in raw[:2000])
    body.walk(msg, None, 0)
    text = body.text
    if text is None:
        text = html_to_text(body.html) if body.html else ""
    html = None if truncated else body.html

    from_ = addresses["from"]
    return ParsedMessage(
        message_id=message_id,
        subject=subject,
        sender=from_[0] if from_ else None,
        from_=from_,
        to=addresses["to"],
        cc=addresses["cc"],
        bcc=addresses["bcc"],
        reply_to=addresses["reply-to"],
        date=_date(first("date"), defects),
        in_reply_to=_first_id(first("in-reply-to")),
        references=_ids(" ".join(raw_values.get("references", []))),
        headers="\n".join(f"{n}: {v}" for n, v in items),
        text=text.replace("\x00", "") if "\x00" in text else text,
        html=html.replace("\x00", "") if html and "\x00" in html else html,
        attachments=body.attachments,
        size=len(raw),
        defects=_dedupe(defects),
        content_type=body.root_type,
        truncated=truncated,
        header_items=items,
    )


class _Body:
    """Walks the MIME tree once, collecting the text/HTML bodies and the attachments."""

    def __init__(self, truncated: bool, defects: list[str], crlf: bool) -> None:
        self.truncated = truncated
        self.policy = _VERBATIM_CRLF if crlf else _VERBATIM_LF
        self.defects = defects
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[Attachment] = []
        self.count = 0
        self.root_type = "text/plain"  # set by walk at depth 0 (get_content_type is not free)

    def walk(self, part: Message, parent: str | None, depth: int) -> None:
        for defect in getattr(part, "defects", ()):
            self.defects.append(_describe_defect(defect))
        ctype = _safe_type(part)
        if depth == 0:
            self.root_type = ctype
        payload = _tree_payload(part)
        if ctype.startswith("message/") and parent is not None:
            self._message_part(part, ctype)
        elif isinstance(payload, list):
            if depth >= _MAX_DEPTH:
                self.defects.append(f"MIME nested deeper than {_MAX_DEPTH} levels; rest skipped")
                return
            for sub in payload:
                if isinstance(sub, Message):
                    self.walk(sub, ctype, depth + 1)
        else:
            self._leaf(part, ctype, parent)

    def _leaf(self, part: Message, ctype: str, parent: str | None) -> None:
        self.count += 1
        disposition = _disposition(part)
        filename = _filename(part, self.defects)
        if ctype.startswith("multipart/"):
            self.defects.append(f"{ctype} without parts; read as text")
            ctype = "text/plain"
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            attr = "text" if ctype == "text/plain" else "html"
            current = getattr(self, attr)
            if current is None or parent == "multipart/mixed":
                body = self._decode_text(part, ctype)
                if current is None:
                    setattr(self, attr, body)
                elif body.strip():  # more inline text after an attachment (Apple Mail style)
                    setattr(self, attr, current + "\n\n" + body)
                return
        if self.truncated:
            return
        data = _payload_bytes(part, self.defects)
        cid = part.get("Content-ID")
        cid = _clean(recover_8bit(str(cid), self.defects, "Content-ID")).strip().strip("<>") \
            if cid else None
        inline = disposition == "inline" or (disposition is None and bool(cid))
        self._add(filename or _default_name(ctype, self.count), ctype, data, cid or None, inline)

    def _message_part(self, part: Message, ctype: str) -> None:
        """message/rfc822 (forwarded mail) is kept whole as .eml; DSN status parts as text."""
        self.count += 1
        if self.truncated:
            return
        filename = _filename(part, self.defects)
        try:
            if getattr(part, "raw_body", None) is not None or isinstance(part._payload, str):
                # from the fast splitter: the original bytes
                data = _payload_bytes(part, self.defects)
                inner = None
                if ctype in ("message/rfc822", "message/global") and not filename:
                    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n"))
                               if i >= 0), default=len(data))
                    inner = _PARSER.parsebytes(data[:end] + b"\n", headersonly=True)
            elif ctype in ("message/rfc822", "message/global"):
                inner = part.get_payload(0)
                data = inner.as_bytes(policy=self.policy)
            else:
                inner = None
                whole = part.as_bytes(policy=self.policy)
                sep = b"\r\n\r\n" if self.policy is _VERBATIM_CRLF else b"\n\n"
                end = whole.find(sep)
                data = whole[end + len(sep) :] if end >= 0 else b""
            if inner is not None and not filename:
                subject = inner.get("Subject")
                subject = decode_words(
                    _unfold(recover_8bit(str(subject), [], "")), [], ""
                ) if subject else ""
                filename = (_safe_filename(subject)[:100].strip(" .") or "message") + ".eml"
        except Exception as exc:  # re-serialising a broken sub-message: keep what we can
            self.defects.append(f"{ctype} part unreadable ({type(exc).__name__})")
            data = b""
        disposition = _disposition(part)
        self._add(filename or _default_name(ctype, self.count), ctype, data, None,
                  disposition == "inline")

    def _add(self, filename: str, ctype: str, data: bytes, cid: str | None, inline: bool) -> None:
        self.attachments.append(Attachment(filename, ctype, data, cid, inline))

    def _decode_text(self, part: Message, ctype: str) -> str:
        data = _payload_bytes(part, self.defects)
        try:
            charset = _content_charset(part)
        except Exception:
            charset = None
        if b"\r" in data and codec_for(charset) == "utf-8":
            text = _utf8_lf(data)
            if text is not None:
                return text
        what = "HTML body" if ctype == "text/html" else "text body"
        text = decode_bytes(data, charset, self.defects, what)
        return text.replace("\r\n", "\n") if "\r" in text else text


def _utf8_lf(data: bytes) -> str | None:
    """data.decode("utf-8").replace("\\r\\n", "\\n") at ~60% of the cost, or None if `data` is
    not UTF-8 or has a CR not followed by LF. Dropping the CR of each CRLF neither makes nor
    breaks a UTF-8 sequence (CR and LF are ASCII), so the two agree."""
    lf = data.replace(b"\r", b"")  # deleting one byte value is a fast path; CRLF -> LF is not
    if len(data) - len(lf) != data.count(b"\r\n"):
        return None
    try:
        return lf.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _content_charset(part: Message) -> str | None:
    """part.get_content_charset(): it reads only the first Content-Type header, whose parameter
    parsing is slow and whose values repeat from message to message, so it is memoised."""
    for name, value in part._headers:  # type: ignore[attr-defined]
        if name.lower() == "content-type":
            if not isinstance(value, str):
                return part.get_content_charset()
            return _charset_of(name, value)
    return None


@lru_cache(maxsize=1024)
def _charset_of(name: str, value: str) -> str | None:
    msg = Message()
    msg.set_raw(name, value)
    return msg.get_content_charset()


def _charset_hint(msg: Message) -> str | None:
    """The charset of the first text part: how old mailers encoded raw 8-bit headers."""
    part = msg
    for _ in range(5):
        payload = _tree_payload(part)
        if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
            break
        part = payload[0]
    try:
        charset = part.get_param("charset")
    except Exception:
        return None
    return charset if isinstance(charset, str) else None


def _tree_payload(part: Message) -> object:
    """The part's _payload (a list for a multipart), or None for a leaf of the fast splitter:
    reading its _payload would decode the bytes it keeps (raw_body) to str."""
    # The private attribute: get_payload() would re-decode 8-bit text with a charset.
    return part._payload if getattr(part, "raw_body", None) is None else None


def _payload_bytes(part: Message, defects: list[str]) -> bytes:
    """The part's content with its transfer encoding undone, forgiving odd CTE spellings."""
    raw = getattr(part, "raw_body", None)  # the fast splitter kept the original bytes
    if raw is None:
        # The private attribute holds the bytes as parsed (surrogate-escaped); get_payload()
        # would decode them with the declared charset and lose the original bytes.
        payload = part._payload
        if isinstance(payload, list):
            return b""
        if not isinstance(payload, str):
            payload = str(payload or "")
        try:
            raw = payload.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            raw = payload.encode("utf-8", "surrogateescape")
    cte_header = part.get("Content-Transfer-Encoding")
    if cte_header is None:
        return raw
    cte = str(cte_header).strip().lower().split(";", 1)[0].strip(" \t\"'")
    if cte in _PLAIN_CTE:
        return raw
    if "base64" in cte:
        return _b64decode(raw, defects)
    if "quoted" in cte or cte == "qp":
        return binascii.a2b_qp(raw)
    if "uue" in cte or "uuencode" in cte:
        try:
            decoded = part.get_payload(decode=True)
            return decoded if isinstance(decoded, bytes) else raw
        except Exception:
            defects.append("uuencoded part could not be decoded; kept as is")
            return raw
    defects.append(f"unknown Content-Transfer-Encoding {cte[:40]!r}, content taken as is")
    return raw


def _b64decode(raw: bytes, defects: list[str]) -> bytes:
    try:
        return binascii.a2b_base64(raw)  # skips line breaks and other non-alphabet bytes
    except (binascii.Error, ValueError):
        pass
    data = _B64_JUNK_RE.sub(b"", raw)
    if len(data) % 4 == 1:
        data = data[:-1]
    defects.append("base64 content damaged; decoded what was readable")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message, defects: list[str]) -> str | None:
    """Attachment file name: RFC 2231 parameters or encoded words, from either header."""
    if "name" not in str(part.get("content-disposition", "")).lower() and \
            "name" not in str(part.get("content-type", "")).lower():
        return None  # the usual body part: skip the (slow) parameter parsing
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            value = part.get_param(param, None, header)
            if value is not None and not str(part.get(header, "")).isascii():
                value = _param_8bit(part, param, header, defects)
        except Exception:
            continue
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
            charset, _lang, text = value
            data = _rfc2231_bytes(str(text).strip('"'))
            name = decode_bytes(data, charset or None, defects, "attachment name")
        else:
            name = recover_8bit(str(value), defects, "attachment name").strip('"')
            name = decode_words(_unfold(name), defects, "attachment name")
        name = _safe_filename(name)
        if name:
            return name
    return None


def _rfc2231_bytes(text: str) -> bytes:
    """The bytes of a %-decoded RFC 2231 value (one character a byte); raw 8-bit text in the
    same header was already turned into real characters (_param_8bit): those go as UTF-8."""
    try:
        return text.encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(ch.encode("latin-1") if ord(ch) < 256
                        else ch.encode("utf-8", "surrogateescape") for ch in text)


def _param_8bit(part: Message, param: str, header: str, defects: list[str]) -> object:
    """A parameter of a header holding raw 8-bit text (e.g. filename=ciële.txt in UTF-8).

    The stdlib turns such headers into replacement characters; re-read the raw value.
    """
    for key, raw in part.raw_items():
        if key.lower() == header:
            tmp = Message()
            tmp[header] = recover_8bit(str(raw), defects, "attachment name")
            return tmp.get_param(param, None, header)
    return None


def _safe_filename(name: str) -> str:
    name = _CTRL_RE.sub("", _clean(name)).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if len(name) > 200:  # keep the extension when cutting a long name
        stem, dot, ext = name.rpartition(".")
        name = stem[: 200 - len(ext) - 1] + dot + ext if dot and len(ext) <= 16 else name[:200]
    return "" if name in (".", "..") else name


def _default_name(ctype: str, n: int) -> str:
    if ctype == "message/delivery-status":
        return "delivery-status.txt"
    ext = _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype, strict=False)
    if not ext:
        ext = ".txt" if ctype.startswith("text/") else ".bin"
    return f"attachment-{n}{ext}"


def _safe_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    if not ctype.isascii() or len(ctype) > 100 or "/" not in ctype or not ctype.isprintable():
        return "application/octet-stream"
    return ctype


def _addresses(values: list[str], defects: list[str], what: str) -> list[Address]:
    if not values:
        return []
    out: list[Address] = []
    try:
        pairs = []
        for value in values:
            simple = _simple_addresses(value)
            pairs.extend(simple if simple is not None else getaddresses([value]))
    except Exception:
        defects.append(f"{what}: addresses could not be read")
        return []
    for name, addr in pairs:
        if not name and not addr:
            continue
        name = _WS_RE.sub(" ", decode_words(name, defects, what)).strip() if name else ""
        addr = addr.strip()
        if "@" in addr and " " not in addr and not addr.startswith("@") and "=?" not in addr:
            out.append(Address(_clean(name), _clean(addr).lower()))
            continue
        name = name or decode_words(addr, defects, what)
        m = _BARE_ADDR_RE.search(name)  # "Big Bug bb@bug.com": an address among the words
        if m:
            out.append(Address(_clean(_WS_RE.sub(" ", name.replace(m.group(0), "")).strip()),
                               _clean(m.group(0)).lower()))
        else:
            out.append(Address(_clean(name), ""))
    return out


_ATOM = r'[^<>\s",;:()\\@\[\]]+'
_SIMPLE_ADDR_RE = re.compile(
    rf'\s*(?:(?:"([^"\\]*)"|([^<>",;:()\\@\[\]]*?))\s*<({_ATOM}@{_ATOM})>|({_ATOM}@{_ATOM}))'
    r"\s*(?:,|$)"
)


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """Fast path for the usual `Name <a@b>, "Name" <c@d>, e@f`; None means use the full
    RFC 5322 parser (getaddresses costs ~0.2 ms a header, more than the MIME parse)."""
    pairs = []
    pos, end = 0, len(value)
    while pos < end:
        m = _SIMPLE_ADDR_RE.match(value, pos)
        if m is None or m.end() == pos:
            return None
        quoted, name, addr, bare = m.groups()
        if bare:
            pairs.append(("", bare))
        else:
            pairs.append(((quoted if quoted is not None else name).strip(), addr))
        pos = m.end()
    return pairs


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        defects.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        defects.append(f"Date header unreadable: {value[:60]!r}")
        return None
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append(f"Date header out of range: {value[:60]!r}")
        return None
    # A date years ahead (spam, broken clocks: "Mon, 30 Jun 3609") would sort first forever.
    if parsed > datetime.now(UTC) + _FUTURE_SLACK:
        defects.append(f"Date header in the future, ignored: {value[:60]!r}")
        return None
    return parsed


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    m = _ANGLE_RE.search(value)
    ident = m.group(1).strip() if m else value.strip().split(None, 1)[0] if value.strip() else ""
    return _clean(ident) or None


def _ids(value: str) -> list[str]:
    if not value.strip():
        return []
    found = [i.strip() for i in _ANGLE_RE.findall(value) if i.strip()]
    return [_clean(i) for i in (found or value.replace(",", " ").split())]


def _unfold(value: str) -> str:
    if "\n" in value or "\r" in value:
        value = _FOLD_RE.sub("", value).replace("\r", " ").replace("\n", " ")
    return value.strip()


def _clean(value: str) -> str:
    """Text safe for any database: no NULs, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _scrub(value)


def _scrub(value: str) -> str:
    if not value.isascii() and _SURROGATE_RE.search(value):
        value = _SURROGATE_RE.sub("\ufffd", value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


def _describe_defect(defect: object) -> str:
    doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
    return f"MIME: {doc}"


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{round(size / 1024)} KB" if size >= 1024 else f"{size} bytes"


def _fallback(raw: bytes, defects: list[str]) -> ParsedMessage:
    """Last resort when the MIME parser itself failed: the bytes kept as readable text."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    headers = head.decode("utf-8", "replace") if sep else ""
    text = (body if sep else raw).decode("utf-8", "replace")
    return ParsedMessage(
        message_id=None, subject="", sender=None, from_=[], to=[], cc=[], bcc=[], reply_to=[],
        date=None, in_reply_to=None, references=[], headers=_clean(headers),
        text=_clean(text), html=None, attachments=[], size=len(raw), defects=_dedupe(defects),
        content_type="text/plain", truncated=False, header_items=[],
    )

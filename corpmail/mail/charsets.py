"""Turning mail bytes into text: charset aliases, RFC 2047 encoded words, guessing 8-bit text."""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

# Labels mail clients write that Python does not know, or where a superset decodes more real
# mail (the WHATWG encoding standard makes the same substitutions).
_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "chinese": "gb18030", "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "euc-kr": "cp949", "korean": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-9": "cp1254",
    "tis-620": "cp874", "iso-8859-11": "cp874", "windows-874": "cp874",
    "x-mac-roman": "mac_roman", "macintosh": "mac_roman",
    "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8", "x-utf-8": "utf-8",
}
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us"})
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_CP_RE = re.compile(r"^(?:cp|win|windows|x-cp)[-_ ]?(\d{3,4})$")


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when unknown / not a text codec."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*pl
    name = _ALIASES.get(name, name)
    m = _CP_RE.match(name)
    if m:
        name = "cp" + m.group(1)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Refuse bytes-to-bytes codecs (zlib, base64...) and escape codecs a sender could abuse.
    if not getattr(info, "_is_text_encoding", True) or info.name in (
        "unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode",
    ):
        return None
    return info.name


# Non-ASCII letters worth a bonus when guessing: Polish (the product's home) and Western.
_CENTRAL = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻčřšžěůČŘŠŽ")
_WESTERN = frozenset("éèàùâêîôûçëïüöäßñáíóúÉÈÀÇÜÖÄÑÁÍÓÚåøæÅØÆ")
_GUESSES = (("cp1250", _CENTRAL), ("iso8859-2", _CENTRAL), ("cp1252", _WESTERN))


def guess_decode(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown charset: UTF-8 if valid, else the best 8-bit guess.

    Returns (text, codec used). The guess scores letters: a wrong Central/Western European
    code page turns letters into symbols or control characters (e.g. ł -> ³ in cp1252).
    """
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = ("", "cp1252", -1)
    # Only the non-ASCII bytes matter; score on a bounded sample to stay fast on big bodies.
    sample = bytes(b for b in data[:20000] if b >= 0x80)
    for codec, bonus_set in _GUESSES:
        text = sample.decode(codec, "replace")
        score = 0
        for ch in text:
            if ch.isalpha():
                score += 2 if ch in bonus_set else 1
        if score > best[2]:
            best = ("", codec, score)
    return data.decode(best[1], "replace"), best[1]


def decode_bytes(data: bytes, charset: str | None, defects: list[str], what: str) -> str:
    """Decode body or header bytes with a declared charset, noting anything guessed."""
    if not data:
        return ""
    if charset and charset.strip().strip("\"'").lower() in _ASCII_LABELS:
        if data.isascii():
            return data.decode("ascii")
        charset = None  # 8-bit under an ASCII label: the label is wrong, guess
    codec = codec_for(charset)
    if codec is None:
        text, used = guess_decode(data)
        if used != "utf-8" or charset:
            note = f"{what}: charset {charset!r} unknown" if charset else f"{what}: no charset"
            defects.append(f"{note}, decoded as {used}")
        return text
    try:
        text = data.decode(codec)
        if codec.startswith(("utf-7", "utf-16", "utf-32")) and _SURROGATE_RE.search(text):
            text = _SURROGATE_RE.sub("\ufffd", text)  # lone surrogates cannot be stored
        return text
    except UnicodeDecodeError:
        pass
    if codec != "utf-8":
        # Declared one charset, wrote another: UTF-8 mislabelled as 8-bit is the usual case.
        try:
            text = data.decode("utf-8")
            defects.append(f"{what}: not valid {charset}, decoded as utf-8")
            return text
        except UnicodeDecodeError:
            pass
    else:
        text, used = guess_decode(data)
        defects.append(f"{what}: not valid {charset}, decoded as {used}")
        return text
    defects.append(f"{what}: not valid {charset}, undecodable bytes replaced")
    return data.decode(codec, "replace")


def recover_8bit(value: str, defects: list[str], what: str, hint: str | None = None) -> str:
    """Header text from the bytes parser (surrogate-escaped 8-bit) -> real text.

    UTF-8 first (RFC 6532); else the message's own body charset (`hint`), which is what
    old mailers used for raw 8-bit headers; else a guess.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = codec_for(hint)
    if codec and codec != "utf-8":
        try:
            text = raw.decode(codec)
            defects.append(f"{what}: raw 8-bit header decoded as {hint}")
            return text
        except UnicodeDecodeError:
            pass
    text, used = guess_decode(raw)
    if used != "utf-8":
        defects.append(f"{what}: raw 8-bit header decoded as {used}")
    return text


_EW_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=", re.DOTALL)
_EW_GAP_RE = re.compile(r"[ \t\r\n]*")
_QP_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")
_B64_JUNK_RE = re.compile(r"[^A-Za-z0-9+/]")


def _ew_bytes(enc: str, payload: str) -> bytes:
    if enc in "bB":
        data = _B64_JUNK_RE.sub("", payload)
        if len(data) % 4 == 1:
            data = data[:-1]  # a lone trailing sextet cannot encode a byte
        try:
            return binascii.a2b_base64(data + "=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return b""
    raw = payload.replace("_", " ").encode("utf-8", "surrogateescape")
    return _QP_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_words(value: str, defects: list[str], what: str) -> str:
    """Decode RFC 2047 encoded words in any charset; plain text in between is kept.

    Adjacent words in the same charset are joined before decoding, since senders split
    multi-byte characters across words; whitespace between encoded words is dropped.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_cs: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_cs
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_cs or "", defects, what))
            pending, pending_cs = [], None

    for m in _EW_RE.finditer(value):
        gap = value[pos : m.start()]
        if gap and not (pending and _EW_GAP_RE.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = m.group(1)
        if pending and charset.lower() != (pending_cs or "").lower():
            flush()
        pending_cs = charset
        pending.append(_ew_bytes(m.group(2), m.group(3)))
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)

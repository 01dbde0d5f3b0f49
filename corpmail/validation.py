"""Pure validators for hosts, ports, addresses and lists; each raises ValueError with a clear message."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

MAX_HOST_LENGTH = 253
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64

# One DNS label: letters, digits and inner hyphens (underscores appear in real
# internal names such as _dmarc or docker service names, so they are allowed).
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# The local part of an address: the dot-atom of RFC 5322 (quoted local parts are
# legal but nobody types them into a CRM; refusing them keeps matching simple).
_LOCAL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$", re.IGNORECASE
)
_LIST_SEPARATORS = re.compile(r"[\s,;]+")


def preview(value: str, limit: int = 40) -> str:
    """A short, printable rendering of user input for an error message."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)


def _to_ascii_hostname(name: str) -> str:
    """Lower-case and encode international names (IDNA), so 'żółw.pl' becomes 'xn--w-uga1v8h.pl'."""
    name = name.lower()
    if name.isascii():
        return name
    # IDNA 2003 (the stdlib codec) would accept symbols such as emoji; IDNA 2008 does not.
    for ch in name:
        if ch not in "-._" and unicodedata.category(ch)[0] not in "LMN":
            raise ValueError(f"{preview(name)} is not a valid host name")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{preview(name)} is not a valid host name") from exc


def _check_hostname(name: str, what: str) -> str:
    name = name.removesuffix(".")  # a fully qualified name may end with the root dot
    if not name:
        raise ValueError(f"{what} is empty")
    ascii_name = _to_ascii_hostname(name)
    if len(ascii_name) > MAX_HOST_LENGTH:
        raise ValueError(f"{what} is too long (at most {MAX_HOST_LENGTH} characters)")
    for label in ascii_name.split("."):
        if not _LABEL.match(label):
            raise ValueError(
                f"{preview(name)} is not a valid {what.lower()}: use letters, digits, "
                "dots and hyphens only"
            )
    return ascii_name


def validate_host(value: str) -> str:
    """A host name or an IP address (v4 or v6), without scheme, port or path; returned normalised."""
    if not isinstance(value, str):
        raise ValueError("host must be text")
    host = value.strip()
    if not host:
        raise ValueError("host is empty")
    if len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"host is too long (at most {MAX_HOST_LENGTH} characters)")
    if "://" in host:
        raise ValueError(
            f"host {preview(host)} must not include a scheme such as imap:// or https://"
        )
    if any(ch.isspace() for ch in host):
        raise ValueError(f"host {preview(host)} must not contain spaces")
    if "/" in host:
        raise ValueError(f"host {preview(host)} must not include a path")
    if "@" in host:
        raise ValueError(f"host {preview(host)} must not include a user name")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if ":" in host:
        raise ValueError(
            f"host {preview(host)} must not include a port: give the port separately"
        )
    if re.fullmatch(r"[0-9.]+", host):
        raise ValueError(f"{preview(host)} is not a valid IP address")
    return _check_hostname(host, "Host name")


def validate_port(value) -> int:
    """A TCP port number, 1..65535 (accepts an int or decimal text)."""
    if isinstance(value, bool):
        raise ValueError("port must be a number")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit() or not text.isascii():
            raise ValueError(f"port {preview(text)} is not a number")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("port must be a number")
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is out of range: use 1 to 65535")
    return value


def parse_host_port(value: str, default_port: int | None = None) -> tuple[str, int]:
    """Split 'host:port', '[ipv6]:port', or a bare host when default_port is given."""
    if not isinstance(value, str):
        raise ValueError("host:port must be text")
    text = value.strip()
    if not text:
        raise ValueError("host:port is empty")
    if "://" in text:
        raise ValueError(
            f"{preview(text)} must not include a scheme such as imap://: write HOST:PORT"
        )
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{preview(text)}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"{preview(text)}: expected ':PORT' after ']'")
        port_text = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"{preview(host)} is not a valid IPv6 address") from exc
    elif text.count(":") > 1:
        # A bare IPv6 address has no room for a port without brackets.
        host, port_text = text, None
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
    else:
        host, port_text = text, None
    host = validate_host(host)
    if port_text is None or port_text == "":
        if default_port is None:
            raise ValueError(f"{preview(text)} has no port: write HOST:PORT")
        return host, validate_port(default_port)
    return host, validate_port(port_text)


def validate_domain(value: str) -> str:
    """A mail domain such as 'example.com' (a leading '@' is dropped); returned lower-case."""
    if not isinstance(value, str):
        raise ValueError("domain must be text")
    text = value.strip()
    text = text.removeprefix("@")
    if not text:
        raise ValueError("domain is empty")
    if len(text) > MAX_HOST_LENGTH:
        raise ValueError(f"domain is too long (at most {MAX_HOST_LENGTH} characters)")
    if "@" in text:
        raise ValueError(f"{preview(text)} is an e-mail address, not a domain")
    if any(ch.isspace() for ch in text) or "/" in text or ":" in text:
        raise ValueError(f"{preview(text)} is not a valid domain")
    return _check_hostname(text, "Domain")


def validate_email(value: str) -> str:
    """An e-mail address 'local@domain'; returned lower-cased (the CRM matches case-insensitively)."""
    if not isinstance(value, str):
        raise ValueError("e-mail address must be text")
    text = value.strip()
    if not text:
        raise ValueError("e-mail address is empty")
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValueError(f"e-mail address is too long (at most {MAX_EMAIL_LENGTH} characters)")
    if any(ch.isspace() for ch in text):
        raise ValueError(f"e-mail address {preview(text)} must not contain spaces")
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"{preview(text)} is not an e-mail address (expected name@domain)")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValueError(
            f"e-mail address {preview(text)}: the part before @ is too long "
            f"(at most {MAX_LOCAL_PART_LENGTH} characters)"
        )
    if not local.isascii() or not _LOCAL.match(local):
        raise ValueError(
            f"e-mail address {preview(text)}: the part before @ has characters "
            "an address cannot contain"
        )
    try:
        domain = validate_domain(domain)
    except ValueError as exc:
        raise ValueError(f"e-mail address {preview(text)}: {exc}") from exc
    return f"{local.lower()}@{domain}"


def split_list(text: str | None) -> list[str]:
    """Items separated by whitespace, commas or semicolons; lower-cased, unique, order kept."""
    if not text:
        return []
    # dict keeps insertion order and makes the uniqueness check O(1) on long inputs
    out: dict[str, None] = {}
    for item in _LIST_SEPARATORS.split(text):
        item = item.strip().lower()
        if item:
            out.setdefault(item, None)
    return list(out)


# C0 controls and DEL: NUL is refused by PostgreSQL in text, the rest are invisible junk
# (escape sequences, bells) nobody types into a form. Text areas keep tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(value: str, multiline: bool = False) -> bool:
    """True when text holds characters no one types: NUL, escapes (line breaks if one line)."""
    return bool((_CONTROL_MULTILINE if multiline else _CONTROL).search(value))


def validate_website(value: str) -> str:
    """A web address: 'example.com', 'www.example.com/path' or an http(s) URL; returned as
    given (trimmed). Other schemes (javascript:, data:) are refused: the CRM links to it."""
    if not isinstance(value, str):
        raise ValueError("web address must be text")
    text = value.strip()
    if not text:
        raise ValueError("web address is empty")
    if len(text) > 255:
        raise ValueError("web address is too long (at most 255 characters)")
    if any(ch.isspace() for ch in text) or has_control_characters(text):
        raise ValueError(f"web address {preview(text)} must not contain spaces or control "
                         "characters")
    rest = text
    scheme, sep, after = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise ValueError(f"web address {preview(text)} must start with http:// or https://")
        rest = after
    elif ":" in text.split("/", 1)[0] and not re.match(r"^[^:/]+:\d+(/|$)", text):
        raise ValueError(f"web address {preview(text)} must start with http:// or https://")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    host = re.sub(r":\d+$", "", host)
    validate_host(host)
    return text


def validate_oauth_url(value: str) -> str:
    """An OAuth 2.0 provider endpoint: https, or http only on this machine (a local server)."""
    from authlib.common.security import is_secure_transport

    value = (value or "").strip()
    if len(value) > 500:
        raise ValueError("the URL is too long (at most 500 characters)")
    if not value.lower().startswith(("https://", "http://")) or not is_secure_transport(value):
        raise ValueError("give an https:// URL")
    return value

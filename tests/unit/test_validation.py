"""Pure validators: hosts, ports, host:port, e-mail addresses, domains and lists."""

from __future__ import annotations

import re

import pytest

from corpmail.validation import (
    has_control_characters,
    parse_host_port,
    split_list,
    validate_domain,
    validate_email,
    validate_host,
    validate_port,
    validate_website,
)

MEGABYTE = "a" * (1024 * 1024)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("mail.example.com", "mail.example.com"),
        ("  Mail.Example.COM ", "mail.example.com"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("imap.example.com.", "imap.example.com"),
        ("żółw.pl", "xn--w-uga1v8h.pl"),
        ("mail_1.internal", "mail_1.internal"),
    ],
)
def test_validate_host_accepts(raw, expected):
    assert validate_host(raw) == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("imap://mail.example.com", "scheme"),
        ("https://mail.example.com/", "scheme"),
        ("mail example.com", "spaces"),
        ("mail.example.com\t", None),  # trailing whitespace is stripped: accepted below
        ("mail.example.com/inbox", "path"),
        ("mail.example.com:993", "port"),
        ("user@mail.example.com", "user name"),
        ("-mail.example.com", "not a valid host name"),
        ("mail..example.com", "not a valid host name"),
        ("mail.exa$mple.com", "not a valid host name"),
        ("999.1.1.1", "not a valid IP"),
        ("1.2.3", "not a valid IP"),
        ("😀.example.com", "not a valid host name"),
        ("<script>alert(1)</script>", "path"),
        ("'; DROP TABLE mail_servers; --", "spaces"),
        ("a" * 64 + ".com", "not a valid host name"),  # a label is at most 63
        ("a." * 127 + "com", "too long"),
        (MEGABYTE, "too long"),
    ],
)
def test_validate_host_refuses(raw, fragment):
    if fragment is None:
        assert validate_host(raw) == raw.strip()
        return
    with pytest.raises(ValueError) as err:
        validate_host(raw)
    assert fragment in str(err.value)
    assert len(str(err.value)) < 200  # the input is never echoed whole


@pytest.mark.parametrize("raw, expected", [(1, 1), (143, 143), ("993", 993), (" 587 ", 587), (65535, 65535)])
def test_validate_port_accepts(raw, expected):
    assert validate_port(raw) == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (0, "out of range"),
        ("0", "out of range"),
        (70000, "out of range"),
        ("70000", "out of range"),
        (-1, "out of range"),
        ("-1", "not a number"),
        ("", "not a number"),
        ("abc", "not a number"),
        ("1e3", "not a number"),
        ("١٤٣", "not a number"),  # Arabic-Indic digits are digits, but not a port
        (True, "number"),
        (143.0, "number"),
        (None, "number"),
        (MEGABYTE, "not a number"),
    ],
)
def test_validate_port_refuses(raw, fragment):
    with pytest.raises(ValueError) as err:
        validate_port(raw)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "raw, default, expected",
    [
        ("mail.example.com:993", None, ("mail.example.com", 993)),
        ("127.0.0.1:1143", None, ("127.0.0.1", 1143)),
        ("[::1]:993", None, ("::1", 993)),
        ("[2001:db8::1]", 143, ("2001:db8::1", 143)),
        ("2001:db8::1", 143, ("2001:db8::1", 143)),
        ("mail.example.com", 587, ("mail.example.com", 587)),
        ("mail.example.com:", 25, ("mail.example.com", 25)),
    ],
)
def test_parse_host_port(raw, default, expected):
    assert parse_host_port(raw, default) == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("mail.example.com", "no port"),
        ("mail.example.com:0", "out of range"),
        ("mail.example.com:70000", "out of range"),
        ("mail.example.com:imap", "not a number"),
        ("imap://mail.example.com:993", "scheme"),
        ("[::1:993", "missing ']'"),
        ("[::1]993", "expected ':PORT'"),
        ("[not-ipv6]:993", "not a valid IPv6"),
        ("mail example.com:993", "spaces"),
        ("", "empty"),
    ],
)
def test_parse_host_port_refuses(raw, fragment):
    with pytest.raises(ValueError) as err:
        parse_host_port(raw)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("jan@example.com", "jan@example.com"),
        ("  Jan.Kowalski@Example.COM ", "jan.kowalski@example.com"),
        ("a+tag@sub.example.pl", "a+tag@sub.example.pl"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("admin@localhost", "admin@localhost"),
        ("jan@żółw.pl", "jan@xn--w-uga1v8h.pl"),
    ],
)
def test_validate_email_accepts(raw, expected):
    assert validate_email(raw) == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "empty"),
        ("jan", "not an e-mail address"),
        ("jan@", "not an e-mail address"),
        ("@example.com", "not an e-mail address"),
        ("jan kowalski@example.com", "spaces"),
        ("jan@exa mple.com", "spaces"),
        ("jan..k@example.com", "cannot contain"),
        ("<script>@example.com", "cannot contain"),
        ("jan@example.com'; DROP TABLE users; --", "spaces"),
        ("jan@😀.pl", "not a valid host name"),
        ("😀@example.com", "cannot contain"),
        ("a" * 65 + "@example.com", "too long"),
        ("a@" + "b" * 250 + ".pl", "too long"),
        (MEGABYTE + "@example.com", "too long"),
        ("jan@example.com:25", "not a valid domain"),
    ],
)
def test_validate_email_refuses(raw, fragment):
    with pytest.raises(ValueError) as err:
        validate_email(raw)
    assert fragment in str(err.value)
    assert len(str(err.value)) < 200


def test_validate_domain():
    assert validate_domain("Example.COM") == "example.com"
    assert validate_domain("@example.com") == "example.com"
    for bad, fragment in [
        ("jan@example.com", "e-mail address"),
        ("", "empty"),
        ("@", "empty"),
        ("exa mple.com", "not a valid domain"),
        ("example.com/x", "not a valid domain"),
        ("ex_ample!.com", "not a valid domain"),
        (MEGABYTE, "too long"),
    ]:
        with pytest.raises(ValueError) as err:
            validate_domain(bad)
        assert fragment in str(err.value), bad


def test_split_list():
    assert split_list("") == []
    assert split_list(None) == []
    assert split_list("A@x.com, b@y.com;a@x.com\n c\t\td ,, ") == ["a@x.com", "b@y.com", "c", "d"]
    assert split_list("Zażółć ZAŻÓŁĆ") == ["zażółć"]


def test_split_list_is_fast_on_a_megabyte():
    text = " ".join(f"user{i}@example.com" for i in range(60_000))  # ~1.2 MB
    items = split_list(text + " " + text)
    assert len(items) == 60_000
    assert items[0] == "user0@example.com" and items[-1] == "user59999@example.com"


@pytest.mark.parametrize("raw", [
    "example.com", "www.example.com/about?x=1#top", "https://acme.pl", "HTTP://Acme.pl:8080/x",
    "acme.pl:8080", "https://żółw.pl/",
])
def test_validate_website_accepts(raw):
    assert validate_website(raw) == raw


@pytest.mark.parametrize("raw, fragment", [
    ("javascript://%0aalert(1)", "must start with http:// or https://"),
    ("javascript:alert(1)", "must start with http:// or https://"),
    ("data:text/html,<script>alert(1)</script>", "must start with http:// or https://"),
    ("ftp://files.example.com", "must start with http:// or https://"),
    ("https://", "empty"),
    ("https://exa mple.com", "spaces"),
    ("https://example.com/\x00", "control characters"),
    ("<script>alert(1)</script>", "not a valid host name"),
    ("w" * 256, "too long"),
    ("", "empty"),
])
def test_validate_website_refuses(raw, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        validate_website(raw)


@pytest.mark.parametrize("value, multiline, expected", [
    ("Jan Kowalski", False, False),
    ("Zażółć 📧", False, False),
    ("a\x00b", False, True),
    ("a\x1b[31mred", True, True),
    ("line one\nline two\ttab", True, False),
    ("line one\nline two", False, True),
    ("bell\x07", True, True),
    ("del\x7f", False, True),
])
def test_has_control_characters(value, multiline, expected):
    assert has_control_characters(value, multiline) is expected

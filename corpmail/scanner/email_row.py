"""The columns of an E-mail row that come from the message alone (Create e-mail, SPEC 4.1).

A long scan makes them in its parser process (scanner/parse_ahead.py), next to the parsing,
and hands them over with the message; otherwise Create e-mail makes them itself. Text is
cleaned for the databases, HTML sanitised and the JSON columns serialised, so that the
scanner process, a scan's bottleneck, only binds them (~60 µs of a message's Python work;
bench notes in issue 4). No Flask here: the parser process does not import the web app.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from corpmail.mail.html import sanitize_html

if TYPE_CHECKING:
    from corpmail.mail.message import Address, ParsedMessage

# Email's JSON columns, serialised here as SQLAlchemy's JSON type would (json.dumps)
JSON_COLUMNS = ("to", "cc", "bcc", "reply_to", "defects")


def clean(text: str | None, limit: int | None = None) -> str:
    """Text the databases accept: no NUL (PostgreSQL) nor lone surrogates, within the column."""
    if not text:
        return ""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit else text


def address_list(addresses: list[Address] | None) -> list[dict[str, str]]:
    return [{"name": clean(a.name, 255), "email": clean(a.email, 254)} for a in addresses or ()]


def email_columns(p: ParsedMessage) -> dict[str, Any]:
    """The message's columns of its E-mail row; JSON columns as JSON text."""
    sender = p.sender
    return {
        "message_id": clean(p.message_id, 998) or None,
        "subject": clean(p.subject),
        "from_name": clean(sender.name if sender else "", 255),
        "from_address": clean(sender.email if sender else "", 254),
        "to": json.dumps(address_list(p.to)),
        "cc": json.dumps(address_list(p.cc)),
        "bcc": json.dumps(address_list(p.bcc)),
        "reply_to": json.dumps(address_list(p.reply_to)),
        "date": p.date,
        "in_reply_to": clean(p.in_reply_to) or None,
        "references": clean(" ".join(p.references or [])) or None,
        "headers": clean(p.headers),
        "text_body": clean(p.text),
        "html_body": clean(sanitize_html(p.html)) if p.html else None,
        "size": p.size,
        "defects": json.dumps([clean(d) for d in p.defects or []]),
    }

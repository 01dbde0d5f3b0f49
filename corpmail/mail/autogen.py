"""Is a message machine-made (auto-reply, bulk, bounce)? SPEC §4.5, with the reason why."""

from __future__ import annotations

import re

from corpmail.mail.message import ParsedMessage

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_DAEMON_RE = re.compile(r"^(mailer-daemon|postmaster)(@|$)", re.IGNORECASE)
_REPORT_TYPE_RE = re.compile(r"report-type\s*=\s*\"?delivery-status", re.IGNORECASE)


def auto_generated_reason(parsed: ParsedMessage) -> str | None:
    """A short human reason when the message is auto-generated, else None."""
    value = _value(parsed, "Auto-Submitted")
    if value and value.lower() != "no":
        return f"Auto-Submitted: {value}"
    for name in ("X-Autoreply", "X-Autorespond"):
        value = parsed.header(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return f"{name}: {value.strip() or 'yes'}"[:200]
    value = _value(parsed, "Precedence")
    if value and value.lower() in _BULK_PRECEDENCE:
        return f"Precedence: {value}"
    return _bounce_reason(parsed)


def _bounce_reason(parsed: ParsedMessage) -> str | None:
    has_status_part = any(a.content_type == "message/delivery-status" for a in parsed.attachments)
    if parsed.content_type == "multipart/report":
        if _REPORT_TYPE_RE.search(parsed.header("Content-Type") or ""):
            return "delivery status report (bounce)"
    sender = (parsed.sender.email or parsed.sender.name) if parsed.sender else ""
    if has_status_part and _DAEMON_RE.match(sender):
        return f"delivery status report (bounce) from {sender}"
    return None


def _value(parsed: ParsedMessage, name: str) -> str | None:
    """First token of a header (`auto-replied; owner-email=...` -> `auto-replied`)."""
    value = parsed.header(name)
    if value is None:
        return None
    return value.split(";", 1)[0].strip()[:100] or None

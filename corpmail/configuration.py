"""The mail configuration settings (SPEC 6): one declaration used by the CLI and the admin form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from corpmail.models.crm import CLOSING_STATUSES, TICKET_STATUSES
from corpmail.models.settings import ON_CLOSED_REPLY
from corpmail.validation import split_list, validate_domain, validate_email

KINDS = ("int", "bool", "str", "choice", "list", "email")
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
# Ticket statuses a policy may move a ticket to: a closing status there would
# close tickets on a customer's reply, which is never what anyone wants.
OPEN_STATUSES = [s for s in TICKET_STATUSES if s not in CLOSING_STATUSES]


@dataclass(frozen=True)
class Setting:
    """One run-time setting: the MailConfiguration column of the same name, and how to check it."""

    key: str
    kind: str  # one of KINDS
    default: Any
    label: Any  # lazy-translated
    help: Any = ""  # lazy-translated
    group: str = "scanning"  # scanning | exceptions | notifications | tickets | mail_icon
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    # list settings: how each item is checked (e.g. validate_email), and str settings' pattern
    item: Callable[[str], str] | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    allow_empty: bool = True
    max_length: int | None = None

    def describe(self) -> str:
        """What a valid value looks like, in plain English (for errors and `config show`)."""
        if self.kind == "int":
            return f"a whole number from {self.min} to {self.max}"
        if self.kind == "bool":
            return "on or off (also true/false, yes/no, 1/0)"
        if self.kind == "choice":
            return "one of: " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "list":
            return "a list separated by spaces, commas or new lines"
        if self.kind == "email":
            return "an e-mail address" + (" (empty to turn off)" if self.allow_empty else "")
        return self.pattern_hint or "text"


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting(
            "scan_interval", "int", 60, _l("Scan interval (seconds)"),
            _l("How often the scheduler scans every active mailbox."), min=10, max=86400,
        ),
        Setting(
            "max_messages_per_run", "int", 500, _l("Max messages per run, per account"),
            _l("A scan stops after this many messages of one mailbox; the next run goes on."),
            min=1, max=100000,
        ),
        Setting(
            "mark_seen", "bool", False, _l("Mark as seen after scanning"),
            _l("Set the \\Seen flag on the server once a message is stored. Off: the "
               "mailbox is left exactly as it was."),
        ),
        Setting(
            "skip_auto_generated", "bool", True, _l("Skip auto-generated mail"),
            _l("Skip auto-replies, bulk and list mail and bounce reports."),
        ),
        Setting(
            "email_exceptions", "list", "", _l("E-mail exceptions"),
            _l("Mail from (or, for sent mail, to) these addresses is skipped in every mailbox."),
            group="exceptions", item=validate_email,
        ),
        Setting(
            "domain_exceptions", "list", "", _l("Domain exceptions"),
            _l("Mail from (or, for sent mail, to) these domains is skipped in every mailbox."),
            group="exceptions", item=validate_domain,
        ),
        Setting(
            "max_message_size_mb", "int", 25, _l("Max message size stored whole (MB)"),
            _l("Larger messages keep their headers and text only, and are flagged."),
            min=1, max=1024,
        ),
        Setting(
            "lock_to_inactive_hours", "int", 48, _l("Locked → inactive after (hours)"),
            _l("A mailbox that stays locked (its login fails) this long is set inactive."),
            min=1, max=8760,
        ),
        Setting(
            "notification_email", "email", "", _l("Notification e-mail"),
            _l("Where alerts about locked mailboxes and long scans are sent; empty: no alerts."),
            group="notifications",
        ),
        Setting(
            "long_scan_alert_minutes", "int", 30, _l("Alert when a scan runs longer than (minutes)"),
            "", group="notifications", min=1, max=1440,
        ),
        Setting(
            "ticket_default_status", "choice", "Open", _l("Default status of a new ticket"),
            "", group="tickets", choices=tuple(OPEN_STATUSES),
        ),
        Setting(
            "ticket_status_after_reply", "choice", "Answered",
            _l("Status after a reply to a ticket waiting for response"),
            "", group="tickets", choices=tuple(OPEN_STATUSES),
        ),
        Setting(
            "ticket_reopen_status", "choice", "Open", _l("Reopen status"),
            _l("Status of a closed ticket when a reply reopens it."),
            group="tickets", choices=tuple(OPEN_STATUSES),
        ),
        Setting(
            "ticket_on_closed_reply", "choice", "reopen", _l("On a reply to a closed ticket"),
            _l("Reopen the ticket, or create a new ticket."),
            group="tickets", choices=tuple(ON_CLOSED_REPLY),
        ),
        Setting(
            "ticket_prefix", "str", "TT", _l("Ticket number prefix"),
            _l("Letters put before the ticket number, e.g. TT in TT123."),
            group="tickets", pattern=r"[A-Za-z]{1,10}", pattern_hint="1 to 10 letters A-Z",
            allow_empty=False, max_length=10,
        ),
        Setting(
            "mail_icon_show", "bool", True, _l("Show the mail icon in the top bar"),
            "", group="mail_icon",
        ),
        Setting(
            "mail_icon_unread", "bool", True, _l("Show the unread count"),
            "", group="mail_icon",
        ),
        Setting(
            "mail_icon_refresh_s", "int", 60, _l("Unread count refresh interval (seconds)"),
            "", group="mail_icon", min=5, max=86400,
        ),
    ]
}


class SettingsError(ValueError):
    """One or more settings were refused; `errors` maps each key to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in errors.items()))


def get_setting(key: str) -> Setting:
    """The Setting for a key (dashes accepted for underscores), or a ValueError listing valid keys."""
    name = key.strip().lower().replace("-", "_") if isinstance(key, str) else key
    try:
        return SETTINGS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown setting {key!r}; valid settings: {', '.join(SETTINGS)}"
        ) from None


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not on/off (use on, off, true, false, yes, no, 1 or 0)")


def _parse_int(setting: Setting, raw: str) -> int:
    text = raw.strip().replace("_", "")
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"{raw[:40]!r} is not a whole number")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 18:  # int() refuses huge digit strings with a confusing message
        raise ValueError(f"{text[:20]}... is out of range: use {setting.min} to {setting.max}")
    return _check_range(setting, int(text))


def _check_range(setting: Setting, value: int) -> int:
    if not setting.min <= value <= setting.max:
        raise ValueError(f"{value} is out of range: use {setting.min} to {setting.max}")
    return value


def _parse_choice(setting: Setting, raw: str) -> str:
    # Accept any case and dashes/underscores for spaces: "new-ticket", "in progress".
    wanted = re.sub(r"[-_\s]+", " ", raw.strip()).lower()
    for choice in setting.choices:
        if choice.lower() == wanted:
            return choice
    raise ValueError(f"{raw[:40]!r} is not a valid choice; {setting.describe()}")


def _parse_list(setting: Setting, raw: str) -> str:
    items = split_list(raw)
    bad = []
    clean = []
    for item in items:
        try:
            value = setting.item(item) if setting.item else item
        except ValueError as exc:
            bad.append(str(exc))
            continue
        if value not in clean:
            clean.append(value)
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ValueError("; ".join(bad[:3]) + more)
    return "\n".join(clean)  # stored one per line, as MailConfiguration documents


def _parse_str(setting: Setting, raw: str) -> str:
    text = raw.strip()
    if not text and not setting.allow_empty:
        raise ValueError(f"must not be empty; use {setting.describe()}")
    if setting.max_length and len(text) > setting.max_length:
        raise ValueError(f"is too long; use {setting.describe()}")
    if setting.pattern and not re.fullmatch(setting.pattern, text):
        raise ValueError(f"{text[:40]!r} is not valid; use {setting.describe()}")
    return text


def parse_setting(key: str, raw: str) -> Any:
    """Turn the text of `corpmail config set KEY VALUE` into the value to store; ValueError if bad."""
    setting = get_setting(key)
    if not isinstance(raw, str):
        raise ValueError(f"{setting.key}: the value must be text")
    try:
        if setting.kind == "int":
            return _parse_int(setting, raw)
        if setting.kind == "bool":
            return _parse_bool(raw)
        if setting.kind == "choice":
            return _parse_choice(setting, raw)
        if setting.kind == "list":
            return _parse_list(setting, raw)
        if setting.kind == "email":
            text = raw.strip()
            return validate_email(text) if text else ""
        return _parse_str(setting, raw)
    except ValueError as exc:
        raise ValueError(f"{setting.key}: {exc}") from None


def clean_setting(key: str, value: Any) -> Any:
    """Like parse_setting, but also takes typed values (a form's int/bool, a list of items)."""
    setting = get_setting(key)
    if isinstance(value, str):
        return parse_setting(setting.key, value)
    if setting.kind == "bool" and isinstance(value, bool):
        return value
    if setting.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        try:
            return _check_range(setting, value)
        except ValueError as exc:
            raise ValueError(f"{setting.key}: {exc}") from None
    if setting.kind == "list" and isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"{setting.key}: every item must be text")
        return parse_setting(setting.key, "\n".join(value))
    if value is None and setting.kind in ("list", "email"):
        return ""
    raise ValueError(f"{setting.key}: expected {setting.describe()}")


def apply_settings(row, values: dict[str, Any]) -> None:
    """Validate every value first, then assign them all; on any error nothing is changed."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        try:
            setting = get_setting(key)
        except ValueError as exc:
            errors[str(key)] = str(exc)
            continue
        try:
            clean[setting.key] = clean_setting(setting.key, value)
        except ValueError as exc:
            # drop the "key: " prefix: the mapping already names the key
            errors[setting.key] = str(exc).removeprefix(f"{setting.key}: ")
    if errors:
        raise SettingsError(errors)
    for key, value in clean.items():
        setattr(row, key, value)


def setting_value(row, key: str) -> Any:
    """The current value of one setting, lists as lists of items."""
    setting = get_setting(key)
    value = getattr(row, setting.key)
    if value is None:
        value = setting.default
    if setting.kind == "list":
        return split_list(value)
    return value


def settings_as_dict(row) -> dict[str, Any]:
    """Every setting's current value (lists as lists), in declaration order; JSON-serialisable."""
    return {key: setting_value(row, key) for key in SETTINGS}


def format_value(value: Any) -> str:
    """A value as `config set` would accept it back."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)

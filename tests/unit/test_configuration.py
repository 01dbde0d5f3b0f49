"""The SPEC 6 settings: declaration, parsing of `config set` values, all-or-nothing apply."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from corpmail.configuration import (
    SETTINGS,
    SettingsError,
    apply_settings,
    clean_setting,
    format_value,
    get_setting,
    parse_setting,
    settings_as_dict,
)
from corpmail.models.crm import CLOSING_STATUSES
from corpmail.models.settings import MailConfiguration


def defaults_row() -> SimpleNamespace:
    return SimpleNamespace(**{key: s.default for key, s in SETTINGS.items()})


def test_settings_are_exactly_the_configuration_columns_with_their_defaults():
    columns = {c.name: c.default.arg for c in MailConfiguration.__table__.columns if c.name != "id"}
    assert set(SETTINGS) == set(columns)
    for key, setting in SETTINGS.items():
        assert setting.default == columns[key], key
        assert setting.key == key
        assert str(setting.label)  # a label for the admin form, translatable


def test_spec_defaults():
    row = defaults_row()
    assert settings_as_dict(row) == {
        "scan_interval": 60,
        "max_messages_per_run": 500,
        "mark_seen": False,
        "skip_auto_generated": True,
        "email_exceptions": [],
        "domain_exceptions": [],
        "max_message_size_mb": 25,
        "lock_to_inactive_hours": 48,
        "notification_email": "",
        "long_scan_alert_minutes": 30,
        "ticket_default_status": "Open",
        "ticket_status_after_reply": "Answered",
        "ticket_reopen_status": "Open",
        "ticket_on_closed_reply": "reopen",
        "ticket_prefix": "TT",
        "mail_icon_show": True,
        "mail_icon_unread": True,
        "mail_icon_refresh_s": 60,
    }


def test_every_default_parses_back_to_itself():
    for key, setting in SETTINGS.items():
        value = setting.default
        assert parse_setting(key, format_value(value)) == value, key


@pytest.mark.parametrize(
    "key, raw, expected",
    [
        ("scan_interval", "120", 120),
        ("scan_interval", " 10 ", 10),
        ("scan_interval", "86400", 86400),
        ("scan-interval", "60", 60),  # dashes as in other CLIs
        ("SCAN_INTERVAL", "60", 60),
        ("max_messages_per_run", "100_000", 100000),
        ("max_message_size_mb", "1024", 1024),
        ("mail_icon_refresh_s", "5", 5),
        ("mark_seen", "on", True),
        ("mark_seen", "Yes", True),
        ("mark_seen", "1", True),
        ("mark_seen", "off", False),
        ("mark_seen", "FALSE", False),
        ("email_exceptions", "Noreply@Example.com, bounce@x.pl noreply@example.com",
         "noreply@example.com\nbounce@x.pl"),
        ("email_exceptions", "", ""),
        ("domain_exceptions", "@Spam.com; lists.example.org", "spam.com\nlists.example.org"),
        ("notification_email", " Admin@Example.com ", "admin@example.com"),
        ("notification_email", "", ""),
        ("ticket_default_status", "in progress", "In progress"),
        ("ticket_status_after_reply", "ANSWERED", "Answered"),
        ("ticket_reopen_status", "wait-for-response", "Wait for response"),
        ("ticket_on_closed_reply", "new ticket", "new ticket"),
        ("ticket_on_closed_reply", "new-ticket", "new ticket"),
        ("ticket_on_closed_reply", "Reopen", "reopen"),
        ("ticket_prefix", "CASE", "CASE"),
        ("ticket_prefix", "t", "t"),
    ],
)
def test_parse_setting_accepts(key, raw, expected):
    assert parse_setting(key, raw) == expected


@pytest.mark.parametrize(
    "key, raw, fragment",
    [
        ("scan_interval", "9", "out of range: use 10 to 86400"),
        ("scan_interval", "0", "out of range"),
        ("scan_interval", "-60", "out of range"),
        ("scan_interval", "86401", "out of range"),
        ("scan_interval", "1.5", "not a whole number"),
        ("scan_interval", "sixty", "not a whole number"),
        ("scan_interval", "", "not a whole number"),
        ("scan_interval", "😀", "not a whole number"),
        ("max_messages_per_run", "0", "use 1 to 100000"),
        ("max_messages_per_run", "100001", "out of range"),
        ("max_message_size_mb", "1025", "use 1 to 1024"),
        ("lock_to_inactive_hours", "8761", "use 1 to 8760"),
        ("long_scan_alert_minutes", "1441", "use 1 to 1440"),
        ("mail_icon_refresh_s", "4", "use 5 to 86400"),
        ("mail_icon_refresh_s", "86401", "out of range"),
        ("mark_seen", "maybe", "not on/off"),
        ("mark_seen", "", "not on/off"),
        ("email_exceptions", "ok@example.com not-an-address", "not an e-mail address"),
        ("email_exceptions", "<b>x</b>@example.com", "cannot contain"),
        ("domain_exceptions", "jan@example.com", "e-mail address, not a domain"),
        ("domain_exceptions", "😀.com", "not a valid host name"),
        ("notification_email", "admin", "not an e-mail address"),
        ("ticket_default_status", "Closed", "not a valid choice"),
        ("ticket_reopen_status", "Rejected", "not a valid choice"),
        ("ticket_status_after_reply", "Done", "one of: 'Open'"),
        ("ticket_on_closed_reply", "ignore", "one of: 'reopen', 'new ticket'"),
        ("ticket_prefix", "", "must not be empty"),
        ("ticket_prefix", "T1", "1 to 10 letters"),
        ("ticket_prefix", "TT-", "1 to 10 letters"),
        ("ticket_prefix", "ABCDEFGHIJK", "too long"),
        ("ticket_prefix", "ŻÓŁW", "1 to 10 letters"),
        ("ticket_prefix", "<b>", "1 to 10 letters"),
        ("ticket_prefix", "'; DROP TABLE tickets; --", "too long"),
    ],
)
def test_parse_setting_refuses(key, raw, fragment):
    with pytest.raises(ValueError) as err:
        parse_setting(key, raw)
    message = str(err.value)
    assert message.startswith(get_setting(key).key + ": ")
    assert fragment in message
    assert "\n" not in message


def test_closing_statuses_are_never_offered_to_ticket_policy():
    for key in ("ticket_default_status", "ticket_status_after_reply", "ticket_reopen_status"):
        assert not set(SETTINGS[key].choices) & CLOSING_STATUSES


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(ValueError) as err:
        parse_setting("scan_intervall", "60")
    message = str(err.value)
    assert "unknown setting 'scan_intervall'" in message
    for key in SETTINGS:
        assert key in message


def test_megabyte_values_are_refused_quickly_and_briefly():
    huge = "9" * (1024 * 1024)
    with pytest.raises(ValueError) as err:
        parse_setting("scan_interval", huge)
    assert "out of range" in str(err.value)
    with pytest.raises(ValueError) as err:
        parse_setting("ticket_prefix", "A" * (1024 * 1024))
    assert len(str(err.value)) < 200
    with pytest.raises(ValueError) as err:
        parse_setting("scan_interval", "x" * (1024 * 1024))
    assert len(str(err.value)) < 200


def test_clean_setting_takes_typed_values():
    assert clean_setting("scan_interval", 30) == 30
    assert clean_setting("mark_seen", True) is True
    assert clean_setting("email_exceptions", ["A@x.com", "b@y.com"]) == "a@x.com\nb@y.com"
    assert clean_setting("notification_email", None) == ""
    with pytest.raises(ValueError, match="out of range"):
        clean_setting("scan_interval", 5)
    with pytest.raises(ValueError, match="expected a whole number"):
        clean_setting("scan_interval", True)  # a bool is not a number here
    with pytest.raises(ValueError, match="expected on or off"):
        clean_setting("mark_seen", 1)
    with pytest.raises(ValueError, match="every item must be text"):
        clean_setting("email_exceptions", [1, 2])


def test_apply_settings_is_all_or_nothing():
    row = defaults_row()
    with pytest.raises(SettingsError) as err:
        apply_settings(row, {
            "scan_interval": "120",
            "max_messages_per_run": "0",
            "ticket_prefix": "T1",
            "nonsense": "1",
        })
    assert set(err.value.errors) == {"max_messages_per_run", "ticket_prefix", "nonsense"}
    assert err.value.errors["max_messages_per_run"].startswith("0 is out of range")
    assert row.scan_interval == 60  # the valid value was not saved either

    apply_settings(row, {"scan-interval": "120", "mark_seen": True, "domain_exceptions": "A.com b.com"})
    assert row.scan_interval == 120
    assert row.mark_seen is True
    assert row.domain_exceptions == "a.com\nb.com"
    assert settings_as_dict(row)["domain_exceptions"] == ["a.com", "b.com"]


def test_settings_as_dict_round_trips_through_apply():
    row = defaults_row()
    apply_settings(row, {"email_exceptions": "x@y.com z@y.com", "ticket_on_closed_reply": "new ticket"})
    values = settings_as_dict(row)
    other = defaults_row()
    apply_settings(other, values)
    assert settings_as_dict(other) == values


def test_format_value():
    assert format_value(True) == "on"
    assert format_value(False) == "off"
    assert format_value(["a@x.com", "b@x.com"]) == "a@x.com, b@x.com"
    assert format_value(60) == "60"

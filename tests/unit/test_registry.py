"""The action registry: names, duplicates refused, stored orders validated."""

from __future__ import annotations

import pytest

from corpmail.scanner import registry
from corpmail.scanner.registry import ACTIONS, Action, register, unregister, validate_actions


def test_builtin_actions_in_natural_order():
    assert list(ACTIONS)[:4] == ["create-email", "bind-email", "open-ticket", "create-ticket"]
    for cls in ACTIONS.values():
        assert str(cls.description)
        assert all(req in ACTIONS for req in cls.requires)


def test_duplicate_name_refused():
    with pytest.raises(ValueError, match="already registered"):

        @register
        class Again(Action):
            name = "create-email"
            description = "copy"


def test_nameless_action_refused():
    with pytest.raises(ValueError):

        @register
        class Nameless(Action):
            description = "none"


def test_register_and_unregister_a_test_action():
    @register
    class Probe(Action):
        name = "probe-test"
        description = "probe"

    try:
        assert registry.get_action("probe-test").name == "probe-test"
        assert validate_actions(["create-email", "probe-test"]) == []
    finally:
        unregister("probe-test")
    assert "probe-test" not in ACTIONS


def test_valid_orders():
    assert validate_actions(["create-email", "bind-email", "open-ticket", "create-ticket"]) == []
    assert validate_actions(["create-email"]) == []
    assert validate_actions([]) == []


def test_messages_for_bad_orders():
    assert validate_actions(["bind-email", "create-email"]) == [
        "Action bind-email needs create-email before it."
    ]
    assert validate_actions(["create-email", "create-email"]) == [
        "Action create-email is listed more than once."
    ]
    assert validate_actions(["create-email", "teleport"]) == ["Unknown action: teleport."]
    errors = validate_actions(["create-ticket", "open-ticket"])
    assert len(errors) == 2 and all("needs create-email" in e for e in errors)

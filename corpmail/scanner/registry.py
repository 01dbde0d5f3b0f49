"""Scanner actions by name: a registry that refuses duplicates and validates stored orders."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, ClassVar

from flask_babel import gettext as _

if TYPE_CHECKING:
    from corpmail.scanner.context import ScanContext


class Action:
    """One named stage run on every message; subclasses set the class attributes."""

    name: ClassVar[str]
    description: ClassVar[object]  # lazy_gettext string
    requires: ClassVar[tuple[str, ...]] = ()
    position: ClassVar[int] = 100  # where it is listed (forms, defaults); built-ins 10..40

    def run(self, ctx: ScanContext) -> None:  # pragma: no cover - interface
        raise NotImplementedError


ACTIONS: OrderedDict[str, type[Action]] = OrderedDict()


def register(cls: type[Action]) -> type[Action]:
    """Class decorator: add an action under its unique kebab-case name."""
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise ValueError(f"action class {cls.__qualname__} has no name")
    if name in ACTIONS and ACTIONS[name] is not cls:
        raise ValueError(f"an action named {name!r} is already registered")
    ACTIONS[name] = cls
    ordered = sorted(ACTIONS.items(), key=lambda item: item[1].position)  # stable for ties
    ACTIONS.clear()
    ACTIONS.update(ordered)
    return cls


def unregister(name: str) -> None:
    """Remove an action (tests register throw-away actions)."""
    ACTIONS.pop(name, None)


def get_action(name: str) -> Action:
    """An instance of the named action; KeyError when unknown."""
    return ACTIONS[name]()


def choices() -> list[tuple[str, str]]:
    """(name, description) pairs in registry order, for forms."""
    return [(name, str(cls.description)) for name, cls in ACTIONS.items()]


def validate_actions(names: list[str]) -> list[str]:
    """Error messages for an ordered list of action names (empty when valid)."""
    errors: list[str] = []
    seen: list[str] = []
    for name in names:
        if name not in ACTIONS:
            errors.append(_("Unknown action: %(name)s.", name=name))
            continue
        if name in seen:
            errors.append(_("Action %(name)s is listed more than once.", name=name))
            continue
        for required in ACTIONS[name].requires:
            if required not in seen:
                errors.append(
                    _(
                        "Action %(name)s needs %(required)s before it.",
                        name=name,
                        required=required,
                    )
                )
        seen.append(name)
    return errors


# The built-in actions register themselves on import; importing them here means
# `registry.ACTIONS` is complete for whoever imports the registry.
from corpmail.scanner import actions as _actions  # noqa: F401  (after the registry exists: the actions import it)

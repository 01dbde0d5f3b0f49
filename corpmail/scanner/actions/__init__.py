"""The built-in scanner actions; importing registers them (ordered by their `position`)."""

from corpmail.scanner.actions import (  # noqa: F401
    bind_email,
    create_email,
    create_ticket,
    open_ticket,
)

"""The built-in scanner actions, in their natural order; importing registers them."""

from corpmail.scanner.actions import create_email, bind_email, open_ticket, create_ticket  # noqa: F401

"""Admin pages; each area lives in its own module."""

from corpmail.admin import accounts, autologin, configuration, oauth, runs, servers  # noqa: F401

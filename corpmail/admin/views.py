"""Admin pages; each area lives in its own module."""

from corpmail.admin import accounts, autologin, configuration, runs, servers  # noqa: F401

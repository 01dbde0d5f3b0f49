"""corpmail: the CRM side of corporate mailboxes."""

from corpmail.app import create_app

__all__ = ["create_app"]

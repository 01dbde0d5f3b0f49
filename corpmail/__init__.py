"""corpmail: the CRM side of corporate mailboxes."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Lazy, so that importing one module (the MIME parser in its helper process, see
    # scanner/parse_ahead.py) does not load Flask, SQLAlchemy and every blueprint.
    if name == "create_app":
        from corpmail.app import create_app

        return create_app
    raise AttributeError(f"module 'corpmail' has no attribute {name!r}")

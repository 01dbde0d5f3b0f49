"""Secrets at rest: Fernet with the installation's key(s); the first key encrypts.

ENCRYPTION_KEY may hold several comma-separated keys so a key can be rotated:
new key first, old keys after it, then re-encrypt (`corpmail rotate-key`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured key(s)."""


def _fernet(keys: str | None = None) -> MultiFernet:
    keys = keys or current_app.config["ENCRYPTION_KEY"]
    return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])


def encrypt(plain: str, keys: str | None = None) -> str:
    return _fernet(keys).encrypt(plain.encode()).decode()


def decrypt(token: str, keys: str | None = None) -> str:
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretError(
            "a stored secret cannot be decrypted: the installation's encryption key changed"
        ) from exc


def rotate(token: str, keys: str | None = None) -> str:
    """Re-encrypt a token with the first key."""
    return _fernet(keys).rotate(token.encode()).decode()

"""Secrets at rest: Fernet with the installation's key(s); the first key encrypts.

ENCRYPTION_KEY holds one or more comma-separated keys, newest first; the others only
decrypt. `corpmail keys rotate` puts a new key first and re-encrypts every secret
(corpmail/key_rotation.py); `corpmail keys prune` drops the old keys afterwards. Keys kept in the
instance folder's `encryption_key` file are re-read whenever that file changes, so running
web workers and the scanner follow a rotation without a restart.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

# key file path -> ((inode, mtime, size), its keys): one stat() per use, a read per change
_file_keys: dict[str, tuple[tuple[int, int, int], str]] = {}


class SecretError(Exception):
    """A stored secret cannot be decrypted with the configured key(s)."""


def current_keys() -> str:
    """The installation's keys, comma-separated, newest first."""
    path = current_app.config.get("ENCRYPTION_KEY_FILE")
    if not path:
        return current_app.config["ENCRYPTION_KEY"]
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return current_app.config["ENCRYPTION_KEY"]
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _file_keys.get(path)
    if cached is None or cached[0] != stamp:
        cached = _file_keys[path] = (stamp, Path(path).read_text().strip())
    return cached[1]


def split_keys(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


@functools.lru_cache(maxsize=8)
def _multi(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in split_keys(keys)])


def _fernet(keys: str | None = None) -> MultiFernet:
    return _multi(keys or current_keys())


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
    """Re-encrypt a token with the first key (it must decrypt with one of the keys)."""
    try:
        return _fernet(keys).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretError("a stored secret cannot be decrypted with any configured key") from exc

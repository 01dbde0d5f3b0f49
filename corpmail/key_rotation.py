"""Rotating the key that encrypts secrets at rest: `corpmail keys rotate | reencrypt | prune`.

rotate:    a new key goes first in the instance's key file (written atomically, the old
           keys kept after it for reading), then every secret is re-encrypted with it in
           one transaction: a crash half-way leaves every secret readable.
reencrypt: every secret re-encrypted with the first configured key (for keys set in the
           environment: put the new key first there, restart, then run this).
prune:     re-encrypts what is left, checks that the first key alone reads everything,
           then keeps only that key in the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import select, update

from corpmail.extensions import db
from corpmail.mail import crypto
from corpmail.models import MailServer, ScannerAccount

# Every column holding a crypto.encrypt()ed secret, as (model, column name). Rotation walks
# this list (and the tests check that no *_encrypted column is missing): one line per column.
ENCRYPTED_COLUMNS = [
    (ScannerAccount, "password_encrypted"),
    (ScannerAccount, "oauth_access_token_encrypted"),
    (ScannerAccount, "oauth_refresh_token_encrypted"),
    (MailServer, "oauth_client_secret_encrypted"),
]


class KeyFileMissing(ValueError):
    """The keys come from the environment or corpmail.cfg, not from a file we may rewrite."""


def key_file() -> Path:
    path = current_app.config.get("ENCRYPTION_KEY_FILE")
    if not path:
        raise KeyFileMissing(
            "ENCRYPTION_KEY is set in the environment or corpmail.cfg, so corpmail cannot "
            "write it: put a new key (Fernet.generate_key()) first in it, keep the old one "
            "after it, restart, then run `corpmail keys reencrypt`")
    return Path(path)


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically (mode 0600): readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".encryption_key-")  # 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(",".join(keys) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
    current_app.config["ENCRYPTION_KEY"] = ",".join(keys)


def reencrypt_all(keys: str) -> int:
    """Re-encrypt every stored secret with the first of `keys`, in one transaction; how many.
    A secret no key can read raises SecretError naming its row, and nothing is changed."""
    count = 0
    try:
        for model, name in ENCRYPTED_COLUMNS:
            table = model.__table__
            column = table.c[name]
            rows = db.session.execute(select(table.c.id, column).where(column.is_not(None)))
            for row_id, token in rows.all():
                try:
                    fresh = crypto.rotate(token, keys)
                except crypto.SecretError:
                    raise crypto.SecretError(
                        f"{table.name}.{name} of row {row_id} cannot be decrypted with any "
                        "configured key; nothing was re-encrypted") from None
                db.session.execute(update(table).where(table.c.id == row_id)
                                   .values({name: fresh}))
                count += 1
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return count


def unreadable_with(keys: str) -> list[str]:
    """'table.column#id' of every stored secret these keys cannot decrypt."""
    out = []
    for model, name in ENCRYPTED_COLUMNS:
        table = model.__table__
        column = table.c[name]
        for row_id, token in db.session.execute(
                select(table.c.id, column).where(column.is_not(None))).all():
            try:
                crypto.decrypt(token, keys)
            except crypto.SecretError:
                out.append(f"{table.name}.{name}#{row_id}")
    return out


def rotate() -> tuple[int, int]:
    """New key first in the key file, old ones kept for reading, everything re-encrypted.
    Returns (secrets re-encrypted, keys now in the file)."""
    path = key_file()
    keys = [Fernet.generate_key().decode(), *crypto.split_keys(crypto.current_keys())]
    write_key_file(path, keys)
    return reencrypt_all(",".join(keys)), len(keys)


def prune() -> tuple[int, int]:
    """Keep only the newest key once it alone reads every secret. Returns (secrets
    re-encrypted, old keys dropped). Keys from the environment are not ours to drop: 0."""
    keys = crypto.split_keys(crypto.current_keys())
    count = reencrypt_all(",".join(keys))
    left = unreadable_with(keys[0])
    if left:  # only if a process wrote with an old key meanwhile: keep every key
        raise crypto.SecretError(f"still encrypted with an old key: {', '.join(left[:5])}")
    if len(keys) == 1 or not current_app.config.get("ENCRYPTION_KEY_FILE"):
        return count, 0
    write_key_file(key_file(), keys[:1])
    return count, len(keys) - 1

"""Attachment store: bytes content-addressed on disk under ATTACHMENTS_DIR/ab/cd/<sha256>."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import current_app

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def attachments_dir() -> Path:
    return Path(current_app.config["ATTACHMENTS_DIR"])


def attachment_path(sha256: str, root: Path | None = None) -> Path:
    """Where the bytes of this digest live; refuses anything but 64 lower-case hex digits."""
    if not _SHA256.match(sha256 or ""):
        raise ValueError("not a sha256 hex digest")
    return (root or attachments_dir()) / sha256[:2] / sha256[2:4] / sha256


def store_attachment(data: bytes, root: Path | None = None) -> str:
    """Write the bytes once (same content, same file) and return their sha256.

    Written to a temporary file in the target folder and renamed, so a reader or a
    crashed writer never sees a half-written file.
    """
    digest = hashlib.sha256(data).hexdigest()
    path = attachment_path(digest, root)
    if path.exists():
        return digest
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def read_attachment(sha256: str, root: Path | None = None) -> bytes | None:
    """The stored bytes, or None when the file is missing."""
    try:
        return attachment_path(sha256, root).read_bytes()
    except (FileNotFoundError, ValueError):
        return None

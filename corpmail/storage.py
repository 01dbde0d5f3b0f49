"""Attachment store: bytes content-addressed on disk under ATTACHMENTS_DIR/ab/<sha256>."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def attachments_dir() -> Path:
    from flask import current_app  # here: the scanner's parser process runs without Flask

    return Path(current_app.config["ATTACHMENTS_DIR"])


def attachment_path(sha256: str, root: Path | None = None) -> Path:
    """Where the bytes of this digest live; refuses anything but 64 lower-case hex digits.

    One level of 256 folders: with two (ab/cd/, 65,536 folders) nearly every new
    attachment of a first scan made a folder, and a folder costs ~0.2 ms on disk
    (bench/run, issue 4). Files stored in that older layout are found where they are."""
    if not _SHA256.match(sha256 or ""):
        raise ValueError("not a sha256 hex digest")
    return _locate(sha256, root)[0]


def _locate(sha256: str, root: Path | None) -> tuple[Path, bool]:
    """(path, whether it exists): the file where it is, else where it is to be written."""
    folder = (root or attachments_dir()) / sha256[:2]
    path = folder / sha256
    if path.exists():
        return path, True
    legacy = folder / sha256[2:4] / sha256
    if legacy.exists():
        return legacy, True
    return path, False


def store_attachment(data: bytes, root: Path | None = None) -> str:
    """Write the bytes once (same content, same file) and return their sha256.

    Written to a temporary file in the target folder and renamed, so a reader or a
    crashed writer never sees a half-written file.
    """
    digest = hashlib.sha256(data).hexdigest()
    path, stored = _locate(digest, root)
    if stored:
        return digest
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except FileNotFoundError:  # the folder's first file
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

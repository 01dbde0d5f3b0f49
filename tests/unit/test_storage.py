"""storage.py: content-addressed attachment files, one folder level, older layout still read."""

from __future__ import annotations

import hashlib

import pytest

from corpmail.storage import attachment_path, read_attachment, store_attachment


def test_bytes_are_stored_once_under_one_folder_level(tmp_path):
    data = b"%PDF-1.4 offer"
    digest = store_attachment(data, tmp_path)
    assert digest == hashlib.sha256(data).hexdigest()
    path = tmp_path / digest[:2] / digest
    assert path.read_bytes() == data
    assert attachment_path(digest, tmp_path) == path
    assert store_attachment(data, tmp_path) == digest  # same content: same file
    assert sorted(p.name for p in (tmp_path / digest[:2]).iterdir()) == [digest]  # no temp left


def test_files_of_the_older_two_level_layout_are_found_and_reused(tmp_path):
    data = b"stored before the layout changed"
    digest = hashlib.sha256(data).hexdigest()
    legacy = tmp_path / digest[:2] / digest[2:4] / digest
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(data)
    assert attachment_path(digest, tmp_path) == legacy
    assert read_attachment(digest, tmp_path) == data
    assert store_attachment(data, tmp_path) == digest
    assert not (tmp_path / digest[:2] / digest).exists()  # not written a second time


def test_a_missing_file_and_a_bad_digest(tmp_path):
    digest = "0" * 64
    assert attachment_path(digest, tmp_path) == tmp_path / "00" / digest
    assert read_attachment(digest, tmp_path) is None
    assert read_attachment("../../etc/passwd", tmp_path) is None
    with pytest.raises(ValueError):
        attachment_path("ABC", tmp_path)

"""The application factory: instance folders and installation secrets."""

from __future__ import annotations

import os
import stat

from corpmail.app import create_app


def test_relative_instance_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORPMAIL_INSTANCE_PATH", "var/instance")
    app = create_app()
    assert app.instance_path == str(tmp_path / "var" / "instance")


def test_keys_generated_once_with_mode_0600(tmp_path):
    first = create_app(instance_path=str(tmp_path / "a"))
    again = create_app(instance_path=str(tmp_path / "a"))
    other = create_app(instance_path=str(tmp_path / "b"))
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"]
    assert first.config["ENCRYPTION_KEY"] == again.config["ENCRYPTION_KEY"]
    assert first.config["SECRET_KEY"] != other.config["SECRET_KEY"]  # installations share nothing
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE(os.stat(tmp_path / "a" / name).st_mode)
        assert mode == 0o600


def test_environment_overrides_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPMAIL_DATABASE_URL", "postgresql://u@db.example/corp")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/corp"


def _lasting_threads() -> set[str]:
    import threading
    import time

    time.sleep(0.1)  # the rate limiter's in-memory storage runs a 10 ms expiry timer; let it end
    return {t.name for t in threading.enumerate()}


def test_create_app_starts_no_scheduler(tmp_path):
    before = _lasting_threads()
    create_app(instance_path=str(tmp_path))
    assert _lasting_threads() == before

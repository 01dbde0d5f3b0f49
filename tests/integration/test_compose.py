"""docker-compose.yml validates with Debian's docker-compose 1.29 and keeps secrets out of it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

SERVICES = {"app", "scanner", "roundcube", "nginx", "postgres"}
# Variables that carry a secret: each must be required (${VAR:?...}), never defaulted.
SECRETS = [
    "POSTGRES_PASSWORD",
    "CORPMAIL_SECRET_KEY",
    "CORPMAIL_ENCRYPTION_KEY",
    "CORPMAIL_AUTOLOGIN_SECRET",
    "ROUNDCUBE_DES_KEY",
]
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASS|_KEY)$")

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed"
)


def _example_values() -> dict[str, str]:
    """The .env.example keys, with a placeholder wherever the example leaves a value empty."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value or f"test-{key.lower()}"
    return values


def _compose(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # A clean environment and an empty env file: a developer's own .env must not help.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        return subprocess.run(
            ["docker-compose", "--env-file", empty.name, "-f", str(COMPOSE), *args],
            cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60,
            check=False,
        )


def test_compose_file_validates():
    result = _compose(_example_values(), "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_has_the_services():
    result = _compose(_example_values(), "config", "--services")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == SERVICES


def test_example_env_names_every_secret_empty():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    for name in SECRETS:
        assert values.get(name) == "", f"{name} must be listed in .env.example with no value"


@pytest.mark.parametrize("name", SECRETS)
def test_a_missing_secret_stops_compose(name):
    env = _example_values()
    del env[name]
    result = _compose(env, "config", "-q")
    assert result.returncode != 0, f"{name} has a default in docker-compose.yml"
    assert name in result.stderr


def test_no_secret_has_a_literal_value():
    text = COMPOSE.read_text()
    # ${SECRET:-default} / ${SECRET-default}: a default for a secret variable.
    for var, op in re.findall(r"\$\{(\w+)(:?[-?])", text):
        if SECRET_NAME.search(var):
            assert op in (":?", "?"), f"${{{var}{op}...}} gives a secret a default"
    # KEY: value in an environment block: a secret-named key holds a variable or nothing.
    for key, value in re.findall(r"^\s+([A-Z][A-Z0-9_]*):[ \t]*(\S.*)?$", text, re.MULTILINE):
        if SECRET_NAME.search(key) and value:
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value.strip().strip('"')), (
                f"{key} has a literal value in docker-compose.yml"
            )
    # The database URL embeds the password only through the variable.
    url = re.search(r"CORPMAIL_DATABASE_URL:\s*(\S+)", text).group(1)
    assert "${POSTGRES_PASSWORD:?" in url


def test_mounted_files_exist():
    text = COMPOSE.read_text()
    for source in re.findall(r"^\s+- (\./[^:]+):", text, re.MULTILINE):
        assert (ROOT / source).exists(), f"{source} is mounted but missing"

"""Test databases: SQLite files in the test's folder, or a fresh PostgreSQL database each."""

from __future__ import annotations

import functools
import itertools
import os
import re
import secrets

# CI and developer machines: PostgreSQL at 127.0.0.1:5432, user postgres, trust auth.
PG_ADMIN_DSN = os.environ.get(
    "CORPMAIL_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PREFIX = "corpmail_t_"
_counter = itertools.count(1)


def backends() -> list[str]:
    """Backends the integration tests run on (CORPMAIL_TEST_BACKENDS=sqlite to narrow)."""
    wanted = os.environ.get("CORPMAIL_TEST_BACKENDS") or "sqlite,postgresql"
    return [b.strip() for b in wanted.split(",") if b.strip()]


def _connect(**kwargs):
    import psycopg

    return psycopg.connect(PG_ADMIN_DSN, connect_timeout=3, autocommit=True, **kwargs)


@functools.cache
def pg_unavailable_reason() -> str | None:
    """None when PostgreSQL answers; otherwise why not (for the skip message)."""
    try:
        with _connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL not reachable ({PG_ADMIN_DSN}): {exc}".strip()
    _drop_leftovers()
    return None


def _drop_leftovers() -> None:
    """Drop test databases of earlier runs whose process is gone (a killed pytest)."""
    with _connect() as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",))]
        for name in names:
            match = re.match(rf"{PREFIX}(\d+)_", name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_pg_database() -> tuple[str, str]:
    """A new empty database; returns (name, SQLAlchemy URL). Unique per process and call."""
    name = f"{PREFIX}{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"
    with _connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    url = (f"postgresql+psycopg://{params.get('user', 'postgres')}@"
           f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{name}")
    return name, url


def drop_pg_database(name: str) -> None:
    with _connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wipe_pg(engine, metadata) -> None:
    """Empty every table and restart every sequence: a fresh database in ~30 ms.

    (CREATE + DROP DATABASE per test costs 0.5-2 s on PostgreSQL 15: DROP forces a
    checkpoint; TRUNCATE costs ~0.35 s.) FK triggers are off for the wipe
    (session_replication_role), so the order of the deletes does not matter.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        sequences = conn.exec_driver_sql(
            "SELECT schemaname, sequencename FROM pg_sequences "
            "WHERE schemaname = current_schema()").all()
        for schema, name in sequences:
            conn.exec_driver_sql(f'ALTER SEQUENCE "{schema}"."{name}" RESTART')

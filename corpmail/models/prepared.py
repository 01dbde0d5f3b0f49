"""Core statements compiled once per dialect, run on the connection's DBAPI cursor.

The scanner runs about eight statements for every message. Through ``Connection.execute``
each spent 60-80 µs in SQLAlchemy's statement cache lookup and parameter processing, and
still ~20 µs through ``exec_driver_sql`` (execution context, result wrapping), on top of
~5-15 µs in SQLite (bench/run profiles, issue 4). A ``Prepared`` statement is compiled once
for the connection's dialect, keeps the column types' own bind processors (UTC datetimes,
JSON, booleans are written exactly as SQLAlchemy writes them) and runs on a cursor of the
connection's own DBAPI connection: same transaction; driver errors are raised as
SQLAlchemy's exceptions (IntegrityError, OperationalError...) and a lost connection is
invalidated, as SQLAlchemy would. No engine events fire for these statements (corpmail
listens to none but "connect").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Connection, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeDecorator


class Prepared:
    """One statement, compiled lazily for each dialect and set of parameter names."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple, tuple] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run it; returns the DBAPI cursor (``rowcount``, ``fetchone()``)."""
        sql, convert = self._for(conn, params or {})
        return run_driver(conn, "execute", sql, convert(params or {}))

    def executemany(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        if rows:
            sql, convert = self._for(conn, rows[0])
            run_driver(conn, "executemany", sql, [convert(row) for row in rows])

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.execute(conn, params).fetchone()
        return None if row is None else row[0]

    def _for(self, conn: Connection, params: Mapping[str, Any]) -> tuple:
        key = (conn.dialect.name, tuple(params))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(conn.dialect, list(params))
        return found

    def _compile(self, dialect, keys: list[str]) -> tuple:
        compiled = self.statement.compile(dialect=dialect, column_keys=keys)
        prefetch = [*compiled.insert_prefetch, *compiled.update_prefetch]
        if missing := [column.key for column in prefetch if column.key not in keys]:
            # SQLAlchemy would run these Python-side defaults per execution; we do not.
            raise ValueError(f"give {missing} a value: a Prepared statement applies no "
                             f"column defaults ({self.statement})")
        binds = compiled.binds
        processors = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                      for name, bind in binds.items()}
        # values the statement carries itself, e.g. the 1 of "fetched + 1"
        fixed = {name: bind.value for name, bind in binds.items() if not bind.required}

        if compiled.positiontup is not None:  # qmark (SQLite): a tuple in statement order
            order = [(name, processors[name]) for name in compiled.positiontup]

            def convert(params: Mapping[str, Any]) -> tuple:
                given = {**fixed, **params} if fixed else params
                return tuple([given[n] if p is None else p(given[n]) for n, p in order])
        else:  # pyformat (psycopg): a dict
            named = [(name, processors[name]) for name in binds]

            def convert(params: Mapping[str, Any]) -> dict:
                given = {**fixed, **params} if fixed else params
                return {n: given[n] if p is None else p(given[n]) for n, p in named}
        return compiled.string, convert


class SerializedJSON(TypeDecorator):
    """A bind type for a JSON column whose value comes already serialised (``json.dumps``,
    what SQLAlchemy's JSON type would write): bound as it is; PostgreSQL casts it."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect):
        return None


def run_driver(conn: Connection, method: str, sql: str, params: Any) -> Any:
    """``cursor.<method>(sql, params)`` on the connection's DBAPI connection, errors as
    SQLAlchemy raises them."""
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        getattr(cursor, method)(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, exc, sql, params, cursor) from exc
    return cursor


def commit_driver(conn: Connection) -> None:
    """Commit the DBAPI connection's transaction while SQLAlchemy's stays open: the scanner
    commits each message this way (scanner/engine.py, AccountScan._commit)."""
    try:
        conn.connection.dbapi_connection.commit()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, exc, "COMMIT", None, None) from exc


def _wrapped(conn: Connection, exc: Exception, sql: str, params: Any, cursor) -> Exception:
    lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,
                               connection_invalidated=lost, dialect=conn.dialect)


@functools.cache
def insert_into(model, returning_id: bool = False) -> Prepared:
    """A model table's INSERT (optionally ``RETURNING id``), prepared once: the scanner's
    per-message writes skip the ORM unit of work, which cost more than the SQL."""
    statement = insert(model.__table__)
    return Prepared(statement.returning(model.__table__.c.id) if returning_id else statement)

"""Core statements compiled once per dialect, executed as the driver's own SQL.

The scanner runs about eight statements for every message. Through ``Connection.execute``
each spent 60-80 µs in SQLAlchemy's statement cache lookup and parameter processing, on
top of ~15 µs in SQLite (bench/run profiles, issue 4). A ``Prepared`` statement is compiled
once for the connection's dialect, keeps the column types' own bind processors (UTC
datetimes, JSON, booleans are written exactly as SQLAlchemy writes them) and runs through
``Connection.exec_driver_sql``: same connection and transaction, same error wrapping,
disconnect handling and events, without the per-call compilation work.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, CursorResult, insert
from sqlalchemy.sql import ClauseElement


class Prepared:
    """One statement, compiled lazily for each dialect and set of parameter names."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple, tuple] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> CursorResult:
        sql, convert = self._for(conn, params or {})
        return conn.exec_driver_sql(sql, convert(params or {}))

    def executemany(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        if rows:
            sql, convert = self._for(conn, rows[0])
            conn.exec_driver_sql(sql, [convert(row) for row in rows])

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        return self.execute(conn, params).scalar()

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


@functools.cache
def insert_into(model, returning_id: bool = False) -> Prepared:
    """A model table's INSERT (optionally ``RETURNING id``), prepared once: the scanner's
    per-message writes skip the ORM unit of work, which cost more than the SQL."""
    statement = insert(model.__table__)
    return Prepared(statement.returning(model.__table__.c.id) if returning_id else statement)

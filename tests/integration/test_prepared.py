"""models/prepared.py: a Prepared statement writes exactly what SQLAlchemy's Core statement
writes (UTC datetimes, JSON, booleans, NULLs), on SQLite and PostgreSQL, in the session's
transaction, with SQLAlchemy's own exceptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from corpmail.extensions import db
from corpmail.models import Email, ScanRun
from corpmail.models.prepared import Prepared, insert_into

WARSAW = timezone(timedelta(hours=1))


def email_row(key: str) -> dict:
    return {
        "message_key": key, "message_id": None, "subject": "Zażółć gęślą jaźń 'quoted' %s",
        "from_name": "", "from_address": "a@example.com",
        "to": [{"name": "Ö", "email": "b@example.com"}], "cc": [], "bcc": [], "reply_to": [],
        "date": datetime(2026, 3, 29, 2, 30, tzinfo=WARSAW), "in_reply_to": None,
        "references": None, "direction": "Received", "headers": "X: y", "text_body": "body %(x)s",
        "html_body": None, "size": 12, "truncated": True, "defects": ["a", "b"], "owner_id": None,
        "created_at": datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
    }


COMPARED = ("subject", "to", "cc", "date", "in_reply_to", "truncated", "defects", "created_at",
            "text_body", "html_body", "size")


def test_prepared_insert_writes_what_core_writes(app):
    conn = db.session.connection()
    prepared_id = insert_into(Email, returning_id=True).scalar(conn, email_row("p"))
    core_id = conn.execute(insert(Email.__table__).returning(Email.id), email_row("c")).scalar()
    db.session.commit()
    prepared, core = (db.session.get(Email, i) for i in (prepared_id, core_id))
    assert [getattr(prepared, c) for c in COMPARED] == [getattr(core, c) for c in COMPARED]
    assert prepared.date == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # stored as UTC
    assert prepared.to == [{"name": "Ö", "email": "b@example.com"}]


def test_json_serialised_ahead_is_stored_as_the_json_type_stores_it(app):
    """Create e-mail's INSERT takes JSON columns already serialised (scanner/email_row.py,
    in the parser process): the rows read back the same as Core's, on both databases."""
    import json

    from corpmail.scanner.actions.create_email import _insert_email
    from corpmail.scanner.email_row import JSON_COLUMNS

    row = email_row("s")
    row["cc"] = [{"name": "Zoë \"Z\" <x>", "email": "z@example.com"}]
    conn = db.session.connection()
    serialised_id = _insert_email().scalar(
        conn, {**row, **{name: json.dumps(row[name]) for name in JSON_COLUMNS}})
    core_id = conn.execute(insert(Email.__table__).returning(Email.id), {**row, "message_key": "t"}).scalar()
    db.session.commit()
    serialised, core = (db.session.get(Email, i) for i in (serialised_id, core_id))
    assert [getattr(serialised, c) for c in COMPARED] == [getattr(core, c) for c in COMPARED]
    assert serialised.cc == row["cc"] and serialised.defects == ["a", "b"]
    stored = select(Email.__table__.c.cc.cast(db.Text)).where(Email.id.in_([serialised_id, core_id]))
    assert len(set(db.session.scalars(stored))) == 1  # the same text in the database


def test_prepared_update_with_literals_and_rowcount(app, scanner_account):
    run = ScanRun(account_id=scanner_account.id, trigger="cli", status="In progress")
    db.session.add(run)
    db.session.commit()
    table = ScanRun.__table__
    bump = Prepared(update(table).where(table.c.id == bindparam("run"))
                    .values({table.c.fetched: table.c.fetched + 2}))
    conn = db.session.connection()
    assert bump.execute(conn, {"run": run.id}).rowcount == 1
    assert bump.execute(conn, {"run": run.id + 1000}).rowcount == 0
    db.session.rollback()  # the same transaction as the session's: rolled back with it
    assert db.session.scalar(select(ScanRun.fetched).where(ScanRun.id == run.id)) == 0
    bump.execute(db.session.connection(), {"run": run.id})
    db.session.commit()
    assert db.session.scalar(select(ScanRun.fetched).where(ScanRun.id == run.id)) == 2


def test_executemany_and_sqlalchemy_exceptions(app):
    conn = db.session.connection()
    insert_into(Email).executemany(conn, [email_row("m1"), email_row("m2")])
    insert_into(Email).executemany(conn, [])  # nothing to do
    db.session.commit()
    assert db.session.scalar(select(Email.id).where(Email.message_key == "m2")) is not None
    with pytest.raises(IntegrityError):  # the unique message_key
        insert_into(Email).execute(db.session.connection(), email_row("m1"))
    db.session.rollback()


def test_a_missing_column_is_refused_not_silently_null(app):
    row = email_row("x")
    del row["created_at"]  # has a Python default, which a Prepared statement does not run
    with pytest.raises(ValueError, match="created_at"):
        insert_into(Email).execute(db.session.connection(), row)

"""The per-account scan lease: one scanner per mailbox, enforced by a conditional UPDATE."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, or_, update

from corpmail.extensions import db
from corpmail.models import ScannerAccount, ScanRun
from corpmail.models.base import utcnow
from corpmail.models.prepared import Prepared


class LeaseLost(Exception):
    """Another scanner took the mailbox (our lease expired): stop at once."""


def new_owner() -> str:
    """A lease owner id unique to this process and run."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def lease_seconds() -> int:
    return int(current_app.config.get("SCAN_LEASE_SECONDS", 60))


def claim(account_id: int, owner: str, commit: bool = True) -> bool:
    """Take the lease when it is free or expired; commits unless told not to (the engine
    commits it with the run's first row). Atomic on SQLite and PostgreSQL: the WHERE clause
    is evaluated under the row's write lock, so one UPDATE wins."""
    now = utcnow()
    result = db.session.execute(
        update(ScannerAccount)
        .where(
            ScannerAccount.id == account_id,
            or_(
                ScannerAccount.lease_owner.is_(None),
                ScannerAccount.lease_expires_at.is_(None),
                ScannerAccount.lease_expires_at < now,
                ScannerAccount.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds()))
        .execution_options(synchronize_session=False)
    )
    if commit:
        db.session.commit()
    return result.rowcount == 1


def renew(account_id: int, owner: str) -> None:
    """Extend our lease inside the current transaction; LeaseLost when it is no longer ours.
    The engine renews it once a third of it has passed (AccountScan._begin)."""
    conn = db.session.connection()
    result = _renew_statement().execute(
        conn,
        {"account": account_id, "owner": owner,
         "expires": utcnow() + timedelta(seconds=lease_seconds())},
    )
    if result.rowcount != 1:
        raise LeaseLost("the mailbox lease was taken over by another scanner")
    if conn.dialect.name == "postgresql":
        relax_commit(conn)


def relax_commit(conn) -> None:
    """PostgreSQL: this transaction's commit need not wait for the WAL flush. Safe for a
    message's transaction: its data and its folder watermark commit together, so a commit
    lost in a database crash is simply scanned again."""
    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


@functools.cache
def _renew_statement() -> Prepared:
    # Prepared once: renew runs for every message (see models/prepared.py).
    table = ScannerAccount.__table__
    return Prepared(
        update(table)
        .where(table.c.id == bindparam("account"), table.c.lease_owner == bindparam("owner"))
        .values({table.c.lease_expires_at: bindparam("expires",
                                                     type_=table.c.lease_expires_at.type)})
    )


def release(account_id: int, owner: str) -> None:
    """Give the lease back; commits (with whatever else the session holds: the run's end)."""
    db.session.execute(
        update(ScannerAccount)
        .where(ScannerAccount.id == account_id, ScannerAccount.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def close_stale_runs(account_id: int | None = None, commit: bool = True) -> int:
    """Runs left "In progress" whose heartbeat is older than the lease: their process died.
    Marked Error; returns how many. Commits unless told not to."""
    cutoff = utcnow() - timedelta(seconds=lease_seconds())
    stmt = (
        update(ScanRun)
        .where(
            ScanRun.status == "In progress",
            or_(
                ScanRun.heartbeat_at < cutoff,
                (ScanRun.heartbeat_at.is_(None) & (ScanRun.started_at < cutoff)),
            ),
        )
        .values(status="Error", error="stale: the scanning process died", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if account_id is not None:
        stmt = stmt.where(ScanRun.account_id == account_id)
    result = db.session.execute(stmt)
    if commit:
        db.session.commit()
    return result.rowcount or 0

"""Helpers for the scanner's integration tests: messages to put in mailboxes, rows to find."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import func, select

_n = itertools.count(1)


def make_message(
    subject: str = "Hello",
    sender: str = "Jan Kowalski <jan@client.example>",
    to: str = "support@corp.example",
    cc: str | None = None,
    body: str = "Body text.",
    msgid: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Date"] = format_datetime(datetime(2024, 5, 6, 7, 8, next(_n) % 60, tzinfo=UTC))
    msg["Message-ID"] = msgid or make_msgid(idstring=secrets.token_hex(6), domain="test.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def count(model, *where) -> int:
    from corpmail.extensions import db

    stmt = select(func.count()).select_from(model)
    for cond in where:
        stmt = stmt.where(cond)
    return db.session.scalar(stmt)


def links_of(email) -> set[tuple[str, int]]:
    return {(link.record_type, link.record_id) for link in email.links}


def corpmail_env(app, **env_extra) -> dict[str, str]:
    """The environment of a `corpmail` child process on the test's instance folder and
    database; `env_extra` adds CORPMAIL_* settings."""
    env = dict(os.environ)
    env.update(
        CORPMAIL_INSTANCE_PATH=app.instance_path,
        # the app's own URL: on PostgreSQL a test asking for `db_backend` next to `app`
        # was seen to get a second, empty database
        CORPMAIL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        **env_extra,
    )
    return env


def corpmail_process(app, *args, **env_extra) -> subprocess.Popen:
    """`corpmail ARGS` in a child process (see corpmail_env); stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", "from corpmail.cli import cli; cli()", *args],
        env=corpmail_env(app, **env_extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )

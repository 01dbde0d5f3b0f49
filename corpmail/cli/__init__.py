"""The `corpmail` command: a Flask CLI group (run, shell, db ... plus ours)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup


def _create_app():
    from corpmail.app import create_app

    try:
        return create_app()
    except (OSError, ValueError) as exc:
        # An unusable instance folder or config: one line, not a traceback.
        raise click.ClickException(f"cannot start corpmail: {exc}") from exc


@click.group(cls=FlaskGroup, create_app=_create_app)
def cli() -> None:
    """corpmail: corporate mailboxes for the CRM.

    Set CORPMAIL_INSTANCE_PATH to choose the installation folder and
    CORPMAIL_DATABASE_URL to use another database than its SQLite file.
    """


def register_commands(app) -> None:
    from corpmail.cli import admin_commands, key_commands, scan_commands

    for module in (admin_commands, key_commands, scan_commands):
        for command in module.COMMANDS:
            app.cli.add_command(command)

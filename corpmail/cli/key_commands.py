"""`corpmail keys`: rotate the key that encrypts mailbox passwords and OAuth tokens at rest."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from corpmail import key_rotation
from corpmail.cli.admin_commands import OneLineGroup, cli_errors
from corpmail.mail import crypto


@click.group("keys", cls=OneLineGroup)
def keys_group() -> None:
    """Rotate the encryption key of secrets at rest (mailbox passwords, OAuth tokens).

    Usual order: `corpmail keys rotate`, restart nothing (running processes re-read the
    key file), then once everything runs well `corpmail keys prune` to drop the old key.
    """


@keys_group.command("rotate")
@with_appcontext
@cli_errors
def keys_rotate() -> None:
    """New key first in <instance>/encryption_key (old keys kept for reading), then every
    secret re-encrypted with it."""
    count, keys = key_rotation.rotate()
    click.echo(f"new key in use; {count} secret(s) re-encrypted; {keys} key(s) in "
               f"{current_app.config['ENCRYPTION_KEY_FILE']} (the old ones only decrypt: "
               "`corpmail keys prune` drops them)")


@keys_group.command("reencrypt")
@with_appcontext
@cli_errors
def keys_reencrypt() -> None:
    """Re-encrypt every secret with the first configured key (keys from the environment:
    put the new key first in CORPMAIL_ENCRYPTION_KEY, restart, then run this)."""
    count = key_rotation.reencrypt_all(crypto.current_keys())
    click.echo(f"{count} secret(s) re-encrypted with the first key")


@keys_group.command("prune")
@with_appcontext
@cli_errors
def keys_prune() -> None:
    """Check that the newest key alone reads every secret, then drop the older keys."""
    count, dropped = key_rotation.prune()
    if current_app.config.get("ENCRYPTION_KEY_FILE"):
        click.echo(f"{count} secret(s) checked; {dropped} old key(s) dropped")
    else:
        click.echo(f"{count} secret(s) now read with the first key alone: remove the other "
                   "keys from CORPMAIL_ENCRYPTION_KEY and restart")


COMMANDS: list[click.Command] = [keys_group]

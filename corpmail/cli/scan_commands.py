"""Scanning commands: `scan` (one pass now, in the foreground) and `scanner` (the scheduler)."""

from __future__ import annotations

import json
import logging
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from corpmail.cli.admin_commands import OneLineCommand, cli_errors
from corpmail.validation import preview


class _ProgressLine:
    """A single updating line on stderr while a terminal watches."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.width = 0

    def __call__(self, result, folder: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        text = (
            f"{result.account} {folder}: {done}/{total}  stored {result.stored} "
            f"dup {result.duplicates} skipped {result.skipped} failed {result.failed}"
        )
        self.width = max(self.width, len(text))
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0


def _merge(into: dict, results) -> None:
    from corpmail.scanner.engine import COUNTERS

    for r in results:
        have = into.get(r.account_id)
        if have is None:
            into[r.account_id] = r
            continue
        for name in COUNTERS:
            setattr(have, name, getattr(have, name) + getattr(r, name))
        have.duration_s += r.duration_s
        have.error = r.error or have.error
        have.connect_failed = have.connect_failed or r.connect_failed
        have.busy = r.busy


@click.command("scan", cls=OneLineCommand)
@click.option("--account", "account_name", metavar="NAME", help="Scan only this mailbox.")
@click.option("--all", "all_passes", is_flag=True,
              help="Repeat passes until nothing new is left (max messages per run still applies per pass).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (stable shape).")
@with_appcontext
@cli_errors
def scan_command(account_name: str | None, all_passes: bool, as_json: bool) -> None:
    """Scan the active mailboxes (or one) now, in the foreground.

    Exits 1 when a message failed or a mailbox could not be reached."""
    from corpmail.extensions import db
    from corpmail.models import ScannerAccount
    from corpmail.scanner.engine import scan_all, totals

    if account_name is not None and db.session.scalar(
        db.select(ScannerAccount.id).where(ScannerAccount.name == account_name)
    ) is None:
        raise click.ClickException(f"no mailbox (scanner account) named {preview(account_name)}")
    progress = _ProgressLine()
    merged: dict = {}
    try:
        while True:
            results = scan_all("cli", account_name=account_name, progress=progress)
            _merge(merged, results)
            if not all_passes or not any(r.more and not r.error for r in results):
                break
    finally:
        progress.clear()
    results = list(merged.values())
    if as_json:
        click.echo(json.dumps({"accounts": [r.as_json() for r in results], "totals": totals(results)},
                              ensure_ascii=False))
    else:
        if not results:
            click.echo("no active mailboxes to scan")
        for r in results:
            click.echo(
                f"{r.account}: fetched {r.fetched}, stored {r.stored}, duplicates {r.duplicates}, "
                f"skipped {r.skipped}, failed {r.failed}, quarantined {r.quarantined} "
                f"in {r.duration_s:.2f} s"
                + (f" - {r.error}" if r.error else "")
                + (" (more left: run again or use --all)" if r.more and not all_passes else "")
            )
    bad = [r for r in results if r.failed or r.quarantined or (r.error and not r.busy)]
    if bad:
        sys.exit(1)


@click.command("scanner", cls=OneLineCommand)
@with_appcontext
@cli_errors
def scanner_command() -> None:
    """Run the scanner: scans at the configured interval, verifies locked mailboxes and
    alerts on long scans, until SIGTERM or Ctrl-C."""
    from corpmail.scanner.scheduler import run_scanner

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_scanner(current_app._get_current_object())


COMMANDS: list[click.Command] = [scan_command, scanner_command]

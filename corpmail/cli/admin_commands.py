"""Provisioning commands: init, user, server, account, grant, config, import, export."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from corpmail.extensions import db
from corpmail.mail.crypto import SecretError
from corpmail.mail.errors import MailError
from corpmail.models.mailboxes import SCAN_MODES, SECURITY_CHOICES
from corpmail.oauth.providers import PROVIDERS
from corpmail.validation import (
    has_control_characters,
    parse_host_port,
    preview,
    validate_email,
    validate_oauth_url,
)

SECURITY = click.Choice(SECURITY_CHOICES, case_sensitive=False)
IMAP_PORTS = {"none": 143, "starttls": 143, "ssl": 993}
SMTP_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
MAX_PASSWORD = 1024


def _one_line(text: object, limit: int = 1000) -> str:
    """Collapse a message to one line (database drivers answer on several)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2: prints the help


def _usage_line(exc: click.UsageError, path: str) -> click.UsageError:
    if exc.ctx is None or isinstance(exc, _NO_ARGS):
        return exc
    # Without a context click prints the single "Error: ..." line, no usage block.
    one = click.UsageError(f"{_one_line(exc.format_message())} (see `{path} --help`)")
    one.exit_code = exc.exit_code
    return one


class OneLineCommand(click.Command):
    """A command whose usage errors are one line on stderr, not a usage block."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            path = f"{parent.command_path} {info_name}" if parent else str(info_name)
            raise _usage_line(exc, path) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage_line(exc, ctx.command_path) from None


class OneLineGroup(OneLineCommand, click.Group):
    """A group of OneLineCommands."""

    command_class = OneLineCommand
    group_class = type


def cli_errors(func_):
    """Turn the errors an admin can act on into one line on stderr and exit 1, never a traceback."""

    @functools.wraps(func_)
    def wrapper(*args, **kwargs):
        try:
            return func_(*args, **kwargs)
        except click.ClickException:
            db.session.rollback()
            raise
        except (OperationalError, ProgrammingError) as exc:
            db.session.rollback()
            detail = _one_line(getattr(exc, "orig", exc))
            if "already exists" in detail:
                raise click.ClickException(
                    f"the database has tables but no migration history ({detail}): "
                    "it was not created by `corpmail init`; use an empty database"
                ) from None
            if "no such table" in detail or "does not exist" in detail:
                raise click.ClickException(
                    f"the database is not initialised ({detail}): run `corpmail init` first"
                ) from None
            raise click.ClickException(f"database error: {detail}") from None
        except IntegrityError as exc:
            db.session.rollback()
            raise click.ClickException(
                f"refused by the database: {_one_line(getattr(exc, 'orig', exc))}"
            ) from None
        except SQLAlchemyError as exc:
            db.session.rollback()
            raise click.ClickException(f"database error: {_one_line(exc)}") from None
        except (ValueError, MailError, SecretError, OSError) as exc:
            db.session.rollback()
            raise click.ClickException(_one_line(exc)) from None

    return wrapper


def _check_password(password: str, what: str = "password") -> str:
    """The password as given, or read from stdin when given as '-' (keeps it out of `ps`)."""
    if password == "-":
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.BadParameter(f"the {what} is empty")
    if len(password) > MAX_PASSWORD:
        raise click.BadParameter(f"the {what} is too long (at most {MAX_PASSWORD} characters)")
    return password


def _name(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"the {what} name is empty")
    if len(value) > limit:
        raise ValueError(f"the {what} name is too long (at most {limit} characters)")
    return _plain(value, f"the {what} name")


def _plain(value: str, what: str) -> str:
    """Text without control characters (NUL would be a database error on PostgreSQL)."""
    if has_control_characters(value):
        raise ValueError(f"{what} contains control characters")
    return value


def _user_by_email(email: str):
    from corpmail.models import User

    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _add_user(email: str, password: str, name: str, is_admin: bool, language: str) -> None:
    """Create and commit a user (the caller has checked that the e-mail is free)."""
    from corpmail.models import User

    user = User(email=email, name=name, is_admin=is_admin, language=language)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()


def _require_user(email: str):
    user = _user_by_email(validate_email(email))
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}: add it with `corpmail user add`")
    return user


def _require_account(name: str):
    from corpmail.models import ScannerAccount

    account = db.session.scalar(select(ScannerAccount).where(ScannerAccount.name == name))
    if account is None:
        raise click.ClickException(f"no mailbox (scanner account) named {preview(name)}")
    return account


# ---------------------------------------------------------------------------- init


def _existing_admin_email() -> str | None:
    """The first admin's e-mail, or None (also when the database has no tables yet)."""
    from corpmail.models import User

    try:
        return db.session.scalar(
            select(User.email).where(User.is_admin.is_(True)).order_by(User.id).limit(1)
        )
    except SQLAlchemyError:
        db.session.rollback()
        return None


@click.command(cls=OneLineCommand, name="init")
@click.option("--admin-email", metavar="E", help="E-mail of the first admin (created if no admin exists).")
@click.option("--admin-password", metavar="P", help="Password of the first admin ('-': read it from stdin).")
@with_appcontext
@cli_errors
def init_command(admin_email: str | None, admin_password: str | None) -> None:
    """Create or upgrade the database and create the first admin.

    Safe to run again: it applies pending migrations, makes sure the mail
    configuration exists, and leaves existing admins untouched.
    """
    from flask_migrate import upgrade

    from corpmail.models import MailConfiguration, User

    if bool(admin_email) != bool(admin_password):
        raise click.UsageError("give both --admin-email and --admin-password, or neither")
    if admin_email:
        admin_email = validate_email(admin_email)
        admin_password = _check_password(admin_password)

    # Decide before touching the database, so a refused init changes nothing.
    admin_email_found = _existing_admin_email()
    if admin_email_found is None and not admin_email:
        raise click.ClickException(
            "there is no admin yet: run `corpmail init --admin-email E --admin-password P`"
        )

    upgrade()  # Flask-Migrate: the migrations shipped in corpmail/migrations
    MailConfiguration.get()
    db.session.commit()
    where = current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1]  # never the credentials
    click.echo(f"Database ready ({where}).")

    admin = db.session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
    if admin is not None:
        if admin_email:
            click.echo(f"An admin already exists ({admin.email}); no user was changed.")
        return
    if _user_by_email(admin_email) is not None:
        raise click.ClickException(
            f"a user {admin_email} exists but is not an admin: choose another --admin-email"
        )
    _add_user(admin_email, admin_password, name="", is_admin=True, language="en")
    click.echo(f"Admin {admin_email} created.")


# ---------------------------------------------------------------------------- user


@click.group("user", cls=OneLineGroup)
def user_group() -> None:
    """Manage CRM users."""


@user_group.command("add")
@click.argument("email")
@click.option("--password", metavar="P", required=True,
              help="The user's password ('-': read it from stdin).")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--name", metavar="N", default="", help="Display name.")
@click.option("--lang", type=click.Choice(["pl", "en"]), default="en", show_default=True,
              help="Language of the user interface.")
@click.option("--if-missing", is_flag=True,
              help="Exit quietly with success when the user already exists.")
@with_appcontext
@cli_errors
def user_add(email: str, password: str, admin: bool, name: str, lang: str, if_missing: bool) -> None:
    """Add a user who logs in with EMAIL and --password."""
    email = validate_email(email)
    password = _check_password(password)
    name = _plain(name.strip(), "the name")
    if len(name) > 120:
        raise ValueError("the name is too long (at most 120 characters)")
    if _user_by_email(email) is not None:
        if if_missing:
            return
        raise click.ClickException(f"a user {email} already exists")
    _add_user(email, password, name=name, is_admin=admin, language=lang)
    click.echo(f"{'Admin' if admin else 'User'} {email} added.")


# ---------------------------------------------------------------------------- server


@click.group("server", cls=OneLineGroup)
def server_group() -> None:
    """Manage mail servers (IMAP + SMTP)."""


@server_group.command("add")
@click.argument("name")
@click.option("--imap", "imap", metavar="HOST:PORT", required=True,
              help="IMAP server; the port defaults to 143 (993 with ssl).")
@click.option("--imap-security", type=SECURITY, required=True, help="IMAP connection security.")
@click.option("--smtp", "smtp", metavar="HOST:PORT", required=True,
              help="SMTP server; the port defaults to 25, 587 (starttls) or 465 (ssl).")
@click.option("--smtp-security", type=SECURITY, required=True, help="SMTP connection security.")
@click.option("--no-verify-cert", is_flag=True,
              help="Do not validate the servers' TLS certificates (self-signed test servers).")
@click.option("--oauth", "oauth_provider", type=click.Choice(list(PROVIDERS)),
              help="Log in with OAuth 2.0 through this provider instead of passwords "
                   "(accounts are then authorized on their admin page).")
@click.option("--client-id", metavar="ID", help="OAuth 2.0 client ID (with --oauth).")
@click.option("--client-secret", metavar="S",
              help="OAuth 2.0 client secret, stored encrypted ('-': read it from stdin).")
@click.option("--authorize-url", metavar="URL",
              help="Authorization endpoint (required with --oauth generic).")
@click.option("--token-url", metavar="URL", help="Token endpoint (required with --oauth generic).")
@click.option("--revoke-url", metavar="URL", help="Revocation endpoint (optional).")
@click.option("--scopes", metavar="'A B'", help="Space-separated scopes (the provider's by default).")
@click.option("--if-missing", is_flag=True,
              help="Exit quietly with success when a server of this name exists.")
@with_appcontext
@cli_errors
def server_add(name: str, imap: str, imap_security: str, smtp: str, smtp_security: str,
               no_verify_cert: bool, oauth_provider: str | None, client_id: str | None,
               client_secret: str | None, authorize_url: str | None, token_url: str | None,
               revoke_url: str | None, scopes: str | None, if_missing: bool) -> None:
    """Add a mail server named NAME."""
    from corpmail.models import MailServer

    oauth = _oauth_settings(oauth_provider, client_id, client_secret, authorize_url,
                            token_url, revoke_url, scopes)

    name = _name(name, "server", 50)
    imap_security, smtp_security = imap_security.lower(), smtp_security.lower()
    try:
        imap_host, imap_port = parse_host_port(imap, IMAP_PORTS[imap_security])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--imap'") from None
    try:
        smtp_host, smtp_port = parse_host_port(smtp, SMTP_PORTS[smtp_security])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--smtp'") from None
    if db.session.scalar(select(MailServer.id).where(MailServer.name == name)) is not None:
        if if_missing:
            return
        raise click.ClickException(f"a mail server named {name!r} already exists")
    server = MailServer(
        name=name,
        imap_host=imap_host, imap_port=imap_port, imap_security=imap_security,
        imap_validate_cert=not no_verify_cert,
        smtp_host=smtp_host, smtp_port=smtp_port, smtp_security=smtp_security,
        smtp_validate_cert=not no_verify_cert,
    )
    if oauth:
        secret = oauth.pop("oauth_client_secret", None)
        for key, value in oauth.items():
            setattr(server, key, value)
        server.auth_method = "oauth2"
        if secret:
            server.oauth_client_secret = secret
    db.session.add(server)
    db.session.commit()
    click.echo(
        f"Mail server {name!r} added: IMAP {imap_host}:{imap_port} ({imap_security}), "
        f"SMTP {smtp_host}:{smtp_port} ({smtp_security})"
        + (f", OAuth 2.0 ({oauth_provider})." if oauth else ".")
    )


def _oauth_settings(provider, client_id, client_secret, authorize_url, token_url, revoke_url,
                    scopes) -> dict:
    """The MailServer OAuth columns from `server add`'s options ({} without --oauth)."""
    urls = {"--authorize-url": authorize_url, "--token-url": token_url,
            "--revoke-url": revoke_url}
    if provider is None:
        given = [opt for opt, value in [("--client-id", client_id),
                                        ("--client-secret", client_secret),
                                        ("--scopes", scopes), *urls.items()] if value]
        if given:
            raise click.UsageError(f"{given[0]} needs --oauth PROVIDER")
        return {}
    client_id = (client_id or "").strip()
    if not client_id:
        raise click.BadParameter("a client ID is required with --oauth",
                                 param_hint="'--client-id'")
    _plain(client_id, "the client ID")
    if len(client_id) > 255:
        raise click.BadParameter("at most 255 characters", param_hint="'--client-id'")
    for option, value in urls.items():
        if value is not None:
            try:
                urls[option] = validate_oauth_url(value)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
        elif PROVIDERS[provider].needs_urls and option != "--revoke-url":
            raise click.BadParameter(f"required with --oauth {provider}",
                                     param_hint=f"'{option}'")
    scopes = " ".join((scopes or "").split()) or None
    if scopes:
        _plain(scopes, "the scopes")
        if len(scopes) > 1000:
            raise click.BadParameter("at most 1000 characters", param_hint="'--scopes'")
    return {
        "oauth_provider": provider, "oauth_client_id": client_id,
        "oauth_client_secret": _check_password(client_secret, "client secret")
        if client_secret is not None else None,
        "oauth_authorize_url": urls["--authorize-url"], "oauth_token_url": urls["--token-url"],
        "oauth_revoke_url": urls["--revoke-url"], "oauth_scopes": scopes,
    }


# ---------------------------------------------------------------------------- account


def _parse_folders(values: tuple[str, ...]) -> list[tuple[str, str]]:
    from corpmail.models.mailboxes import FOLDER_ROLES

    folders: list[tuple[str, str]] = []
    for value in values:
        folder, sep, role = value.rpartition("=")
        folder = folder.strip()
        if not sep or not folder:
            raise click.BadParameter(
                f"{preview(value)}: write FOLDER=ROLE, e.g. INBOX=Received", param_hint="'--folder'"
            )
        match = next((r for r in FOLDER_ROLES if r.lower() == role.strip().lower()), None)
        if match is None:
            raise click.BadParameter(
                f"{preview(role.strip())} is not a folder role; "
                f"use one of: {', '.join(FOLDER_ROLES)}",
                param_hint="'--folder'",
            )
        if len(folder) > 500:
            raise click.BadParameter("the folder name is too long", param_hint="'--folder'")
        _plain(folder, "the folder name")
        if any(f == folder for f, _ in folders):
            raise click.BadParameter(f"folder {folder!r} is given twice", param_hint="'--folder'")
        folders.append((folder, match))
    return folders


def _parse_actions(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.BadParameter("give at least one action", param_hint="'--actions'")
    try:
        from corpmail.scanner.registry import validate_actions
    except ImportError as exc:  # the scanner package is broken: say so instead of a traceback
        raise click.ClickException(f"the scanner actions cannot be loaded: {exc}") from None
    errors = validate_actions(names)
    if errors:
        raise click.BadParameter(" ".join(str(e) for e in errors), param_hint="'--actions'")
    return names


@click.group("account", cls=OneLineGroup)
def account_group() -> None:
    """Manage mailboxes read by the scanner (scanner accounts)."""


@account_group.command("add")
@click.argument("name")
@click.option("--server", "server_name", metavar="SERVER", required=True,
              help="Name of the mail server (see `corpmail server add`).")
@click.option("--login", metavar="L", required=True, help="IMAP/SMTP login.")
@click.option("--password", metavar="P",
              help="IMAP/SMTP password, stored encrypted ('-': read it from stdin); not for "
                   "an OAuth 2.0 server, whose mailboxes are authorized on their admin page.")
@click.option("--folder", "folders", metavar="FOLDER=ROLE", multiple=True, required=True,
              help="A folder to scan and its role (Received, Sent, Spam, Trash, All); repeatable.")
@click.option("--actions", metavar="A,B,...", required=True,
              help="Ordered, comma-separated actions: create-email, bind-email, open-ticket, "
                   "create-ticket.")
@click.option("--owner", metavar="EMAIL", required=True,
              help="User to whom created e-mails and tickets are assigned.")
@click.option("--mode", "scan_mode", type=click.Choice(SCAN_MODES), default="auto",
              show_default=True,
              help="push: IMAP IDLE on the Received folders; poll: the periodic scan only; "
                   "auto: push when the server announces IDLE.")
@click.option("--if-missing", is_flag=True,
              help="Exit quietly with success when a mailbox of this name exists.")
@with_appcontext
@cli_errors
def account_add(name: str, server_name: str, login: str, password: str | None,
                folders: tuple[str, ...],
                actions: str, owner: str, scan_mode: str, if_missing: bool) -> None:
    """Add a mailbox named NAME for the scanner to read."""
    from corpmail.models import MailServer, ScannerAccount, ScannerFolder

    name = _name(name, "mailbox", 100)
    login = login.strip()
    if not login or len(login) > 254:
        raise click.BadParameter("the login must be 1 to 254 characters", param_hint="'--login'")
    _plain(login, "the login")
    if password is not None:
        password = _check_password(password)
    folder_roles = _parse_folders(folders)
    action_names = _parse_actions(actions)
    if db.session.scalar(select(ScannerAccount.id).where(ScannerAccount.name == name)) is not None:
        if if_missing:
            return
        raise click.ClickException(f"a mailbox named {name!r} already exists")
    server = db.session.scalar(select(MailServer).where(MailServer.name == server_name))
    if server is None:
        raise click.ClickException(
            f"no mail server named {preview(server_name)}: add it with `corpmail server add`")
    if server.auth_method == "oauth2" and password is not None:
        raise click.BadParameter(f"{server.name!r} logs in with OAuth 2.0: give no password "
                                 "and authorize the mailbox on its admin page",
                                 param_hint="'--password'")
    if server.auth_method != "oauth2" and password is None:
        raise click.BadParameter("a password is required", param_hint="'--password'")
    owner_user = _require_user(owner)
    account = ScannerAccount(
        name=name, server=server, login=login, actions=action_names, owner_id=owner_user.id,
        scan_mode=scan_mode, folders=[ScannerFolder(name=f, role=r) for f, r in folder_roles],
    )
    if password is not None:
        account.password = password
    db.session.add(account)
    db.session.commit()
    click.echo(
        f"Mailbox {name!r} added on {server.name!r}: folders "
        + ", ".join(f"{f}={r}" for f, r in folder_roles)
        + f"; actions {', '.join(action_names)}; owner {owner_user.email}; mode {scan_mode}."
        + (" It needs OAuth 2.0 authorization: Mail scanner > the mailbox > Authorize."
           if server.auth_method == "oauth2" else "")
    )


# ---------------------------------------------------------------------------- grant / revoke


def _users_for(emails: tuple[str, ...]) -> list:
    users, missing = [], []
    for email in emails:
        user = _user_by_email(validate_email(email))
        if user is None:
            missing.append(email)
        elif user not in users:
            users.append(user)
    if missing:
        raise click.ClickException(f"no such user(s): {', '.join(missing)}; nothing changed")
    return users


@click.command(cls=OneLineCommand, name="grant", short_help="Give users access to a mailbox (autologin).")
@click.argument("account")
@click.argument("emails", nargs=-1, required=True)
@with_appcontext
@cli_errors
def grant_command(account: str, emails: tuple[str, ...]) -> None:
    """Let the users with these EMAILS open mailbox ACCOUNT from the top bar (autologin).

    Unknown e-mails are refused and then nothing changes; existing grants are kept.
    """
    from corpmail.models import AutologinGrant

    mailbox = _require_account(account)
    users = _users_for(emails)
    have = {g.user_id for g in mailbox.grants}
    for user in users:
        if user.id in have:
            click.echo(f"{user.email} already has access to {mailbox.name}.")
        else:
            db.session.add(AutologinGrant(account=mailbox, user_id=user.id))
            click.echo(f"{user.email} granted access to {mailbox.name}.")
    db.session.commit()


@click.command(cls=OneLineCommand, name="revoke", short_help="Take users' access to a mailbox away.")
@click.argument("account")
@click.argument("emails", nargs=-1, required=True)
@with_appcontext
@cli_errors
def revoke_command(account: str, emails: tuple[str, ...]) -> None:
    """Take away the access of the users with these EMAILS to mailbox ACCOUNT.

    Unknown e-mails are refused and then nothing changes.
    """
    from corpmail.autologin.grants import revoke_grant

    mailbox = _require_account(account)
    users = _users_for(emails)
    by_user = {g.user_id: g for g in mailbox.grants}
    for user in users:
        grant = by_user.get(user.id)
        if grant is None:
            click.echo(f"{user.email} had no access to {mailbox.name}.")
        else:
            revoke_grant(grant)  # also ends the Roundcube sessions it opened
            click.echo(f"{user.email} no longer has access to {mailbox.name}.")
    db.session.commit()


# ---------------------------------------------------------------------------- config


@click.group("config", cls=OneLineGroup)
def config_group() -> None:
    """Show or change the mail configuration (scan interval, limits, ticket policy ...)."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as a JSON object.")
@with_appcontext
@cli_errors
def config_show(as_json: bool) -> None:
    """Print every setting and its current value."""
    from corpmail.configuration import SETTINGS, format_value, settings_as_dict
    from corpmail.models import MailConfiguration

    values = settings_as_dict(MailConfiguration.get())
    db.session.commit()  # the row may just have been created with the defaults
    if as_json:
        click.echo(json.dumps(values, indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in SETTINGS)
    for key, value in values.items():
        click.echo(f"{key:<{width}}  {format_value(value)}")


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@with_appcontext
@cli_errors
def config_set(key: str, value: str) -> None:
    """Set KEY to VALUE; `corpmail config show` lists the keys.

    Numbers are checked against their range; booleans take on/off;
    choices are matched ignoring case ("new-ticket" = "new ticket");
    lists take items separated by spaces or commas (an empty VALUE clears
    them). An invalid VALUE changes nothing. Takes effect at the next scan.
    """
    from corpmail.configuration import apply_settings, format_value, get_setting, setting_value
    from corpmail.models import MailConfiguration

    setting = get_setting(key)
    row = MailConfiguration.get()
    apply_settings(row, {setting.key: value})
    db.session.commit()
    click.echo(f"{setting.key} = {format_value(setting_value(row, setting.key))}")


# ---------------------------------------------------------------------------- import / export


@click.command(cls=OneLineCommand, name="import")
@click.argument("kind", type=click.Choice(["contacts", "accounts", "leads"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--skip-existing", is_flag=True,
              help="Leave rows whose record exists (accounts by name, others by e-mail) alone.")
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid rows and list the invalid ones on stderr, instead of "
                   "importing nothing when a row is wrong.")
@with_appcontext
@cli_errors
def import_command(kind: str, file: Path, skip_existing: bool, skip_invalid: bool) -> None:
    """Import contacts, accounts or leads from a CSV FILE.

    The header row names the fields:

    \b
    contacts: first_name, last_name, email, secondary_email, phone, account (by name), owner;
    accounts: name, email, website, domains (separated by spaces), number, owner;
    leads: company, name, email, status, owner.

    Comma, semicolon or tab separated. Encoding: read as UTF-8 (a BOM is allowed); a file
    that is not valid UTF-8 is read as Windows-1250 (cp1250, Excel's "CSV" in Polish
    Windows). The encoding used is printed.

    Every row is checked first, and each wrong one is reported with its line number
    ("line 7: ..."). If any row is wrong, nothing is imported and the exit status is 1;
    with --skip-invalid the valid rows are imported and the wrong ones listed.
    """
    from corpmail.importer import CsvImportError, import_csv

    try:
        result = import_csv(kind, file, skip_existing=skip_existing, skip_invalid=skip_invalid)
    except CsvImportError as exc:
        for error in exc.errors:
            click.echo(_one_line(error, 1000), err=True)
        raise click.ClickException(
            f"nothing imported: {len(exc.errors)} problem(s) in {file}"
        ) from None
    for error in result.invalid:
        click.echo(f"skipped {_one_line(error, 1000)}", err=True)
    skipped = f", {result.skipped} existing skipped" if result.skipped else ""
    invalid = f", {len(result.invalid)} invalid row(s) skipped" if result.invalid else ""
    click.echo(
        f"Imported {result.created} {kind} from {file} ({result.encoding}{skipped}{invalid})."
    )


@click.group("export", cls=OneLineGroup)
def export_group() -> None:
    """Export stored data."""


@export_group.command("emails")
@click.option("--account", metavar="NAME", help="Only e-mails seen in this mailbox.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the stable, documented shape).")
@with_appcontext
@cli_errors
def export_emails_command(account: str | None, as_json: bool) -> None:
    """Print the stored e-mails: Message-ID, subject, sender, direction, mailboxes, bound records."""
    from corpmail.export import export_emails

    data = export_emails(account)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for e in data["emails"]:
        seen = ", ".join(f"{s['account']}/{s['folder']}:{s['uid']}" for s in e["seen_in"])
        tickets = " ".join(e["tickets"])
        click.echo(
            f"{e['id']}\t{e['date'] or '-'}\t{e['direction']}\t{e['from']}\t"
            f"{_one_line(e['subject'], 80)}\t[{seen}]\t{tickets}"
        )
    click.echo(f"{len(data['emails'])} e-mail(s).", err=True)


COMMANDS: list[click.Command] = [
    init_command,
    user_group,
    server_group,
    account_group,
    grant_command,
    revoke_command,
    config_group,
    import_command,
    export_group,
]

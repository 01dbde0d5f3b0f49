"""The `corpmail` provisioning commands, in-process (CliRunner on app.cli) and as the real console script."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import (
    Account,
    AutologinGrant,
    Contact,
    Email,
    EmailAttachment,
    EmailLink,
    EmailSeen,
    Lead,
    MailConfiguration,
    MailServer,
    ScannerAccount,
    Ticket,
    User,
)
from corpmail.models.base import utcnow

CORPMAIL = Path(sys.executable).with_name("corpmail")


def invoke(cli, args, ok=True, input=None):
    """Run `corpmail ARGS` in-process; assert the exit status; return the result."""
    argv = shlex.split(args) if isinstance(args, str) else list(args)
    result = cli.invoke(args=argv, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback would have reached the user
    if ok:
        assert result.exit_code == 0, (argv, result.stdout, result.stderr)
    else:
        assert result.exit_code != 0, (argv, result.stdout)
        assert_one_line_error(result.stderr)
    return result


def assert_one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def make_admin(email="admin@example.test"):
    user = User(email=email, name="Admin", is_admin=True)
    user.set_password("pw")
    db.session.add(user)
    db.session.commit()
    return user


def make_server(name="local"):
    server = MailServer(name=name, imap_host="127.0.0.1", imap_port=143, smtp_host="127.0.0.1")
    db.session.add(server)
    db.session.commit()
    return server


# ---------------------------------------------------------------------------- user add


def test_user_add(cli):
    out = invoke(cli, "user add Jan.Kowalski@Example.COM --password 's3cret pass' --name 'Jan K' --lang pl")
    assert "jan.kowalski@example.com" in out.stdout
    assert "s3cret" not in out.stdout + out.stderr
    user = db.session.scalar(select(User))
    assert (user.email, user.name, user.language, user.is_admin) == (
        "jan.kowalski@example.com", "Jan K", "pl", False)
    assert user.password_hash != "s3cret pass" and user.check_password("s3cret pass")

    invoke(cli, "user add boss@example.test --password x --admin")
    assert db.session.scalar(select(User).where(User.email == "boss@example.test")).is_admin


def test_passwords_can_come_from_stdin(cli):
    result = cli.invoke(args=["user", "add", "p@example.test", "--password", "-"], input="from stdin 1\n")
    assert result.exit_code == 0, result.stderr
    assert "from stdin" not in result.stdout
    assert db.session.scalar(select(User)).check_password("from stdin 1")
    result = cli.invoke(args=["user", "add", "q@example.test", "--password", "-"], input="\n")
    assert result.exit_code != 0 and "password is empty" in result.stderr


def test_user_add_refusals_are_one_line(cli):
    invoke(cli, "user add jan@example.test --password pw")
    err = invoke(cli, "user add JAN@example.test --password pw", ok=False).stderr
    assert "already exists" in err
    assert invoke(cli, "user add jan@example.test --password pw --if-missing").stdout == ""
    assert "spaces" in invoke(cli, ["user", "add", "jan kowalski@x.pl", "--password", "p"], ok=False).stderr
    assert "--lang" in invoke(cli, "user add a@example.test --password p --lang de", ok=False).stderr
    assert "Missing option '--password'" in invoke(cli, "user add a@example.test", ok=False).stderr
    assert "empty" in invoke(cli, ["user", "add", "a@example.test", "--password", ""], ok=False).stderr
    assert "too long" in invoke(
        cli, ["user", "add", "a@example.test", "--password", "p", "--name", "n" * 121], ok=False).stderr
    assert db.session.scalar(select(db.func.count(User.id))) == 1


def test_user_add_keeps_hostile_names_verbatim(cli):
    name = "<script>alert(1)</script>'; DROP TABLE users; -- 😀"
    invoke(cli, ["user", "add", "x@example.test", "--password", "pw", "--name", name])
    assert db.session.scalar(select(User.name)) == name


# ---------------------------------------------------------------------------- server add


def test_server_add_with_default_ports(cli):
    invoke(cli, "server add Local --imap 127.0.0.1:1143 --imap-security none "
                "--smtp 127.0.0.1 --smtp-security starttls")
    invoke(cli, "server add Cloud --imap [2001:db8::1] --imap-security SSL "
                "--smtp smtp.example.com --smtp-security ssl --no-verify-cert")
    local, cloud = db.session.scalars(select(MailServer).order_by(MailServer.id))
    assert (local.imap_host, local.imap_port, local.imap_security) == ("127.0.0.1", 1143, "none")
    assert (local.smtp_host, local.smtp_port, local.smtp_security) == ("127.0.0.1", 587, "starttls")
    assert local.imap_validate_cert and local.smtp_validate_cert
    assert (cloud.imap_host, cloud.imap_port, cloud.imap_security) == ("2001:db8::1", 993, "ssl")
    assert (cloud.smtp_port, cloud.smtp_security) == (465, "ssl")
    assert not cloud.imap_validate_cert and not cloud.smtp_validate_cert


@pytest.mark.parametrize(
    "imap, smtp, fragment",
    [
        ("host:0", "h:25", "port 0 is out of range"),
        ("host:70000", "h:25", "port 70000 is out of range"),
        ("host:143", "h:70000", "'--smtp': port 70000"),
        ("imap://host:143", "h:25", "scheme"),
        ("mail host:143", "h:25", "spaces"),
        ("host/inbox:143", "h:25", "path"),
        ("😀.example.com:143", "h:25", "not a valid host name"),
        ("[::1:143", "h:25", "missing ']'"),
    ],
)
def test_server_add_refuses_bad_addresses(cli, imap, smtp, fragment):
    err = invoke(cli, ["server", "add", "bad", "--imap", imap, "--imap-security", "none",
                       "--smtp", smtp, "--smtp-security", "none"], ok=False).stderr
    assert fragment in err
    assert db.session.scalar(select(MailServer)) is None


def test_server_add_names_and_duplicates(cli):
    args = "--imap h:143 --imap-security none --smtp h:25 --smtp-security none"
    invoke(cli, f"server add main {args}")
    assert "already exists" in invoke(cli, f"server add main {args}", ok=False).stderr
    assert invoke(cli, f"server add main {args} --if-missing").stdout == ""
    assert "too long" in invoke(cli, f"server add {'n' * 51} {args}", ok=False).stderr
    assert "empty" in invoke(cli, ["server", "add", "  "] + args.split(), ok=False).stderr
    assert "'tls' is not one of" in invoke(
        cli, "server add x --imap h:1 --imap-security tls --smtp h --smtp-security none", ok=False).stderr
    html = "<b>Main</b> 'or 1=1"
    invoke(cli, ["server", "add", html] + args.split())
    assert db.session.scalar(select(MailServer.name).where(MailServer.name == html)) == html


# ---------------------------------------------------------------------------- account add


ACCOUNT_ARGS = ["--server", "local", "--login", "sales@example.test", "--password", "imap-pw-1",
                "--folder", "INBOX=received", "--folder", "Sent Items=Sent",
                "--actions", "create-email,bind-email,open-ticket,create-ticket",
                "--owner", "admin@example.test"]


def test_account_add(cli):
    make_admin()
    make_server()
    out = invoke(cli, ["account", "add", "Sales"] + ACCOUNT_ARGS)
    assert "imap-pw-1" not in out.stdout + out.stderr
    account = db.session.scalar(select(ScannerAccount))
    assert account.name == "Sales" and account.server.name == "local"
    assert account.actions == ["create-email", "bind-email", "open-ticket", "create-ticket"]
    assert [(f.name, f.role) for f in account.folders] == [("INBOX", "Received"), ("Sent Items", "Sent")]
    assert account.owner.email == "admin@example.test" and account.status == "Active"
    assert "imap-pw-1" not in account.password_encrypted and account.password == "imap-pw-1"

    assert "already exists" in invoke(cli, ["account", "add", "Sales"] + ACCOUNT_ARGS, ok=False).stderr
    assert invoke(cli, ["account", "add", "Sales", "--if-missing"] + ACCOUNT_ARGS).stdout == ""


def _with(option, value):
    args = list(ACCOUNT_ARGS)
    i = args.index(option)
    args[i + 1] = value
    if option == "--folder":  # keep a single folder option
        del args[i + 2:i + 4]
    return args


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--server", "nope", "no mail server named 'nope'"),
        ("--owner", "nobody@example.test", "no user with e-mail nobody@example.test"),
        ("--owner", "not-an-email", "not an e-mail address"),
        ("--folder", "INBOX=Inbox", "'Inbox' is not a folder role"),
        ("--folder", "INBOX", "write FOLDER=ROLE"),
        ("--folder", "=Received", "write FOLDER=ROLE"),
        ("--actions", "bind-email,create-email", "bind-email needs create-email before it"),
        ("--actions", "create-email,create-email", "more than once"),
        ("--actions", "create-email,delete-everything", "Unknown action: delete-everything"),
        ("--actions", " , ", "at least one action"),
        ("--login", " ", "1 to 254 characters"),
    ],
)
def test_account_add_refusals(cli, option, value, fragment):
    make_admin()
    make_server()
    err = invoke(cli, ["account", "add", "Sales"] + _with(option, value), ok=False).stderr
    assert fragment in err
    assert db.session.scalar(select(ScannerAccount)) is None


def test_account_add_duplicate_folder(cli):
    make_admin()
    make_server()
    err = invoke(cli, ["account", "add", "Sales", "--folder", "INBOX=Sent"] + ACCOUNT_ARGS, ok=False).stderr
    assert "given twice" in err


SERVER_ARGS = ["--imap", "imap.gmail.com", "--imap-security", "ssl",
               "--smtp", "smtp.gmail.com", "--smtp-security", "ssl"]


def test_oauth_server_and_mailbox_from_the_cli(cli):
    make_admin()
    out = invoke(cli, ["server", "add", "Gmail", *SERVER_ARGS, "--oauth", "google",
                       "--client-id", "app.apps.example", "--client-secret", "-"],
                 input="GOCSPX-cli-secret\n")
    assert "OAuth 2.0 (google)" in out.stdout and "GOCSPX" not in out.stdout
    server = db.session.scalar(select(MailServer))
    assert (server.auth_method, server.oauth_provider, server.oauth_client_id) == (
        "oauth2", "google", "app.apps.example")
    assert server.oauth_client_secret == "GOCSPX-cli-secret"
    assert "GOCSPX" not in server.oauth_client_secret_encrypted

    args = [a for a in ACCOUNT_ARGS if a not in ("--password", "imap-pw-1")]
    args[args.index("--server") + 1] = "Gmail"
    out = invoke(cli, ["account", "add", "Desk", *args])
    assert "Authorize" in out.stdout
    account = db.session.scalar(select(ScannerAccount))
    assert account.password_encrypted is None and not account.oauth_authorized
    err = invoke(cli, ["account", "add", "Desk2", *args, "--password", "x"], ok=False).stderr
    assert "logs in with OAuth 2.0" in err


@pytest.mark.parametrize("extra, fragment", [
    (["--oauth", "google"], "a client ID is required"),
    (["--oauth", "generic", "--client-id", "c"], "--authorize-url"),
    (["--oauth", "generic", "--client-id", "c", "--authorize-url", "https://idp.example/a"],
     "--token-url"),
    (["--oauth", "generic", "--client-id", "c", "--authorize-url", "http://idp.example/a",
      "--token-url", "https://idp.example/t"], "give an https:// URL"),
    (["--client-id", "c"], "--client-id needs --oauth PROVIDER"),
    (["--oauth", "google", "--client-id", "c\x00"], "control characters"),
])
def test_oauth_server_refusals(cli, extra, fragment):
    err = invoke(cli, ["server", "add", "Gmail", *SERVER_ARGS, *extra], ok=False).stderr
    assert fragment in err
    assert db.session.scalar(select(MailServer)) is None


def test_password_server_mailbox_needs_a_password(cli):
    make_admin()
    make_server()
    args = [a for a in ACCOUNT_ARGS if a not in ("--password", "imap-pw-1")]
    assert "a password is required" in invoke(cli, ["account", "add", "S", *args], ok=False).stderr


# ---------------------------------------------------------------------------- grant / revoke


def test_grant_and_revoke(cli):
    admin = make_admin()
    make_server()
    invoke(cli, ["account", "add", "Sales"] + ACCOUNT_ARGS)
    invoke(cli, "user add u1@example.test --password p")
    invoke(cli, "user add u2@example.test --password p")

    out = invoke(cli, "grant Sales u1@example.test U2@example.test admin@example.test").stdout
    assert out.count("granted access") == 3
    assert "already has access" in invoke(cli, "grant Sales u1@example.test").stdout
    grants = lambda: sorted(g.user.email for g in db.session.scalars(select(AutologinGrant)))
    assert grants() == ["admin@example.test", "u1@example.test", "u2@example.test"]

    err = invoke(cli, "grant Sales u1@example.test ghost@example.test", ok=False).stderr
    assert "ghost@example.test" in err and "nothing changed" in err
    assert "no mailbox" in invoke(cli, "grant Nope u1@example.test", ok=False).stderr
    assert "Missing argument" in invoke(cli, "grant Sales", ok=False).stderr

    err = invoke(cli, "revoke Sales u1@example.test ghost@example.test", ok=False).stderr
    assert "nothing changed" in err
    assert len(grants()) == 3
    invoke(cli, f"revoke Sales u1@example.test {admin.email}")
    assert grants() == ["u2@example.test"]
    assert "had no access" in invoke(cli, "revoke Sales u1@example.test").stdout


# ---------------------------------------------------------------------------- config


def test_config_show_and_set(cli):
    text = invoke(cli, "config show").stdout
    assert "scan_interval" in text and "ticket_on_closed_reply" in text
    shown = json.loads(invoke(cli, "config show --json").stdout)
    assert shown["scan_interval"] == 60 and shown["email_exceptions"] == []

    assert invoke(cli, "config set scan_interval 120").stdout.strip() == "scan_interval = 120"
    invoke(cli, "config set mark-seen on")
    invoke(cli, ["config", "set", "email_exceptions", "Noreply@X.com, bounce@y.pl"])
    invoke(cli, ["config", "set", "ticket_on_closed_reply", "new ticket"])
    invoke(cli, "config set ticket_prefix CASE")
    shown = json.loads(invoke(cli, "config show --json").stdout)
    assert shown["scan_interval"] == 120 and shown["mark_seen"] is True
    assert shown["email_exceptions"] == ["noreply@x.com", "bounce@y.pl"]
    assert shown["ticket_on_closed_reply"] == "new ticket" and shown["ticket_prefix"] == "CASE"
    db.session.expire_all()
    assert MailConfiguration.get().email_exceptions == "noreply@x.com\nbounce@y.pl"

    for args, fragment in [
        ("config set scan_interval 5", "out of range: use 10 to 86400"),
        ("config set scan_interval abc", "not a whole number"),
        ("config set mail_icon_refresh_s 1", "use 5 to 86400"),
        ("config set ticket_default_status Closed", "not a valid choice"),
        ("config set mark_seen perhaps", "not on/off"),
        ("config set nonsense 1", "valid settings: scan_interval"),
        ("config set scan_interval", "Missing argument 'VALUE'"),
    ]:
        assert fragment in invoke(cli, args, ok=False).stderr, args
    assert json.loads(invoke(cli, "config show --json").stdout)["scan_interval"] == 120


# ---------------------------------------------------------------------------- import


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return str(path)


def test_import_accounts_contacts_leads(cli, tmp_path):
    make_admin()
    accounts = write(tmp_path, "accounts.csv",
                     "name,email,domains,website,owner\n"
                     "ACME Sp. z o.o.,Info@ACME.pl,acme.pl  ACME.com,https://acme.pl,admin@example.test\n"
                     '"Beta, Inc.",,beta.io,,\n')
    out = invoke(cli, ["import", "accounts", accounts]).stdout
    assert "Imported 2 accounts" in out
    acme = db.session.scalar(select(Account).where(Account.name == "ACME Sp. z o.o."))
    assert acme.email == "info@acme.pl" and acme.domains == ["acme.com", "acme.pl"]
    assert acme.owner_id is not None

    contacts = write(tmp_path, "contacts.csv",
                     "First Name;Last Name;E-mail;Phone;Account\n"
                     "Zażółć;Gęślą;zazolc@acme.pl;+48 600 000 000;acme sp. z o.o.\n"
                     ";;solo@example.com;;\n", encoding="cp1250")
    out = invoke(cli, ["import", "contacts", contacts]).stdout
    assert "Imported 2 contacts" in out and "cp1250" in out
    zaz = db.session.scalar(select(Contact).where(Contact.email == "zazolc@acme.pl"))
    assert (zaz.first_name, zaz.last_name, zaz.account.name) == ("Zażółć", "Gęślą", "ACME Sp. z o.o.")

    leads = write(tmp_path, "leads.csv", "\ufeffcompany,name,email,status\nŁódź Ltd,Ola,ola@lodz.pl,contacted\n")
    invoke(cli, ["import", "leads", leads])
    lead = db.session.scalar(select(Lead))
    assert (lead.company, lead.status) == ("Łódź Ltd", "Contacted")


def test_import_reports_every_bad_row_and_imports_nothing(cli, tmp_path):
    path = write(tmp_path, "contacts.csv",
                 "first_name,last_name,email,account\n"
                 "Jan,Kowalski,jan@example.com,\n"
                 "Bad,Mail,not-an-address,\n"
                 '"Multi\nline",Name,multi@example.com,\n'
                 ",,,\n"
                 "No,Account,no@example.com,Missing Corp\n"
                 "Dup,Licate,JAN@example.com,\n"
                 ",,,x\n")
    result = cli.invoke(args=["import", "contacts", path])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[:-1] == [
        "line 3: email: 'not-an-address' is not an e-mail address (expected name@domain)",
        "line 7: account 'Missing Corp' does not exist",
        "line 8: same email as line 2",
        "line 9: a contact needs a first name, a last name or an e-mail; account 'x' does not exist",
    ]
    assert lines[-1] == f"Error: nothing imported: 4 problem(s) in {path}"
    assert db.session.scalar(select(Contact)) is None


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"first_name,colour\nJan,red\n", "unknown column(s) 'colour'"),
        (b"email,e-mail\na@b.pl,c@d.pl\n", "appears twice"),
        (b"first_name\x00,x\n", "NUL bytes"),
        (b"first_name,email\nJan,jan@x.pl,extra\n", "3 fields but the header names 2"),
        (b"first_name\n" + b"x" * 101 + b"\n", "first_name is too long"),
        (b"first_name\n\x81\x98\n", "neither UTF-8 nor"),  # bytes cp1250 leaves undefined
    ],
)
def test_import_refuses_bad_files(cli, tmp_path, content, fragment):
    path = write(tmp_path, "c.csv", content)
    result = cli.invoke(args=["import", "contacts", path])
    assert result.exit_code == 1
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert db.session.scalar(select(Contact)) is None


def test_import_existing_records(cli, tmp_path):
    path = write(tmp_path, "a.csv", "name,domains\nACME,acme.pl\n")
    invoke(cli, ["import", "accounts", path])
    result = cli.invoke(args=["import", "accounts", path])
    assert result.exit_code == 1 and "an account with name 'ACME' already exists" in result.stderr
    out = invoke(cli, ["import", "accounts", path, "--skip-existing"]).stdout
    assert "Imported 0 accounts" in out and "1 existing skipped" in out
    assert db.session.scalar(select(db.func.count(Account.id))) == 1
    assert "does not exist" in invoke(cli, ["import", "accounts", str(tmp_path / "none.csv")], ok=False).stderr
    assert "'people' is not one of" in invoke(cli, ["import", "people", path], ok=False).stderr


# ---------------------------------------------------------------------------- export


def seed_emails():
    """Two mailboxes, one message seen in both, bound to a contact, its account and a ticket."""
    admin = make_admin()
    server = make_server()
    sales = ScannerAccount(name="Sales", server=server, login="sales", owner=admin, actions=["create-email"])
    support = ScannerAccount(name="Support", server=server, login="support", owner=admin,
                             actions=["create-email"])
    acme = Account(name="ACME", number="ACC1")
    contact = Contact(first_name="Jan", last_name="K", email="jan@acme.pl", account=acme)
    ticket = Ticket(title="Help", number="TT7")
    db.session.add_all([sales, support, acme, contact, ticket])
    db.session.flush()
    shared = Email(message_key="Abc.123@Mail.Example", message_id="Abc.123@Mail.Example",
                   subject="Zażółć [TT7]", from_name="Jan", from_address="jan@acme.pl",
                   date=utcnow().replace(microsecond=0), direction="Received")
    shared.seen = [EmailSeen(account=sales, folder="INBOX", uid=5, uidvalidity=1),
                   EmailSeen(account=support, folder="INBOX", uid=9, uidvalidity=1)]
    shared.links = [EmailLink(record_type="contact", record_id=contact.id),
                    EmailLink(record_type="account", record_id=acme.id),
                    EmailLink(record_type="ticket", record_id=ticket.id),
                    EmailLink(record_type="lead", record_id=999)]  # the lead was deleted
    shared.attachments = [EmailAttachment(filename="a.pdf", sha256="0" * 64, size=1),
                          EmailAttachment(filename="b.png", sha256="1" * 64, size=1)]
    digest = Email(message_key="digest:" + "f" * 64, message_id=None, subject="no id",
                   from_address="x@y.pl", direction="Sent")
    digest.seen = [EmailSeen(account=support, folder="Sent", uid=1, uidvalidity=1)]
    db.session.add_all([shared, digest])
    db.session.commit()
    return shared, digest, contact, acme, ticket


def test_export_emails_json_shape(cli):
    shared, _digest, contact, acme, ticket = seed_emails()
    data = json.loads(invoke(cli, "export emails --json").stdout)
    assert list(data) == ["emails"]
    first, second = data["emails"]
    assert first == {
        "id": shared.id,
        "message_id": "Abc.123@Mail.Example",
        "subject": "Zażółć [TT7]",
        "from": "jan@acme.pl",
        "from_name": "Jan",
        "date": shared.date.isoformat(),
        "direction": "Received",
        "seen_in": [{"account": "Sales", "folder": "INBOX", "uid": 5},
                    {"account": "Support", "folder": "INBOX", "uid": 9}],
        "bound": [{"type": "contact", "id": contact.id, "label": "jan@acme.pl"},
                  {"type": "account", "id": acme.id, "label": "ACC1"},
                  {"type": "ticket", "id": ticket.id, "label": "TT7"},
                  {"type": "lead", "id": 999, "label": None}],
        "tickets": ["TT7"],
        "attachments": 2,
    }
    assert first["date"].endswith("+00:00")
    assert second["message_id"] is None and second["date"] is None
    assert second["seen_in"] == [{"account": "Support", "folder": "Sent", "uid": 1}]
    assert second["bound"] == [] and second["tickets"] == [] and second["attachments"] == 0

    only_sales = json.loads(invoke(cli, "export emails --account Sales --json").stdout)
    assert [e["id"] for e in only_sales["emails"]] == [shared.id]
    # the mailboxes it was seen in are all listed, not only the filter's
    assert len(only_sales["emails"][0]["seen_in"]) == 2
    assert "no mailbox named 'Nope'" in invoke(cli, "export emails --account Nope --json", ok=False).stderr
    text = invoke(cli, "export emails").stdout
    assert "Abc" not in text and "Zażółć [TT7]" in text and "TT7" in text


# ---------------------------------------------------------------------------- real mail


def test_cli_provisioned_mailbox_scans_and_exports(cli, tmp_path, dovecot, smtp_relay):
    """Provision through the CLI only, let the real scanner read a real Dovecot, export."""
    login, password = dovecot.add_user()
    invoke(cli, "user add owner@example.test --password pw --admin")
    invoke(cli, ["server", "add", "dove", "--imap", f"{dovecot.host}:{dovecot.imap_port}",
                 "--imap-security", "none", "--smtp", f"{smtp_relay.host}:{smtp_relay.port}",
                 "--smtp-security", "none"])
    invoke(cli, ["account", "add", "Box", "--server", "dove", "--login", login, "--password", password,
                 "--folder", "INBOX=Received", "--actions", "create-email,bind-email",
                 "--owner", "owner@example.test"])
    invoke(cli, ["import", "contacts", write(tmp_path, "c.csv", "first_name,email\nAnna,anna@client.example\n")])
    raw = (b"From: Anna <Anna@Client.example>\r\nTo: " + login.encode() + b"\r\n"
           b"Subject: Hello from the CLI test\r\nMessage-ID: <CLI.Test.1@Client.Example>\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nHi!\r\n")
    dovecot.append(login, password, "INBOX", raw)

    from corpmail.scanner.engine import scan_all

    [result] = scan_all("cli", account_name="Box")
    assert result.error is None and result.stored == 1
    db.session.expire_all()
    [email] = json.loads(invoke(cli, "export emails --account Box --json").stdout)["emails"]
    assert email["message_id"] == "CLI.Test.1@Client.Example"
    assert email["from"] == "anna@client.example" and email["subject"] == "Hello from the CLI test"
    assert email["seen_in"] == [{"account": "Box", "folder": "INBOX", "uid": 1}]
    assert [(b["type"], b["label"]) for b in email["bound"]] == [("contact", "anna@client.example")]


# ---------------------------------------------------------------------------- the console script


def run_console(args, env, ok=True):
    argv = [str(CORPMAIL)] + (shlex.split(args) if isinstance(args, str) else list(args))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    if ok:
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    else:
        assert proc.returncode != 0, (argv, proc.stdout)
        # Alembic may log its INFO lines first; the error itself is one line, the last.
        errors = [line for line in proc.stderr.splitlines() if not line.startswith("INFO ")]
        assert_one_line_error("\n".join(errors))
    return proc


def test_console_script_end_to_end(db_backend, tmp_path):
    """`corpmail` as installed: init (Alembic), user add, config set, export --json."""
    assert CORPMAIL.exists(), f"console script missing: {CORPMAIL}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORPMAIL_", "FLASK_"))}
    env["CORPMAIL_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["CORPMAIL_DATABASE_URL"] = db_backend

    err = run_console("init", env, ok=False).stderr
    assert "there is no admin yet" in err and "--admin-email" in err
    out = run_console("init --admin-email Root@Example.test --admin-password 'root pw 1'", env)
    assert "Admin root@example.test created" in out.stdout
    assert "root pw 1" not in out.stdout + out.stderr
    out = run_console("init --admin-email other@example.test --admin-password x", env)
    assert "An admin already exists (root@example.test)" in out.stdout
    run_console("init", env)  # an upgrade of an existing installation needs no flags
    assert oct((tmp_path / "instance" / "secret_key").stat().st_mode & 0o777) == "0o600"

    run_console("user add u@example.test --password 'pw 2' --lang pl", env)
    assert "already exists" in run_console("user add u@example.test --password x", env, ok=False).stderr
    run_console("user add u@example.test --password x --if-missing", env)
    run_console("config set scan_interval 300", env)
    assert "out of range" in run_console("config set scan_interval 0", env, ok=False).stderr
    assert json.loads(run_console("config show --json", env).stdout)["scan_interval"] == 300
    assert json.loads(run_console("export emails --json", env).stdout) == {"emails": []}
    assert "Missing option" in run_console("server add x --imap h:1", env, ok=False).stderr
    assert "port 70000" in run_console(
        "server add x --imap h:70000 --imap-security none --smtp h --smtp-security none", env,
        ok=False).stderr

    # The database the console wrote is the one a fresh app of that instance reads.
    from corpmail.app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_backend}, instance_path=env["CORPMAIL_INSTANCE_PATH"])
    with app.app_context():
        users = {u.email: u for u in db.session.scalars(select(User))}
        assert users["root@example.test"].is_admin and users["root@example.test"].check_password("root pw 1")
        assert users["u@example.test"].language == "pl"
        assert MailConfiguration.get().scan_interval == 300
        db.session.remove()
        db.engine.dispose()

"""Bad input into every form and every CLI command: out-of-range, wrong-type, oversized (1 MB)
and malicious values. Each gets a field error on the re-rendered form (or the 413 page for a
body too large to read), or one line on stderr and a non-zero exit; the database is byte for
byte what it was (nothing half-saved). Free-text values that are merely hostile (HTML, SQL,
emoji in a person's name) are stored verbatim and shown escaped."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
from markupsafe import escape
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import (
    Account,
    Contact,
    Email,
    Lead,
    MailServer,
    ScannerAccount,
    ScannerFolder,
    Ticket,
)

MB = "m" * 1_000_000  # Werkzeug refuses a form this big (413) before any view runs
BIG = "b" * 300_000  # past every field's limit, under Werkzeug's form limit: the form's own error
NUL = "bad\x00value"  # PostgreSQL refuses NUL in text: must be a field error, not a 500
CTRL = "line\x1bbreak\x07"
EMOJI = "📧🔥"
HTML = "<script>alert(1)</script>"
SQL = "'; DROP TABLE users; --"


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False}  # the login form gets many wrong posts here


def db_state() -> dict[str, list[str]]:
    """Every row of every table: equal before and after means nothing was saved."""
    db.session.rollback()
    db.session.expire_all()
    return {table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables}


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def page_text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def field_errors(resp) -> list[str]:
    """The error messages shown under fields and in alerts (for assertion messages)."""
    return re.findall(r'(?:invalid-feedback[^>]*|data-role="[a-z-]*error"|alert-danger[^>]*)>'
                      r"\s*([^<]+)", page_text(resp))


# --------------------------------------------------------------------------- the records
@pytest.fixture
def records(app, admin_user, plain_user):
    """One record of every kind a form edits, and the ids the forms' selects offer."""
    server = MailServer(name="Main", imap_host="imap.example.com", imap_port=993,
                        imap_security="ssl", smtp_host="smtp.example.com", smtp_port=587,
                        smtp_security="starttls")
    mailbox = ScannerAccount(name="Sales", server=server, login="sales@corp.test",
                             actions=["create-email"], owner=admin_user, status="Active")
    mailbox.password = "s3cret"
    mailbox.folders.append(ScannerFolder(name="INBOX", role="Received"))
    account = Account(name="Acme", number="ACC1", email="office@acme.test")
    account.domains = ["acme.test"]
    contact = Contact(first_name="Jan", last_name="Kowalski", email="jan@acme.test",
                      account=account)
    lead = Lead(company="Prospect", name="Pia", email="pia@prospect.test", status="New")
    ticket = Ticket(title="Printer", number="TT1", status="Open", contact=contact,
                    account=account)
    email = Email(message_key="m1@test", message_id="m1@test", subject="Hello",
                  from_address="jan@acme.test", direction="Received")
    db.session.add_all([mailbox, account, contact, lead, ticket, email])
    db.session.commit()
    return {"server": server.id, "mailbox": mailbox.id, "account": account.id,
            "contact": contact.id, "lead": lead.id, "ticket": ticket.id, "email": email.id,
            "admin": admin_user.id, "user": plain_user.id}


@pytest.fixture
def client_for(client, client_as, admin_user, plain_user):
    """`client_for("admin" | "user" | "anon")`: a test client, logged in on first use."""
    users = {"admin": admin_user, "user": plain_user}
    made = {"anon": client}

    def get(who: str):
        if who not in made:
            made[who] = client_as(users[who])
        return made[who]

    return get


# --------------------------------------------------------------------------- the forms
@dataclass
class Form:
    url: str  # {name} is filled from `records`
    who: str  # admin | user | anon
    valid: dict  # a post the form accepts; each case changes one field
    bad: list[tuple[str, str, str | None]]  # (field, value, text of the error or None)


SERVER = {"name": "Other", "active": "y", "visible": "y", "auth_method": "basic",
          "imap_host": "imap.other.test", "imap_security": "ssl", "imap_port": "993",
          "imap_validate_cert": "y", "smtp_host": "smtp.other.test", "smtp_security": "starttls",
          "smtp_port": "587", "smtp_validate_cert": "y", "oauth_provider": "google",
          "rc_identities_level": "0", "submit": "Save"}
HOSTS = [
    ("imap_host", "mail server.example.com", "must not contain spaces"),
    ("imap_host", "imaps://mail.example.com", "must not include a scheme"),
    ("imap_host", "mail.example.com:993", "must not include a port"),
    ("imap_host", "mail.example.com/inbox", "must not include a path"),
    ("imap_host", EMOJI + ".example.com", "is not a valid host name"),
    ("imap_host", HTML, None),
    ("imap_host", SQL, None),
    ("imap_host", NUL, None),
    ("imap_host", "a" * 300, None),
    ("imap_host", "", "This field is required"),
    ("smtp_host", "smtp://smtp.example.com", "must not include a scheme"),
    ("smtp_host", "999.1.1.1", "is not a valid IP address"),
]
PORTS = [
    ("imap_port", "0", "port 0 is out of range: use 1 to 65535"),
    ("imap_port", "70000", "port 70000 is out of range: use 1 to 65535"),
    ("imap_port", "-1", None),
    ("imap_port", "abc", "Not a valid integer value"),
    ("imap_port", "143.5", "Not a valid integer value"),
    ("imap_port", "9" * 40, None),
    ("smtp_port", "0", "out of range"),
    ("smtp_port", "1e3", "Not a valid integer value"),
]
LABELS = [  # names that label things in menus: plain text only
    ("name", "", "This field is required"),
    ("name", BIG, None),
    ("name", MB, None),
    ("name", EMOJI, "Use letters, digits, spaces"),
    ("name", HTML, "Use letters, digits, spaces"),
    ("name", SQL, "Use letters, digits, spaces"),
    ("name", NUL, None),
    ("name", CTRL, None),
]
MAILBOX = {"name": "Support", "server_id": "{server}", "login": "support@corp.test",
           "password": "pw", "status": "Active", "actions": ["create-email"],
           "actions-order-create-email": "1", "search_fields": ["contacts.email"],
           "email_exceptions": "", "domain_exceptions": "", "owner_id": "{admin}",
           "submit": "Save"}
MAILBOX_BAD = LABELS + [
    ("server_id", "abc", None),
    ("server_id", "999999", "Not a valid choice"),
    ("owner_id", "-1", "Not a valid choice"),
    ("owner_id", SQL, None),
    ("login", "", "This field is required"),
    ("login", BIG, None),
    ("login", NUL, None),
    ("password", "p" * 1025, None),
    ("password", NUL, None),
    ("status", "Locked", "Not a valid choice"),
    ("status", HTML, "Not a valid choice"),
    ("actions", "rm-rf", None),
    ("search_fields", "users.password", "not a valid choice"),
    ("email_exceptions", "not-an-address", "is not an e-mail address"),
    ("email_exceptions", HTML, None),
    ("email_exceptions", BIG, None),
    ("domain_exceptions", "https://acme.test", None),
    ("domain_exceptions", SQL, None),
]
CONFIG = {"scan_interval": "60", "max_messages_per_run": "500", "skip_auto_generated": "on",
          "email_exceptions": "", "domain_exceptions": "", "max_message_size_mb": "25",
          "lock_to_inactive_hours": "48", "notification_email": "",
          "long_scan_alert_minutes": "30", "ticket_default_status": "Open",
          "ticket_status_after_reply": "Answered", "ticket_reopen_status": "Open",
          "ticket_on_closed_reply": "reopen", "ticket_prefix": "TT", "mail_icon_show": "on",
          "mail_icon_unread": "on", "mail_icon_refresh_s": "60"}
CONFIG_BAD = [
    ("scan_interval", "0", "0 is out of range: use 10 to 86400"),
    ("scan_interval", "70000000", "out of range"),
    ("scan_interval", "-5", "out of range"),
    ("scan_interval", "abc", "is not a whole number"),
    ("scan_interval", "1.5", "is not a whole number"),
    ("scan_interval", "٣٠", "is not a whole number"),  # Arabic-Indic digits
    ("scan_interval", "9" * 5000, "out of range"),
    ("max_messages_per_run", "0", "out of range"),
    ("max_message_size_mb", "1025", "out of range"),
    ("lock_to_inactive_hours", EMOJI, "is not a whole number"),
    ("long_scan_alert_minutes", SQL, "is not a whole number"),
    ("mail_icon_refresh_s", "4", "out of range"),
    ("notification_email", "not an address", "must not contain spaces"),
    ("notification_email", HTML, None),
    ("notification_email", NUL, None),
    ("email_exceptions", "a@b.test, <b>x</b>", None),
    ("domain_exceptions", "bad_domain!", None),
    ("domain_exceptions", BIG, None),
    ("ticket_default_status", "Closed", "is not a valid choice"),
    ("ticket_on_closed_reply", SQL, "is not a valid choice"),
    ("ticket_prefix", "T-1", "is not valid"),
    ("ticket_prefix", EMOJI, "is not valid"),
    ("ticket_prefix", "", "must not be empty"),
    ("ticket_prefix", NUL, None),
    ("ticket_prefix", MB, None),
]
CRM_ACCOUNT = {"name": "Beta", "number": "", "email": "", "website": "", "domains": ""}
CONTACT = {"first_name": "Anna", "last_name": "Nowak", "email": "", "secondary_email": "",
           "phone": "", "account_id": "0"}
LEAD = {"company": "Gamma", "name": "Gil", "email": "", "status": "New"}
TICKET = {"title": "Broken", "description": "", "status": "Open", "priority": "Normal",
          "contact_id": "0", "account_id": "0", "owner_id": "0", "note": ""}
EMAILS = [  # every e-mail field of the CRM forms
    ("email", "not-an-address", "valid e-mail address"),
    ("email", "a@b@c.test", "valid e-mail address"),
    ("email", HTML + "@x.test", "valid e-mail address"),
    ("email", SQL + "@x.test", "valid e-mail address"),
    ("email", "x" * 300 + "@x.test", None),
    ("email", NUL + "@x.test", None),
]
TEXT_NAME = [  # free-text fields: control characters and over-long values are refused
    ("NAME", BIG, None),
    ("NAME", MB, None),
    ("NAME", NUL, None),
    ("NAME", CTRL, None),
]


def named(field: str, cases: list) -> list:
    return [(field if f == "NAME" else f, v, e) for f, v, e in cases]


CRM_ACCOUNT_BAD = named("name", TEXT_NAME) + EMAILS + [
    ("name", "", "This field is required"),
    ("number", "N" * 33, None),
    ("number", NUL, None),
    ("number", "ACC1", "Another account already has this number"),
    ("website", "javascript://%0aalert(1)", None),
    ("website", "data:text/html,<script>alert(1)</script>", None),
    ("website", "w" * 256, None),
    ("domains", "good.test bad_domain!", "is not a valid domain"),
    ("domains", "https://acme.test", None),
    ("domains", BIG, None),
]
CONTACT_BAD = (named("first_name", TEXT_NAME) + named("last_name", TEXT_NAME) + EMAILS
               + [(f"secondary_{f}", v, e) for f, v, e in EMAILS[:2]] + [
    ("phone", "call me maybe", "Use digits, spaces and + ( ) - . / only"),
    ("phone", "1" * 51, None),
    ("phone", NUL, None),
    ("phone", "12\x1b[31m34", None),  # a terminal escape
    ("account_id", "abc", "could not coerce"),
    ("account_id", "999999", "Not a valid choice"),
])
LEAD_BAD = named("company", TEXT_NAME) + named("name", TEXT_NAME) + EMAILS + [
    ("status", "Won't", "Not a valid choice"),
    ("status", HTML, "Not a valid choice"),
]
TICKET_BAD = named("title", TEXT_NAME) + [
    ("title", "", "This field is required"),
    ("description", "d" * 100_001, None),
    ("description", NUL, None),
    ("status", "Deleted", "Not a valid choice"),
    ("priority", "Highest!!", "Not a valid choice"),
    ("contact_id", "abc", "could not coerce"),
    ("account_id", "999999", "Not a valid choice"),
    ("owner_id", "-7", "Not a valid choice"),
    ("note", "n" * 1001, None),
    ("note", NUL, None),
]

FORMS = {
    "admin server new": Form("/admin/servers/new", "admin", SERVER, LABELS + HOSTS + PORTS + [
        ("auth_method", "kerberos", "Not a valid choice"),
        ("imap_security", "tls13", "Not a valid choice"),
        ("rc_identities_level", "9", "Not a valid choice"),
        ("rc_identities_level", "abc", "could not coerce"),
        ("name", "Main", "already exists"),
        ("oauth_provider", "evil", "Not a valid choice"),
        ("oauth_authorize_url", "javascript:alert(1)", None),
        ("oauth_token_url", "http://evil.example/token", None),
        ("oauth_client_id", NUL, None),
    ]),
    "admin server edit": Form("/admin/servers/{server}/edit", "admin", SERVER,
                              LABELS[:4] + HOSTS[:3] + PORTS[:4]),
    "admin server test": Form("/admin/servers/{server}/test", "admin",
                              {"login": "", "password": "", "submit": "Test connection"}, [
        ("login", "l" * 255, None),
        ("login", MB, None),
        ("password", "p" * 1025, None),
    ]),
    "admin mailbox new": Form("/admin/accounts/new", "admin", MAILBOX, MAILBOX_BAD),
    "admin mailbox edit": Form("/admin/accounts/{mailbox}/edit", "admin", MAILBOX,
                               MAILBOX_BAD[:6] + MAILBOX_BAD[-6:]),
    "admin configuration": Form("/admin/configuration", "admin", CONFIG, CONFIG_BAD),
    "crm account new": Form("/accounts/new", "user", CRM_ACCOUNT, CRM_ACCOUNT_BAD),
    "crm account edit": Form("/accounts/{account}/edit", "user", CRM_ACCOUNT,
                             CRM_ACCOUNT_BAD[:4] + CRM_ACCOUNT_BAD[-6:]),
    "crm contact new": Form("/contacts/new", "user", CONTACT, CONTACT_BAD),
    "crm contact edit": Form("/contacts/{contact}/edit", "user", CONTACT, CONTACT_BAD[:6]),
    "crm lead new": Form("/leads/new", "user", LEAD, LEAD_BAD),
    "crm lead edit": Form("/leads/{lead}/edit", "user", LEAD, LEAD_BAD[-4:]),
    "crm ticket new": Form("/tickets/new", "user", TICKET, TICKET_BAD),
    "crm ticket edit": Form("/tickets/{ticket}/edit", "user", TICKET, TICKET_BAD),
    "profile": Form("/profile", "user", {"name": "Paul", "language": "en"}, [
        ("name", "n" * 121, None),
        ("name", MB, None),
        ("name", NUL, None),
        ("name", CTRL, None),
        ("language", "de", "Not a valid choice"),
        ("language", SQL, "Not a valid choice"),
    ]),
    "login": Form("/login", "anon", {"email": "user@example.test", "password": "wrong"}, [
        ("email", "", "This field is required"),
        ("email", MB, None),
        ("email", "e" * 255, None),
        ("email", SQL, "Wrong e-mail or password"),
        ("email", "' OR '1'='1", "Wrong e-mail or password"),
        ("email", NUL, None),
        ("password", "", "This field is required"),
        ("password", "p" * 1025, None),
        ("password", "' OR '1'='1", "Wrong e-mail or password"),
        ("password", NUL, None),
    ]),
}


def fill(value, ids: dict):
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value.format(**ids) if isinstance(value, str) and "{" in value else value


def check_refused(resp, value: str, error: str | None) -> str | None:
    """None when the answer is a clear refusal, else what is wrong with it."""
    if resp.status_code == 413:
        return None if value is MB else "413 for a value Werkzeug should have read"
    if resp.status_code != 200:
        return f"status {resp.status_code}"
    page = page_text(resp)
    if error is not None and error not in page:
        return f"no {error!r} on the page but {field_errors(resp)}"
    if error is None and "is-invalid" not in page and 'data-role="error"' not in page:
        return "no field marked invalid"
    if HTML in resp.get_data(as_text=True):
        return "the value is echoed unescaped"
    return None


def accepted(form_name: str, resp) -> bool:
    if form_name == "login":  # a wrong password: the refusal the valid post is meant to get
        return "Wrong e-mail or password" in page_text(resp)
    if form_name == "admin server test":  # the result page, no field error
        return resp.status_code == 200 and "is-invalid" not in page_text(resp)
    return resp.status_code == 302


@pytest.mark.parametrize("form_name", list(FORMS))
def test_every_form_refuses_bad_values_and_saves_nothing(
        form_name, records, client_for, csrf_token):
    form = FORMS[form_name]
    client = client_for(form.who)
    url = fill(form.url, records)
    assert client.get(url).status_code == 200  # the form renders (and creates lazy rows)
    valid = {k: fill(v, records) for k, v in form.valid.items()}
    problems = []
    for field, value, error in form.bad:
        before = db_state()
        resp = client.post(url, data=valid | {field: value, "csrf_token": csrf_token(client)})
        problem = check_refused(resp, value, error)
        changed = changed_tables(before, db_state())
        if changed:
            problem = f"{problem or 'refused'}, but changed {changed}"
        if problem:
            problems.append(f"{field}={value[:30]!r}: {problem}")
    assert not problems, "\n".join(problems)
    # The post every case above changed one field of is accepted as it is.
    resp = client.post(url, data=valid | {"csrf_token": csrf_token(client)})
    assert accepted(form_name, resp), field_errors(resp)


# --------------------------------------------------------------------------- tampered posts
TAMPERED = [
    ("/admin/autologin/{mailbox}", {"user_ids": "abc"}),
    ("/admin/autologin/{mailbox}", {"user_ids": "999999"}),
    ("/admin/autologin/{mailbox}", {"user_ids": "-1"}),
    ("/emails/{email}/link", {"record_type": "user", "record_id": "{admin}"}),
    ("/emails/{email}/link", {"record_type": "contact", "record_id": "abc"}),
    ("/emails/{email}/link", {"record_type": "contact", "record_id": SQL}),
    ("/emails/{email}/unlink", {"record_type": HTML, "record_id": "1"}),
]


def test_tampered_hidden_values_get_a_400_page(records, client_for, csrf_token):
    """Values no one can type (checkbox ids, hidden fields) only come from a forged post:
    the clear answer is the 400 page, and nothing changes."""
    client = client_for("admin")
    for url, data in TAMPERED:
        data = {k: fill(v, records) for k, v in data.items()} | {"csrf_token": csrf_token(client)}
        before = db_state()
        resp = client.post(fill(url, records), data=data)
        assert resp.status_code == 400, (url, data)
        assert "Bad request" in page_text(resp)
        assert changed_tables(before, db_state()) == []


def test_folder_roles_refuse_unknown_roles_and_folders(scanner_account, client_for, csrf_token):
    """The folder page (read live from Dovecot): an unknown role is refused with a message;
    a folder the server does not have (typed into a forged post) is ignored."""
    client = client_for("admin")
    url = f"/admin/accounts/{scanner_account.id}/folders"
    for data, message in [
        ({"folder-0": "INBOX", "role-0": "Evil"}, "Unknown folder role."),
        ({"folder-0": "INBOX", "role-0": HTML}, "Unknown folder role."),
        ({"folder-0": "INBOX", "role-0": NUL}, "Unknown folder role."),
    ]:
        before = db_state()
        resp = client.post(url, data=data | {"csrf_token": csrf_token(client)})
        assert resp.status_code == 200 and message in page_text(resp)
        assert changed_tables(before, db_state()) == []
    for folder in ["../../etc", NUL, MB[:5000], HTML]:
        before = db_state()
        resp = client.post(url, data={"folder-0": folder, "role-0": "All",
                                      "csrf_token": csrf_token(client)})
        assert resp.status_code == 302
        assert changed_tables(before, db_state()) == []


def test_link_to_a_missing_record_is_a_404(records, client_for, csrf_token):
    client = client_for("user")
    before = db_state()
    resp = client.post(f"/emails/{records['email']}/link", data={
        "record_type": "contact", "record_id": "999999", "csrf_token": csrf_token(client)})
    assert resp.status_code == 404
    assert changed_tables(before, db_state()) == []


# --------------------------------------------------------------------------- hostile but valid
HOSTILE = [HTML, SQL, EMOJI + " Żółć", '"><img src=x onerror=alert(1)>']


@pytest.mark.parametrize("url, field, model", [
    ("/accounts/new", "name", Account),
    ("/contacts/new", "last_name", Contact),
    ("/leads/new", "company", Lead),
    ("/tickets/new", "title", Ticket),
    ("/tickets/new", "description", Ticket),
])
def test_hostile_text_in_names_is_stored_verbatim_and_shown_escaped(
        url, field, model, records, client_for, csrf_token):
    """A company may be called anything; HTML and SQL in a name are inert text: stored as
    typed (bound parameters, not SQL), escaped on every page that shows them."""
    client = client_for("user")
    valid = {"/accounts/new": CRM_ACCOUNT, "/contacts/new": CONTACT, "/leads/new": LEAD,
             "/tickets/new": TICKET}[url]
    for value in HOSTILE:
        resp = client.post(url, data=valid | {field: value, "csrf_token": csrf_token(client)})
        assert resp.status_code == 302, field_errors(resp)
        detail = resp.headers["Location"]
        record_id = int(re.search(r"/(\d+)$", detail).group(1))
        db.session.expire_all()
        assert getattr(db.session.get(model, record_id), field) == value
        shown = client.get(detail).get_data(as_text=True)
        assert str(escape(value)) in shown
        listed = client.get(url.rsplit("/", 1)[0]).get_data(as_text=True)
        for page in (shown, listed):
            assert "<script>alert(1)" not in page and "<img src=x" not in page


# --------------------------------------------------------------------------- the CLI
SERVER_ARGS = ["--imap", "imap.other.test:993", "--imap-security", "ssl",
               "--smtp", "smtp.other.test:587", "--smtp-security", "starttls"]
MAILBOX_ARGS = ["--server", "Main", "--login", "support@corp.test", "--password", "pw",
                "--folder", "INBOX=Received", "--actions", "create-email",
                "--owner", "admin@example.test"]


def changed(args: list[str], option: str, value: str) -> list[str]:
    """`args` with the value after `option` replaced."""
    out = list(args)
    out[out.index(option) + 1] = value
    return out


CLI_CASES = {  # command: [(arguments, text of the one-line error or None)]
    "user add": [
        (["user", "add", "not-an-address", "--password", "pw"], "not an e-mail address"),
        (["user", "add", HTML, "--password", "pw"], None),
        (["user", "add", SQL + "@x.test", "--password", "pw"], None),
        (["user", "add", EMOJI + "@x.test", "--password", "pw"], None),
        (["user", "add", "u" * 300 + "@x.test", "--password", "pw"], "too long"),
        (["user", "add", MB + "@x.test", "--password", "pw"], "too long"),
        (["user", "add", "new@x.test", "--password", MB], "too long"),
        (["user", "add", "new@x.test", "--password", ""], "empty"),
        (["user", "add", "new@x.test", "--password", "pw", "--name", MB], "too long"),
        (["user", "add", "new@x.test", "--password", "pw", "--name", NUL], "control characters"),
        (["user", "add", "new@x.test", "--password", "pw", "--name", CTRL], "control characters"),
        (["user", "add", "new@x.test", "--password", "pw", "--lang", "de"], "--lang"),
        (["user", "add", "ADMIN@example.test", "--password", "pw"], "already exists"),
    ],
    "server add": [
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap.test:0"), "port 0"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap.test:70000"),
         "port 70000 is out of range"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap.test:-1"), None),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap.test:abc"),
         "is not a number"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap.test:" + "9" * 40),
         None),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--smtp", "smtp.test:1e3"),
         "is not a number"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imap server.test:993"),
         "must not contain spaces"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", "imaps://imap.test:993"),
         "must not include a scheme"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--smtp", "https://smtp.test"),
         "must not include a scheme"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", EMOJI + ".test:993"),
         "not a valid host name"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", HTML), None),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", SQL), None),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", NUL), None),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap", MB), "too long"),
        (["server", "add", "Other"] + changed(SERVER_ARGS, "--imap-security", "tls13"),
         "'tls13' is not one of"),
        (["server", "add", ""] + SERVER_ARGS, "empty"),
        (["server", "add", MB] + SERVER_ARGS, "too long"),
        (["server", "add", NUL] + SERVER_ARGS, "control characters"),
        (["server", "add", "Main"] + SERVER_ARGS, "already exists"),
    ],
    "account add": [
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--server", "Nope"),
         "no mail server named"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--server", SQL),
         "no mail server named"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--login", MB), "1 to 254"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--login", NUL),
         "control characters"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--password", MB), "too long"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--folder", "INBOX=Evil"),
         "is not a folder role"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--folder", MB + "=Received"),
         "too long"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--folder", NUL + "=Received"),
         "control characters"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--actions", "rm-rf"),
         "Unknown action"),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--actions", HTML), None),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--owner", SQL), None),
        (["account", "add", "Support"] + changed(MAILBOX_ARGS, "--owner", "ghost@x.test"),
         "no user with e-mail"),
        (["account", "add", MB] + MAILBOX_ARGS, "too long"),
        (["account", "add", CTRL] + MAILBOX_ARGS, "control characters"),
        (["account", "add", "Sales"] + MAILBOX_ARGS, "already exists"),
    ],
    "grant / revoke": [
        (["grant", "Nope", "admin@example.test"], "no mailbox"),
        (["grant", SQL, "admin@example.test"], "no mailbox"),
        (["grant", "Sales", "ghost@x.test"], "no such user"),
        (["grant", "Sales", "not-an-address"], "not an e-mail address"),
        (["grant", "Sales", MB], "too long"),
        (["grant", "Sales"], "Missing argument"),
        (["revoke", "Sales", HTML], None),
        (["revoke", MB, "admin@example.test"], "no mailbox"),
    ],
    "config": [
        (["config", "set", "scan_interval", "0"], "out of range"),
        (["config", "set", "scan_interval", "70000000"], "out of range"),
        (["config", "set", "scan_interval", "abc"], "is not a whole number"),
        (["config", "set", "scan_interval", "9" * 5000], "out of range"),
        (["config", "set", "scan_interval", EMOJI], "is not a whole number"),
        (["config", "set", "mark_seen", "maybe"], "is not on/off"),
        (["config", "set", "ticket_prefix", "T-1"], "is not valid"),
        (["config", "set", "ticket_prefix", MB], "too long"),
        (["config", "set", "ticket_on_closed_reply", SQL], "is not a valid choice"),
        (["config", "set", "notification_email", HTML], None),
        (["config", "set", "domain_exceptions", "https://acme.test"], None),
        (["config", "set", "email_exceptions", NUL], None),
        (["config", "set", "no_such_key", "1"], "unknown setting"),
        (["config", "set", MB, "1"], "unknown setting"),
        (["config", "show", "--format", "xml"], "No such option"),
    ],
    "import, export, scan, keys": [
        (["import", "people", "/etc/hostname"], "is not one of"),
        (["import", "contacts", "/nonexistent.csv"], "does not exist"),
        (["import", "contacts", "/tmp"], "is a directory"),
        (["export", "emails", "--account", SQL, "--json"], None),
        (["export", "emails", "--format", "xml"], "No such option"),
        (["scan", "--account", "Nope"], None),
        (["scan", "--account", MB], None),
        (["scan", "--interval", "-1"], "No such option"),
        (["keys", "rotate", "extra"], None),
    ],
}


def cli_problem(cli, args: list[str], fragment: str | None) -> str | None:
    """None when `corpmail ARGS` fails with one clear line and changes nothing."""
    before = db_state()
    result = cli.invoke(args=args)
    if result.exception and not isinstance(result.exception, SystemExit):
        return f"raised {result.exception!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code == 0:
        problem = f"exit 0: {result.stdout[:200]!r}"
    elif len(lines) != 1 or not lines[0].startswith("Error: "):
        problem = f"not one error line: {result.stderr[:300]!r}"
    elif len(lines[0]) > 2000:
        problem = "the error line repeats a huge value"
    elif fragment and fragment not in lines[0]:
        problem = f"no {fragment!r} in {lines[0]!r}"
    else:
        problem = None
    changed = changed_tables(before, db_state())
    if changed:
        problem = f"{problem or 'refused'}, but changed {changed}"
    return problem


@pytest.mark.parametrize("command", list(CLI_CASES))
def test_every_cli_command_refuses_bad_values_in_one_line(command, records, cli):
    problems = []
    for args, fragment in CLI_CASES[command]:
        problem = cli_problem(cli, args, fragment)
        if problem:
            problems.append(f"{' '.join(a[:30] for a in args)!r}: {problem}")
    assert not problems, "\n".join(problems)

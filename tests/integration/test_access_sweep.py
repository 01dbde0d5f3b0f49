"""Access sweep over EVERY registered route (app.url_map), with real ids for path parameters.

- anonymous: redirected to login, except the few public endpoints listed below and the
  plugin's /internal/ endpoints, which answer 403 without their shared secret;
- plain user (SPEC §0: works with every CRM record, their own mailboxes, My mail):
  the pages listed as USER_PAGES answer 200 with real records; a mailbox opens only with a
  grant; EVERY other route is taken to be admin-only and must answer 403;
- every POST route refuses a missing, forged or another session's CSRF token (400) for
  anonymous visitors, users and admins, and changes nothing.

A route added without protection fails here: it is admin-only unless listed, so a plain
user getting anything but 403 from it is reported (test_the_sweep_catches_...).
"""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import (
    Account,
    AutologinGrant,
    Contact,
    Email,
    EmailAttachment,
    Lead,
    MessageFailure,
    ScanRun,
    Ticket,
)
from corpmail.storage import store_attachment
from tests.support import web

# Open to everyone: nothing in them depends on who asks.
PUBLIC = {
    "web.login",
    "static",
    "bootstrap.static",
    "autologin.refused",  # the plugin sends browsers here, maybe after the CRM session ended
}
# The Roundcube plugin's server-to-server calls: no browser session, a shared secret.
SECRET_CHECKED = {
    "autologin.internal_redeem",
    "autologin.internal_check",
    "autologin.internal_token",
}
# Every logged-in user (SPEC §0: the CRM records, their mailboxes' top bar, My mail).
USER_PAGES = {
    "web.index", "web.logout", "web.profile",
    "crm.accounts", "crm.account_new", "crm.account_detail", "crm.account_edit",
    "crm.contacts", "crm.contact_new", "crm.contact_detail", "crm.contact_edit",
    "crm.leads", "crm.lead_new", "crm.lead_detail", "crm.lead_edit",
    "crm.tickets", "crm.ticket_new", "crm.ticket_detail", "crm.ticket_edit",
    "crm.emails", "crm.email_detail", "crm.email_body", "crm.email_attachment",
    "crm.email_inline", "crm.email_link", "crm.email_unlink",
    "autologin.my_mail", "autologin.unread",
}
# Open for a user only with the mailbox's autologin grant.
NEEDS_GRANT = {"autologin.open_mailbox"}
# Everything else is admin-only.

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def kind_of(endpoint: str) -> str:
    for kind, names in (("public", PUBLIC), ("secret", SECRET_CHECKED), ("user", USER_PAGES),
                        ("grant", NEEDS_GRANT)):
        if endpoint in names:
            return kind
    return "admin"


@pytest.fixture
def world(app, admin_user, mail_server, scanner_account):
    """One real row behind every path parameter; {parameter or (endpoint prefix, parameter):
    value}. A new parameter name fails url_of() until it gets a row here."""
    account = Account(name="Acme", email="info@acme.example")
    contact = Contact(first_name="Jan", last_name="Nowak", email="jan@acme.example",
                      account=account)
    lead = Lead(company="Lead Co", name="Lea", email="lea@lead.example")
    ticket = Ticket(number="TT1", title="Help", contact=contact, account=account)
    email = Email(message_key="sweep@test", subject="Sweep", from_address="jan@acme.example",
                  html_body="<p>hi</p>", direction="Received")
    db.session.add_all([account, contact, lead, ticket, email])
    db.session.flush()
    attachment = EmailAttachment(email_id=email.id, filename="p.png", content_type="image/png",
                                 size=len(PNG), sha256=store_attachment(PNG),
                                 content_id="p@x", inline=True)
    run = ScanRun(account_id=scanner_account.id, account_name=scanner_account.name,
                  status="OK")
    failure = MessageFailure(account_id=scanner_account.id, folder="INBOX", uidvalidity=1,
                             uid=1, quarantined=True, raw=b"Subject: x\r\n\r\nx\r\n")
    db.session.add_all([attachment, run, failure])
    db.session.commit()
    return {
        ("crm.account", "record_id"): account.id, ("crm.contact", "record_id"): contact.id,
        ("crm.lead", "record_id"): lead.id, ("crm.ticket", "record_id"): ticket.id,
        "email_id": email.id, "attachment_id": attachment.id, "server_id": mail_server.id,
        "account_id": scanner_account.id, "run_id": run.id, "failure_id": failure.id,
        ("static", "filename"): "corpmail.css",
        ("bootstrap.static", "filename"): "css/bootstrap.min.css",
    }


def url_of(rule, ids: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        for (prefix, param), found in ((k, v) for k, v in ids.items() if isinstance(k, tuple)):
            if param == name and rule.endpoint.startswith(prefix):
                return str(found)
        assert name in ids, f"no test value for <{name}> of {rule.endpoint}: add it to world"
        return str(ids[name])

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule.rule)


def routes(app, ids) -> list[tuple[str, str, str]]:
    """(endpoint, url, method) for every rule and method."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in METHODS:
            if method in rule.methods:
                out.append((rule.endpoint, url_of(rule, ids), method))
    return out


def call(app, test_client, url: str, method: str, token: bool = True):
    if method == "GET":
        return test_client.get(url)
    if token:
        return web.post_form(test_client, app, url, {})
    return test_client.open(url, method=method)


def table_counts() -> dict[str, int]:
    db.session.expire_all()
    return {t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


# --------------------------------------------------------------------------- the sweeps
def anonymous_problems(app, ids) -> list[str]:
    anonymous = app.test_client()
    problems = []
    for endpoint, url, method in routes(app, ids):
        kind = kind_of(endpoint)
        if kind == "public":  # answers by itself (the refusal page says 403 by design)
            resp = anonymous.get(url) if method == "GET" else None
            if resp is not None and (resp.status_code >= 500 or "/login?" in
                                     resp.headers.get("Location", "")):
                problems.append(f"{method} {url}: public page answered {resp.status_code}")
            continue
        if kind == "secret":  # no shared secret: refused, whatever the visitor sends
            resp = anonymous.open(url, method=method)
            if resp.status_code != 403 or resp.get_json() != {"ok": False, "reason": "forbidden"}:
                problems.append(f"{method} {url}: without the secret got {resp.status_code}")
            continue
        resp = call(app, anonymous, url, method)  # POSTs with a valid token: the login check
        location = resp.headers.get("Location", "")
        if resp.status_code != 302 or "/login" not in location:
            problems.append(f"{method} {url}: anonymous got {resp.status_code} {location}")
    return problems


def plain_user_problems(app, user_client, ids) -> list[str]:
    problems = []
    for endpoint, url, method in routes(app, ids):
        kind = kind_of(endpoint)
        if kind in ("public", "secret") or endpoint == "web.logout":
            continue  # logout: its own test (it would end this sweep's session)
        resp = call(app, user_client, url, method)
        status = resp.status_code
        if kind == "admin" and status != 403:
            problems.append(f"{method} {url}: a plain user got {status}, not 403 (admin-only)")
        elif kind == "grant" and status != 403:
            problems.append(f"{method} {url}: opened without a grant ({status})")
        elif kind == "user" and method == "GET" and status != 200:
            problems.append(f"{method} {url}: a plain user got {status}, not 200")
        elif kind == "user" and method != "GET" and (status == 403 or status >= 500):
            problems.append(f"{method} {url}: a plain user's valid form got {status}")
    return problems


# --------------------------------------------------------------------------- tests
def test_every_listed_endpoint_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = (PUBLIC | SECRET_CHECKED | USER_PAGES | NEEDS_GRANT) - endpoints
    assert not stale, f"listed here but not registered: {sorted(stale)}"
    assert len(endpoints) >= 50  # the sweep really walks the whole map


def test_anonymous_visitors_are_sent_to_login_everywhere_but_the_public_pages(app, world):
    assert anonymous_problems(app, world) == []


def test_plain_user_gets_403_on_admin_routes_and_every_crm_record(app, world, client_as,
                                                                  plain_user):
    assert plain_user_problems(app, client_as(plain_user), world) == []


def test_admin_opens_every_page(app, world, client_as, admin_user):
    admin_client = client_as(admin_user)
    problems = []
    for endpoint, url, method in routes(app, world):
        if method != "GET" or kind_of(endpoint) in ("public", "secret", "grant"):
            continue
        resp = admin_client.get(url)
        if resp.status_code not in (200, 302) or (
                resp.status_code == 302 and "/login" in resp.headers["Location"]):
            problems.append(f"GET {url}: an admin got {resp.status_code}")
    assert problems == []


def test_no_mailbox_opens_without_a_grant(app, world, client_as, plain_user, scanner_account):
    user_client = client_as(plain_user)
    refused = user_client.get(f"/mail/open/{scanner_account.id}")
    assert refused.status_code == 403 and "_corpmail_token" not in refused.get_data(as_text=True)
    assert user_client.get("/mail/unread.json").get_json()["mailboxes"] == []
    assert scanner_account.name not in user_client.get("/my-mail").get_data(as_text=True)
    # The admin is not above it either: a mailbox opens for its grantees only.
    db.session.add(AutologinGrant(account_id=scanner_account.id, user_id=plain_user.id))
    db.session.commit()
    assert user_client.get(f"/mail/open/{scanner_account.id}").status_code == 200


def test_admins_need_a_grant_too(app, world, client_as, admin_user, scanner_account):
    assert client_as(admin_user).get(f"/mail/open/{scanner_account.id}").status_code == 403


@pytest.mark.parametrize("who", ["anonymous", "plain_user", "admin_user"])
def test_every_post_route_refuses_a_missing_wrong_or_foreign_csrf_token(
        app, world, who, request):
    if who == "anonymous":
        test_client = app.test_client()
    else:
        test_client = request.getfixturevalue("client_as")(request.getfixturevalue(who))
    other_session = app.test_client()
    foreign = web.csrf_token(other_session, app)  # valid, but for another browser
    test_client.get("/")  # rows made on first use (the mail configuration) exist before
    before = table_counts()
    posts = [(e, u, m) for e, u, m in routes(app, world)
             if m != "GET" and kind_of(e) != "secret"]
    assert len(posts) >= 25
    problems = []
    for _endpoint, url, method in posts:
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
            resp = test_client.open(url, method=method, data=data)
            if resp.status_code != 400:
                problems.append(f"{method} {url} {list(data)}: {resp.status_code}")
    assert problems == []
    assert table_counts() == before  # nothing deleted, created or changed in number
    if who != "anonymous":
        assert test_client.get("/").status_code == 200  # logout was refused too


def test_the_sweep_catches_a_route_added_without_protection(app, world, client_as,
                                                            plain_user):
    """The sweep's own check: an unlisted route with no login check is reported."""
    app.add_url_rule("/leak", "leak", lambda: "customer data")
    app.add_url_rule("/leak-post", "leak_post", lambda: "done", methods=["POST"])
    assert "GET /leak: anonymous got 200 " in anonymous_problems(app, world)
    found = plain_user_problems(app, client_as(plain_user), world)
    assert "GET /leak: a plain user got 200, not 403 (admin-only)" in found
    assert "POST /leak-post: a plain user got 200, not 403 (admin-only)" in found

"""Access rules over every registered route: admin pages are admins-only, every POST needs CSRF."""

from __future__ import annotations

import re

import pytest

DUMMY = "1"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _url(rule) -> str:
    """The rule's URL with every variable part replaced by a dummy value."""
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", DUMMY, rule.rule)


def _admin_rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    # The admin area has at least: servers (5), accounts (6), configuration, runs (6).
    assert len(rules) >= 15, [r.endpoint for r in rules]
    return rules


def _post_rules(app):
    return [r for r in app.url_map.iter_rules() if "POST" in r.methods]


def test_url_builder_replaces_every_variable(app):
    for rule in app.url_map.iter_rules():
        assert "<" not in _url(rule), rule.rule


def test_anonymous_is_redirected_to_login_on_every_admin_route(app, client, post_form):
    for rule in _admin_rules(app):
        url = _url(rule)
        for method in sorted(rule.methods & METHODS):
            # POSTs carry a valid CSRF token, so it is the admin check that answers.
            resp = client.get(url) if method == "GET" else post_form(client, url, {})
            assert resp.status_code == 302, (method, url, resp.status_code)
            assert "/login" in resp.headers["Location"], (method, url, resp.headers["Location"])


def test_plain_user_gets_403_on_every_admin_route(app, client_as, plain_user, post_form):
    user_client = client_as(plain_user)
    for rule in _admin_rules(app):
        url = _url(rule)
        for method in sorted(rule.methods & METHODS):
            resp = user_client.get(url) if method == "GET" else post_form(user_client, url, {})
            assert resp.status_code == 403, (method, url, resp.status_code)


def test_plain_user_gets_403_with_real_ids_too(
    app, client_as, plain_user, post_form, mail_server, scanner_account
):
    """Same check with ids that exist, so no 404 could hide a missing admin check."""
    from corpmail.extensions import db
    from corpmail.models import MessageFailure, ScanRun

    run = ScanRun(account_id=scanner_account.id, account_name=scanner_account.name, status="OK")
    failure = MessageFailure(
        account_id=scanner_account.id,
        folder="INBOX",
        uidvalidity=1,
        uid=1,
        quarantined=True,
        raw=b"Subject: x\r\n\r\nx\r\n",
    )
    db.session.add_all([run, failure])
    db.session.commit()
    ids = {
        "server_id": mail_server.id,
        "account_id": scanner_account.id,
        "run_id": run.id,
        "failure_id": failure.id,
    }
    user_client = client_as(plain_user)
    for rule in _admin_rules(app):
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(ids[name]), url)
        for method in sorted(rule.methods & METHODS):
            resp = user_client.get(url) if method == "GET" else post_form(user_client, url, {})
            assert resp.status_code == 403, (method, url, resp.status_code)
    db.session.expire_all()
    assert db.session.get(ScanRun, run.id).stop_requested is False


def test_admin_can_open_every_admin_page(app, client_as, admin_user):
    admin_client = client_as(admin_user)
    for rule in _admin_rules(app):
        if "GET" not in rule.methods or rule.arguments:
            continue
        resp = admin_client.get(_url(rule))
        # The OAuth callback only answers a provider's redirect: without one (no pending
        # Authorize, no state) it sends the admin back to the list with a refusal.
        expected = 302 if rule.endpoint == "admin.oauth_callback" else 200
        assert resp.status_code == expected, (rule.rule, resp.status_code)


def test_every_post_route_refuses_a_missing_csrf_token(app, client_as, admin_user, mail_server):
    """Every POST of every blueprint, as a logged-in admin, without a token: 400, nothing done."""
    from corpmail.extensions import csrf, db
    from corpmail.models import MailServer

    admin_client = client_as(admin_user)
    # The Roundcube plugin's server-to-server endpoints prove themselves with the shared
    # secret instead (tests/integration/test_autologin.py): only they may be exempt.
    exempt = [r for r in _post_rules(app) if r.rule.startswith("/internal/")]
    assert len(exempt) == 3, [r.rule for r in exempt]  # redeem, check, token
    assert all(
        f"{app.view_functions[r.endpoint].__module__}.{r.endpoint.split('.')[-1]}"
        in csrf._exempt_views for r in exempt
    )
    rules = [r for r in _post_rules(app) if not r.rule.startswith("/internal/")]
    endpoints = {r.endpoint for r in rules}
    # Sanity: the check covers more than one blueprint, and the admin POSTs are there.
    assert {"web.logout", "web.login", "admin.server_delete", "admin.run_start"} <= endpoints
    for rule in rules:
        url = _url(rule).replace(f"/{DUMMY}/", f"/{mail_server.id}/")
        for data in ({}, {"csrf_token": "forged"}):
            resp = admin_client.post(url, data=data)
            assert resp.status_code == 400, (url, data, resp.status_code)
    # Still logged in (logout was refused) and the server was not deleted.
    assert admin_client.get("/admin/servers").status_code == 200
    db.session.expire_all()
    assert db.session.get(MailServer, mail_server.id) is not None


# One identity per test: the conftest keeps one app context for the whole test, and
# Flask-Login caches the current user on it (flask.g), so a second login would see the first.
def test_status_json_anonymous_redirects(client):
    assert client.get("/admin/runs/status.json").status_code == 302


def test_status_json_plain_user_403(client_as, plain_user):
    assert client_as(plain_user).get("/admin/runs/status.json").status_code == 403


def test_status_json_admin(client_as, admin_user):
    resp = client_as(admin_user).get("/admin/runs/status.json")
    assert resp.status_code == 200 and resp.is_json
    assert resp.get_json() == {"running": [], "latest_id": 0, "runs": {}}


@pytest.mark.parametrize(
    "path", ["/admin/servers/new", "/admin/accounts/new", "/admin/configuration"]
)
def test_admin_forms_carry_a_csrf_token(client_as, admin_user, path):
    html = client_as(admin_user).get(path).get_data(as_text=True)
    assert 'name="csrf_token"' in html

"""OAuth 2.0 mailboxes against real components: the local authorization server
(tests/support/oauth_server.py) and a Dovecot whose oauth2 passdb introspects its tokens.

Authorize (PKCE S256, state, login_hint) through the admin pages, scans over XOAUTH2, a
token expired between scans renewed, revoked consent locking the mailbox with the right
message and a notification (other mailboxes go on), re-authorizing unlocking it, Test
connection and autologin with tokens, and the refusals: state mismatch, a replayed code,
a wrong PKCE verifier."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import MailConfiguration, MailServer, ScannerAccount, ScannerFolder
from tests.integration.scanner_util import make_message

REDIRECT_URI = "http://localhost/admin/oauth/callback"  # the test client's url_for(_external)
SCOPES = "imap smtp offline_access"


@pytest.fixture
def app_config():
    return {"OAUTH_REFRESH_MARGIN_SECONDS": 0}  # renew only when expired: tests control it


@pytest.fixture
def oauth_client(oauth_server):
    """A fresh app registration at the provider, and the default token life restored."""
    client_id, secret = "corpmail-" + secrets.token_hex(4), secrets.token_urlsafe(16)
    oauth_server.register_client(client_id, secret, [REDIRECT_URI], SCOPES)
    oauth_server.access_token_seconds = 3600
    yield client_id, secret
    oauth_server.access_token_seconds = 3600


@pytest.fixture
def oauth_mail_server(app, oauth_server, oauth_dovecot, oauth_client):
    """A MailServer with auth oauth2 (generic provider = the local server); IMAP and
    submission (SMTP) on the OAuth Dovecot."""
    client_id, secret = oauth_client
    server = MailServer(
        name="OAuth Dovecot", auth_method="oauth2", imap_host=oauth_dovecot.host,
        imap_port=oauth_dovecot.imap_port, imap_security="none", imap_validate_cert=False,
        smtp_host=oauth_dovecot.host, smtp_port=oauth_dovecot.submission_port,
        smtp_security="none", smtp_validate_cert=False, oauth_provider="generic",
        oauth_client_id=client_id, oauth_authorize_url=oauth_server.authorize_url,
        oauth_token_url=oauth_server.token_url, oauth_revoke_url=oauth_server.revocation_url,
        oauth_scopes=SCOPES)
    server.oauth_client_secret = secret
    db.session.add(server)
    db.session.commit()
    return server


@pytest.fixture
def new_oauth_account(oauth_mail_server, oauth_dovecot, admin_user):
    """new_oauth_account() -> (account, mailbox password): an OAuth mailbox, not yet
    authorized; the password is only for the tests to put mail in."""

    def make():
        login, password = oauth_dovecot.add_user()
        account = ScannerAccount(name=login.split("@")[0], server=oauth_mail_server,
                                 login=login, status="Active",
                                 actions=["create-email", "bind-email"], owner=admin_user)
        account.folders.append(ScannerFolder(name="INBOX", role="Received"))
        db.session.add(account)
        db.session.commit()
        return account, password

    return make


@pytest.fixture
def admin_client(client_as, admin_user):
    return client_as(admin_user)


# ------------------------------------------------------------------------------ helpers
def start_authorize(admin_client, post_form, account) -> str:
    """Click Authorize: the provider URL the browser is sent to."""
    answer = post_form(admin_client, f"/admin/accounts/{account.id}/authorize")
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return answer.headers["Location"]


def consent(provider_url: str, username: str) -> str:
    """The user signs in at the provider and allows: the callback URL with code and state."""
    answer = requests.post(provider_url, data={"username": username, "confirm": "allow"},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return answer.headers["Location"]


def callback(admin_client, callback_url: str):
    """The browser returns to corpmail's callback; the page it then lands on."""
    parts = urlsplit(callback_url)
    answer = admin_client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302
    return admin_client.get(answer.headers["Location"])


def authorize(admin_client, post_form, account):
    page = callback(admin_client, consent(start_authorize(admin_client, post_form, account),
                                          account.login))
    db.session.expire_all()
    return page


def scan(account):
    from corpmail.scanner.engine import scan_account

    result = scan_account(account.id, "cli")
    db.session.expire_all()
    return result


def wait_for_subject(dovecot, login, password, wanted, timeout=10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        client = dovecot.client(login, password)
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search(), ["ENVELOPE"])
        client.logout()
        subjects = [(d[b"ENVELOPE"].subject or b"").decode() for d in found.values()]
        if any(wanted in s for s in subjects) or time.monotonic() > deadline:
            return subjects
        time.sleep(0.1)


# ------------------------------------------------------------------------------ flow
def test_authorize_runs_pkce_flow_and_stores_encrypted_tokens(
        admin_client, post_form, new_oauth_account, oauth_server):
    account, _password = new_oauth_account()
    page = admin_client.get(f"/admin/accounts/{account.id}/edit").get_data(as_text=True)
    assert "Needs authorization" in page

    provider_url = start_authorize(admin_client, post_form, account)
    query = parse_qs(urlsplit(provider_url).query)
    assert provider_url.startswith(oauth_server.authorize_url)
    assert query["login_hint"] == [account.login]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] and query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == [SCOPES]

    page = callback(admin_client, consent(provider_url, account.login)).get_data(as_text=True)
    assert "is authorized" in page and "Authorized until" in page
    db.session.expire_all()
    account = db.session.get(ScannerAccount, account.id)
    live = oauth_server.live_tokens(account.login)
    assert [t.access_token for t in live] == [account.oauth_access_token]
    assert live[0].refresh_token == account.oauth_refresh_token
    # At rest only ciphertext.
    assert live[0].access_token not in account.oauth_access_token_encrypted
    assert live[0].refresh_token not in account.oauth_refresh_token_encrypted
    assert account.oauth_expires_at is not None


def test_scan_logs_in_with_xoauth2(admin_client, post_form, new_oauth_account, oauth_dovecot):
    account, password = new_oauth_account()
    authorize(admin_client, post_form, account)
    oauth_dovecot.append(account.login, password, "INBOX", make_message("over oauth"))
    result = scan(account)
    assert (result.error, result.stored) == (None, 1)
    assert f"user=<{account.login}>, method=XOAUTH2" in oauth_dovecot.log_tail(200)


def test_token_expired_between_scans_is_renewed(
        admin_client, post_form, new_oauth_account, oauth_dovecot, oauth_server):
    oauth_server.access_token_seconds = 2
    account, password = new_oauth_account()
    authorize(admin_client, post_form, account)
    first_token = db.session.get(ScannerAccount, account.id).oauth_access_token
    refreshes = oauth_server.grants["refresh_token"]
    assert scan(account).error is None
    assert oauth_server.grants["refresh_token"] == refreshes  # still valid: no renewal

    time.sleep(2.2)  # the access token expires at the provider (and Dovecot refuses it)
    oauth_dovecot.append(account.login, password, "INBOX", make_message("after expiry"))
    result = scan(account)
    assert (result.error, result.stored) == (None, 1)
    assert oauth_server.grants["refresh_token"] == refreshes + 1
    account = db.session.get(ScannerAccount, account.id)
    assert account.oauth_access_token != first_token
    assert account.status == "Active"


def test_revoked_consent_locks_notifies_and_reauthorizing_unlocks(
        admin_client, post_form, new_oauth_account, oauth_dovecot, oauth_server):
    from corpmail.scanner.engine import scan_all

    revoked, revoked_password = new_oauth_account()
    other, other_password = new_oauth_account()
    notify_login, notify_password = oauth_dovecot.add_user()
    MailConfiguration.get().notification_email = notify_login
    db.session.commit()
    authorize(admin_client, post_form, revoked)
    authorize(admin_client, post_form, other)

    assert oauth_server.revoke_consent(revoked.login) >= 1
    oauth_dovecot.append(other.login, other_password, "INBOX", make_message("still read"))
    results = {r.account: r for r in scan_all("scheduler")}

    assert results[other.name].error is None and results[other.name].stored == 1
    assert results[revoked.name].connect_failed
    account = db.session.get(ScannerAccount, revoked.id)
    assert account.status == "Locked" and account.locked_at is not None
    assert "invalid_grant" in account.last_error
    assert "authorize" in account.last_error.lower()
    assert not account.oauth_authorized
    page = admin_client.get(f"/admin/accounts/{revoked.id}/edit").get_data(as_text=True)
    assert "Needs authorization" in page
    # The admin is told, by mail sent over submission with the other mailbox's token.
    subjects = wait_for_subject(oauth_dovecot, notify_login, notify_password, revoked.name)
    assert any("authorize it again" in s and revoked.name in s for s in subjects), subjects

    page = authorize(admin_client, post_form, account).get_data(as_text=True)
    assert "The account is unlocked" in page
    account = db.session.get(ScannerAccount, revoked.id)
    assert (account.status, account.last_error, account.locked_at) == ("Active", None, None)
    oauth_dovecot.append(account.login, revoked_password, "INBOX", make_message("back"))
    assert scan(account).stored == 1


def test_removing_the_authorization_or_the_mailbox_revokes_its_tokens(
        admin_client, post_form, new_oauth_account, oauth_server):
    removed, _pw = new_oauth_account()
    deleted, _pw = new_oauth_account()
    for account in (removed, deleted):
        authorize(admin_client, post_form, account)
        assert oauth_server.live_tokens(account.login)

    post_form(admin_client, f"/admin/accounts/{removed.id}/deauthorize")
    db.session.expire_all()
    assert oauth_server.live_tokens(removed.login) == []
    assert not db.session.get(ScannerAccount, removed.id).oauth_authorized

    deleted_login = deleted.login
    answer = post_form(admin_client, f"/admin/accounts/{deleted.id}/delete")
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(ScannerAccount, deleted.id) is None
    assert oauth_server.live_tokens(deleted_login) == []


# ------------------------------------------------------------------------------ refusals
def test_state_mismatch_is_refused(admin_client, post_form, new_oauth_account):
    account, _password = new_oauth_account()
    back = consent(start_authorize(admin_client, post_form, account), account.login)
    forged = back.replace("state=", "state=x")
    page = callback(admin_client, forged).get_data(as_text=True)
    assert "state mismatch" in page
    # The flow is spent: even the genuine answer is refused now.
    page = callback(admin_client, back).get_data(as_text=True)
    assert "state mismatch" in page
    db.session.expire_all()
    assert not db.session.get(ScannerAccount, account.id).oauth_authorized


def test_replayed_code_is_refused(admin_client, post_form, new_oauth_account, oauth_server,
                                  oauth_client):
    account, _password = new_oauth_account()
    back = consent(start_authorize(admin_client, post_form, account), account.login)
    callback(admin_client, back)
    db.session.expire_all()
    token = db.session.get(ScannerAccount, account.id).oauth_access_token
    # The same answer again at corpmail: no authorization is pending for it.
    page = callback(admin_client, back).get_data(as_text=True)
    assert "state mismatch" in page
    # And the provider itself refuses the spent code.
    code = parse_qs(urlsplit(back).query)["code"][0]
    client_id, secret = oauth_client
    answer = requests.post(oauth_server.token_url, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "client_secret": secret, "code_verifier": "x" * 64},
        timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    db.session.expire_all()
    assert db.session.get(ScannerAccount, account.id).oauth_access_token == token


def test_wrong_pkce_verifier_is_refused(admin_client, post_form, new_oauth_account, app):
    from corpmail.admin.oauth import PENDING_KEY
    from corpmail.mail import crypto

    account, _password = new_oauth_account()
    provider_url = start_authorize(admin_client, post_form, account)
    with admin_client.session_transaction() as session:
        pending = dict(session[PENDING_KEY])
        with app.app_context():
            pending["code_verifier"] = crypto.encrypt("w" * 64)
        session[PENDING_KEY] = pending
    page = callback(admin_client, consent(provider_url, account.login)).get_data(as_text=True)
    assert "refused the authorization code" in page and "invalid_grant" in page
    db.session.expire_all()
    assert not db.session.get(ScannerAccount, account.id).oauth_authorized


# ------------------------------------------------------------------------------ pages, autologin
def test_server_form_shows_redirect_uri_and_requires_oauth_settings(
        admin_client, post_form, oauth_server):
    page = admin_client.get("/admin/servers/new").get_data(as_text=True)
    assert REDIRECT_URI in page
    base = {"name": "Generic IdP", "active": "y", "auth_method": "oauth2",
            "imap_host": "127.0.0.1", "imap_security": "none", "imap_port": "143",
            "oauth_provider": "generic", "rc_identities_level": "0", "submit": "Save"}
    page = post_form(admin_client, "/admin/servers/new", base).get_data(as_text=True)
    assert "A client ID is required" in page and "Required for another OAuth 2.0 server" in page
    full = {**base, "oauth_client_id": "corpmail", "oauth_secret": "s3cret-value",
            "oauth_authorize_url": oauth_server.authorize_url,
            "oauth_token_url": oauth_server.token_url, "oauth_scopes": "imap"}
    assert post_form(admin_client, "/admin/servers/new", full).status_code == 302
    server = db.session.scalar(select(MailServer).where(MailServer.name == "Generic IdP"))
    assert server.oauth_client_secret == "s3cret-value"
    assert "s3cret-value" not in server.oauth_client_secret_encrypted
    page = admin_client.get(f"/admin/servers/{server.id}/edit").get_data(as_text=True)
    assert "s3cret-value" not in page
    insecure = {**full, "name": "Plain IdP", "oauth_token_url": "http://id.example.com/token"}
    page = post_form(admin_client, "/admin/servers/new", insecure).get_data(as_text=True)
    assert "Give an https:// URL." in page


def test_connection_test_logs_in_with_the_accounts_token(
        admin_client, post_form, new_oauth_account, oauth_mail_server):
    account, _password = new_oauth_account()
    url = f"/admin/servers/{oauth_mail_server.id}/test"
    page = post_form(admin_client, url, {"login": account.login}).get_data(as_text=True)
    assert "No authorized scanner account" in page
    authorize(admin_client, post_form, account)
    from corpmail.admin.servers import run_connection_test

    result = run_connection_test(oauth_mail_server, account.login, None, oauth_mail_server.id)
    assert result["imap"]["login"] == "ok", result
    assert result["smtp"]["login"] == "ok", result
    page = post_form(admin_client, url, {"login": account.login}).get_data(as_text=True)
    assert "Failed" not in page


def test_autologin_hands_out_a_bearer_token_never_the_refresh_token(
        app, admin_client, post_form, new_oauth_account, admin_user, oauth_server):
    from corpmail.autologin.tokens import issue_token
    from corpmail.models import AutologinGrant

    oauth_server.access_token_seconds = 2
    account, _password = new_oauth_account()
    authorize(admin_client, post_form, account)
    db.session.add(AutologinGrant(account_id=account.id, user_id=admin_user.id))
    db.session.commit()
    cookie = admin_client.get_cookie("session").value
    headers = {"X-Corpmail-Secret": app.config["AUTOLOGIN_SECRET"]}
    internal = app.test_client()
    answer = internal.post("/internal/autologin/redeem", headers=headers, data={
        "token": issue_token(admin_user.id, account.id), "crm_session": cookie}).get_json()
    account = db.session.get(ScannerAccount, account.id)
    assert answer["ok"] and answer["auth"] == "oauth2" and answer["password"] is None
    assert answer["access_token"] == account.oauth_access_token
    assert account.oauth_refresh_token not in str(answer)
    assert 1 <= answer["renew_in"] <= 2

    time.sleep(2.2)
    renewed = internal.post("/internal/autologin/token", headers=headers, data={
        "session_ref": answer["session_ref"], "crm_session": cookie}).get_json()
    db.session.expire_all()
    account = db.session.get(ScannerAccount, account.id)
    assert renewed["ok"] and renewed["access_token"] == account.oauth_access_token
    assert renewed["access_token"] != answer["access_token"]
    assert account.oauth_refresh_token not in str(renewed)
    refused = internal.post("/internal/autologin/token", headers=headers, data={
        "session_ref": answer["session_ref"], "crm_session": "forged"})
    assert refused.status_code == 403

"""Autologin, app side: tokens, the plugin's redeem/check endpoints, the top bar, My mail, the
admin page. Real app, real database, real Dovecot; the plugin's calls are made as it makes them."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.imap import ImapSession
from corpmail.models import (
    AutologinGrant,
    AutologinSession,
    AutologinToken,
    MailboxUnread,
    MailConfiguration,
    ScannerAccount,
    ScannerFolder,
)
from corpmail.models.base import utcnow

WEBMAIL_LOGIN = "/webmail/?_task=login&amp;_action=corpmail-autologin"
TOKEN_INPUT = re.compile(r'name="_corpmail_token" value="([^"]+)"')


def raw_message(subject: str) -> bytes:
    return (f"From: a@client.example\r\nTo: desk@corp.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{time.time_ns()}@client.example>\r\n\r\nBody\r\n").encode()


@pytest.fixture
def grant(scanner_account, plain_user):
    row = AutologinGrant(account=scanner_account, user_id=plain_user.id)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def second_account(mail_server, dovecot, admin_user):
    login, password = dovecot.add_user()
    account = ScannerAccount(name="zz-" + login.split("@")[0], server=mail_server, login=login,
                             status="Active", actions=["create-email"], owner=admin_user)
    account.password = password
    account.folders.append(ScannerFolder(name="INBOX", role="Received"))
    db.session.add(account)
    db.session.commit()
    return account


@pytest.fixture
def user_client(client_as, plain_user):
    return client_as(plain_user)


def crm_cookie(test_client) -> str:
    return test_client.get_cookie("session").value


def open_token(test_client, account_id: int, **query) -> str:
    resp = test_client.get(f"/mail/open/{account_id}", query_string=query)
    assert resp.status_code == 200, resp.status_code
    return TOKEN_INPUT.search(resp.get_data(as_text=True)).group(1)


def plugin_post(app, path: str, data: dict, secret: str | None = "default"):
    """The Roundcube plugin's server-to-server POST: no browser cookies, the shared secret."""
    headers = {}
    if secret == "default":
        secret = app.config["AUTOLOGIN_SECRET"]
    if secret is not None:
        headers["X-Corpmail-Secret"] = secret
    return app.test_client().post(path, data=data, headers=headers)


def redeem(app, token: str, cookie: str | None, secret: str | None = "default"):
    data = {"token": token}
    if cookie is not None:
        data["crm_session"] = cookie
    return plugin_post(app, "/internal/autologin/redeem", data, secret)


def check(app, ref: str, cookie: str | None):
    return plugin_post(app, "/internal/autologin/check",
                       {"session_ref": ref, "crm_session": cookie or ""})


def refused(resp, reason: str) -> None:
    assert 400 <= resp.status_code < 500, resp.status_code
    assert resp.get_json() == {"ok": False, "reason": reason}


# --------------------------------------------------------------------------- /mail/open
def test_open_answers_a_self_posting_form_with_the_token_in_the_body_only(
        app, user_client, grant, scanner_account):
    resp = user_client.get(f"/mail/open/{scanner_account.id}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    form = re.search(r'<form[^>]*>', page).group(0)
    assert 'method="post"' in form and f'action="{WEBMAIL_LOGIN}"' in form
    token = TOKEN_INPUT.search(page).group(1)
    # The token appears once, as the value of the only input; never in a URL.
    assert page.count(token) == 1
    assert re.findall(r'<input[^>]*name="([^"]+)"', page) == ["_corpmail_token"]
    assert "<noscript>" in page and ".submit()" in page
    row = db.session.scalar(select(AutologinToken))
    assert row.user_id == grant.user_id and row.account_id == scanner_account.id
    assert row.token_hash not in token and row.used_at is None
    assert row.expires_at - row.created_at == timedelta(seconds=30)


def test_old_tokens_and_ended_sessions_are_purged(app, user_client, grant, scanner_account):
    open_token(user_client, scanner_account.id)
    db.session.add(AutologinSession(ref="old", user_id=grant.user_id, account_id=scanner_account.id,
                                    ended_at=utcnow() - timedelta(days=31)))
    db.session.add(AutologinSession(ref="open", user_id=grant.user_id, account_id=scanner_account.id))
    db.session.scalar(select(AutologinToken)).expires_at = utcnow() - timedelta(days=2)
    db.session.commit()
    open_token(user_client, scanner_account.id)
    db.session.expire_all()
    assert len(db.session.scalars(select(AutologinToken)).all()) == 1
    assert db.session.scalars(select(AutologinSession.ref)).all() == ["open"]


def test_open_without_a_grant_is_a_403_refusal_page_and_issues_nothing(
        app, user_client, scanner_account):
    resp = user_client.get(f"/mail/open/{scanner_account.id}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 403
    assert 'data-reason="no_grant"' in page and "You have no access to this mailbox" in page
    assert "_corpmail_token" not in page
    assert user_client.get("/mail/open/999").status_code == 403
    assert db.session.scalar(select(AutologinToken)) is None


def test_open_of_an_inactive_mailbox_is_refused(app, user_client, grant, scanner_account):
    scanner_account.status = "Locked"
    db.session.commit()
    resp = user_client.get(f"/mail/open/{scanner_account.id}")
    assert resp.status_code == 403 and 'data-reason="inactive"' in resp.get_data(as_text=True)


def test_mail_pages_need_a_crm_login(app, client, scanner_account):
    for url in (f"/mail/open/{scanner_account.id}", "/mail/unread.json", "/my-mail"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


def test_refusal_page_is_translated_and_needs_no_login(app, client):
    for reason in ("replayed", "expired", "invalid", "wrong_user", "revoked", "inactive",
                   "ended", "unavailable", "forbidden", "login_failed", "nonsense"):
        resp = client.get("/mail/refused", query_string={"reason": reason})
        page = resp.get_data(as_text=True)
        assert resp.status_code == 403 and 'id="refusal-message"' in page
        assert "_corpmail_token" not in page and "Log in to the CRM" in page
    page = client.get("/mail/refused?reason=replayed", headers={"Accept-Language": "pl"})
    assert "Nie udało się otworzyć skrzynki" in page.get_data(as_text=True)


# --------------------------------------------------------------------------- redeem
def test_redeem_returns_the_mailbox_credentials_that_log_in(
        app, user_client, plain_user, grant, scanner_account, dovecot):
    plain_user.language = "pl"
    db.session.commit()
    token = open_token(user_client, scanner_account.id)
    resp = redeem(app, token, crm_cookie(user_client))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    server = scanner_account.server
    assert data["ok"] is True
    assert data["login"] == scanner_account.login
    assert data["password"] == scanner_account.password
    assert data["imap"] == {"host": dovecot.host, "port": dovecot.imap_port, "security": "none"}
    assert data["smtp"] == {"host": server.smtp_host, "port": server.smtp_port, "security": "none"}
    assert data["language"] == "pl_PL"
    assert data["mailbox_name"] == scanner_account.name
    assert data["compose"] is None and data["crm_url"] == "/"
    session = db.session.scalar(select(AutologinSession))
    assert data["session_ref"] == session.ref and len(session.ref) >= 32
    assert session.user_id == plain_user.id and session.ended_at is None
    # The credentials are real: the plugin logs in to Dovecot with them.
    with ImapSession.connect(data["imap"]["host"], data["imap"]["port"], "none") as imap:
        imap.login(data["login"], data["password"])
        assert imap.folder_state("INBOX").messages == 0


def test_redeem_hands_over_the_compose_request(app, user_client, grant, scanner_account):
    token = open_token(user_client, scanner_account.id, compose=1, to="zoe@client.example",
                       subject="[TT7] ")
    data = redeem(app, token, crm_cookie(user_client)).get_json()
    assert data["ok"] and data["compose"] == {"to": "zoe@client.example", "subject": "[TT7] "}
    assert data["language"] == "en_US"


def test_a_token_works_once(app, user_client, grant, scanner_account):
    token = open_token(user_client, scanner_account.id)
    cookie = crm_cookie(user_client)
    assert redeem(app, token, cookie).status_code == 200
    refused(redeem(app, token, cookie), "replayed")
    assert db.session.scalar(select(AutologinSession.id).where(AutologinSession.id > 1)) is None


def test_an_expired_token_is_refused(app, user_client, grant, scanner_account):
    token = open_token(user_client, scanner_account.id)
    row = db.session.scalar(select(AutologinToken))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    refused(redeem(app, token, crm_cookie(user_client)), "expired")


def test_a_token_signed_more_than_60_s_ago_is_expired_whatever_the_database_says(
        app, user_client, grant, scanner_account):
    import hashlib

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 61

    nonce = "n" * 43
    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="corpmail-autologin",
                                   signer=SignedLongAgo).dumps(
        {"n": nonce, "u": grant.user_id, "a": scanner_account.id})
    db.session.add(AutologinToken(
        token_hash=hashlib.sha256(nonce.encode()).hexdigest(), user_id=grant.user_id,
        account_id=scanner_account.id, expires_at=utcnow() + timedelta(seconds=60)))
    db.session.commit()
    refused(redeem(app, token, crm_cookie(user_client)), "expired")


def test_token_life_is_configurable_but_never_over_60_s(tmp_path):
    from corpmail.app import create_app

    for given, kept in ((5, 5), (3600, 60), ("45", 45)):
        made = create_app({"AUTOLOGIN_TOKEN_SECONDS": given,
                           "SQLALCHEMY_DATABASE_URI": "sqlite://"},
                          instance_path=str(tmp_path / f"i{kept}"))
        assert made.config["AUTOLOGIN_TOKEN_SECONDS"] == kept


def test_forged_and_altered_tokens_are_invalid(app, user_client, grant, scanner_account):
    from itsdangerous import URLSafeTimedSerializer

    token = open_token(user_client, scanner_account.id)
    cookie = crm_cookie(user_client)
    # A middle character: the last one of the signature also holds base64 padding bits.
    body, signature = token.rsplit(".", 1)
    flipped = "A" if signature[10] != "A" else "B"
    altered_signature = f"{body}.{signature[:10]}{flipped}{signature[11:]}"
    payload, rest = token.split(".", 1)
    altered_payload = payload[:-2] + ("xx" if payload[-2:] != "xx" else "yy") + "." + rest
    forged = URLSafeTimedSerializer("not-the-key", salt="corpmail-autologin").dumps(
        {"n": "x" * 43, "u": grant.user_id, "a": scanner_account.id})
    # Right key, but a nonce the app never issued, or another user/mailbox than issued.
    row = db.session.scalar(select(AutologinToken))
    unknown = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="corpmail-autologin").dumps(
        {"n": "y" * 43, "u": grant.user_id, "a": scanner_account.id})
    for bad in (altered_signature, altered_payload, forged, unknown, "garbage", ""):
        refused(redeem(app, bad, cookie), "invalid")
    assert row.used_at is None
    assert redeem(app, token, cookie).status_code == 200  # the real one was not harmed


def test_another_users_crm_session_cannot_redeem(
        app, user_client, client_as, admin_user, grant, scanner_account):
    token = open_token(user_client, scanner_account.id)
    admin_client = client_as(admin_user)
    refused(redeem(app, token, crm_cookie(admin_client)), "wrong_user")
    # A stolen token is spent by the attempt: not even its owner can use it now.
    refused(redeem(app, token, crm_cookie(user_client)), "replayed")
    for cookie in (None, "", "forged.cookie.value"):
        token = open_token(user_client, scanner_account.id)
        refused(redeem(app, token, cookie), "wrong_user")
    assert db.session.scalar(select(AutologinSession)) is None


def test_a_revoked_grant_refuses_its_token(app, user_client, grant, scanner_account):
    from corpmail.autologin.grants import revoke_grant

    token = open_token(user_client, scanner_account.id)
    revoke_grant(grant)
    db.session.commit()
    refused(redeem(app, token, crm_cookie(user_client)), "revoked")


@pytest.mark.parametrize("status", ["Inactive", "Locked"])
def test_an_inactive_or_locked_mailbox_refuses_its_token(
        app, user_client, grant, scanner_account, status):
    token = open_token(user_client, scanner_account.id)
    scanner_account.status = status
    db.session.commit()
    refused(redeem(app, token, crm_cookie(user_client)), "inactive")


def test_a_deactivated_crm_user_cannot_redeem(app, user_client, plain_user, grant, scanner_account):
    token = open_token(user_client, scanner_account.id)
    plain_user.active = False
    db.session.commit()
    refused(redeem(app, token, crm_cookie(user_client)), "wrong_user")


@pytest.mark.parametrize("path", ["/internal/autologin/redeem", "/internal/autologin/check"])
def test_internal_endpoints_need_the_shared_secret(app, user_client, grant, scanner_account, path):
    token = open_token(user_client, scanner_account.id)
    data = {"token": token, "session_ref": "x", "crm_session": crm_cookie(user_client)}
    for secret in (None, "", "wrong", app.config["AUTOLOGIN_SECRET"] + "x"):
        resp = plugin_post(app, path, data, secret)
        assert resp.status_code == 403 and resp.get_json() == {"ok": False, "reason": "forbidden"}
    assert db.session.scalar(select(AutologinToken)).used_at is None  # nothing was spent
    # GET is not served at all.
    assert app.test_client().get(path).status_code == 405


def test_the_secret_lives_in_the_instance_folder(app):
    from pathlib import Path

    secret_file = Path(app.instance_path) / "autologin_secret"
    assert secret_file.read_text().strip() == app.config["AUTOLOGIN_SECRET"]
    assert secret_file.stat().st_mode & 0o077 == 0
    assert len(app.config["AUTOLOGIN_SECRET"]) >= 32


# --------------------------------------------------------------------------- check
def _session_ref(app, user_client, account_id: int) -> str:
    data = redeem(app, open_token(user_client, account_id), crm_cookie(user_client)).get_json()
    assert data["ok"], data
    return data["session_ref"]


def test_check_is_ok_until_crm_logout(app, user_client, grant, scanner_account, post_form):
    ref = _session_ref(app, user_client, scanner_account.id)
    cookie = crm_cookie(user_client)
    assert check(app, ref, cookie).get_json() == {"ok": True}
    assert post_form(user_client, "/logout").status_code == 302
    # Ended in the database: even the old, still signed cookie is refused now.
    refused(check(app, ref, cookie), "ended")
    refused(check(app, ref, crm_cookie(user_client)), "ended")
    assert db.session.scalar(select(AutologinSession)).ended_at is not None


def test_check_refuses_another_users_cookie_and_unknown_refs(
        app, user_client, client_as, admin_user, grant, scanner_account):
    ref = _session_ref(app, user_client, scanner_account.id)
    refused(check(app, ref, crm_cookie(client_as(admin_user))), "ended")
    refused(check(app, "unknown-ref", crm_cookie(user_client)), "ended")
    refused(check(app, "", crm_cookie(user_client)), "ended")
    assert check(app, ref, crm_cookie(user_client)).get_json() == {"ok": True}


def test_revoking_in_the_admin_page_ends_the_session(
        app, user_client, client_as, admin_user, plain_user, grant, scanner_account, post_form):
    ref = _session_ref(app, user_client, scanner_account.id)
    cookie = crm_cookie(user_client)
    admin_client = client_as(admin_user)
    resp = post_form(admin_client, f"/admin/autologin/{scanner_account.id}", {"user_ids": []})
    assert resp.status_code == 302
    refused(check(app, ref, cookie), "ended")
    db.session.expire_all()
    assert db.session.scalar(select(AutologinGrant)) is None
    assert db.session.scalar(select(AutologinSession)).ended_at is not None


def test_revoking_from_the_cli_ends_the_session(app, user_client, plain_user, grant, scanner_account):
    ref = _session_ref(app, user_client, scanner_account.id)
    cookie = crm_cookie(user_client)
    result = app.test_cli_runner().invoke(args=["revoke", scanner_account.name, plain_user.email])
    assert result.exit_code == 0, result.output
    refused(check(app, ref, cookie), "ended")


def test_locking_the_mailbox_ends_the_session(app, user_client, grant, scanner_account):
    ref = _session_ref(app, user_client, scanner_account.id)
    scanner_account.status = "Locked"
    db.session.commit()
    refused(check(app, ref, crm_cookie(user_client)), "ended")


# --------------------------------------------------------------------------- unread counts
def test_unread_json_is_the_mailboxs_unseen_count_cached_for_the_refresh_interval(
        app, user_client, grant, scanner_account, dovecot):
    login, password = scanner_account.login, scanner_account.password
    for i in range(3):
        dovecot.append(login, password, "INBOX", raw_message(f"new{i}"))
    dovecot.append(login, password, "INBOX", raw_message("read"), flags=(b"\\Seen",))
    data = user_client.get("/mail/unread.json").get_json()
    assert data == {"refresh_s": 60, "show_unread": True, "mailboxes": [{
        "id": scanner_account.id, "name": scanner_account.name, "unread": 3,
        "url": f"/mail/open/{scanner_account.id}"}]}
    # Cached in the database (shared by every worker) for mail_icon_refresh_s.
    dovecot.append(login, password, "INBOX", raw_message("later"))
    assert user_client.get("/mail/unread.json").get_json()["mailboxes"][0]["unread"] == 3
    row = db.session.get(MailboxUnread, scanner_account.id)
    assert row.unseen == 3
    row.checked_at = utcnow() - timedelta(seconds=61)
    db.session.commit()
    assert user_client.get("/mail/unread.json").get_json()["mailboxes"][0]["unread"] == 4


def test_unread_counts_every_received_folder(app, user_client, grant, scanner_account, dovecot):
    login, password = scanner_account.login, scanner_account.password
    with ImapSession.for_account(scanner_account) as imap:
        imap.create_folder("Support")
    scanner_account.folders.append(ScannerFolder(name="Support", role="Received"))
    scanner_account.folders.append(ScannerFolder(name="Sent", role="Sent"))
    db.session.commit()
    dovecot.append(login, password, "INBOX", raw_message("a"))
    dovecot.append(login, password, "Support", raw_message("b"))
    assert user_client.get("/mail/unread.json").get_json()["mailboxes"][0]["unread"] == 2


def test_an_unreachable_mailbox_shows_no_count_and_no_error(
        app, user_client, grant, scanner_account):
    scanner_account.password = "wrong-password"
    db.session.commit()
    resp = user_client.get("/mail/unread.json")
    assert resp.status_code == 200 and resp.get_json()["mailboxes"][0]["unread"] is None
    page = user_client.get("/").get_data(as_text=True)
    badge = re.search(r'<span[^>]*data-unread-for="\d+"[^>]*>', page).group(0)
    assert "hidden" in badge


def test_unread_counts_off_asks_no_server(app, user_client, grant, scanner_account):
    config = MailConfiguration.get()
    config.mail_icon_unread = False
    db.session.commit()
    data = user_client.get("/mail/unread.json").get_json()
    assert data["show_unread"] is False and data["mailboxes"][0]["unread"] is None
    assert db.session.get(MailboxUnread, scanner_account.id) is None
    assert "data-unread-for" not in user_client.get("/").get_data(as_text=True)


# --------------------------------------------------------------------------- top bar, My mail
def _topbar(page: str) -> str:
    match = re.search(r'<div id="topbar-mail".*?</div>\s*(?=<a class="small)', page, re.DOTALL)
    return match.group(0) if match else ""


def test_top_bar_without_a_grant_shows_nothing(app, user_client, scanner_account):
    page = user_client.get("/").get_data(as_text=True)
    assert 'id="topbar-mail"' not in page
    assert 'id="nav-my-mail"' in page  # Virtual desk > My mail is always there


def test_top_bar_with_one_grant_is_one_button(app, user_client, grant, scanner_account):
    page = user_client.get("/").get_data(as_text=True)
    bar = _topbar(page)
    assert 'id="topbar-mailbox"' in bar and 'id="topbar-mailboxes"' not in bar
    assert scanner_account.name in bar and f'href="/mail/open/{scanner_account.id}"' in bar
    assert 'data-refresh-s="60"' in bar and "topbar.js" in page


def test_top_bar_with_two_grants_is_a_drop_down(
        app, user_client, plain_user, grant, scanner_account, second_account):
    db.session.add(AutologinGrant(account=second_account, user_id=plain_user.id))
    MailConfiguration.get().mail_icon_refresh_s = 15
    db.session.commit()
    bar = _topbar(user_client.get("/tickets").get_data(as_text=True))
    assert 'id="topbar-mailboxes"' in bar and 'data-bs-toggle="dropdown"' in bar
    assert 'id="topbar-mailbox"' not in bar
    links = re.findall(r'href="(/mail/open/\d+)"', bar)
    assert links == [f"/mail/open/{scanner_account.id}", f"/mail/open/{second_account.id}"]
    assert 'data-refresh-s="15"' in bar


def test_mail_icon_hidden_by_the_configuration(app, user_client, grant):
    MailConfiguration.get().mail_icon_show = False
    db.session.commit()
    assert 'id="topbar-mail"' not in user_client.get("/").get_data(as_text=True)


def test_my_mail_lists_the_users_mailboxes(
        app, user_client, plain_user, grant, scanner_account, second_account):
    page = user_client.get("/my-mail").get_data(as_text=True)
    listed = re.findall(r'data-mailbox-id="(\d+)"', page[page.index('id="my-mail"'):])
    assert listed == [str(scanner_account.id)]
    assert scanner_account.login in page and second_account.name not in page.split('id="my-mail"')[1]


def test_my_mail_without_mailboxes(app, user_client):
    page = user_client.get("/my-mail").get_data(as_text=True)
    assert "You have no mailboxes" in page


# --------------------------------------------------------------------------- admin page
def test_admin_autologin_page_saves_grants_per_mailbox(
        app, client_as, admin_user, plain_user, scanner_account, second_account, post_form):
    admin_client = client_as(admin_user)
    page = admin_client.get("/admin/autologin").get_data(as_text=True)
    assert scanner_account.name in page and second_account.name in page
    assert 'name="user_ids" multiple' in page and "Mail autologin" in page
    resp = post_form(admin_client, f"/admin/autologin/{scanner_account.id}",
                     {"user_ids": [str(plain_user.id), str(admin_user.id)]})
    assert resp.status_code == 302
    db.session.expire_all()
    granted = lambda acc: sorted(g.user_id for g in db.session.get(ScannerAccount, acc.id).grants)  # noqa: E731
    assert granted(scanner_account) == sorted([plain_user.id, admin_user.id])
    assert granted(second_account) == []
    page = admin_client.get("/admin/autologin").get_data(as_text=True)
    row = page[page.index(f'id="mailbox-{scanner_account.id}"'):page.index(f'id="mailbox-{second_account.id}"')]
    assert row.count(" selected>") == 2
    post_form(admin_client, f"/admin/autologin/{scanner_account.id}", {"user_ids": [str(admin_user.id)]})
    db.session.expire_all()
    assert granted(scanner_account) == [admin_user.id]
    # Unknown users are refused and change nothing.
    resp = post_form(admin_client, f"/admin/autologin/{scanner_account.id}", {"user_ids": ["999"]})
    assert resp.status_code == 400
    db.session.expire_all()
    assert granted(scanner_account) == [admin_user.id]
    assert admin_client.post(f"/admin/autologin/{scanner_account.id}",
                             data={"user_ids": [str(plain_user.id)]}).status_code == 400


def test_admin_autologin_page_is_admin_only(app, user_client, scanner_account, plain_user, post_form):
    assert user_client.get("/admin/autologin").status_code == 403
    resp = post_form(user_client, f"/admin/autologin/{scanner_account.id}",
                     {"user_ids": [str(plain_user.id)]})
    assert resp.status_code == 403
    assert db.session.scalar(select(AutologinGrant)) is None

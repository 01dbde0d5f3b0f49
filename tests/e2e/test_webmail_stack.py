"""The local stack's plumbing: nginx routes / to the app, /webmail/ to Roundcube, hides /internal/."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

import pytest


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    """(status, body text, headers) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace"), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers


def test_webmail_serves_roundcube_login_page(webmail_stack):
    status, body, headers = fetch(webmail_stack.webmail_url)
    assert status == 200, webmail_stack.log_tail("nginx") + webmail_stack.log_tail("php")
    assert 'id="rcmloginuser"' in body and "corpmail webmail" in body
    assert "roundcube_sessid=" in headers.get("Set-Cookie", "")
    assert "path=/webmail/" in headers.get("Set-Cookie", "").lower()
    assert "samesite=lax" in headers.get("Set-Cookie", "").lower()
    # Its static files come from nginx itself.
    status, _body, headers = fetch(webmail_stack.base_url + "/webmail/skins/elastic/ui.min.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    status, _body, _headers = fetch(webmail_stack.base_url
                                    + "/webmail/skins/elastic/watermark.html")
    assert status == 200  # the empty preview pane


def test_webmail_without_slash_redirects(webmail_stack):
    status, _body, headers = fetch(webmail_stack.base_url + "/webmail")
    assert status == 301 and headers["Location"].endswith("/webmail/")


@pytest.mark.parametrize("path", [
    "/webmail/plugins/corpmail_autologin/corpmail_autologin.php",
    "/webmail/plugins/corpmail_autologin/config.inc.php.dist",
    "/webmail/config/config.inc.php",
    "/webmail/program/include/iniset.php",
    "/webmail/installer/",
    "/webmail/SQL/sqlite.initial.sql",
    "/webmail/skins/elastic/templates/login.html",
])
def test_only_static_files_and_the_entry_point_are_public(webmail_stack, path):
    status, _body, _headers = fetch(webmail_stack.base_url + path)
    assert status == 404


def test_root_goes_to_the_app(webmail_stack):
    status, body, _headers = fetch(webmail_stack.base_url + "/login")
    assert status == 200 and 'name="password"' in body
    status, _body, headers = fetch(webmail_stack.base_url + "/")
    assert status == 302 and "/login" in headers["Location"]


@pytest.mark.parametrize("path", ["/internal/autologin/redeem", "/internal/autologin/check"])
def test_internal_endpoints_are_not_public(webmail_stack, path):
    # Even with the right secret, nginx does not route /internal/ at all.
    headers = {"X-Corpmail-Secret": webmail_stack.secret}
    status, _body, _headers = fetch(webmail_stack.base_url + path, data=b"token=x",
                                    headers=headers)
    assert status == 404
    # The app itself answers there (the plugin's way in), refusing a bad token.
    status, body, _headers = fetch(webmail_stack.app_url + path, data=b"token=x&session_ref=x",
                                   headers=headers)
    assert status in (400, 403) and '"ok":false' in body.replace(" ", "")


def test_a_form_login_is_refused(webmail_stack):
    """Only autologin opens a mailbox: a hand-typed login on Roundcube's form fails."""
    login, password = webmail_stack.dovecot.add_user()
    status, body, headers = fetch(webmail_stack.webmail_url)
    cookie = headers["Set-Cookie"].split(";")[0]
    token = body.split('name="_token" value="')[1].split('"')[0]
    form = urllib.parse.urlencode({"_token": token, "_task": "login", "_action": "login",
                                   "_user": login, "_pass": password}).encode()
    status, body, headers = fetch(webmail_stack.webmail_url + "?_task=login", data=form,
                                  headers={"Cookie": cookie})
    assert status in (200, 401)
    assert "_task=mail" not in (headers.get("Location") or "")
    assert 'id="rcmloginuser"' in body


def test_login_page_is_fast(webmail_stack):
    fetch(webmail_stack.webmail_url)  # warm php's opcache
    started = time.perf_counter()
    for _ in range(5):
        status, _body, _headers = fetch(webmail_stack.webmail_url)
        assert status == 200
    per_page_ms = (time.perf_counter() - started) / 5 * 1000
    print(f"Roundcube login page through nginx + php-fpm: {per_page_ms:.1f} ms")
    assert per_page_ms < 500



# ----------------------------------------------------------------- the plugin's own guards
def _set_account(stack, account_id: int, **changes) -> None:
    from corpmail.extensions import db
    from corpmail.models import MailServer, ScannerAccount

    with stack.app.app_context():
        account = db.session.get(ScannerAccount, account_id)
        if "imap_host" in changes:  # a server of its own, so other tests keep theirs
            base = db.session.get(MailServer, account.server_id)
            server = MailServer(
                name=f"Elsewhere {account_id}", active=True, visible=True, auth_method="basic",
                imap_host=changes["imap_host"], imap_port=base.imap_port,
                imap_security="none", imap_validate_cert=False, smtp_host=base.smtp_host,
                smtp_port=base.smtp_port, smtp_security="none", smtp_validate_cert=False)
            db.session.add(server)
            account.server = server
        if "password" in changes:
            account.password = changes["password"]
        db.session.commit()


def test_a_mail_host_outside_the_allow_list_is_refused(webmail_stack, page):
    """The host comes from the app and must be in corpmail_allowed_hosts: "localhost"
    reaches the same Dovecot, but only 127.0.0.1 is allowed."""
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    account_id, _login, _pw = stack.add_mailbox(granted=[user_id])
    _set_account(stack, account_id, imap_host="localhost")
    stack.login_crm(page, email, password)
    page.goto(f"{stack.base_url}/mail/open/{account_id}")
    page.wait_for_url("**/mail/refused?reason=invalid")
    assert page.locator("#rcmloginuser").count() == 0


def test_a_refused_mailbox_login_shows_the_crm_refusal_page(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    account_id, _login, _pw = stack.add_mailbox(granted=[user_id])
    _set_account(stack, account_id, password="not-the-password")
    stack.login_crm(page, email, password)
    page.goto(f"{stack.base_url}/mail/open/{account_id}")
    page.wait_for_url("**/mail/refused?reason=login_failed")

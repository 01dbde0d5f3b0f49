"""OAuth 2.0 mailboxes in a real browser: the admin authorizes a mailbox at the local
provider (consent page, callback), the mailbox opens in Roundcube over IMAP XOAUTH2, a
message is sent through Dovecot submission with XOAUTH2, and an expired token is renewed
inside the Roundcube session through the app (the plugin never holds a refresh token)."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.e2e

SCOPES = "imap smtp offline_access"
# The app renews a token 60 s before it expires (OAUTH_REFRESH_MARGIN_SECONDS): a 64 s
# token tells the plugin to ask again after 4 s.
TOKEN_SECONDS = 64
RENEW_AFTER_S = TOKEN_SECONDS - 60
INBOX_ROWS = "#messagelist tr.message"


def wait_for_subject(dovecot, login, password, folder, marker, timeout=15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        client = dovecot.client(login, password)
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["SUBJECT", marker])
        finally:
            client.logout()
        if uids or time.monotonic() > deadline:
            return uids
        time.sleep(0.1)  # polling for the delivery, not a fixed wait


def xoauth2_logins(dovecot, login: str, protocol: str) -> int:
    """Dovecot's log lines for XOAUTH2 logins of this mailbox (imap-login / submission-login)."""
    return dovecot.log_tail(5000).count(f"{protocol}-login: Info: Login: user=<{login}>, "
                                        "method=XOAUTH2")


@pytest.fixture
def oauth_setup(webmail_stack, oauth_server, oauth_dovecot, page):
    """An admin logged in to the CRM (in ``page``), an OAuth mail server on the OAuth
    Dovecot registered at the provider with the redirect URI its form shows, and one
    mailbox of it granted to the admin, not yet authorized."""
    from corpmail.extensions import db
    from corpmail.models import AutologinGrant, MailServer, ScannerAccount, ScannerFolder

    stack = webmail_stack
    oauth_server.access_token_seconds = TOKEN_SECONDS
    admin_id, email, password = stack.add_user(admin=True)
    login, mailbox_password = oauth_dovecot.add_user()
    client_id = "e2e-" + uuid.uuid4().hex[:8]
    with stack.app.app_context():
        server = MailServer(
            name=f"OAuth {client_id}", auth_method="oauth2", imap_host=oauth_dovecot.host,
            imap_port=oauth_dovecot.imap_port, imap_security="none", imap_validate_cert=False,
            smtp_host=oauth_dovecot.host, smtp_port=oauth_dovecot.submission_port,
            smtp_security="none", smtp_validate_cert=False, oauth_provider="generic",
            oauth_client_id=client_id, oauth_authorize_url=oauth_server.authorize_url,
            oauth_token_url=oauth_server.token_url, oauth_scopes=SCOPES)
        server.oauth_client_secret = "e2e-secret"
        account = ScannerAccount(name=login.split("@")[0], server=server, login=login,
                                 status="Active", actions=["create-email"])
        account.folders.append(ScannerFolder(name="INBOX", role="Received"))
        account.grants.append(AutologinGrant(user_id=admin_id))
        db.session.add(account)
        db.session.commit()
        server_id, account_id = server.id, account.id

    stack.login_crm(page, email, password)
    # The admin copies the redirect URI from the server's form into the provider's console.
    page.goto(f"{stack.base_url}/admin/servers/{server_id}/edit")
    redirect_uri = page.input_value("#oauth-redirect-uri")
    assert redirect_uri.startswith(stack.base_url)
    oauth_server.register_client(client_id, "e2e-secret", [redirect_uri], SCOPES)
    yield {"account_id": account_id, "login": login, "password": mailbox_password}
    oauth_server.access_token_seconds = 3600


def test_authorize_then_webmail_and_sending_over_xoauth2(
        webmail_stack, oauth_setup, oauth_server, oauth_dovecot, page):
    stack = webmail_stack
    account_id, login = oauth_setup["account_id"], oauth_setup["login"]

    # Authorize: the provider's consent page, signed in as the mailbox, then the callback.
    page.goto(f"{stack.base_url}/admin/accounts/{account_id}/edit")
    assert "Needs authorization" in page.inner_text("#oauth-state")
    page.locator("#oauth-state button", has_text="Authorize").click()
    page.wait_for_url(oauth_server.authorize_url + "*")
    assert page.input_value("input[name=username]") == login  # login_hint
    page.click("#allow")
    page.wait_for_url(f"{stack.base_url}/admin/accounts/{account_id}/edit")
    assert "is authorized" in page.content()
    assert "Authorized until" in page.inner_text("#oauth-state")

    # Autologin: Roundcube logs in to IMAP with XOAUTH2 and the bearer token.
    from tests.integration.scanner_util import make_message

    oauth_dovecot.append(login, oauth_setup["password"], "INBOX", make_message("Welcome"))
    imap_before = xoauth2_logins(oauth_dovecot, login, "imap")
    page.goto(f"{stack.base_url}/mail/open/{account_id}")
    page.wait_for_selector(INBOX_ROWS)
    assert xoauth2_logins(oauth_dovecot, login, "imap") > imap_before, \
        stack.log_tail("roundcube")

    # Sending: Roundcube -> Dovecot submission with XOAUTH2 -> relay -> the recipient.
    recipient, recipient_password = oauth_dovecot.add_user()
    marker = f"oauth-{uuid.uuid4().hex[:10]}"
    submission_before = xoauth2_logins(oauth_dovecot, login, "submission")
    send(page, stack, account_id, recipient, f"Hello {marker}")
    assert wait_for_subject(oauth_dovecot, recipient, recipient_password, "INBOX", marker), \
        stack.log_tail("roundcube")
    assert wait_for_subject(oauth_dovecot, login, oauth_setup["password"], "Sent", marker)
    assert xoauth2_logins(oauth_dovecot, login, "submission") > submission_before

    # A long session: past renew_in the plugin asks the app, which renews at the provider;
    # IMAP and SMTP go on with the new token.
    refreshes = oauth_server.grants["refresh_token"]
    time.sleep(RENEW_AFTER_S + 0.5)
    page.goto(f"{stack.webmail_url}?_task=mail&_mbox=INBOX")
    page.wait_for_selector(INBOX_ROWS)
    assert oauth_server.grants["refresh_token"] == refreshes + 1
    later = f"oauth-{uuid.uuid4().hex[:10]}"
    send(page, stack, account_id, recipient, f"Later {later}", open_from_crm=False)
    assert wait_for_subject(oauth_dovecot, recipient, recipient_password, "INBOX", later), \
        stack.log_tail("roundcube")
    assert "access token renewed" in (stack.webmail.log_dir / "corpmail_autologin.log"
                                      ).read_text(errors="replace")


def send(page, stack, account_id: int, to: str, subject: str, open_from_crm: bool = True):
    """Compose and send in Roundcube; returns once Roundcube has left compose."""
    if open_from_crm:
        page.goto(f"{stack.base_url}/mail/open/{account_id}?compose=1&to={quote(to)}"
                  f"&subject={quote(subject)}")
    else:
        page.goto(f"{stack.webmail_url}?_task=mail&_action=compose&_to={quote(to)}"
                  f"&_subject={quote(subject)}")
    page.locator("#compose-subject").wait_for()
    page.fill("#compose-subject", subject)
    page.fill("#composebody", "Sent over XOAUTH2.\n")
    page.locator("button.send").first.click()
    page.wait_for_function("() => !location.search.includes('_action=compose')")

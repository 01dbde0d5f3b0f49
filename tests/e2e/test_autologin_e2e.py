"""Autologin in a real browser: the top bar, click-to-inbox time, refusals, switching, logout.

Headless Chromium drives the whole stack of tests/e2e/conftest.py (nginx, php-fpm,
Roundcube with the corpmail_autologin plugin, the app under gunicorn, Dovecot). A raw
token is taken the way a curious user would: from the auto-submitting form that
/mail/open/<id> returns; it is then replayed, altered or handed to someone else by
POSTing it from a CRM page of the same site, as the real form does.
"""

from __future__ import annotations

import re
import statistics
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

pytestmark = pytest.mark.e2e

INBOX_ROWS = "#messagelist tr.message"
REFUSED = "#autologin-refused"
AUTOLOGIN_PATH = "/webmail/?_task=login&_action=corpmail-autologin"
TOKEN_FIELD = re.compile(r'name="_corpmail_token" value="([^"]+)"')
AUTOLOGIN_BUDGET_MS = 1000
MEASURED_CLICKS = 3
CLICK_CLOCK = """() => document.addEventListener(
    "click", () => sessionStorage.setItem("e2e-click-at", String(performance.timeOrigin + performance.now())),
    {capture: true, once: true})"""
ROWS_CLOCK = """() => document.querySelector("#messagelist tr.message") !== null
    && (window.__e2eRowsAt = performance.timeOrigin + performance.now())"""
CHECK_CACHE_S = 5  # the plugin reuses a positive session check at most this long


# ------------------------------------------------------------------------- helpers
def message(subject: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Customer <customer@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="e2e.corpmail.test")
    msg.set_content(f"{subject}\n")
    return msg.as_bytes()


def new_mailbox(stack, granted=(), unseen: int = 1, seen: int = 0) -> dict:
    """A granted mailbox with a welcome message naming it, and unseen / seen mail."""
    account_id, login, password = stack.add_mailbox(granted=granted)
    welcome = f"Welcome to {login}"
    stack.dovecot.append(login, password, "INBOX", message(welcome, login))
    for n in range(unseen - 1):
        stack.dovecot.append(login, password, "INBOX", message(f"Unseen {n} {login}", login))
    for n in range(seen):
        stack.dovecot.append(login, password, "INBOX", message(f"Seen {n} {login}", login),
                             flags=(b"\\Seen",))
    return {"id": account_id, "login": login, "password": password, "welcome": welcome}


def imap_unseen(stack, box: dict) -> int:
    client = stack.dovecot.client(box["login"], box["password"])
    try:
        return client.folder_status("INBOX", [b"UNSEEN"])[b"UNSEEN"]
    finally:
        client.logout()


def user(stack, page) -> tuple[int, str, str]:
    """A new CRM user, logged in through the real form in this page's browser context."""
    user_id, email, password = stack.add_user()
    stack.login_crm(page, email, password)
    return user_id, email, password


def assert_in_inbox(page, box: dict) -> None:
    """Roundcube shows this mailbox's inbox, logged in as its login."""
    page.wait_for_selector(INBOX_ROWS)
    assert page.locator(".header-title.username").inner_text().strip() == box["login"]
    assert page.locator(INBOX_ROWS, has_text=box["welcome"]).count() == 1


def assert_refused(page, stack, reason: str) -> None:
    """The app's refusal page with this reason and a message, and no Roundcube login."""
    page.wait_for_selector(REFUSED)
    assert page.get_attribute(REFUSED, "data-reason") == reason
    assert page.locator("#refusal-message").inner_text().strip()
    assert_no_mailbox(page, stack)


def wait_until_ended(page, stack, within_s: float) -> float:
    """Reload Roundcube until it no longer shows an inbox; seconds it took.

    The plugin may reuse a positive session check for up to 5 s (protocol), so an ended
    session can show its inbox that long; never longer.
    """
    started = time.monotonic()
    while True:
        page.goto(stack.webmail_url + "?_task=mail&_mbox=INBOX")
        page.wait_for_selector(f"{INBOX_ROWS}, #rcmloginuser, {REFUSED}")
        if page.locator(INBOX_ROWS).count() == 0:
            return time.monotonic() - started
        assert time.monotonic() - started < within_s, "the webmail session was not ended"
        page.wait_for_timeout(250)  # between two polls of the condition


def assert_no_mailbox(page, stack) -> None:
    """/webmail/ shows Roundcube's login form or the refusal page: never an inbox."""
    page.goto(stack.webmail_url + "?_task=mail&_mbox=INBOX")
    page.wait_for_selector(f"#rcmloginuser, {REFUSED}")
    assert page.locator(INBOX_ROWS).count() == 0
    assert page.locator("#messagelist").count() == 0


def take_token(page, stack, account_id: int) -> str:
    """Ask /mail/open/<id> with this browser's CRM cookie and keep the token: not redeemed."""
    response = page.context.request.get(f"{stack.base_url}/mail/open/{account_id}",
                                        max_redirects=0)
    assert response.status == 200, response.status
    found = TOKEN_FIELD.search(response.text())
    assert found, "no auto-submit form in /mail/open"
    return found.group(1)


def post_token(page, stack, token: str) -> None:
    """Submit a token exactly as the app's auto-submit form does, from a CRM page."""
    page.goto(stack.base_url + "/")
    with page.expect_navigation():
        page.evaluate(
            """([action, token]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                const field = document.createElement("input");
                field.type = "hidden";
                field.name = "_corpmail_token";
                field.value = token;
                form.appendChild(field);
                document.body.appendChild(form);
                form.submit();
            }""",
            [AUTOLOGIN_PATH, token],
        )


def open_from_topbar(page, stack, box: dict) -> None:
    page.goto(stack.base_url + "/")
    if page.locator("#topbar-mailboxes").count():
        page.click("#topbar-mailboxes button.dropdown-toggle")
        page.click(f"#topbar-mailboxes .dropdown-item[data-mailbox-id='{box['id']}']")
    else:
        page.click(f"#topbar-mailbox[data-mailbox-id='{box['id']}']")


def resign(stack, token: str, *, key: str | None = None, age_s: int = 0) -> str:
    """The token's payload signed again: with another key, or dated age_s seconds ago."""
    from itsdangerous import URLSafeTimedSerializer

    secret = stack.app.config["SECRET_KEY"]
    payload = URLSafeTimedSerializer(secret, salt="corpmail-autologin").loads(token)

    class Backdated(URLSafeTimedSerializer):
        def make_signer(self, salt=None):
            signer = super().make_signer(salt)
            signer.get_timestamp = lambda: int(time.time()) - age_s
            return signer

    return Backdated(key or secret, salt="corpmail-autologin").dumps(payload)


# ------------------------------------------------------------------------- top bar
def test_topbar_one_grant_is_one_button_with_the_unread_count(webmail_stack, page):
    stack = webmail_stack
    user_id, _email, _password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id], unseen=3, seen=2)
    stack.login_crm(page, _email, _password)

    button = page.locator("#topbar-mailbox")
    assert button.count() == 1 and page.locator("#topbar-mailboxes").count() == 0
    assert button.get_attribute("data-mailbox-id") == str(box["id"])
    assert box["login"].split("@")[0] in button.inner_text()
    # The badge is refreshed from the server by the page; it equals IMAP's UNSEEN.
    unseen = imap_unseen(stack, box)
    assert unseen == 3
    badge = page.locator(f"[data-unread-for='{box['id']}']")
    badge.wait_for(state="visible")
    assert badge.inner_text().strip() == str(unseen)


def test_topbar_two_grants_is_a_dropdown_with_each_unread_count(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    boxes = [new_mailbox(stack, granted=[user_id], unseen=2, seen=1),
             new_mailbox(stack, granted=[user_id], unseen=4)]
    stack.login_crm(page, email, password)

    assert page.locator("#topbar-mailbox").count() == 0
    page.click("#topbar-mailboxes button.dropdown-toggle")
    items = page.locator("#topbar-mailboxes .dropdown-item[data-mailbox-id]")
    items.first.wait_for()
    assert sorted(items.evaluate_all("els => els.map(e => e.dataset.mailboxId)")) == sorted(
        str(b["id"]) for b in boxes)
    total = 0
    for box in boxes:
        unseen = imap_unseen(stack, box)
        total += unseen
        badge = page.locator(f"[data-unread-for='{box['id']}']")
        badge.wait_for(state="visible")
        assert badge.inner_text().strip() == str(unseen)
    assert total == 6
    assert page.locator("[data-unread-total]").inner_text().strip() == str(total)


def test_topbar_without_grant_shows_no_mailbox(webmail_stack, page):
    stack = webmail_stack
    new_mailbox(stack)  # a mailbox exists, granted to nobody
    user(stack, page)
    page.wait_for_selector("#topbar-right")
    assert page.locator("#topbar-mail, #topbar-mailbox, #topbar-mailboxes").count() == 0


# ------------------------------------------------------------------------- click -> inbox
def test_click_lands_in_the_inbox_logged_in_under_a_second(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    timings = []
    # One warm-up click (first use of the running servers: PHP and Python code paths,
    # caches), then the measured ones; the median keeps one noisy click from deciding.
    for _ in range(1 + MEASURED_CLICKS):
        page.goto(stack.base_url + "/")
        button = page.locator("#topbar-mailbox")
        button.wait_for()
        # Timed by the browser's own clock, from the click event to the first frame that
        # has the inbox rows (sessionStorage carries the start across the navigations).
        page.evaluate(CLICK_CLOCK)
        button.click()
        page.wait_for_function(ROWS_CLOCK, polling="raf")
        timings.append(page.evaluate(
            "() => window.__e2eRowsAt - Number(sessionStorage.getItem('e2e-click-at'))"))
        assert_in_inbox(page, box)
        # The token never travels in a URL.
        assert "_corpmail_token" not in page.url
    warm_up, measured = timings[0], timings[1:]
    median = statistics.median(measured)
    print(f"\nAUTOLOGIN_MS={median:.0f} (click -> inbox rows, median of "
          f"{', '.join(f'{t:.0f}' for t in measured)} ms; warm-up {warm_up:.0f} ms)")
    assert median < AUTOLOGIN_BUDGET_MS, f"click to inbox took {measured} ms"


def test_switching_mailbox_shows_the_other_mailbox(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    first = new_mailbox(stack, granted=[user_id])
    second = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    open_from_topbar(page, stack, first)
    assert_in_inbox(page, first)
    open_from_topbar(page, stack, second)
    assert_in_inbox(page, second)
    assert page.locator(INBOX_ROWS, has_text=first["welcome"]).count() == 0
    # The first session was replaced, not kept beside: a reload stays in the second.
    page.reload()
    assert_in_inbox(page, second)
    sessions = [c for c in page.context.cookies() if c["name"] == "roundcube_sessid"]
    assert len(sessions) == 1


def test_crm_logout_ends_the_webmail_session(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)
    open_from_topbar(page, stack, box)
    assert_in_inbox(page, box)

    # Roundcube in one tab, the CRM logout in another.
    crm = page.context.new_page()
    crm.goto(stack.base_url + "/")
    with crm.expect_navigation():
        crm.locator("form[action='/logout'] button[type=submit]").click()
    crm.wait_for_selector("input[name=password]")
    crm.close()

    page.reload()
    page.wait_for_selector(f"#rcmloginuser, {REFUSED}")
    assert page.locator(INBOX_ROWS).count() == 0
    assert_no_mailbox(page, stack)


def test_revoking_the_grant_ends_the_webmail_session(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)
    open_from_topbar(page, stack, box)
    assert_in_inbox(page, box)

    stack.revoke(box["id"], user_id)
    took = wait_until_ended(page, stack, within_s=CHECK_CACHE_S + 3)
    print(f"\nrevoked grant: webmail session ended after {took:.1f} s")
    assert page.get_attribute(REFUSED, "data-reason") == "ended"
    assert_no_mailbox(page, stack)


# ------------------------------------------------------------------------- refusals
def test_a_replayed_token_is_refused(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    token = take_token(page, stack, box["id"])
    post_token(page, stack, token)
    assert_in_inbox(page, box)  # the first use logs in
    post_token(page, stack, token)
    assert_refused(page, stack, "replayed")


def test_an_expired_token_is_refused(webmail_stack, page):
    from sqlalchemy import update

    from corpmail.extensions import db
    from corpmail.models import AutologinToken
    from corpmail.models.base import utcnow

    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    # Older than the signature's 60 s limit.
    post_token(page, stack, resign(stack, take_token(page, stack, box["id"]), age_s=120))
    assert_refused(page, stack, "expired")

    # Within 60 s of signing, but past the token's own life (AUTOLOGIN_TOKEN_SECONDS).
    token = take_token(page, stack, box["id"])
    with stack.app.app_context():
        db.session.execute(update(AutologinToken).where(AutologinToken.used_at.is_(None))
                           .values(expires_at=utcnow()))
        db.session.commit()
    post_token(page, stack, token)
    assert_refused(page, stack, "expired")


@pytest.mark.parametrize("how", ["altered-signature", "altered-payload", "forged-key"])
def test_a_forged_or_altered_token_is_refused(webmail_stack, page, how):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    token = take_token(page, stack, box["id"])
    if how == "altered-signature":
        bad = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    elif how == "altered-payload":
        bad = ("e" if token[0] != "e" else "f") + token[1:]
    else:  # a well-formed token for the same user and mailbox, signed with a guessed key
        bad = resign(stack, token, key="not-the-installation-secret")
    post_token(page, stack, bad)
    assert_refused(page, stack, "invalid")
    # The genuine token was not spent by the forgeries and still works.
    post_token(page, stack, token)
    assert_in_inbox(page, box)


def test_another_users_token_is_refused(webmail_stack, browser, page):
    stack = webmail_stack
    owner_id, owner_email, owner_password = stack.add_user()
    box = new_mailbox(stack, granted=[owner_id])
    stack.login_crm(page, owner_email, owner_password)
    token = take_token(page, stack, box["id"])

    # Another CRM user, in another browser, with the same mailbox granted or not.
    other_id, other_email, other_password = stack.add_user()
    stack.grant(box["id"], other_id)
    context = browser.new_context(locale="en-US")
    try:
        other = context.new_page()
        stack.login_crm(other, other_email, other_password)
        post_token(other, stack, token)
        assert_refused(other, stack, "wrong_user")
    finally:
        context.close()


def test_a_token_of_a_revoked_grant_is_refused(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user()
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)

    token = take_token(page, stack, box["id"])
    stack.revoke(box["id"], user_id)
    post_token(page, stack, token)
    assert_refused(page, stack, "revoked")


def test_a_user_without_grant_guessing_the_url_is_refused(webmail_stack, page):
    stack = webmail_stack
    box = new_mailbox(stack)  # granted to nobody
    user(stack, page)

    response = page.goto(f"{stack.base_url}/mail/open/{box['id']}")
    assert response.status == 403
    assert "_corpmail_token" not in page.content()
    assert_refused(page, stack, "no_grant")


def test_roundcube_speaks_the_crm_users_language(webmail_stack, page):
    stack = webmail_stack
    user_id, email, password = stack.add_user(lang="pl")
    box = new_mailbox(stack, granted=[user_id])
    stack.login_crm(page, email, password)
    open_from_topbar(page, stack, box)
    assert_in_inbox(page, box)
    assert page.evaluate("rcmail.env.locale") == "pl_PL"
    assert page.get_attribute("html", "lang") == "pl"

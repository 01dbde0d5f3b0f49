"""The whole stack after a click to the inbox: no file it wrote (the CRM's database and WAL,
gunicorn's log, nginx's and php-fpm's logs, Roundcube's database with its sessions, its logs)
holds the mailbox password or the autologin token in clear."""

from __future__ import annotations

import sqlite3

from tests.e2e.test_autologin_e2e import INBOX_ROWS, post_token, take_token
from tests.integration.scanner_util import make_message

MAILBOX_PASSWORD = "Mbx-e2e-91d3f0a7"
CRM_PASSWORD = "Crm-e2e-2c9e71b4"


def test_no_secret_in_any_file_of_the_stack_after_a_click_to_inbox(webmail_stack, page):
    from corpmail.autologin.tokens import _serializer
    from corpmail.scanner.engine import scan_account

    stack = webmail_stack
    user_id, email, _ = stack.add_user(password=CRM_PASSWORD)
    account_id, login, password = stack.add_mailbox(granted=(user_id,),
                                                    password=MAILBOX_PASSWORD)
    stack.dovecot.append(login, password, "INBOX", make_message(subject="Stack secrets"))
    with stack.app.app_context():
        assert scan_account(account_id).stored == 1

    stack.login_crm(page, email, CRM_PASSWORD)
    token = take_token(page, stack, account_id)
    with stack.app.app_context():
        token_nonce = _serializer().loads(token)["n"]
    post_token(page, stack, token)
    page.wait_for_selector(INBOX_ROWS)

    files = [p for p in stack.base.rglob("*") if p.is_file() and not p.is_symlink()]
    written = {p.relative_to(stack.base).as_posix() for p in files}
    assert "gunicorn.log" in written and "instance/corpmail.db" in written
    assert "webmail/roundcube.db" in written
    with sqlite3.connect(stack.base / "webmail" / "roundcube.db") as rc:  # its sessions live here
        assert rc.execute("SELECT count(*) FROM session").fetchone()[0] >= 1
    secrets = {"mailbox password": MAILBOX_PASSWORD, "CRM password": CRM_PASSWORD,
               "autologin token": token, "autologin token's nonce": token_nonce}
    found = [f"{what} in {path.relative_to(stack.base)}" for path in files
             for what, secret in secrets.items() if secret.encode() in path.read_bytes()]
    assert found == []

"""scanner/connect_ahead.py: a pass over several mailboxes logs in to the next one while it
scans the current one, against a real Dovecot: every mailbox scanned as before, a refused
login reported once, connections left unused closed, an old one not trusted."""

from __future__ import annotations

import threading

import pytest
from scanner_util import make_message

from corpmail.extensions import db
from corpmail.mail.imap import ImapSession
from corpmail.models import ScannerAccount, ScannerFolder
from corpmail.scanner import connect_ahead, lease
from corpmail.scanner.engine import accounts_to_scan, scan_all


@pytest.fixture
def mailboxes(app, mail_server, dovecot, scanner_account):
    """Four mailboxes on the same server, one message each; the first is scanner_account."""
    accounts = [scanner_account]
    for i in range(3):
        login, password = dovecot.add_user()
        account = ScannerAccount(name=f"box{i}", server=mail_server, login=login, status="Active",
                                 actions=["create-email"])
        account.password = password
        account.folders.append(ScannerFolder(name="INBOX", role="Received"))
        accounts.append(account)
    db.session.add_all(accounts)
    db.session.commit()
    for account in accounts:
        dovecot.append(account.login, account.password, "INBOX", make_message(account.name))
    return accounts


@pytest.fixture
def logins(monkeypatch):
    """Each login: (login, thread name, the session or the error), in order."""
    seen: list[tuple[str, str, object]] = []
    real = ImapSession.for_account.__func__

    def for_account(cls, account, *args, **kwargs):
        try:
            session = real(cls, account, *args, **kwargs)
        except Exception as exc:
            seen.append((account.login, threading.current_thread().name, exc))
            raise
        seen.append((account.login, threading.current_thread().name, session))
        return session

    monkeypatch.setattr(ImapSession, "for_account", classmethod(for_account))
    return seen


def test_the_next_mailbox_is_logged_in_to_ahead(mailboxes, logins):
    results = scan_all("cli")
    assert sorted((r.account, r.stored, r.error) for r in results) == sorted(
        (a.name, 1, None) for a in mailboxes)
    # one login each (in the order they ended): the first mailbox's in the scan's thread,
    # nothing came before it; every other one's ahead
    thread_of = {login: thread for login, thread, _session in logins}
    assert len(logins) == len(thread_of) == len(mailboxes)
    login_of = {a.name: a.login for a in mailboxes}
    ahead = [thread_of[login_of[r.account]].startswith("imap-ahead") for r in results]
    assert ahead == [False, True, True, True]
    assert all(session._client is None for _l, _t, session in logins)  # all closed


def test_a_refused_login_ahead_fails_that_mailbox_once(app, mailboxes, logins, monkeypatch):
    """Reported once, as the scan's own login would report it, in the scan's language."""
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "pl")
    wrong = accounts_to_scan()[2]  # a mailbox after the first: it is opened ahead
    wrong.password = "wrong"
    db.session.commit()
    results = {r.account: r for r in scan_all("cli")}
    assert "Odmowa logowania" in results[wrong.name].error  # "Login refused"
    assert results[wrong.name].connect_failed
    assert db.session.get(ScannerAccount, wrong.id).status == "Locked"
    assert [login for login, _t, _s in logins].count(wrong.login) == 1  # not tried again
    assert all(r.stored == 1 for name, r in results.items() if name != wrong.name)


def test_a_connection_opened_ahead_for_a_busy_mailbox_is_closed(mailboxes, logins):
    busy = accounts_to_scan()[2]  # a mailbox after the first: it is opened ahead
    assert lease.claim(busy.id, "someone-else")
    results = {r.account: r for r in scan_all("cli")}
    assert results[busy.name].busy
    (session,) = [s for login, _t, s in logins if login == busy.login]
    assert session._client is None
    assert all(s._client is None for _l, _t, s in logins)


def test_an_old_connection_opened_ahead_is_not_used(mailboxes, logins, monkeypatch):
    monkeypatch.setattr(connect_ahead, "MAX_AGE", 0.0)
    results = scan_all("cli")
    assert all(r.stored == 1 and r.error is None for r in results)
    # each mailbox after the first: one login ahead, closed unused, then the scan's own
    login_of = {a.name: a.login for a in mailboxes}
    for result in results[1:]:
        mine = [t for login, t, _s in logins if login == login_of[result.account]]
        assert [t.startswith("imap-ahead") for t in mine] == [True, False]
    assert all(s._client is None for _l, _t, s in logins)

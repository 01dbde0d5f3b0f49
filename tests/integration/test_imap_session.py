"""ImapSession against the real Dovecot of the session fixture (never a mock)."""

from __future__ import annotations

import socket
import threading
import time
from email.message import EmailMessage

import pytest

from corpmail.devstack.dovecot import free_port
from corpmail.mail import imap as imap_module
from corpmail.mail.errors import MailAuthError, MailConnectionError, MailProtocolError
from corpmail.mail.imap import Folder, FolderState, ImapSession


def make_raw(n: int, body: str = "Hello") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Zażółć Gęślą <sender@example.test>"
    msg["To"] = "box@example.test"
    msg["Subject"] = f"Message {n} — zażółć"
    msg["Message-ID"] = f"<msg-{n}-{time.time_ns()}@example.test>"
    msg.set_content(f"{body} {n}\nąęśćż\n")
    if n % 2:
        msg.add_attachment(bytes(range(256)) * 4, maintype="application",
                           subtype="octet-stream", filename="blob.bin")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def session(dovecot, mailbox):
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none", timeout=10) as s:
        s.login(*mailbox)
        yield s


def flags_of(dovecot, mailbox, folder="INBOX") -> dict[int, tuple]:
    client = dovecot.client(*mailbox)
    try:
        client.select_folder(folder, readonly=True)
        return {uid: tuple(f.decode() for f in flags)
                for uid, flags in client.get_flags(client.search("ALL")).items()}
    finally:
        client.logout()


def test_connect_and_login(dovecot, mailbox):
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as s:
        assert "IMAP4REV1" in s.capabilities
        assert s.tls_version is None
        s.login(*mailbox)
        assert all(c == c.upper() for c in s.capabilities)
        assert "IDLE" in s.capabilities and "UIDPLUS" in s.capabilities


def test_wrong_password_carries_server_text(dovecot, mailbox):
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as s:
        with pytest.raises(MailAuthError) as caught:
            s.login(mailbox[0], "wrong-password")
    assert "[AUTHENTICATIONFAILED] Authentication failed." in str(caught.value)
    # no failed-login penalty: the right password works at once
    start = time.monotonic()
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as s:
        s.login(*mailbox)
    assert time.monotonic() - start < 2


def test_non_ascii_password_logs_in(dovecot):
    login, password = dovecot.add_user(password="zażółć-gęślą-jaźń")
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as s:
        s.login(login, password)
        assert s.folder_state("INBOX").messages == 0
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as s:
        with pytest.raises(MailAuthError):
            s.login(login, "zażółć-wrong")


def test_list_folders_with_special_use(session):
    session.create_folder("Projects/Acme")
    session.create_folder("Zażółć")
    folders = {f.name: f for f in session.list_folders()}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Projects/Acme", "Zażółć"} <= set(folders)
    assert folders["Sent"].special_use == "\\Sent"
    assert folders["Junk"].special_use == "\\Junk"
    assert folders["INBOX"].special_use is None
    assert folders["Projects/Acme"].delimiter == "/"
    assert all(isinstance(f, Folder) for f in folders.values())
    assert folders["Projects/Acme"].selectable and folders["INBOX"].selectable
    if "Projects" in folders:  # an implied parent: listed, but not a mailbox
        assert not folders["Projects"].selectable, folders["Projects"].flags
    assert session.folder_state("Zażółć").messages == 0


def test_folder_state_without_select(session, dovecot, mailbox):
    for n in range(2):
        dovecot.append(*mailbox, "INBOX", make_raw(n))
    state = session.folder_state("INBOX")
    assert isinstance(state, FolderState)
    assert (state.messages, state.uidnext, state.unseen) == (2, 3, 2)
    assert state.uidvalidity > 0
    assert session.selected is None
    selected = session.select("INBOX")
    assert (selected.uidvalidity, selected.uidnext, selected.messages) == (
        state.uidvalidity, 3, 2)


def test_missing_folder_is_protocol_error(session):
    with pytest.raises(MailProtocolError):
        session.folder_state("No such folder")
    with pytest.raises(MailProtocolError):
        session.uids_above(0)  # nothing selected


def test_uids_above_filters_past_the_end(session, dovecot, mailbox):
    session.select("INBOX")
    assert session.uids_above(0) == []
    dovecot.append_many(*mailbox, "INBOX", [make_raw(n) for n in range(3)])
    session.noop()
    assert session.uids_above(0) == [1, 2, 3]
    assert session.uids_above(1) == [2, 3]
    # `UID SEARCH UID 4:*` answers 3 (the highest UID): it must not come back
    assert session.uids_above(3) == []
    assert session.uids_above(100) == []


def test_fetch_raw_is_byte_exact_in_uid_order_and_never_seen(session, dovecot, mailbox):
    raws = [make_raw(n) for n in range(5)]
    raws.append(b"Subject: bare\r\n\r\n8-bit \xe9\xff body without charset\r\n")
    uids = dovecot.append_many(*mailbox, "INBOX", raws)
    session.select("INBOX")
    got = list(session.fetch_raw(list(reversed(uids)) + [999], batch_size=2))
    assert [uid for uid, _ in got] == sorted(uids)  # vanished UID 999 skipped
    assert [raw for _, raw in got] == raws
    assert all("\\Seen" not in flags for flags in flags_of(dovecot, mailbox).values())
    assert session.folder_state("INBOX").unseen == len(raws)


def test_fetch_raw_equals_imapclient_for_the_corpus_and_the_damaged_corpus(session, dovecot, mailbox):
    """Our BODY.PEEK[] reader returns what imapclient's fetch returns, byte for byte, for the
    113 corpus messages and 226 damaged copies (8-bit, bare LF, broken MIME, huge lines)."""
    from test_create_email_properties import corpus_damage

    from tests.support.mail_strategies import CORPUS_FILES

    raws = [p.read_bytes() for p in CORPUS_FILES] + corpus_damage()
    uids = dovecot.append_many(*mailbox, "INBOX", raws)
    session.select("INBOX")
    ours = dict(session.fetch_raw(uids, batch_size=50))
    theirs = session._client.fetch(uids, [b"BODY.PEEK[]"])
    assert len(ours) == len(raws)
    assert all(ours[u] == bytes(theirs[u][b"BODY[]"]) for u in uids)


def test_fetch_raw_reads_past_other_clients_flag_changes_and_expunges(session, dovecot, mailbox):
    """Another client flags one message and expunges another while ours has the folder open:
    Dovecot tells us with unsolicited FETCH and EXPUNGE lines inside our FETCH's reply."""
    raws = [make_raw(n) for n in range(6)]
    uids = dovecot.append_many(*mailbox, "INBOX", raws)
    session.select("INBOX")
    other = dovecot.client(*mailbox)
    try:
        other.select_folder("INBOX")
        other.add_flags([uids[1]], ["\\Flagged"])
        other.delete_messages([uids[4]])
        other.expunge()
    finally:
        other.logout()
    got = dict(session.fetch_raw(uids))
    assert sorted(got) == [u for u in uids if u != uids[4]]
    assert [got[u] for u in sorted(got)] == [r for i, r in enumerate(raws) if i != 4]


def test_fetch_raw_refused_is_a_protocol_error_and_the_session_goes_on(session, dovecot, mailbox):
    uids = dovecot.append_many(*mailbox, "INBOX", [make_raw(0)])
    session.select("INBOX")
    with pytest.raises(MailProtocolError):
        list(session.fetch_raw([0]))  # UID 0 is a BAD request: the tagged reply says so
    assert not session.broken
    assert [u for u, _ in session.fetch_raw(uids)] == uids


def spy_on_body_fetches(monkeypatch) -> list[list[int]]:
    """The UID lists fetch_raw asks the server for, one per BODY.PEEK[] command."""
    calls: list[list[int]] = []
    real = imap_module.fetch_bodies
    monkeypatch.setattr(imap_module, "fetch_bodies",
                        lambda conn, chunk: calls.append(list(chunk)) or real(conn, chunk))
    return calls


def test_fetch_raw_is_lazy_one_batch_at_a_time(session, dovecot, mailbox, monkeypatch):
    uids = dovecot.append_many(*mailbox, "INBOX", [make_raw(n) for n in range(5)])
    session.select("INBOX")
    calls = spy_on_body_fetches(monkeypatch)
    stream = session.fetch_raw(uids, batch_size=2)
    next(stream)
    assert calls == [uids[:2]]
    list(stream)
    assert calls == [uids[:2], uids[2:4], uids[4:]]


def test_fetch_raw_bounds_a_batch_by_bytes(session, dovecot, mailbox, monkeypatch):
    sizes = [300_000, 300_000, 300_000, 2_000_000, 10_000, 10_000]
    raws = [b"Subject: big %d\r\n\r\n" % n + (b"x" * 78 + b"\r\n") * (size // 80)
            for n, size in enumerate(sizes)]
    uids = dovecot.append_many(*mailbox, "INBOX", raws)
    session.select("INBOX")
    bodies = spy_on_body_fetches(monkeypatch)
    got = list(session.fetch_raw(uids, batch_size=200, batch_bytes=1_000_000))
    assert [raw for _, raw in got] == raws
    # 3 x 300 KB fit in 1 MB; the 2 MB message comes alone; the small ones together
    assert bodies == [uids[:3], uids[3:4], uids[4:]]


def test_mark_seen_only_when_asked(session, dovecot, mailbox):
    uids = dovecot.append_many(*mailbox, "INBOX", [make_raw(n) for n in range(3)])
    session.select("INBOX")  # read-only (EXAMINE)
    list(session.fetch_raw(uids))
    assert session.folder_state("INBOX").unseen == 3
    session.mark_seen([uids[1]])
    flags = flags_of(dovecot, mailbox)
    assert "\\Seen" in flags[uids[1]]
    assert "\\Seen" not in flags[uids[0]] and "\\Seen" not in flags[uids[2]]
    session.mark_seen([])  # nothing to do, no error


def test_append_returns_uid_and_folders_come_and_go(session):
    session.create_folder("Scratch")
    before = session.folder_state("Scratch").uidvalidity
    assert session.append("Scratch", make_raw(1)) == 1
    assert session.append("Scratch", make_raw(2), flags=("\\Seen",)) == 2
    assert session.folder_state("Scratch").unseen == 1
    session.select("Scratch")
    session.delete_folder("Scratch")
    assert "Scratch" not in {f.name for f in session.list_folders()}
    session.create_folder("Scratch")
    assert session.folder_state("Scratch").uidvalidity != before


def test_unreachable_port_is_connection_error():
    port = free_port()
    with pytest.raises(MailConnectionError) as caught:
        ImapSession.connect("127.0.0.1", port, "none", timeout=3)
    assert "refused" in str(caught.value)


def test_unknown_host_is_connection_error():
    with pytest.raises(MailConnectionError):
        ImapSession.connect("no-such-host.invalid", 143, "none", timeout=3)


def test_silent_server_times_out():
    """A server that accepts the connection and never greets: bounded by the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    start = time.monotonic()
    try:
        with pytest.raises(MailConnectionError) as caught:
            ImapSession.connect("127.0.0.1", listener.getsockname()[1], "none", timeout=0.5)
    finally:
        listener.close()
        for conn, _ in accepted:
            conn.close()
    assert time.monotonic() - start < 5
    assert "timed out" in str(caught.value)


def test_implicit_tls_with_and_without_validation(dovecot, mailbox):
    with ImapSession.connect(dovecot.host, dovecot.imaps_port, "ssl",
                             validate_cert=False, timeout=10) as s:
        assert s.tls_version and s.tls_version.startswith("TLS")
        s.login(*mailbox)
        assert s.folder_state("INBOX").messages == 0
    # the devstack certificate is self-signed: validation must refuse it
    with pytest.raises(MailConnectionError) as caught:
        ImapSession.connect(dovecot.host, dovecot.imaps_port, "ssl", validate_cert=True)
    assert "certificate" in str(caught.value).lower()


def test_starttls(dovecot, mailbox):
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "starttls",
                             validate_cert=False) as s:
        assert s.tls_version and s.tls_version.startswith("TLS")
        s.login(*mailbox)


def test_tls_against_plain_port_is_connection_error(dovecot):
    with pytest.raises(MailConnectionError):
        ImapSession.connect(dovecot.host, dovecot.imap_port, "ssl", validate_cert=False,
                            timeout=3)


def test_close_never_raises_and_closed_session_refuses(dovecot, mailbox):
    s = ImapSession.connect(dovecot.host, dovecot.imap_port, "none")
    s.login(*mailbox)
    s.close()
    s.close()
    with pytest.raises(MailConnectionError):
        s.folder_state("INBOX")


def test_for_account(app, scanner_account, dovecot):
    with ImapSession.for_account(scanner_account) as s:
        assert s.user == scanner_account.login
        assert s.folder_state("INBOX").messages == 0
    scanner_account.password = "not-the-password"
    with pytest.raises(MailAuthError) as caught:
        ImapSession.for_account(scanner_account)
    assert "Authentication failed" in str(caught.value)


def test_server_restart_breaks_session_with_connection_error(dovecot, mailbox):
    """Last on purpose: restarting the shared Dovecot costs ~1 s."""
    s = ImapSession.connect(dovecot.host, dovecot.imap_port, "none")
    s.login(*mailbox)
    s.select("INBOX")
    dovecot.restart()
    try:
        with pytest.raises(MailConnectionError):
            s.uids_above(0)
    finally:
        s.close()
    with ImapSession.connect(dovecot.host, dovecot.imap_port, "none") as again:
        again.login(*mailbox)

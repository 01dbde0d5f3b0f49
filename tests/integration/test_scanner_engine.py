"""The scanner engine against real Dovecot/SMTP: corpus, dedupe across mailboxes, UIDVALIDITY,
retry/quarantine, locking and verification, notifications, budgets, stop."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from scanner_util import count, make_message
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.mail.imap import ImapSession
from corpmail.models import (
    Email,
    EmailSeen,
    MailConfiguration,
    MessageFailure,
    ScanEvent,
    ScannerAccount,
    ScannerFolder,
    ScanRun,
)
from corpmail.scanner.context import ScanContext
from corpmail.scanner.engine import scan_account, scan_all
from corpmail.scanner.registry import Action, register, unregister

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/imap_tools")


def scan(account, **kw):
    result = scan_account(account.id, "cli", **kw)
    db.session.expire_all()
    return result


def folder_row(account, name="INBOX") -> ScannerFolder:
    return db.session.scalar(
        select(ScannerFolder).where(ScannerFolder.account_id == account.id, ScannerFolder.name == name)
    )


def test_corpus_all_stored_or_skipped_and_second_scan_stores_nothing(dovecot, scanner_account, db_backend):
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) == 113
    MailConfiguration.get().max_messages_per_run = 1000
    db.session.commit()
    dovecot.append_many(scanner_account.login, scanner_account.password, "INBOX",
                        [f.read_bytes() for f in files])

    started = time.perf_counter()
    result = scan(scanner_account)
    elapsed = time.perf_counter() - started
    backend = "postgresql" if db_backend.startswith("postgresql") else "sqlite"
    print(f"\nCORPUS SCAN ({backend}): 113 messages in {elapsed:.2f} s "
          f"({113 / elapsed:.0f} msg/s): stored {result.stored}, duplicates {result.duplicates}, "
          f"skipped {result.skipped}, failed {result.failed}")

    assert result.error is None
    assert result.fetched == 113
    assert (result.failed, result.quarantined) == (0, 0)
    assert result.stored + result.duplicates + result.skipped == 113
    assert count(Email) == result.stored
    skipped = db.session.scalars(select(ScanEvent).where(ScanEvent.outcome == "skipped")).all()
    assert len(skipped) == result.skipped and all(e.reason for e in skipped)
    assert count(MessageFailure) == 0
    run = db.session.get(ScanRun, result.run_id)
    assert (run.status, run.fetched, run.stored) == ("OK", 113, result.stored)

    again = scan(scanner_account)
    assert (again.fetched, again.stored, again.error) == (0, 0, None)
    assert count(Email) == result.stored


def test_one_message_delivered_to_two_mailboxes_is_one_email(
        dovecot, smtp_relay, mail_server, scanner_account, admin_user):
    second_login, second_password = dovecot.add_user()
    second = ScannerAccount(name="second", server=mail_server, login=second_login,
                            status="Active", actions=list(scanner_account.actions), owner=admin_user)
    second.password = second_password
    second.folders.append(ScannerFolder(name="INBOX", role="Received"))
    db.session.add(second)
    db.session.commit()

    msg = EmailMessage()
    msg["Subject"] = "To both of you"
    msg["From"] = "jan@client.example"
    msg["To"] = scanner_account.login
    msg["Cc"] = second_login
    msg["Message-ID"] = "<Both.Of.You-1@client.example>"
    msg.set_content("Hi.")
    from corpmail.mail.smtp import send_message

    send_message(mail_server, msg)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # LMTP delivery is quick but asynchronous
        with ImapSession.for_account(second) as imap:
            if imap.folder_state("INBOX").messages:
                break
        time.sleep(0.05)

    results = scan_all("cli")
    db.session.expire_all()
    by_name = {r.account: r for r in results}
    assert by_name[scanner_account.name].stored + by_name["second"].stored == 1
    assert by_name[scanner_account.name].duplicates + by_name["second"].duplicates == 1
    (email,) = db.session.scalars(select(Email)).all()
    assert email.message_id == "Both.Of.You-1@client.example"  # case kept, no brackets
    assert sorted(s.account_id for s in email.seen) == sorted([scanner_account.id, second.id])
    assert count(EmailSeen) == 2


def test_uidvalidity_change_creates_no_duplicates(dovecot, scanner_account):
    scanner_account.folders.append(ScannerFolder(name="Archive", role="Received"))
    db.session.commit()
    raws = [make_message(f"archived {i}") for i in range(5)]
    dovecot.append_many(scanner_account.login, scanner_account.password, "Archive", raws)
    first = scan(scanner_account)
    assert first.stored == 5
    old = folder_row(scanner_account, "Archive").uidvalidity

    with ImapSession.for_account(scanner_account) as imap:
        imap.delete_folder("Archive")
    dovecot.append_many(scanner_account.login, scanner_account.password, "Archive",
                        raws + [make_message("archived new")])
    second = scan(scanner_account)
    assert second.error is None
    assert (second.fetched, second.stored, second.duplicates) == (6, 1, 5)
    assert count(Email) == 6
    folder = folder_row(scanner_account, "Archive")
    assert folder.uidvalidity != old and folder.watermark >= 6
    seen = db.session.scalars(select(EmailSeen).where(EmailSeen.folder == "Archive")).all()
    assert len(seen) == 6 and {s.uidvalidity for s in seen} == {folder.uidvalidity}


@pytest.fixture
def exploding_action():
    """A test-only action that raises on messages whose subject says so, while armed."""
    state = {"armed": True, "error": RuntimeError("kaboom for the test")}

    @register
    class Explode(Action):
        name = "explode-test"
        description = "raises on BOOM subjects"
        requires = ("create-email",)

        def run(self, ctx: ScanContext) -> None:
            if state["armed"] and "BOOM" in ctx.parsed.subject:
                raise state["error"]

    yield state
    unregister("explode-test")


def test_failing_message_is_retried_then_quarantined_and_retry_stores_it(
        dovecot, scanner_account, exploding_action, admin_user):
    from corpmail.scanner.runner import retry_quarantined

    scanner_account.actions = ["create-email", "explode-test", "bind-email"]
    db.session.commit()
    dovecot.append_many(scanner_account.login, scanner_account.password, "INBOX",
                        [make_message("fine 1"), make_message("BOOM here"), make_message("fine 2")])

    r1 = scan(scanner_account)
    assert (r1.fetched, r1.stored, r1.failed, r1.quarantined) == (3, 2, 1, 0)
    failure = db.session.scalar(select(MessageFailure))
    assert (failure.attempts, failure.quarantined, failure.subject) == (1, False, "BOOM here")
    assert "kaboom for the test" in failure.last_error
    assert folder_row(scanner_account).watermark == 3  # the folder went on past it
    assert count(Email) == 2  # its own e-mail row was rolled back

    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("fine 3"))
    r2 = scan(scanner_account)
    assert (r2.fetched, r2.stored, r2.failed) == (2, 1, 1)  # retried + the new one
    r3 = scan(scanner_account)
    assert (r3.fetched, r3.failed, r3.quarantined) == (1, 0, 1)
    failure = db.session.scalar(select(MessageFailure))
    assert failure.attempts == 3 and failure.quarantined and failure.raw
    events = db.session.scalars(select(ScanEvent).order_by(ScanEvent.id)).all()
    assert [e.outcome for e in events] == ["failed", "failed", "quarantined"]

    r4 = scan(scanner_account)  # quarantined: no longer retried automatically
    assert r4.fetched == 0
    assert count(Email) == 3

    assert retry_quarantined(failure.id, admin_user.id) == "failed"  # cause still there
    exploding_action["armed"] = False
    assert retry_quarantined(failure.id, admin_user.id) == "stored"
    db.session.expire_all()
    failure = db.session.get(MessageFailure, failure.id)
    assert failure.resolved_at is not None
    assert count(Email) == 4
    assert db.session.scalar(select(Email).where(Email.subject == "BOOM here")) is not None
    assert retry_quarantined(failure.id) == "resolved"


def test_retry_uses_kept_copy_when_message_is_gone(dovecot, scanner_account, exploding_action):
    from corpmail.scanner.runner import retry_quarantined

    scanner_account.actions = ["create-email", "explode-test"]
    db.session.commit()
    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("BOOM"))
    for _ in range(3):
        scan(scanner_account)
    failure = db.session.scalar(select(MessageFailure))
    assert failure.quarantined
    client = dovecot.client(scanner_account.login, scanner_account.password)
    client.select_folder("INBOX")
    client.delete_messages([failure.uid])
    client.expunge()
    client.logout()
    exploding_action["armed"] = False
    assert retry_quarantined(failure.id) == "stored"


def test_retry_meeting_a_database_fault_leaves_no_run_in_progress(
        dovecot, scanner_account, exploding_action):
    from sqlalchemy.exc import OperationalError

    from corpmail.scanner.runner import retry_quarantined

    scanner_account.actions = ["create-email", "explode-test"]
    db.session.commit()
    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("BOOM"))
    scan(scanner_account)
    failure = db.session.scalar(select(MessageFailure))
    exploding_action["error"] = OperationalError("UPDATE", {}, Exception("database is locked"))
    with pytest.raises(OperationalError):
        retry_quarantined(failure.id)
    db.session.expire_all()
    retry_run = db.session.scalars(select(ScanRun).order_by(ScanRun.id.desc())).first()
    assert retry_run.trigger == "admin" and retry_run.status == "Error"
    assert "database is locked" in retry_run.error
    assert db.session.get(MessageFailure, failure.id).resolved_at is None  # retried later


def test_wrong_password_locks_then_verification_unlocks(
        dovecot, smtp_relay, scanner_account):
    from corpmail.scanner.verify import verify_locked_accounts

    notify_login, notify_password = dovecot.add_user()
    cfg = MailConfiguration.get()
    cfg.notification_email = notify_login
    real_password = scanner_account.password
    scanner_account.password = "wrong-password"
    db.session.commit()

    result = scan(scanner_account)
    assert result.connect_failed and result.error
    account = db.session.get(ScannerAccount, scanner_account.id)
    assert account.status == "Locked" and account.locked_at is not None
    assert "Login refused" in account.last_error
    assert "AUTHENTICATIONFAILED" in account.last_error or "failed" in account.last_error.lower()
    run = db.session.get(ScanRun, result.run_id)
    assert run.status == "Error" and run.error == account.last_error

    # The admin got an e-mail, through the SMTP relay into a real mailbox.
    subjects = read_subjects(dovecot, notify_login, notify_password, "locked")
    assert any("locked" in s and account.name in s for s in subjects), subjects

    # Locked accounts are not scanned; verification keeps it locked while the login fails.
    assert scan_all("scheduler") == []  # only Active accounts are scanned
    assert [v.outcome for v in verify_locked_accounts()] == ["locked"]

    account.password = real_password
    db.session.commit()
    assert [v.outcome for v in verify_locked_accounts()] == ["unlocked"]
    db.session.expire_all()
    account = db.session.get(ScannerAccount, scanner_account.id)
    assert (account.status, account.last_error, account.locked_at) == ("Active", None, None)
    assert scan(account).error is None


def test_locked_too_long_becomes_inactive(dovecot, scanner_account):
    from datetime import timedelta

    from corpmail.models.base import utcnow
    from corpmail.scanner.verify import verify_locked_accounts

    scanner_account.password = "wrong"
    scanner_account.status = "Locked"
    scanner_account.locked_at = utcnow() - timedelta(hours=49)
    db.session.commit()
    assert [v.outcome for v in verify_locked_accounts()] == ["inactive"]
    db.session.expire_all()
    assert db.session.get(ScannerAccount, scanner_account.id).status == "Inactive"


def test_budget_per_run_and_idle_pass(dovecot, scanner_account):
    MailConfiguration.get().max_messages_per_run = 4
    db.session.commit()
    dovecot.append_many(scanner_account.login, scanner_account.password, "INBOX",
                        [make_message(f"m{i}") for i in range(10)])
    r1 = scan(scanner_account)
    assert (r1.fetched, r1.stored, r1.more) == (4, 4, True)
    r2 = scan(scanner_account)
    r3 = scan(scanner_account)
    assert (r2.stored, r3.stored, r3.more) == (4, 2, False)
    idle = scan(scanner_account)
    assert (idle.fetched, idle.more, idle.error) == (0, False, None)
    assert count(Email) == 10


def test_stop_requested_stops_between_messages(dovecot, scanner_account, admin_user):
    from corpmail.scanner import engine
    from corpmail.scanner.runner import request_stop

    dovecot.append_many(scanner_account.login, scanner_account.password, "INBOX",
                        [make_message(f"m{i}") for i in range(6)])
    calls = []

    def progress(result, folder, done, total):
        calls.append(done)
        if done == 2:
            assert request_stop(result.run_id, admin_user.id)
            engine_state["forced"] = True

    engine_state = {}
    old = engine.STOP_CHECK_SECONDS
    engine.STOP_CHECK_SECONDS = 0
    try:
        result = scan(scanner_account, progress=progress)
    finally:
        engine.STOP_CHECK_SECONDS = old
    assert result.status == "Stopped" and result.stored == 2
    run = db.session.get(ScanRun, result.run_id)
    assert (run.status, run.stopped_by_id, run.stored) == ("Stopped", admin_user.id, 2)
    assert scan(scanner_account).stored == 4  # the rest next time


def test_mark_seen_only_when_configured(dovecot, scanner_account):
    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("a"))
    scan(scanner_account)
    client = dovecot.client(scanner_account.login, scanner_account.password)
    client.select_folder("INBOX", readonly=True)
    assert client.search("UNSEEN") == [1]  # BODY.PEEK: still unread
    client.logout()
    MailConfiguration.get().mark_seen = True
    db.session.commit()
    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("b"))
    scan(scanner_account)
    client = dovecot.client(scanner_account.login, scanner_account.password)
    client.select_folder("INBOX", readonly=True)
    assert client.search("UNSEEN") == [1]
    client.logout()


def test_missing_folder_is_flagged_not_fatal(dovecot, scanner_account):
    scanner_account.folders.append(ScannerFolder(name="Gone", role="Received"))
    db.session.commit()
    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("a"))
    result = scan(scanner_account)
    assert result.error is None and result.stored == 1
    assert folder_row(scanner_account, "Gone").missing


def test_busy_mailbox_is_refused(dovecot, scanner_account):
    from corpmail.scanner import lease

    assert lease.claim(scanner_account.id, "someone-else")
    result = scan(scanner_account)
    assert result.busy and result.status == "Busy" and result.run_id is None
    lease.release(scanner_account.id, "someone-else")
    assert not scan(scanner_account).busy


class LeaseWatch(Action):
    """Records the mailbox's lease expiry as each message sees it; sleeps a little; on a
    "steal" subject writes another owner, as a scanner that claimed an expired lease would."""

    name = "lease-watch-test"
    description = "lease test"
    requires = ("create-email",)
    seen: list = []

    def run(self, ctx) -> None:
        from sqlalchemy import update

        account = ScannerAccount.__table__
        conn = db.session.connection()
        LeaseWatch.seen.append(conn.execute(select(account.c.lease_expires_at).where(
            account.c.id == ctx.account.id)).scalar())
        time.sleep(0.25)
        if "steal" in ctx.parsed.subject:
            conn.execute(update(account).where(account.c.id == ctx.account.id)
                         .values(lease_owner="another-scanner"))
            time.sleep(1.1)  # past a third of the lease: the next message renews it


@pytest.fixture
def lease_watch(app, scanner_account):
    app.config["SCAN_LEASE_SECONDS"] = 3
    register(LeaseWatch)
    LeaseWatch.seen = []
    scanner_account.actions = ["create-email", "lease-watch-test"]
    db.session.commit()
    yield LeaseWatch
    unregister(LeaseWatch.name)


def test_the_lease_is_renewed_as_the_scan_goes_not_for_every_message(
        dovecot, scanner_account, lease_watch):
    for n in range(8):  # 8 x 0.25 s: two or three renewals at 1 s intervals, not eight
        dovecot.append(scanner_account.login, scanner_account.password, "INBOX",
                       make_message(f"m{n}"))
    result = scan(scanner_account)
    assert result.error is None and result.stored == 8
    expiries = lease_watch.seen
    assert expiries == sorted(expiries) and 2 <= len(set(expiries)) <= 4


def test_a_scan_whose_lease_was_taken_over_stops_at_its_next_renewal(
        dovecot, scanner_account, lease_watch):
    subjects = ["a", "steal", "c", "d"]
    for subject in subjects:
        dovecot.append(scanner_account.login, scanner_account.password, "INBOX",
                       make_message(subject))
    result = scan(scanner_account)
    assert result.status == "Error" and "taken over" in result.error
    assert sorted(db.session.scalars(select(Email.subject))) == ["a", "steal"]
    assert folder_row(scanner_account).watermark == 2  # "c" is scanned again next time
    db.session.execute(ScannerAccount.__table__.update().values(lease_owner=None))
    db.session.commit()
    assert scan(scanner_account).stored == 2


def read_subjects(dovecot, login, password, wanted: str, timeout: float = 10) -> list[str]:
    """Subjects in a mailbox's INBOX, waiting until one contains `wanted`."""
    deadline = time.monotonic() + timeout
    subjects: list[str] = []
    while time.monotonic() < deadline:
        client = dovecot.client(login, password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        subjects = [v[b"ENVELOPE"].subject.decode() for v in client.fetch(uids, ["ENVELOPE"]).values()]
        client.logout()
        if any(wanted in s for s in subjects):
            break
        time.sleep(0.05)
    return subjects


def test_long_scan_alert_is_mailed_once(app, dovecot, smtp_relay, scanner_account):
    from datetime import timedelta

    from corpmail.models.base import utcnow
    from corpmail.scanner.scheduler import ScannerService

    login, password = dovecot.add_user()
    MailConfiguration.get().notification_email = login
    now = utcnow()
    run = ScanRun(account_id=scanner_account.id, account_name=scanner_account.name,
                  status="In progress", started_at=now - timedelta(minutes=45), heartbeat_at=now)
    db.session.add(run)
    db.session.commit()
    service = ScannerService(app)
    service.alert_long_scans()
    service.alert_long_scans()  # once per run
    subjects = read_subjects(dovecot, login, password, "running for")
    assert len([s for s in subjects if "running for 45 minutes" in s]) == 1, subjects


def test_background_scan_from_the_admin_runner(app, dovecot, scanner_account, admin_user):
    import threading

    from corpmail.scanner.runner import start_scan_in_background

    dovecot.append(scanner_account.login, scanner_account.password, "INBOX", make_message("bg"))
    app.config["SCAN_IN_THREAD"] = True
    assert start_scan_in_background(app, trigger="admin", user_id=admin_user.id)
    for thread in threading.enumerate():
        if thread.name == "corpmail-scan":
            thread.join(30)
    db.session.expire_all()
    run = db.session.scalar(select(ScanRun))
    assert (run.status, run.trigger, run.triggered_by_id, run.stored) == ("OK", "admin", admin_user.id, 1)

    # Refused while a (live) run is in progress.
    from corpmail.models.base import utcnow

    db.session.add(ScanRun(account_name="x", status="In progress", heartbeat_at=utcnow()))
    db.session.commit()
    assert start_scan_in_background(app, trigger="admin", user_id=admin_user.id) is False


class CountersWatch(Action):
    """Reads the run's counters from another connection while the scan runs (what the
    Logs page shows), a little slowly."""

    name = "counters-watch-test"
    description = "counters test"
    requires = ("create-email",)
    seen: list = []

    def run(self, ctx) -> None:
        with db.engine.connect() as other:
            CountersWatch.seen.append(other.execute(
                select(ScanRun.fetched, ScanRun.stored).where(ScanRun.account_id == ctx.account.id)
                .order_by(ScanRun.id.desc()).limit(1)).one())
        time.sleep(0.15)


def test_run_counters_are_written_as_the_scan_goes_and_exact_at_its_end(dovecot, scanner_account):
    register(CountersWatch)
    try:
        CountersWatch.seen = []
        scanner_account.actions = ["create-email", "counters-watch-test"]
        db.session.commit()
        for n in range(12):  # ~1.8 s: counters are written with the first message, then each second
            dovecot.append(scanner_account.login, scanner_account.password, "INBOX",
                           make_message(f"m{n}"))
        result = scan(scanner_account)
    finally:
        unregister(CountersWatch.name)
    assert result.error is None and result.stored == 12
    seen = CountersWatch.seen
    assert seen[0] == (0, 0)  # nothing committed yet when the first message is handled
    assert any(0 < fetched < 12 for fetched, _stored in seen)  # progress shown mid-scan
    assert [f for f, _s in seen] == sorted(f for f, _s in seen)
    run = db.session.get(ScanRun, result.run_id)
    assert (run.fetched, run.stored, run.status) == (12, 12, "OK")

"""The scanner engine: one mailbox under a DB lease, folder watermarks, one commit per message."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.attributes import set_committed_value

from corpmail.extensions import db
from corpmail.mail.errors import MailError, MailProtocolError
from corpmail.mail.message import ParsedMessage, message_key, parse_message
from corpmail.models import (
    Email,
    EmailSeen,
    MailConfiguration,
    MessageFailure,
    ScanEvent,
    ScannerAccount,
    ScannerFolder,
    ScanRun,
    User,
)
from corpmail.models.base import utcnow
from corpmail.models.prepared import Prepared, commit_driver
from corpmail.models.scans import MAX_ATTEMPTS
from corpmail.scanner import lease, parse_ahead, retry
from corpmail.scanner.connect_ahead import ConnectAhead, close_when_done
from corpmail.scanner.context import (
    AccountSnapshot,
    ConfigSnapshot,
    FolderInfo,
    ScanContext,
    SkipMessage,
)
from corpmail.scanner.filters import skip_reason
from corpmail.scanner.matching import RecordIndex, bindable_addresses, direction_of
from corpmail.scanner.registry import ACTIONS
from corpmail.storage import attachments_dir

log = logging.getLogger(__name__)

COUNTERS = ("fetched", "stored", "duplicates", "skipped", "failed", "quarantined")
OUTCOME_COUNTER = {
    "stored": "stored",
    "duplicate": "duplicates",
    "skipped": "skipped",
    "failed": "failed",
    "quarantined": "quarantined",
}
STOP_CHECK_SECONDS = 1.0  # how often a running scan reads ScanRun.stop_requested
COUNTERS_SECONDS = 1.0  # how often a running scan writes its counters to its run (log page)
MAX_KEY = 998  # Email.message_key column length

Progress = Callable[["ScanResult", str, int, int], None]


@dataclass
class ScanResult:
    """What one account's scan did; the `corpmail scan --json` row is `as_json()`."""

    account: str
    account_id: int
    run_id: int | None = None
    status: str = "In progress"  # OK | Error | Stopped | Busy | In progress
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    quarantined: int = 0
    duration_s: float = 0.0
    error: str | None = None
    connect_failed: bool = False  # login or connection refused (the account got locked)
    busy: bool = False  # another scanner holds the mailbox
    more: bool = False  # max messages per run reached: more is waiting on the server
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        out = {"account": self.account}
        out.update({name: getattr(self, name) for name in COUNTERS})
        out["duration_s"] = round(self.duration_s, 3)
        out["error"] = self.error
        return out

    def asdict(self) -> dict:
        return asdict(self)


def fit_key(key: str) -> str:
    """Message keys longer than the column become a digest (still stable and unique)."""
    if len(key) <= MAX_KEY:
        return key
    return "digest:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def internal_addresses(own_address: str | None) -> frozenset[str]:
    """CRM users' addresses (lower-case) and the mailbox's own."""
    rows = db.session.scalars(select(func.lower(User.email)))
    found = {r for r in rows if r}
    if own_address:
        found.add(own_address)
    return frozenset(found)


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    if not isinstance(exc, MailError):
        text = f"{exc.__class__.__name__}: {text}"
    return text[:2000]


class AccountScan:
    """One scan of one mailbox. Use `scan_account()`; `process()` is shared with retries."""

    def __init__(
        self,
        account: ScannerAccount,
        run: ScanRun,
        owner: str,
        result: ScanResult,
        progress: Progress | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.account = account
        self.run = run
        self.run_id = run.id
        self.owner = owner
        self.result = result
        self.progress = progress
        self.stop_event = stop_event
        self.config = ConfigSnapshot.from_model(MailConfiguration.get())
        self.snapshot = AccountSnapshot.from_model(account)
        self.internal = internal_addresses(self.snapshot.own_address)
        self.records = RecordIndex(self.snapshot.search_fields)
        self.actions = [ACTIONS[name]() for name in self.snapshot.actions if name in ACTIONS]
        unknown = [name for name in self.snapshot.actions if name not in ACTIONS]
        if unknown:
            log.warning("account %s: unknown actions ignored: %s", account.name, unknown)
        self.batch_size = int(current_app.config.get("FETCH_BATCH_SIZE", 200))
        self.batch_bytes = int(current_app.config.get("FETCH_BATCH_BYTES", 0)) or None
        self.parse_workers = int(current_app.config.get("PARSE_WORKERS", 0))
        # where a parser process may write attachments ahead (only when they are stored)
        self.attachments_to = (str(attachments_dir()) if "create-email" in self.snapshot.actions
                               else None)
        self.budget = max(0, self.config.max_messages_per_run)
        self.stopped = False
        self._last_stop_check = 0.0
        self._lease_due = 0.0  # monotonic time of the next lease renewal
        self._counters_due = 0.0  # monotonic time of the next counters write

    # ------------------------------------------------------------ folders
    def scan_folders(self, imap) -> None:
        failures = self._pending_failures()
        for folder in list(self.account.folders):
            if self.should_stop():
                return
            if self.budget <= 0:
                self.result.more = True
                return
            self.scan_folder(imap, folder, failures.get(folder.name, []))

    def _pending_failures(self) -> dict[str, list[MessageFailure]]:
        """Failed messages due for a retry (not quarantined, not resolved), by folder."""
        out: dict[str, list[MessageFailure]] = {}
        for failure in db.session.scalars(
            select(MessageFailure).where(
                MessageFailure.account_id == self.account.id,
                MessageFailure.quarantined.is_(False),
                MessageFailure.resolved_at.is_(None),
                # failed in an earlier run: this list is read again after a reconnect
                MessageFailure.last_failed_at < self.run.started_at,
            )
        ):
            out.setdefault(failure.folder, []).append(failure)
        return out

    def scan_folder(self, imap, folder: ScannerFolder, failures: list[MessageFailure]) -> None:
        # Idle check first: STATUS costs one round trip and lists/fetches nothing.
        try:
            state = imap.folder_state(folder.name)
        except MailProtocolError as exc:
            if not folder.missing:
                log.warning("account %s: folder %s is missing: %s", self.account.name, folder.name, exc)
            folder.missing = True
            db.session.commit()
            self.result.notes.append(_("Folder %(name)s is missing on the server.", name=folder.name))
            return
        if folder.missing:
            folder.missing = False
        due = [f for f in failures if f.uidvalidity == state.uidvalidity]
        if (
            folder.uidvalidity == state.uidvalidity
            and state.uidnext
            and state.uidnext - 1 <= folder.watermark
            and not due
        ):
            return  # nothing new; what did change (missing flag, last login) commits at the end
        state = imap.select(folder.name, readonly=True)
        if folder.uidvalidity != state.uidvalidity:
            if folder.uidvalidity is not None:
                # The server renumbered the folder: read it again from the start. Stored
                # messages are recognised by their key and only get their seen row updated.
                log.info(
                    "account %s: UIDVALIDITY of %s changed %s -> %s, rescanning",
                    self.account.name, folder.name, folder.uidvalidity, state.uidvalidity,
                )
                self.result.notes.append(
                    _("UIDVALIDITY of %(name)s changed: folder read again.", name=folder.name)
                )
                db.session.execute(
                    delete(MessageFailure).where(
                        MessageFailure.account_id == self.account.id,
                        MessageFailure.folder == folder.name,
                        MessageFailure.uidvalidity != state.uidvalidity,
                        MessageFailure.quarantined.is_(False),
                    )
                )
            folder.uidvalidity = state.uidvalidity
            folder.watermark = 0
            due = []
        db.session.commit()

        new_uids = imap.uids_above(folder.watermark)
        complete = len(new_uids) <= self.budget
        if not complete:
            new_uids = new_uids[: self.budget]
            self.result.more = True
        by_uid = {f.uid: f for f in due}
        uids = sorted(set(new_uids) | set(by_uid))
        if not uids:
            self._bump_watermark(folder, state.uidnext)
            return
        finfo = FolderInfo(name=folder.name, role=folder.role, uidvalidity=state.uidvalidity)
        seen_ok: list[int] = []
        returned: set[int] = set()
        fetched = imap.fetch_raw(uids, self.batch_size, self.batch_bytes)
        stream = parse_ahead.parsed(fetched, self.config.max_message_size, len(uids),
                                    self.parse_workers, on_chunk=self._prime_records,
                                    attachments_to=self.attachments_to)
        for done, (uid, raw, parsed) in enumerate(stream, start=1):
            returned.add(uid)
            outcome = self.process(folder, finfo, uid, raw, by_uid.get(uid), parsed=parsed)
            del raw, parsed  # besides the fetched batch, only the few parsed ahead are held
            if uid not in by_uid:
                self.budget -= 1
            if outcome in ("stored", "duplicate", "skipped"):
                seen_ok.append(uid)
            if self.progress is not None:
                self.progress(self.result, folder.name, done, len(uids))
            if self.should_stop():
                break
        vanished = [by_uid[u] for u in by_uid if u not in returned]
        if vanished and not self.stopped:
            # Gone from the server before we could retry them: nothing left to retry.
            for failure in vanished:
                db.session.delete(failure)
            db.session.commit()
        if self.config.mark_seen and seen_ok:
            imap.mark_seen(seen_ok)  # only after each message's data was committed
        if complete and not self.stopped:
            self._bump_watermark(folder, state.uidnext)

    def _prime_records(self, messages: list[ParsedMessage]) -> None:
        """Look the addresses of the next messages up in one query instead of one each."""
        if "bind-email" in self.snapshot.actions:
            self.records.load(bindable_addresses(
                (a for m in messages for a in m.all_addresses()), self.internal))

    def _bump_watermark(self, folder: ScannerFolder, uidnext: int) -> None:
        """Every UID below the SELECT's UIDNEXT was searched and handled (or expunged), so
        the next idle check can stop at STATUS even when the last messages were deleted."""
        if uidnext and uidnext - 1 > folder.watermark:
            lease.renew(self.account.id, self.owner)
            folder.watermark = uidnext - 1
            db.session.commit()

    # ------------------------------------------------------------ one message
    def process(
        self,
        folder: ScannerFolder,
        finfo: FolderInfo,
        uid: int,
        raw: bytes,
        failure: MessageFailure | None = None,
        parsed: ParsedMessage | None = None,
        _retried: bool = False,
    ) -> str:
        """Handle one message in one transaction; returns its outcome
        (stored | duplicate | skipped | failed | quarantined). ``parsed``: the message
        already parsed (scanner/parse_ahead.py), else it is parsed here."""
        try:
            if parsed is None:
                parsed = parse_message(raw, max_size=self.config.max_message_size)
            key = fit_key(message_key(parsed))
            sender = parsed.sender.email if parsed.sender else ""
            recipients = [a.email for group in (parsed.to, parsed.cc, parsed.bcc) for a in group]
            direction = direction_of(sender, recipients, self.internal, finfo.role)
            reason = skip_reason(parsed, direction, self.config, self.snapshot)

            conn = self._begin(folder, uid)
            existing_id = _key_lookup().scalar(conn, {"key": key})
            if existing_id is not None:
                self._record_seen(existing_id, finfo, uid)
                outcome = "duplicate"
            elif reason:
                self._event(finfo, uid, "skipped", parsed, reason)
                outcome = "skipped"
            else:
                ctx = ScanContext(
                    config=self.config,
                    account=self.snapshot,
                    folder=finfo,
                    uid=uid,
                    raw=raw,
                    parsed=parsed,
                    message_key=key,
                    direction=direction,
                    internal_addresses=self.internal,
                    records=self.records,
                    connection=conn,
                )
                try:
                    for action in self.actions:
                        action.run(ctx)
                except SkipMessage as skip:
                    self._rollback()
                    conn = self._begin(folder, uid)
                    self._event(finfo, uid, "skipped", parsed, skip.reason)
                    outcome = "skipped"
                else:
                    if ctx.email_id is not None:
                        outcome = "stored"
                    else:
                        self._event(finfo, uid, "skipped", parsed, _("No action stores mail."))
                        outcome = "skipped"
            if failure is not None:
                failure.resolved_at = utcnow()
            self._count(outcome)
            self._commit(conn)
            return outcome
        except lease.LeaseLost:
            self._rollback()
            raise
        except OperationalError:
            self._rollback()
            raise  # the database, not this message: the scan retries (scanner/retry.py)
        except IntegrityError as exc:
            self._rollback()
            if not _retried:
                # Another mailbox's scanner stored the same message at the same moment
                # (PostgreSQL): run it again, it is now a duplicate.
                return self.process(folder, finfo, uid, raw, failure, parsed, _retried=True)
            return self._fail(folder, finfo, uid, raw, parsed, failure, exc)
        except Exception as exc:  # noqa: BLE001 - one bad message never blocks the mailbox
            self._rollback()
            return self._fail(folder, finfo, uid, raw, parsed, failure, exc)

    def _record_seen(self, email_id: int, finfo: FolderInfo, uid: int) -> None:
        seen = db.session.scalar(
            select(EmailSeen).where(
                EmailSeen.email_id == email_id,
                EmailSeen.account_id == self.account.id,
                EmailSeen.folder == finfo.name,
            )
        )
        if seen is None:
            db.session.add(
                EmailSeen(
                    email_id=email_id,
                    account_id=self.account.id,
                    folder=finfo.name,
                    uid=uid,
                    uidvalidity=finfo.uidvalidity,
                )
            )
        elif seen.uidvalidity != finfo.uidvalidity:
            # The folder was renumbered (UIDVALIDITY changed): same message, new UID.
            seen.uid, seen.uidvalidity = uid, finfo.uidvalidity

    def _event(self, finfo: FolderInfo, uid: int, outcome: str, parsed, reason: str) -> None:
        from corpmail.scanner.email_row import clean

        db.session.add(
            ScanEvent(
                run_id=self.run_id,
                folder=finfo.name,
                uid=uid,
                outcome=outcome,
                subject=clean(parsed.subject if parsed is not None else "", 1000),
                sender=clean(parsed.sender.email if parsed is not None and parsed.sender else "", 254),
                reason=clean(reason, 4000),
            )
        )

    def _begin(self, folder: ScannerFolder, uid: int) -> Connection:
        """A message's first statements. The lease is renewed once a third of it has passed
        (SCAN_LEASE_SECONDS; a renewal rolled back is made again at the next message).
        Then the folder's watermark moves (a no-op for a retried UID below it): a write
        first takes SQLite's write lock up front, waiting politely, instead of failing to
        upgrade a read lock later. The watermark (like the counters, in _commit) is a
        Prepared UPDATE in the message's own transaction: cheaper than flushing ORM
        objects for every message.
        Returns the transaction's connection."""
        conn = db.session.connection()
        if time.monotonic() >= self._lease_due:
            lease.renew(self.account.id, self.owner)
            self._lease_due = time.monotonic() + lease.lease_seconds() / 3
        elif conn.dialect.name == "postgresql":
            lease.relax_commit(conn)
        if folder.uidvalidity is not None:
            _watermark_statement().execute(conn, {"folder": folder.id, "uid": uid})
            if uid > (folder.watermark or 0):
                # Keep the loaded object in step without making it dirty; a rollback
                # expires it.
                set_committed_value(folder, "watermark", uid)
        return conn

    def _commit(self, conn: Connection) -> None:
        """Commit the message's transaction on the connection itself. The ORM session's
        transaction, and its connection, stay open across messages: ending it for every
        message cost ~250 µs of pool check-in/check-out and bookkeeping, more than the
        commit (bench/run, issue 4). What the session holds (skips, failures, seen rows,
        tickets) is flushed into the message's transaction first; a rollback ends the
        session's transaction as usual. ``conn``: the transaction's connection (_begin)."""
        db.session.flush()
        write_counters = time.monotonic() >= self._counters_due
        if write_counters:
            _write_counters(conn, self.run_id, self.result)
        commit_driver(conn)
        if write_counters:
            self._counters_due = time.monotonic() + COUNTERS_SECONDS

    def _rollback(self) -> None:
        db.session.rollback()
        self._lease_due = 0.0  # a renewal in the rolled-back work did not happen
        self._counters_due = 0.0  # nor did a counters write

    def _count(self, outcome: str) -> None:
        """Counted here; written to the run with a message's commit once a second and at
        the run's end: the log shows a scan's progress as it goes."""
        counter = OUTCOME_COUNTER[outcome]
        self.result.fetched += 1
        setattr(self.result, counter, getattr(self.result, counter) + 1)

    def _fail(self, folder, finfo, uid, raw, parsed, failure, exc) -> str:
        """Record the failure in a fresh transaction: retried on later runs, quarantined
        (raw message kept) at MAX_ATTEMPTS."""
        from corpmail.scanner.email_row import clean

        error = _short_error(exc)
        log.warning(
            "account %s folder %s uid %s failed: %s", self.account.name, finfo.name, uid, error,
            exc_info=not isinstance(exc, MailError),
        )
        conn = self._begin(folder, uid)
        if failure is None:
            failure = db.session.scalar(
                select(MessageFailure).where(
                    MessageFailure.account_id == self.account.id,
                    MessageFailure.folder == finfo.name,
                    MessageFailure.uidvalidity == finfo.uidvalidity,
                    MessageFailure.uid == uid,
                )
            )
        if failure is None:
            failure = MessageFailure(
                account_id=self.account.id,
                folder=finfo.name,
                uidvalidity=finfo.uidvalidity,
                uid=uid,
                attempts=0,
            )
            db.session.add(failure)
        failure.attempts = (failure.attempts or 0) + 1
        failure.last_error = error
        failure.last_failed_at = utcnow()
        failure.resolved_at = None
        if parsed is not None:
            failure.subject = clean(parsed.subject, 1000)
        if failure.quarantined or failure.attempts >= MAX_ATTEMPTS:
            failure.quarantined = True
            failure.raw = raw
            outcome = "quarantined"
            reason = _("Quarantined after %(n)s failures: %(error)s", n=failure.attempts, error=error)
        else:
            outcome = "failed"
            reason = _("Attempt %(n)s failed: %(error)s", n=failure.attempts, error=error)
        self._event(finfo, uid, outcome, parsed, reason)
        self._count(outcome)
        self._commit(conn)
        return outcome

    # ------------------------------------------------------------ stopping
    def should_stop(self) -> bool:
        if self.stopped:
            return True
        if self.stop_event is not None and self.stop_event.is_set():
            self.stopped = True
            return True
        now = time.monotonic()
        if now - self._last_stop_check >= STOP_CHECK_SECONDS:
            self._last_stop_check = now
            if db.session.scalar(select(ScanRun.stop_requested).where(ScanRun.id == self.run.id)):
                self.stopped = True
        return self.stopped


def _write_counters(conn: Connection, run_id: int, result: ScanResult) -> None:
    """The run's counters and heartbeat, as the scan counted them, in the current
    transaction."""
    params = {name: getattr(result, name) for name in COUNTERS}
    _counters_statement().execute(conn, {**params, "run": run_id, "now": utcnow()})


@functools.cache
def _counters_statement() -> Prepared:
    table = ScanRun.__table__
    return Prepared(
        update(table)
        .where(table.c.id == bindparam("run"))
        .values({**{table.c[name]: bindparam(name) for name in COUNTERS},
                 table.c.heartbeat_at: bindparam("now", type_=table.c.heartbeat_at.type)})
    )


@functools.cache
def _watermark_statement() -> Prepared:
    table = ScannerFolder.__table__
    uid = bindparam("uid", type_=table.c.watermark.type)
    return Prepared(
        update(table)
        .where(table.c.id == bindparam("folder"), table.c.watermark < uid)
        .values({table.c.watermark: uid})
    )


@functools.cache
def _key_lookup() -> Prepared:
    return Prepared(select(Email.id).where(Email.message_key == bindparam("key")))


# ------------------------------------------------------------------ entry points


def scan_account(
    account_id: int,
    trigger: str = "cli",
    user_id: int | None = None,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    opening: Future | None = None,
) -> ScanResult:
    """Scan one mailbox now: lease, run row, folders, per-message commits. Never raises for
    mail or message problems; they end up in the result and on the run. ``opening``: a
    login to the mailbox already under way (scanner/connect_ahead.py); closed if unused."""
    session = db.session()
    keep = session.expire_on_commit
    # Per-message commits must not reload every object after each commit.
    session.expire_on_commit = False
    try:
        return _scan_account(account_id, trigger, user_id, progress, stop_event, opening)
    finally:
        session.expire_on_commit = keep
        if opening is not None:
            close_when_done(opening)  # a session the scan used is closed already


def _scan_account(account_id, trigger, user_id, progress, stop_event, opening) -> ScanResult:
    from corpmail.scanner import notify

    account = db.session.get(ScannerAccount, account_id)
    if account is None:
        raise ValueError(f"no scanner account {account_id}")
    result = ScanResult(account=account.name, account_id=account.id)
    started = time.monotonic()
    owner = lease.new_owner()
    # Lease, stale runs and the new run row in one transaction: an idle pass over many
    # mailboxes pays for few commits (SPEC 11, idle cost).
    if not lease.claim(account.id, owner, commit=False):
        db.session.rollback()
        result.status = "Busy"
        result.busy = True
        result.error = _("Busy: another scan is working on this mailbox.")
        return result
    run = None
    try:
        lease.close_stale_runs(account.id, commit=False)
        run = ScanRun(
            account_id=account.id,
            account_name=account.name,
            trigger=trigger,
            triggered_by_id=user_id,
            status="In progress",
            heartbeat_at=utcnow(),
        )
        db.session.add(run)
        db.session.flush()
        result.run_id = run.id
        scan = AccountScan(account, run, owner, result, progress, stop_event)
        db.session.commit()  # with MailConfiguration.get()'s row, if it made one
        backoff = retry.Backoff.from_config()
        imap = None
        try:
            imap = retry.connect(account, backoff, stop_event, opening)
            # A broken connection or a database fault mid-scan is retried, resuming from the
            # committed watermarks; a connection still failing after the retries locks.
            retry.scan_with_retries(scan, imap, backoff)
        except MailError as exc:
            if imap is not None and isinstance(exc, MailProtocolError):
                raise  # the server answered something unusable mid-scan: an error, no lock
            db.session.rollback()
            _lock(account, run, result, exc)
            db.session.commit()
            notify.account_locked(account.id, str(exc))
            return result
        if scan.stopped:
            run.status = "Stopped"
            if stop_event is not None and stop_event.is_set() and not run.error:
                run.error = _("The scanner was shut down.")
        else:
            run.status = "OK"
    except lease.LeaseLost as exc:
        db.session.rollback()
        _error(run, result, str(exc))
    except MailError as exc:
        db.session.rollback()
        _error(run, result, str(exc))
    except Exception as exc:  # a bug must still close the run
        log.exception("scan of account %s failed", result.account)
        db.session.rollback()
        _error(run, result, _short_error(exc))
    finally:
        result.duration_s = time.monotonic() - started
        if run is not None:
            if run.status == "In progress":
                run.status = "Error"
            run.finished_at = utcnow()
            run.heartbeat_at = run.finished_at
            result.status = run.status
            if run.error and not result.error:
                result.error = run.error
            _write_counters(db.session.connection(), run.id, result)
        lease.release(account.id, owner)  # commits the run's end with it
        if run is not None:
            db.session.expire(run)  # its counters moved by Core UPDATEs: reload when read
    return result


def _lock(account: ScannerAccount, run: ScanRun, result: ScanResult, exc: MailError) -> None:
    """A refused login or an unreachable server locks the account (SPEC 5)."""
    message = str(exc)
    if account.status != "Locked":
        account.locked_at = utcnow()
    account.status = "Locked"
    account.last_error = message
    run.status = "Error"
    run.error = message
    result.error = message
    result.connect_failed = True
    log.warning("account %s locked: %s", account.name, message)


def _error(run: ScanRun | None, result: ScanResult, message: str) -> None:
    result.error = message
    if run is not None:
        run.status = "Error"
        run.error = message


def accounts_to_scan(account_name: str | None = None, account_id: int | None = None):
    """Active accounts (or the one named), by name."""
    stmt = select(ScannerAccount).order_by(ScannerAccount.name)
    if account_id is not None:
        stmt = stmt.where(ScannerAccount.id == account_id)
    elif account_name is not None:
        stmt = stmt.where(ScannerAccount.name == account_name)
    else:
        stmt = stmt.where(ScannerAccount.status == "Active")
    return list(db.session.scalars(stmt))


def scan_all(
    trigger: str = "cli",
    account_name: str | None = None,
    progress: Progress | None = None,
    user_id: int | None = None,
    account_id: int | None = None,
    stop_event: threading.Event | None = None,
) -> list[ScanResult]:
    """One pass over the active accounts (or the one named / given). While one mailbox is
    scanned, the next one's connection is opened (scanner/connect_ahead.py)."""
    lease.close_stale_runs()
    results = []
    accounts = accounts_to_scan(account_name, account_id)
    ahead = ConnectAhead()
    try:
        for i, account in enumerate(accounts):
            if account.status != "Active":
                results.append(_not_active(account))
                continue
            if stop_event is not None and stop_event.is_set():
                break
            opening = ahead.take(account.id)
            following = next((a for a in accounts[i + 1:] if a.status == "Active"), None)
            if following is not None:
                ahead.open(following)
            results.append(scan_account(account.id, trigger, user_id, progress, stop_event,
                                        opening))
    finally:
        ahead.close()
    return results


def _not_active(account: ScannerAccount) -> ScanResult:
    return ScanResult(
        account=account.name,
        account_id=account.id,
        status="Error",
        connect_failed=True,
        error=_(
            "The account is %(status)s: %(error)s",
            status=account.status,
            error=account.last_error or "-",
        ),
    )


def totals(results: list[ScanResult]) -> dict:
    """The counters summed over accounts (`corpmail scan --json` "totals")."""
    out = {name: sum(getattr(r, name) for r in results) for name in COUNTERS}
    out["duration_s"] = round(sum(r.duration_s for r in results), 3)
    return out

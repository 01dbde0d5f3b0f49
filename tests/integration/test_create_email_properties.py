"""The whole Create e-mail path under bad input: random MIME trees through the scanner's own
per-message processing (parse, dedupe, actions, commit) into the database, and mutated and
truncated corpus messages through a real Dovecot and a real scan. Nothing fails, and what a
mail client would show is what is stored."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from scanner_util import count
from sqlalchemy import select

from corpmail.extensions import db
from corpmail.models import (
    Email,
    MailServer,
    MessageFailure,
    ScannerAccount,
    ScannerFolder,
    ScanRun,
)
from corpmail.models.base import utcnow
from corpmail.scanner import lease
from corpmail.scanner.context import FolderInfo
from corpmail.scanner.engine import AccountScan, ScanResult, scan_account
from corpmail.scanner.registry import ACTIONS
from corpmail.storage import read_attachment
from tests.support.mail_strategies import (
    CORPUS_FILES,
    Mail,
    header_end,
    leaf_bytes,
    mails,
    normalise_text,
    render,
)

_uids = itertools.count(1)


@pytest.fixture
def desk(app, admin_user):
    """A scan of mailbox "desk" in progress (lease held, run row open), every action on;
    its mail server is never contacted: messages are handed to the scan directly."""
    server = MailServer(name="Unused", imap_host="127.0.0.1", imap_port=9, smtp_host=None)
    account = ScannerAccount(name="desk", server=server, login="desk@corp.test",
                             actions=list(ACTIONS), owner=admin_user, status="Active")
    account.password = "unused"
    folder = ScannerFolder(name="INBOX", role="Received", uidvalidity=1)
    account.folders.append(folder)
    db.session.add(account)
    db.session.commit()
    owner = lease.new_owner()
    assert lease.claim(account.id, owner)
    run = ScanRun(account_id=account.id, account_name=account.name, trigger="cli",
                  status="In progress", heartbeat_at=utcnow())
    db.session.add(run)
    db.session.commit()
    scan = AccountScan(account, run, owner, ScanResult(account=account.name,
                                                      account_id=account.id, run_id=run.id))
    finfo = FolderInfo(name=folder.name, role=folder.role, uidvalidity=1)
    yield lambda raw: scan.process(folder, finfo, next(_uids), raw)
    lease.release(account.id, owner)


def assert_stored_as_shown(mail: Mail, email: Email) -> None:
    """The stored record shows what a client shows: subject, sender, date, text, files."""
    assert email.subject == mail.shown_subject
    assert email.from_address == mail.from_addr
    assert email.from_name == " ".join(mail.from_name.split())
    assert email.date == mail.date
    texts = [leaf for leaf in mail.leaves() if leaf.is_body and leaf.ctype == "text/plain"]
    if texts:
        assert normalise_text(texts[0].content) in email.text_body
    stored = {a.sha256 for a in email.attachments}
    for leaf in mail.leaves():
        if not leaf.is_body:
            assert hashlib.sha256(leaf_bytes(leaf)).hexdigest() in stored
    for att in email.attachments:
        assert len(read_attachment(att.sha256)) == att.size


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(mail=mails())
def test_random_mime_trees_are_stored_as_a_client_shows_them(desk, mail):
    # Unique per example: the database keeps the earlier examples' rows.
    mail.message_id = f"{next(_uids)}.{mail.message_id}"
    assert desk(render(mail)) == "stored"
    db.session.expire_all()
    email = db.session.scalar(select(Email).where(Email.message_id == mail.message_id))
    assert_stored_as_shown(mail, email)


def corpus_damage(seed: int = 5) -> list[bytes]:
    """Every corpus message cut after its headers, and again with bytes of its body
    flipped, inserted, deleted and repeated (no NUL: IMAP APPEND refuses it)."""
    rnd = random.Random(seed)
    out = []
    for path in CORPUS_FILES:
        raw = path.read_bytes()
        start = header_end(raw)
        out.append(raw[: rnd.randint(start, len(raw))])
        body = bytearray(raw)
        for _ in range(rnd.randint(1, 8)):
            if len(body) <= start:
                break
            pos = rnd.randrange(start, len(body))
            edit = rnd.choice("fidr")
            if edit == "f":
                body[pos] = rnd.randrange(1, 256)
            elif edit == "i":
                body[pos:pos] = bytes(rnd.randrange(1, 256) for _ in range(rnd.randint(1, 16)))
            elif edit == "d":
                del body[pos:pos + rnd.randint(1, 64)]
            else:
                body[pos:pos] = body[pos:pos + rnd.randint(1, 400)]
        out.append(bytes(body))
    return out


def test_damaged_corpus_through_dovecot_is_all_stored(dovecot, scanner_account):
    """226 damaged messages in a real mailbox, one real scan: none fails, each stored once
    (or recognised as a duplicate of its undamaged twin's Message-ID), none left behind."""
    raws = corpus_damage()
    dovecot.append_many(scanner_account.login, scanner_account.password, "INBOX", raws)
    result = scan_account(scanner_account.id, "cli")
    db.session.expire_all()
    assert result.error is None, result.error
    assert result.fetched == len(raws)
    assert (result.failed, result.quarantined) == (0, 0), [
        (f.uid, f.last_error) for f in db.session.scalars(select(MessageFailure))]
    assert result.stored + result.duplicates + result.skipped == len(raws)
    assert count(Email) == result.stored
    assert count(MessageFailure) == 0

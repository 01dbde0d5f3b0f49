"""Push mode for bench/run: SMTP acceptance -> committed e-mail row, with IDLE on every mailbox.

The parent delivers messages over SMTP (aiosmtpd -> Dovecot LMTP) at random moments to
random mailboxes; a child process runs only the scanner's PushService (no periodic scan),
so its RSS is the push watcher's and its rows can only come from push.
"""

from __future__ import annotations

import json
import random
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

RATE_PER_S = 5.0  # average arrival rate: the messages are spread over messages / rate seconds
READY_TIMEOUT_S = 120.0  # every mailbox idling within this, or the figure is null
DRAIN_TIMEOUT_S = 30.0  # after the last delivery, rows still missing then are counted lost


# ------------------------------------------------------------------ child process
def child(spec: dict) -> None:
    """Seed the CRM and the accounts, run PushService until stdin closes. Prints one JSON
    line when every mailbox idles and one with the connection count and RSS at the end."""
    from bench.suite import seed_crm
    from corpmail.app import create_app
    from corpmail.extensions import db
    from corpmail.models import MailServer, ScannerAccount, ScannerFolder
    from corpmail.scanner.parse_ahead import peak_rss_mb
    from corpmail.scanner.push import PushService

    app = create_app({"SQLALCHEMY_DATABASE_URI": spec["db_url"], "TESTING": False,
                      "PUSH_WORKERS": spec["workers"]}, instance_path=spec["instance"])
    with app.app_context():
        db.create_all()
        seed_crm(spec["seed"])
        server = MailServer(name="Bench Dovecot", imap_host=spec["host"], imap_port=spec["port"],
                            imap_security="none", imap_validate_cert=False)
        for i, (login, password) in enumerate(spec["mailboxes"]):
            row = ScannerAccount(name=f"push{i:03d}", server=server, login=login, status="Active",
                                 actions=["create-email", "bind-email"])
            row.password = password
            row.folders.append(ScannerFolder(name="INBOX", role="Received"))
            db.session.add(row)
        db.session.commit()
        db.session.remove()

    rss_before = current_rss_mb()  # the scanner process before any IDLE connection
    service = PushService(app).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while service.idle_connections < len(spec["mailboxes"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let the scans that follow each first IDLE finish
    print(json.dumps({"idle_connections": service.idle_connections}), flush=True)
    sys.stdin.read()  # the parent closes it when it has what it needs
    connections = service.idle_connections
    service.stop()
    print(json.dumps({"idle_connections": connections, "rss_mb_before": rss_before,
                      "rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb()}), flush=True)


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ parent side
def measure(dovecot, base: Path, mailboxes: int, messages: int, seed: int,
            workers: int = 4) -> dict:
    """Run the push measurement against `dovecot` (started). Returns the figures and notes."""
    from corpmail.devstack.smtp_relay import SmtpRelay

    boxes = [dovecot.add_user(f"push{i:03d}@{dovecot.domain}", f"pw-push-{i}")
             for i in range(mailboxes)]
    crm = corpus.make_crm(seed)
    rnd = random.Random(seed)
    window = messages / RATE_PER_S
    plan = sorted((rnd.uniform(0, window), rnd.randrange(mailboxes)) for _ in range(messages))
    outbox = [(at, boxes[box][0], next(corpus.messages(1, crm, seed + k, boxes[box][0],
                                                       prefix=f"push{k}-")))
              for k, (at, box) in enumerate(plan)]
    db_path = base / "push" / "corpmail.db"
    spec = {"host": dovecot.host, "port": dovecot.imap_port, "seed": seed, "mailboxes": boxes,
            "workers": workers, "db_url": f"sqlite:///{db_path}", "instance": str(base / "push")}
    relay = SmtpRelay(dovecot.host, dovecot.lmtp_port).start()
    proc = subprocess.Popen([sys.executable, "-m", "bench.push", "--child", json.dumps(spec)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    try:
        ready = _read_json(proc, stderr)
        accepted = _deliver(relay, outbox)
        seen = _wait_for_rows(db_path, accepted, time.monotonic() + DRAIN_TIMEOUT_S)
        proc.stdin.close()
        final = _read_json(proc, stderr)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        relay.stop()
    latencies = sorted(seen[mid] - accepted[mid] for mid in seen)
    lost = len(accepted) - len(seen)
    notes = [f"push: {mailboxes} mailboxes idling ({ready['idle_connections']} IDLE connections), "
             f"{messages} messages over SMTP at random moments in {window:.0f} s, "
             f"{workers} workers, SQLite"]
    if lost:
        notes.append(f"push: {lost} of {messages} messages not stored within "
                     f"{DRAIN_TIMEOUT_S:.0f} s of the last delivery")
    return {
        "push_p95_s": round(percentile(latencies, 95), 3) if latencies and not lost else None,
        "push_p50_s": round(percentile(latencies, 50), 3) if latencies and not lost else None,
        "push_idle_connections": ready["idle_connections"],
        "push_rss_mb": round(final["peak_rss_mb"], 1),
        "push": {"mailboxes": mailboxes, "messages": messages, "window_s": round(window, 1),
                 "workers": workers, "lost": lost,
                 "max_s": round(latencies[-1], 3) if latencies else None,
                 "rss_mb_before_push": round(final["rss_mb_before"], 1),
                 "rss_mb_at_end": round(final["rss_mb"], 1)},
        "notes": notes,
    }


def _read_json(proc: subprocess.Popen, stderr: list[str]) -> dict:
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise RuntimeError(f"push child failed ({proc.returncode}):\n{''.join(stderr)[-3000:]}")
    return json.loads(line)


def _deliver(relay, outbox) -> dict[str, float]:
    """Send each message at its moment; Message-ID (no brackets) -> wall time of the 250."""
    accepted: dict[str, float] = {}
    started = time.monotonic()
    for at, login, raw in outbox:
        pause = started + at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with smtplib.SMTP(relay.host, relay.port, timeout=30) as smtp:
            smtp.sendmail("sender@bench.corpmail.test", [login], raw)
        accepted[_message_id(raw)] = time.time()
    return accepted


def _message_id(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    line = next(h for h in head.split("\r\n") if h.lower().startswith("message-id:"))
    return line.split(":", 1)[1].strip().strip("<>")


def _wait_for_rows(db_path: Path, accepted: dict[str, float], deadline: float) -> dict[str, float]:
    """Message-ID -> wall time of the row's INSERT (Email.created_at, committed in the same
    per-message transaction), once every message is stored or the deadline passes."""
    seen: dict[str, float] = {}
    while len(seen) < len(accepted) and time.monotonic() < deadline:
        time.sleep(0.2)
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT message_id, created_at FROM emails").fetchall()
        finally:
            conn.close()
        for mid, created in rows:
            if mid in accepted:
                seen[mid] = datetime.fromisoformat(created).replace(tzinfo=UTC).timestamp()
    return seen


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))

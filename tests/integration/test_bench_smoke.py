"""bench/run in a tiny quick mode: the JSON has every key and sane values (no speed bars)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSITIVE = ("baseline_msgs_per_s", "scan_msgs_per_s", "scan_ratio", "idle_ms_per_mailbox",
            "idle_imap_ms_per_mailbox",
            "peak_rss_mb", "push_p95_s", "push_p50_s", "push_idle_connections", "push_rss_mb")
NULLABLE = ("scan_msgs_per_s_postgres", "autologin_ms")


def test_quick_bench_writes_sane_json(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [str(ROOT / "bench" / "run"), "--quick", "--messages", "300", "--mailboxes", "5",
         "--push-mailboxes", "3", "--push-messages", "6", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=55,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scan_ratio" in proc.stdout  # the table was printed
    results = json.loads(out.read_text())

    for key in POSITIVE:
        assert isinstance(results[key], (int, float)) and results[key] > 0, (key, results[key])
    for key in NULLABLE:
        assert key in results
        assert results[key] is None or results[key] > 0, (key, results[key])
    assert results["push_p50_s"] <= results["push_p95_s"] < 60
    assert results["push_idle_connections"] == 3 and results["push"]["lost"] == 0
    assert results["scan_ratio"] == round(
        results["scan_msgs_per_s"] / results["baseline_msgs_per_s"], 3)
    assert results["peak_rss_mb"] < 4096
    assert (results["messages"], results["mailboxes"]) == (300, 5)
    assert results["scan"]["stored"] == 300 and results["scan"]["failed"] == 0
    assert results["emails_stored"] == 300 + 4 * 5  # the big mailbox + the idle-pass ones
    assert results["email_links"] > 0  # binding found CRM contacts/accounts
    assert results["machine"]["cores"] >= 1 and results["date"] and results["command"]

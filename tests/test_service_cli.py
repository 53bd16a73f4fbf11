"""`progress-plugin check` and `serve` as a user runs them."""
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from progress_plugin.cli.main import main

from tests import e2e
from tests.conftest import SECRET
from tests.pg import free_port


def test_check_passes_against_a_real_fhir_server(tmp_path, medplum):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", medplum.base_url, SECRET)
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert "ok   clinic clinic-a: scheme standard-webhooks" in result.output
    assert "ok   host:" in result.output and "FHIR 4.0.1" in result.output


def test_check_fails_and_says_why(tmp_path):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", f"http://127.0.0.1:{free_port()}/fhir", SECRET)
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and "FAIL host: GET /fhir/metadata: ConnectionError" in result.output
    config.write_text(config.read_text().replace(SECRET, "whsec_c2hvcnQ="))
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and "FAIL config" in result.output and "24 or more are required" in result.output


def test_serve_runs_the_service_and_the_embedded_worker(tmp_path, medplum, signed):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", medplum.base_url, SECRET)
    config.write_text(config.read_text().replace("embedded = false", "embedded = true"))
    port = free_port()
    exe = Path(sys.executable).with_name("progress-plugin")
    proc = subprocess.Popen([str(exe), "--config", str(config), "serve", "--port", str(port)], cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        headers, body = signed("intake.submitted", {
            "client_id": "serve-1", "author": "t1", "at": "2026-01-05T10:00:00Z",
            "intake": {"goals": [{"words": "x", "whose": "client", "baseline": 2}], "review_cadence": "monthly",
                       "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True}})
        assert requests.post(base + "/webhooks/clinic-a", data=body, headers=headers, timeout=5).status_code == 202
        drained = e2e.wait_drained(f"sqlite:///{tmp_path}/p.db", timeout=30)
        assert drained["inbox"] == {"done": 1} and drained["outbox"] == {"done": 4}
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


# -- inbox list|retry|drop, and what check says about failed rows ----------------------------------
CANARY = "CANARY-inbox-words"


def fail_rows(store, *specs):
    """Failed inbox rows made the worker's way: put, claim, one failed attempt of a bound of one."""
    from datetime import datetime, timezone

    from progress_plugin.store import inbox
    now = datetime.now(timezone.utc)
    with store.begin() as c:
        for clinic, event_id in specs:
            inbox.put(c, clinic, event_id, "intake.submitted", {"goals": [{"words": CANARY}]}, now)
        for row in inbox.claim(c, "w", now, 30, 100):
            assert inbox.fail(c, row, "w", now, "UnicodeEncodeError", max_attempts=1) == inbox.FAILED


def test_inbox_lists_retries_and_drops_failed_rows(sqlite_store, sqlite_url):
    from progress_plugin.store import inbox
    fail_rows(sqlite_store, ("clinic-a", "evt-1"), ("clinic-a", "evt-2"), ("clinic-b", "evt-3"))
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, ["--store", sqlite_url, "inbox", *args])

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines() if "UnicodeEncodeError" in line]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("1", "clinic-a", "intake.submitted", "evt-1", "failed", "1"), ("2", "clinic-a", "intake.submitted", "evt-2",
                                                                        "failed", "1"),
        ("3", "clinic-b", "intake.submitted", "evt-3", "failed", "1")]
    assert "totals: failed=3" in listed.output and CANARY not in listed.output
    only_b = cli("list", "--clinic", "clinic-b")
    assert "evt-3" in only_b.output and "evt-1" not in only_b.output

    assert cli("retry").exit_code == 2                                  # needs ids or --all
    retried = cli("retry", "1")
    assert retried.exit_code == 0 and "requeued: 1" in retried.output
    again = cli("retry", "1")                                           # idempotent: row 1 is pending now
    assert again.exit_code == 0 and "requeued: 0" in again.output
    dropped = cli("drop", "1", "2", "3")                                # row 1 is not failed: kept
    assert dropped.exit_code == 0 and "dropped: 2" in dropped.output
    assert "no failed rows" in cli("list").output
    with sqlite_store.begin() as c:
        assert inbox.counts(c) == {"pending": 1}
        assert [(r["event_id"], r["attempts"]) for r in inbox.rows(c, None)] == [("evt-1", 0)]

    audit = [(r["clinic_id"], r["action"], r["subject"], r["outcome"]) for r in sqlite_store.audit_rows()]
    assert audit == [("clinic-a", "inbox.retry", "rows:1 count:1 types:intake.submitted", "ok"),
                     ("*", "inbox.retry", "rows:1 count:0", "none"),
                     ("clinic-a", "inbox.drop", "rows:2 count:1 types:intake.submitted", "ok"),
                     ("clinic-b", "inbox.drop", "rows:3 count:1 types:intake.submitted", "ok")]
    assert all(r["actor"] == "cli" and r["at"] is not None for r in sqlite_store.audit_rows())
    assert CANARY not in str(sqlite_store.audit_rows())


def test_inbox_retry_all_of_one_clinic(sqlite_store, sqlite_url):
    fail_rows(sqlite_store, ("clinic-a", "evt-1"), ("clinic-b", "evt-2"))
    result = CliRunner().invoke(main, ["--store", sqlite_url, "inbox", "retry", "--all", "--clinic", "clinic-b",
                                       "--actor", "ops"])
    assert result.exit_code == 0 and "requeued: 1" in result.output
    listed = CliRunner().invoke(main, ["--store", sqlite_url, "inbox", "list"])
    assert "evt-1" in listed.output and "evt-2" not in listed.output and "totals: failed=1 pending=1" in listed.output
    assert [(r["clinic_id"], r["actor"]) for r in sqlite_store.audit_rows()] == [("clinic-b", "ops")]


def test_check_warns_about_failed_and_dead_rows(tmp_path, medplum):
    from datetime import datetime, timezone

    from progress_plugin.store import outbox
    from progress_plugin.store import Store
    url = f"sqlite:///{tmp_path}/p.db"
    config = e2e.write_config(tmp_path, url, medplum.base_url, SECRET)
    clean = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert clean.exit_code == 0, clean.output
    assert "ok   inbox: none failed" in clean.output and "ok   outbox: none dead" in clean.output
    store = Store.open(url)
    fail_rows(store, ("clinic-a", "evt-1"))
    now = datetime.now(timezone.utc)
    with store.begin() as c:
        c.execute(outbox.t.outbox.insert().values(clinic_id="clinic-a", key="k", kind="upsert", payload={},
                                                  status="dead", attempts=1, next_attempt_at=now, created_at=now,
                                                  updated_at=now))
    store.close()
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 3, result.output                 # all passed, but rows wait for someone
    assert "WARN inbox: 1 failed (progress-plugin inbox list)" in result.output
    assert "WARN outbox: 1 dead (progress-plugin outbox list)" in result.output
    assert "ok   host:" in result.output and "FAIL" not in result.output

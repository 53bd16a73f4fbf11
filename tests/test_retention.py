"""Retention: prune and the worker's periodic prune keep the inbox and the outbox flat over
simulated months (a fake clock), on SQLite and PostgreSQL; dead letters and failed events stay;
audit rows stay until their own prune."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.service import worker as worker_mod
from progress_plugin.service.retention_settings import RetentionConfig
from progress_plugin.service.settings import ServiceConfig
from progress_plugin.service.worker import Worker
from progress_plugin.errors import HostAPIError
from progress_plugin.store import Store, inbox, outbox, partitions, retention
from progress_plugin.store import tables as t

from tests.processes import race

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
DAYS = 70
PER_DAY = 12            # events a day, and as many write-backs
POLICY = RetentionConfig(days=10, audit_days=30, batch=25, prune_every_minutes=24 * 60, partition_days=7,
                         partitions_ahead_days=14)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def counts(store) -> dict:
    with store.engine.connect() as c:
        found = {f"inbox:{k}": v for k, v in inbox.counts(c).items()}
        found.update({f"outbox:{k}": v for k, v in outbox.counts(c).items()})
        found["audit"] = c.execute(sa.select(sa.func.count()).select_from(t.audit_log)).scalar()
    return found


def test_prune_and_the_workers_periodic_prune_keep_the_tables_flat_over_simulated_months(store, monkeypatch):
    clock = Clock(START)
    cfg = ServiceConfig(store_url="", host_url="http://host.invalid/fhir", batch=50, inbox_max_attempts=1,
                        max_attempts=1, retention=POLICY)

    def apply(client, kind, payload):           # the host: takes every write but the poisoned ones
        if payload.get("poison"):
            raise HostAPIError("refused", status_code=422)
        return SimpleNamespace(action="updated")
    monkeypatch.setattr(worker_mod.writeback, "apply", apply)
    worker = Worker(store, cfg, clock=clock, client=object())
    store.ensure_clinic("clinic-a", START)
    history, dead, failed = [], 0, 0
    for day in range(DAYS):
        for hour in range(PER_DAY):
            clock.now = START + timedelta(days=day, hours=hour)
            poison = hour == 0 and day % 10 == 0       # a dead letter and a failed event every tenth day
            with store.begin() as c:
                # an event the core does not know is applied as nothing (done); a note without its fields fails
                inbox.put(c, "clinic-a", f"e{day}-{hour}", "note.saved" if poison else "test.tick", {}, clock.now)
                outbox.put(c, [("clinic-a", "c1", f"k{day}-{hour}", "goal", {"poison": poison})], clock.now)
            dead += poison
            failed += poison
            while worker.run_once():
                pass
            worker.upkeep.tick()                    # what the worker's loop calls after each round
        with store.begin() as c:
            store.audit(c, "clinic-a", "test", "probe.day", f"day:{day}", "ok", clock.now)
        history.append(counts(store))

    kept = (POLICY.days + POLICY.partition_days + 1) * PER_DAY      # rows younger than retention, plus a partition
    last = history[-1]
    assert last["inbox:done"] <= kept and last["outbox:done"] <= kept, last
    # flat: after the first retention window the done rows stop growing
    for day in range(POLICY.days + POLICY.partition_days + 1, DAYS):
        assert history[day]["inbox:done"] <= kept and history[day]["outbox:done"] <= kept, (day, history[day])
    assert last["inbox:done"] >= POLICY.days * PER_DAY - 1           # but not more than retention removes
    assert last["outbox:dead"] == dead and last["inbox:failed"] == failed      # dead letters are kept
    assert last["audit"] == history[0]["audit"] + DAYS - 1 and last["audit"] >= DAYS   # audit rows are kept
    worker.upkeep.flush()                            # what the loop does every 10 s and at stop
    figures = retention.figures(store.engine)
    assert figures["prune:runs"] == DAYS                              # once a simulated day
    assert figures["prune:rows:inbox"] == DAYS * PER_DAY - last["inbox:done"] - failed
    assert figures["claims:inbox"] >= DAYS * PER_DAY
    if store.dialect == "postgresql":
        with store.engine.connect() as c:
            found = partitions.parts(c, "inbox")
            outside = c.execute(sa.text("SELECT count(*) FROM inbox_default")).scalar()
        old = [p for p in found if p.hi <= START + timedelta(days=DAYS - POLICY.days)]
        # only the partitions a failed row holds are left of the old ones: the rest were dropped
        assert len(old) <= failed, [p.name for p in old]
        assert outside == 0
        assert any(p.hi > clock.now + timedelta(days=7) for p in found)       # made ahead by the worker

    # the audit log goes only by its own prune
    removed = retention.prune_audit(store.engine, clock.now, POLICY.audit_days, POLICY.batch)
    assert removed.rows["audit_log"] >= DAYS - POLICY.audit_days - 1
    assert counts(store)["audit"] <= POLICY.audit_days + 2 + history[0]["audit"]
    assert counts(store)["outbox:dead"] == dead


def test_the_worker_loop_prunes_on_its_schedule_and_a_failed_prune_does_not_stop_it(sqlite_store, monkeypatch):
    clock = Clock(START)
    cfg = ServiceConfig(store_url="", retention=replace(POLICY, prune_every_minutes=60))
    worker = Worker(sqlite_store, cfg, clock=clock)
    runs = []
    monkeypatch.setattr(worker_mod.Upkeep, "prune", lambda self, now: runs.append(now))
    worker.upkeep.tick()
    clock.now += timedelta(minutes=59)
    worker.upkeep.tick()
    clock.now += timedelta(minutes=1)
    worker.upkeep.tick()
    assert runs == [START, START + timedelta(minutes=60)]
    monkeypatch.undo()
    monkeypatch.setattr(retention, "prune", lambda *a, **k: 1 / 0)
    assert worker.upkeep.prune(clock.now) is None                     # logged, not raised


def test_sqlite_keeps_plain_tables_and_deletes_in_batches(sqlite_store, sqlite_url):
    old = START - timedelta(days=40)
    with sqlite_store.begin() as c:
        for i in range(120):
            inbox.put(c, "clinic-a", f"old{i}", "test.tick", {}, old)
        inbox.put(c, "clinic-a", "waiting", "test.tick", {}, old)
        inbox.put(c, "clinic-a", "new", "test.tick", {}, START)
        c.execute(t.inbox.update().where(t.inbox.c.event_id != "waiting").values(status="done"))
    deletes = []
    sa.event.listen(sqlite_store.engine, "before_cursor_execute",
                    lambda conn, cur, statement, *a: deletes.append(statement) if statement.startswith("DELETE") else None)
    dry = retention.prune(sqlite_store.engine, START, POLICY, dry_run=True)
    assert dry.rows["inbox"] == 120 and deletes == []
    done = retention.prune(sqlite_store.engine, START, POLICY)
    assert done.rows["inbox"] == 120 and done.dropped == []
    assert len([d for d in deletes if "inbox" in d]) == 5               # 120 rows in batches of 25
    with sqlite_store.engine.connect() as c:
        names = {r[0] for r in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        left = {r.event_id for r in c.execute(sa.select(t.inbox.c.event_id))}
        assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert not any(n.startswith(("inbox_p", "outbox_p")) for n in names)
    assert left == {"waiting", "new"}                                 # pending and young rows stay


def test_prune_commands(store_url, tmp_path):
    store = Store.open(store_url)
    now = datetime.now(timezone.utc)
    with store.begin() as c:
        inbox.put(c, "clinic-a", "old", "test.tick", {}, now - timedelta(days=90))
        c.execute(t.inbox.update().values(status="done"))
        store.audit(c, "clinic-a", "test", "probe", "x", "ok", now - timedelta(days=4000))
    store.close()
    config = tmp_path / "progress-plugin.toml"
    config.write_text("[retention]\ndays = 30\naudit_days = 3650\n")
    run = CliRunner().invoke
    dry = run(main, ["--store", store_url, "--config", str(config), "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "inbox: would remove 1 rows older than 30 days" in dry.output
    done = run(main, ["--store", store_url, "--config", str(config), "prune"])
    assert "inbox: removed 1 rows" in done.output, done.output
    assert "audit_log" not in done.output
    again = run(main, ["--store", store_url, "--config", str(config), "prune"])
    assert "inbox: removed 0 rows" in again.output
    audit = run(main, ["--store", store_url, "--config", str(config), "audit", "prune", "--dry-run"])
    assert "audit_log: would remove 1 rows older than 3650 days" in audit.output, audit.output
    audit = run(main, ["--store", store_url, "--config", str(config), "audit", "prune"])
    assert "audit_log: removed 1 rows" in audit.output
    config.write_text("[retention]\ndays = 0\n")
    bad = run(main, ["--store", store_url, "--config", str(config), "prune"])
    assert bad.exit_code == 1 and "retention.days" in bad.output


@pytest.mark.parametrize("raw, field", [({"days": 40, "audit_days": 30}, "audit_days"), ({"batch": 1}, "batch"),
                                        ({"weeks": 2}, "weeks")])
def test_retention_settings_name_the_field(raw, field):
    from progress_plugin.errors import ConfigError
    from progress_plugin.service.retention_settings import retention_config
    with pytest.raises(ConfigError, match=field):
        retention_config({"retention": raw})


def _prune(url: str, start) -> None:
    store = Store.open(url, migrate=False)
    start.wait(10)
    for _ in range(3):
        retention.prune(store.engine, START, POLICY)
    store.close()


def _receive(url: str, n: int, start) -> None:
    store = Store.open(url, migrate=False)
    start.wait(10)
    for i in range(n):
        with store.begin() as c:
            inbox.put(c, "clinic-a", f"new{i}", "test.tick", {}, START)
            outbox.put(c, [("clinic-a", "c1", f"new{i}", "upsert", {})], START)
    store.close()


def test_processes_pruning_while_others_write_remove_only_old_done_rows(store, store_url):
    old = START - timedelta(days=40)
    with store.begin() as c:
        for i in range(150):
            inbox.put(c, "clinic-a", f"old{i}", "test.tick", {}, old)
        outbox.put(c, [("clinic-a", "c1", f"old{i}", "upsert", {}) for i in range(150)], old)
        c.execute(t.inbox.update().where(t.inbox.c.event_id.like("old%")).values(status="done"))
        c.execute(t.outbox.update().where(t.outbox.c.key.like("old%")).values(status="done"))
        inbox.put(c, "clinic-a", "old-waiting", "test.tick", {}, old)
        outbox.put(c, [("clinic-a", "c1", "old-dead", "upsert", {})], old)
        c.execute(t.outbox.update().where(t.outbox.c.key == "old-dead").values(status="dead"))
    assert race([(_prune, (store_url,))] * 3 + [(_receive, (store_url, 60))]) == [0, 0, 0, 0]
    with store.engine.connect() as c:
        events = sorted(r[0] for r in c.execute(sa.select(t.inbox.c.event_id)))
        keys = sorted(r[0] for r in c.execute(sa.select(t.outbox.c.key)))
        assert events == sorted(["old-waiting"] + [f"new{i}" for i in range(60)])
        assert keys == sorted(["old-dead"] + [f"new{i}" for i in range(60)])
        if store.engine.dialect.name == "sqlite":
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    with store.engine.connect() as c:
        runs = retention.figures(store.engine)["prune:runs"]
    assert runs == 9

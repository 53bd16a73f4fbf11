"""PostgreSQL: the inbox and the outbox partitioned by time (migration 0011r).

An existing store upgrades in place with its rows; deduplication of event ids and outbox keys
holds across a partition boundary, for as long as a row is kept, and under concurrent inserts
from several processes; a partition made late takes its rows out of the default partition.
"""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from progress_plugin.store import Store, inbox, outbox, partitions
from progress_plugin.store import tables as t
from progress_plugin.store.engine import make_engine
from progress_plugin.store.migrate import upgrade

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)     # a Monday: a partition boundary
BOUNDARY = partitions.align(NOW, 7)


def downgrade(engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", "progress_plugin.store:migrations")
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, revision)


def relkind(engine, name: str) -> str | None:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name}).scalar()


def test_an_existing_store_upgrades_in_place_with_its_rows(pg_url):
    engine = make_engine(pg_url)
    upgrade(engine, "0010s")
    assert relkind(engine, "inbox") == "r"
    with engine.begin() as c:
        for i in range(60):
            inbox.put(c, "clinic-a", f"e{i}", "note.saved", {"n": i}, NOW - timedelta(days=i))
        outbox.put(c, [("clinic-a", f"c{i}", f"k{i}", "goal", {"n": i}) for i in range(30)], NOW - timedelta(days=45))
        outbox.put(c, [("clinic-a", "c1", "smart-1", "goal", {})], NOW, target="smart:ehr-1")
        c.execute(t.inbox.update().where(t.inbox.c.id <= 20).values(status="done", payload={}))
        c.execute(t.inbox.update().where(t.inbox.c.id == 21).values(status="failed", error="ValidationError"))
        c.execute(t.counters.insert().values(clinic_id="*", name="n", value=5, updated_at=NOW))
        before = {name: [tuple(r) for r in c.execute(sa.select(table).order_by(table.c.id))]
                  for name, table in (("inbox", t.inbox), ("outbox", t.outbox))}
    upgrade(engine, "head")
    assert relkind(engine, "inbox") == "p" and relkind(engine, "outbox") == "p"
    with engine.begin() as c:
        after = {name: [tuple(r) for r in c.execute(sa.select(table).order_by(table.c.id))]
                 for name, table in (("inbox", t.inbox), ("outbox", t.outbox))}
        assert after == before                                    # every row, id and value kept
        assert c.exec_driver_sql("SELECT count(*) FROM inbox_default").scalar() == 0
        found = partitions.parts(c, "inbox")
        assert found[0].lo <= NOW - timedelta(days=59) and found[-1].hi >= datetime.now(timezone.utc) + timedelta(days=27)
        types = dict(c.exec_driver_sql("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                                       "WHERE column_name IN ('id', 'value') AND table_name IN ('inbox', 'outbox', 'counters')").all())
        assert types == {"inbox.id": "bigint", "outbox.id": "bigint", "counters.value": "bigint"}
        # the old keys still deduplicate, and the sequences go on
        assert not inbox.put(c, "clinic-a", "e59", "note.saved", {}, NOW)
        assert outbox.put(c, [("clinic-a", "c1", "k3", "goal", {}), ("clinic-a", "c1", "k-new", "goal", {})], NOW) == 1
        assert inbox.put(c, "clinic-a", "e-new", "note.saved", {}, NOW)
        assert c.execute(sa.select(sa.func.max(t.inbox.c.id))).scalar() == 61
        assert outbox.claim(c, "w", NOW, 60, 100, target="smart:ehr-1")[0]["key"] == "smart-1"
    Store.open(pg_url).close()                                    # at head: nothing more to do
    downgrade(engine, "0010s")                                    # and back, rows kept
    assert relkind(engine, "inbox") == "r"
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.inbox)).scalar() == 61
    engine.dispose()


def test_dedup_holds_across_a_partition_boundary_for_as_long_as_the_row_is_kept(pg_url):
    store = Store.open(pg_url)
    with store.begin() as c:
        partitions.ensure(c, "inbox", BOUNDARY - timedelta(days=30), BOUNDARY + timedelta(days=30), 7)
        partitions.ensure(c, "outbox", BOUNDARY - timedelta(days=30), BOUNDARY + timedelta(days=30), 7)
    before, after = BOUNDARY - timedelta(seconds=1), BOUNDARY + timedelta(seconds=1)
    with store.begin() as c:
        assert inbox.put(c, "clinic-a", "ev-1", "note.saved", {}, before)
        assert outbox.put(c, [("clinic-a", "c1", "key-1", "goal", {})], before) == 1
    for when in (after, BOUNDARY + timedelta(days=20)):
        with store.begin() as c:
            assert not inbox.put(c, "clinic-a", "ev-1", "note.saved", {}, when)
            assert outbox.put(c, [("clinic-a", "c1", "key-1", "goal", {})], when) == 0
            assert inbox.put(c, "clinic-b", "ev-1", "note.saved", {}, when) == (when == after)   # per clinic
    with store.engine.connect() as c:
        homes = c.exec_driver_sql("SELECT tableoid::regclass::text, clinic_id FROM inbox ORDER BY id").all()
    assert homes == [(f"inbox_p{partitions.align(before, 7):%Y%m%d}", "clinic-a"),
                     (f"inbox_p{BOUNDARY:%Y%m%d}", "clinic-b")]
    store.close()


RACER = r'''
import sys, time
from datetime import datetime, timedelta, timezone
from progress_plugin.store import Store, inbox, outbox
store = Store.open(sys.argv[1])
me, start = int(sys.argv[2]), float(sys.argv[3])
boundary = datetime.fromisoformat(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
new_events = new_keys = 0
for i in range(150):
    # each process writes every key; half of them land each side of the boundary
    when = boundary + timedelta(milliseconds=(1 if (i + me) % 2 else -1) * (1 + i))
    with store.begin() as c:
        new_events += inbox.put(c, "clinic-a", f"race-{i}", "note.saved", {"by": me}, when)
        new_keys += outbox.put(c, [("clinic-a", "c1", f"key-{i}", "goal", {}), ("clinic-a", "c1", f"key-{149 - i}", "goal", {})], when)
print(new_events, new_keys)
'''


def test_dedup_holds_under_concurrent_inserts_from_several_processes(pg_url):
    Store.open(pg_url).close()
    with Store.open(pg_url).begin() as c:
        partitions.ensure(c, "inbox", BOUNDARY - timedelta(days=7), BOUNDARY + timedelta(days=7), 7)
        partitions.ensure(c, "outbox", BOUNDARY - timedelta(days=7), BOUNDARY + timedelta(days=7), 7)
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", RACER, pg_url, str(n), str(start), BOUNDARY.isoformat()],
                              stdout=subprocess.PIPE, text=True) for n in range(4)]
    results = [p.communicate(timeout=240)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert sum(int(r[0]) for r in results) == 150 and sum(int(r[1]) for r in results) == 150
    engine = make_engine(pg_url)
    with engine.connect() as c:
        per_event = c.exec_driver_sql("SELECT event_id, count(*) FROM inbox GROUP BY 1 HAVING count(*) > 1").all()
        per_key = c.exec_driver_sql("SELECT key, count(*) FROM outbox GROUP BY 1 HAVING count(*) > 1").all()
        sides = c.exec_driver_sql("SELECT count(DISTINCT tableoid) FROM inbox").scalar()
        total = c.exec_driver_sql("SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM outbox)").first()
    engine.dispose()
    assert per_event == [] and per_key == [] and tuple(total) == (150, 150)
    assert sides == 2                                   # both partitions got rows: the race crossed the boundary


def test_a_partition_made_late_takes_its_rows_out_of_the_default_partition(pg_url):
    store = Store.open(pg_url)
    far = datetime(2031, 6, 4, tzinfo=timezone.utc)
    with store.begin() as c:
        assert inbox.put(c, "clinic-a", "far-1", "note.saved", {}, far)         # no partition yet: the default
        assert c.exec_driver_sql("SELECT count(*) FROM inbox_default").scalar() == 1
        made = partitions.ensure(c, "inbox", far, far + timedelta(days=1), 7)
        assert made == [f"inbox_p{partitions.align(far, 7):%Y%m%d}"]
        assert c.exec_driver_sql("SELECT count(*) FROM inbox_default").scalar() == 0
        assert c.exec_driver_sql(f"SELECT count(*) FROM {made[0]}").scalar() == 1
        assert not inbox.put(c, "clinic-a", "far-1", "note.saved", {}, far)
    store.close()


def test_missing_ranges_keep_partitions_made_with_another_width():
    monday = partitions.align(NOW, 7)
    existing = [partitions.Part("inbox_p1", monday, monday + timedelta(days=3))]
    assert partitions.missing(existing, monday, monday + timedelta(days=14), 7) == [
        (monday + timedelta(days=3), monday + timedelta(days=7)), (monday + timedelta(days=7), monday + timedelta(days=14))]
    assert monday.weekday() == 0


@pytest.mark.parametrize("table", ["inbox", "outbox"])
def test_an_old_partition_holding_a_row_to_keep_is_not_dropped(pg_url, table):
    store = Store.open(pg_url)
    old = NOW - timedelta(days=60)
    with store.begin() as c:
        partitions.ensure(c, table, old, NOW, 7)
        if table == "inbox":
            for i in range(3):
                inbox.put(c, "clinic-a", f"e{i}", "note.saved", {}, old)
            c.execute(t.inbox.update().where(t.inbox.c.event_id != "e0").values(status="done"))
            c.execute(t.inbox.update().where(t.inbox.c.event_id == "e0").values(status="failed"))
        else:
            outbox.put(c, [("clinic-a", "c1", f"k{i}", "goal", {}) for i in range(3)], old)
            c.execute(t.outbox.update().where(t.outbox.c.key != "k0").values(status="done"))
            c.execute(t.outbox.update().where(t.outbox.c.key == "k0").values(status="dead"))
    dropped, held = partitions.drop_old(store.engine, table, NOW - timedelta(days=30), 1000)
    assert held == [f"{table}_p{partitions.align(old, 7):%Y%m%d}"] and held[0] not in [d.name for d in dropped]
    assert len(dropped) >= 3                            # the empty weeks between went
    store.close()

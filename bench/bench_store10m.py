"""A PostgreSQL store with 10,000,000 done events against the same store empty, then a prune.

    .venv/bin/python bench/bench_store10m.py [--rows 10000000] [--days 60] [--rounds 5]
    bench/run --soak            # the same, as part of bench/run (never in its default run)

One throwaway PostgreSQL cluster (tests/pg.py) holds two databases migrated alike: ``empty`` and
``full``. ``full`` is filled in SQL (``generate_series``, a million rows per statement) with
``--rows`` done inbox rows spread evenly over ``--days`` days, each with its matching done outbox
row, 100 clinics, then vacuumed and analysed (as autovacuum would). Then, in alternating
rounds (bench/common.py), the same work runs on both:

- **ingest**: new events stored one per transaction through ``inbox.put``, as the webhook
  receiver stores them (the key's lock, the look-up in every partition, the insert);
- **claim**: the worker's claim (``inbox.claim`` and ``outbox.claim``, 20 rows, ``FOR UPDATE
  SKIP LOCKED``) over pending rows queued for the round; each claim timed alone, p50 and p99;
- **dedup insert**: ``inbox.put`` of an event id already stored (the answer to a redelivery):
  on ``full`` ids drawn from the whole 60 days, on ``empty`` ids stored in earlier rounds;
  each timed alone, p50 and p99.

Ingest is the median of the per-round throughput ratios; claims and dedup compare the p50 and
p99 of every call of all rounds, full / empty. Then ``prune`` runs on
``full`` with 30 days' retention while a writer keeps storing events: rows removed, time taken,
the longest ACCESS EXCLUSIVE lock on the inbox or the outbox (the prune's own timing of its drop
transactions, and ``pg_locks`` sampled every 2 ms), the writer's slowest insert meanwhile, and
the disk space of both tables (``pg_total_relation_size`` of every partition) before and after.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import alternate  # noqa: E402
from progress_plugin.service.retention_settings import RetentionConfig  # noqa: E402
from progress_plugin.store import Store, inbox, outbox, partitions, retention  # noqa: E402
from tests import pg  # noqa: E402

TARGET = 1.2
CLINICS = 100
CHUNK = 1_000_000


def fill(engine, rows: int, days: int, now: datetime) -> float:
    """``rows`` done inbox rows and their done outbox rows over ``days`` days before ``now``, in SQL."""
    start = now - timedelta(days=days)
    step = days * 86400.0 / rows
    with engine.begin() as c:
        partitions.ensure(c, "inbox", start, now, 7)
        partitions.ensure(c, "outbox", start, now, 7)
    began = time.monotonic()
    for lo in range(1, rows + 1, CHUNK):
        hi = min(lo + CHUNK - 1, rows)
        args = {"lo": lo, "hi": hi, "start": start, "step": step, "n": CLINICS}
        with engine.begin() as c:
            c.execute(sa.text(
                "INSERT INTO inbox (clinic_id, event_id, event_type, payload, received_at, status, attempts, claims, "
                "processed_at) SELECT 'clinic-' || (g % :n), 'evt-' || g, 'note.saved', '{}', "
                ":start + g * :step * interval '1 second', 'done', 0, 0, :start + (g * :step + 2) * interval '1 second' "
                "FROM generate_series(CAST(:lo AS bigint), :hi) AS g"), args)
            c.execute(sa.text(
                "INSERT INTO outbox (clinic_id, key, client_id, kind, payload, status, attempts, claims, "
                "next_attempt_at, created_at, updated_at) SELECT 'clinic-' || (g % :n), "
                "'tag:clinic-' || (g % :n) || '\:note-' || g, 'client-' || (g % 50000), 'note-tags', '{}', 'done', 1, 0, "
                ":start + (g * :step + 2) * interval '1 second', :start + (g * :step + 2) * interval '1 second', "
                ":start + (g * :step + 3) * interval '1 second' FROM generate_series(CAST(:lo AS bigint), :hi) AS g"), args)
        print(f"  filled {hi:,} / {rows:,} ({time.monotonic() - began:.0f} s)", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE inbox")
        c.exec_driver_sql("VACUUM ANALYZE outbox")
    return time.monotonic() - began


def disk(engine) -> int:
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT sum(pg_total_relation_size(relid)) FROM (SELECT relid FROM pg_partition_tree('inbox') "
            "UNION ALL SELECT relid FROM pg_partition_tree('outbox')) AS p")).scalar()


class Bench:
    def __init__(self, name: str, store: Store):
        self.name, self.store = name, store
        self.stored: list[str] = []         # event ids this bench stored (dedup targets on the empty store)
        self.n = 0

    def ingest(self, events: int, now: datetime) -> float:
        began = time.perf_counter()
        for _ in range(events):
            self.n += 1
            event_id = f"{self.name}-new-{self.n}"
            with self.store.begin() as c:
                assert inbox.put(c, f"clinic-{self.n % CLINICS}", event_id, "note.saved",
                                 {"note_id": f"n{self.n}", "client_id": "c1", "tags": []}, now)
            self.stored.append(event_id)
        return events / (time.perf_counter() - began)

    def queue_pending(self, rows: int, now: datetime) -> None:
        with self.store.begin() as c:
            base = self.n
            c.execute(sa.text(
                "INSERT INTO inbox (clinic_id, event_id, event_type, payload, received_at, status, attempts, claims) "
                "SELECT 'clinic-' || (g % 100), :p || g, 'note.saved', '{}', :now, 'pending', 0, 0 "
                "FROM generate_series(1, :rows) AS g"), {"p": f"{self.name}-pend-{base}-", "now": now, "rows": rows})
            outbox.put(c, [(f"clinic-{i % CLINICS}", "c1", f"{self.name}-k-{base}-{i}", "note-tags", {})
                           for i in range(rows)], now)
            self.n += 1

    def claims(self, count: int, now: datetime) -> tuple[list[float], list[float]]:
        times = {"inbox": [], "outbox": []}
        for queue, mod in (("inbox", inbox), ("outbox", outbox)):
            for _ in range(count):
                began = time.perf_counter()
                with self.store.begin() as c:
                    rows = mod.claim(c, "bench", now, 60, 20)
                times[queue].append(time.perf_counter() - began)
                assert len(rows) == 20, (queue, len(rows))
                with self.store.begin() as c:      # finished, untimed
                    table = rows and (inbox_table if queue == "inbox" else outbox_table)
                    c.execute(table.update().where(table.c.id.in_([r["id"] for r in rows])).values(
                        status="done", lease_owner=None, lease_until=None, claims=0))
        return times["inbox"], times["outbox"]

    def dedup(self, ids: list[tuple[str, str]], now: datetime) -> list[float]:
        times = []
        for clinic, event_id in ids:
            began = time.perf_counter()
            with self.store.begin() as c:
                assert not inbox.put(c, clinic, event_id, "note.saved", {"note_id": "x", "client_id": "c1"}, now)
            times.append(time.perf_counter() - began)
        return times


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def line(label: str, value: float, target: str, met: bool, fmt: str = "{:.2f}") -> None:
    print(f"{label}  {fmt.format(value)}  target {target}  {'MET' if met else 'MISSED'}", flush=True)


def sample_locks(engine, stop: threading.Event, out: dict) -> None:
    """Sample pg_locks every 2 ms: the longest stretch an ACCESS EXCLUSIVE lock on an inbox or outbox
    relation (parent or partition) was seen granted."""
    held_since: dict = {}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        while not stop.is_set():
            now = time.perf_counter()
            rows = c.execute(sa.text(
                "SELECT l.pid, l.relation FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                "WHERE l.mode = 'AccessExclusiveLock' AND l.granted AND (r.relname LIKE 'inbox%' "
                "OR r.relname LIKE 'outbox%')")).all()
            seen = {(p, r) for p, r in rows}
            for key in list(held_since):
                if key not in seen:
                    out["longest"] = max(out["longest"], now - held_since.pop(key))
            for key in seen:
                held_since.setdefault(key, now)
            out["samples"] += 1
            time.sleep(0.002)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    started = time.monotonic()
    cluster = pg.Cluster().start()
    try:
        return run(cluster, args, started)
    finally:
        cluster.stop()


def run(cluster, args, started) -> int:
    now = datetime.now(timezone.utc)
    stores = {name: Store.open(cluster.create_database(name)) for name in ("empty", "full")}
    print(f"filling {args.rows:,} done inbox rows and {args.rows:,} done outbox rows over {args.days} days ...",
          flush=True)
    fill_seconds = fill(stores["full"].engine, args.rows, args.days, now)
    print(f"filled in {fill_seconds:.0f} s ({2 * args.rows / fill_seconds:,.0f} rows/s)", flush=True)
    benches = {name: Bench(name, s) for name, s in stores.items()}
    rng = random.Random(19)
    warm = [(f"clinic-{g % CLINICS}", f"evt-{g}") for g in (rng.randint(1, args.rows) for _ in range(200))]
    benches["full"].dedup(warm, now)

    def path(name):
        def one():
            b = benches[name]
            rate = b.ingest(500, now)
            b.queue_pending(50 * 20, now)
            claim_in, claim_out = b.claims(50, now)
            if name == "full":
                ids = [(f"clinic-{g % CLINICS}", f"evt-{g}") for g in (rng.randint(1, args.rows) for _ in range(500))]
            else:
                ids = [(f"clinic-{int(e.rsplit('-', 1)[1]) % CLINICS}", e) for e in rng.sample(b.stored, 500)]
            return rate, claim_in, claim_out, b.dedup(ids, now)
        return one

    rounds = alternate(args.rounds, path("empty"), path("full"))
    ingest = [f[0] / e[0] for e, f in rounds]          # throughput: full / empty (>= 1/1.2 is within)
    dedup = {name: [t for r in rounds for t in r[i][3]] for i, name in enumerate(("empty", "full"))}
    all_claims = {(name, q): [t for r in rounds for t in r[i][1 + j]] for i, name in enumerate(("empty", "full"))
                  for j, q in enumerate(("inbox", "outbox"))}
    print("per round (empty | full): ingest events/s, dedup median ms")
    for e, f in rounds:
        print(f"  {e[0]:7.0f} | {f[0]:7.0f}    {statistics.median(e[3]) * 1000:6.2f} | "
              f"{statistics.median(f[3]) * 1000:6.2f}")
    for q in ("inbox", "outbox"):
        for p in (50, 99):
            print(f"claim {q} p{p}: empty {pct(all_claims[('empty', q)], p) * 1000:.2f} ms, "
                  f"full {pct(all_claims[('full', q)], p) * 1000:.2f} ms")
    line("ingest throughput, empty / full store (median ratio)", statistics.median(1 / r for r in ingest),
         f"<= {TARGET}", statistics.median(1 / r for r in ingest) <= TARGET)
    for q in ("inbox", "outbox"):
        for p in (50, 99):
            ratio = pct(all_claims[("full", q)], p) / pct(all_claims[("empty", q)], p)
            line(f"claim {q} p{p}, full / empty", ratio, f"<= {TARGET}", ratio <= TARGET)
    for p in (50, 99):
        print(f"dedup insert p{p}: empty {pct(dedup['empty'], p) * 1000:.2f} ms, full {pct(dedup['full'], p) * 1000:.2f} ms")
        ratio = pct(dedup["full"], p) / pct(dedup["empty"], p)
        line(f"dedup insert p{p}, full / empty", ratio, f"<= {TARGET}", ratio <= TARGET)

    full = stores["full"]
    before = disk(full.engine)
    with full.engine.connect() as c:
        counts = {n: c.execute(sa.text(f"SELECT count(*) FROM {n}")).scalar() for n in ("inbox", "outbox")}
    stop, locks = threading.Event(), {"longest": 0.0, "samples": 0}
    sampler = threading.Thread(target=sample_locks, args=(full.engine, stop, locks), daemon=True)
    writes: list[float] = []

    def writer():
        b = Bench("during", full)
        while not stop.is_set():
            began = time.perf_counter()
            b.ingest(1, now)
            writes.append(time.perf_counter() - began)
    load = threading.Thread(target=writer, daemon=True)
    sampler.start()
    load.start()
    pruned = retention.prune(full.engine, now, RetentionConfig(days=30))
    stop.set()
    sampler.join()
    load.join()
    after = disk(full.engine)
    print(f"prune: {pruned.rows} rows removed of {counts} in {pruned.seconds:.1f} s; {len(pruned.dropped)} "
          f"partitions dropped, {len(pruned.held)} held, {len(pruned.made)} made")
    print(f"prune: longest drop transaction (ACCESS EXCLUSIVE held) {pruned.longest_lock * 1000:.1f} ms; "
          f"longest delete batch {pruned.longest_batch * 1000:.1f} ms; pg_locks: longest ACCESS EXCLUSIVE "
          f"seen {locks['longest'] * 1000:.1f} ms in {locks['samples']} samples")
    print(f"prune: a writer stored {len(writes)} events meanwhile, slowest {max(writes) * 1000:.1f} ms, "
          f"p99 {pct(writes, 99) * 1000:.1f} ms")
    print(f"disk (inbox + outbox, every partition): {before / 2**20:,.0f} MB before, {after / 2**20:,.0f} MB after")
    line("prune: rows removed", sum(pruned.rows.values()), "> 0", sum(pruned.rows.values()) > 0, "{:,}")
    line("prune: longest lock held (ms)", max(pruned.longest_lock, locks["longest"]) * 1000, "< 1000",
         max(pruned.longest_lock, locks["longest"]) < 1.0, "{:.1f}")
    print(f"whole run {time.monotonic() - started:.0f} s (fill {fill_seconds:.0f} s)")
    for s in stores.values():
        s.close()
    return 0


inbox_table = inbox.t.inbox
outbox_table = outbox.t.outbox

if __name__ == "__main__":
    sys.exit(main())

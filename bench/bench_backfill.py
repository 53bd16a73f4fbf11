"""Backfill: 1,000,000 synthetic notes through the host's paged search, checkpointed every page.

The host is the example FHIR server in its own process, seeded with 1,000,000
DocumentReferences for 10,000 clients (``POST /__seed``: each note is computed from its
index, so the host holds none of them). Pages of 200, as ``progress-plugin backfill`` reads
them (``_count=200`` and the note elements only).

- **measured**: ``backfill.run`` in a separate process (below, ``--child``): it imports what
  the ``progress-plugin`` command imports, opens the SQLite store (migrated beforehand, as a
  deployment runs its migrations once; a store at the newest revision is opened without
  importing alembic) and the configured host's FHIR client, then backfills 100,000 notes at
  a time when told to, resuming from its checkpoint. Every page is turned into events, handled by the core,
  written to the store and checkpointed in one transaction.
- **floor**: a bare paged read of the same pages in this process: ``requests.Session.get``,
  JSON decoding and following the ``next`` link, nothing else.

The two alternate over 10 rounds of 100,000 notes (one tenth of the pages each); the
ratio is the median of per-round rates. After the last round the store must hold exactly
1,000,000 notes and the checkpoint must say the backfill finished.

**Memory** is the backfill process's own, read from ``/proc/<pid>/status`` by this process:
``VmRSS`` after the first 100,000 notes and after 1,000,000, and ``VmHWM`` (the peak
resident set over the process's life) at the end.

Targets: throughput >= 0.3 x the bare paged read; peak RSS <= 64 MB; RSS at 1M minus RSS at
100k <= 10 MB.

Run: ``.venv/bin/python bench/bench_backfill.py [--notes N] [--rounds R]``. The last line is
the target's figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLINIC = "c1"
PAGE = 200
CLIENTS = 10_000
THROUGHPUT_MIN, PEAK_MAX_MB, GROWTH_MAX_MB = 0.3, 64, 10


# -- the backfill process -------------------------------------------------------------------
def child(store_url: str, host_url: str) -> None:
    """Backfill on command: each stdin line is a number of pages; each answer a JSON line."""
    from datetime import datetime, timezone

    import progress_plugin.cli.main  # noqa: F401  (the command's own imports, for an honest RSS)
    import progress_plugin.cli.backfill  # noqa: F401  (the backfill command: loaded when it runs)
    import rich.progress  # noqa: F401
    from progress_plugin.service import backfill
    from progress_plugin.service.hostlink import client
    from progress_plugin.service.settings import ServiceConfig
    from progress_plugin.store import Store

    store = Store.open(store_url)
    config = ServiceConfig(store_url=store_url, host_url=host_url)

    def now():
        return datetime.now(timezone.utc)

    with client(config) as c:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            start = time.perf_counter()
            done = backfill.run(store, c, CLINIC, now, page_size=PAGE, max_pages=int(line))
            seconds = time.perf_counter() - start
            following, _ = backfill.checkpoint(store, CLINIC)
            print(json.dumps({"done": done, "seconds": seconds, "next": following}), flush=True)
    store.close()


def status_kb(pid: int) -> dict:
    fields = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = row.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


# -- the bench ------------------------------------------------------------------------------
def read_pages(http, url: str, params: dict | None, pages: int) -> tuple[int, float, str | None]:
    """The floor: GET, decode, follow ``next``; ``pages`` pages from ``url``."""
    notes = 0
    start = time.perf_counter()
    for _ in range(pages):
        bundle = http.get(url, params=params, timeout=30).json()
        params = None
        notes += len(bundle.get("entry") or [])
        url = next((link["url"] for link in bundle.get("link") or [] if link["relation"] == "next"), None)
        if url is None:
            break
    return notes, time.perf_counter() - start, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("STORE_URL", "HOST_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    import requests
    import sqlalchemy as sa

    from bench.common import alternate, line
    from examples.fhir_host import start_process
    from progress_plugin.fhir import inbound as fhir_events
    from progress_plugin.store import tables as t
    from progress_plugin.store import Store

    pages_per_round = -(-args.notes // (PAGE * args.rounds))
    host = start_process()
    folder = tempfile.TemporaryDirectory(prefix="bench-backfill-")
    proc = None
    try:
        host.seed(CLINIC, args.notes, patients=CLIENTS)
        store_url = f"sqlite:///{folder.name}/progress.db"
        Store.open(store_url).close()              # migrated once beforehand, as a deployment does
        proc = subprocess.Popen([sys.executable, __file__, "--child", store_url, host.base_url],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert json.loads(proc.stdout.readline()).get("ready")
        started_kb = status_kb(proc.pid)["VmRSS"]
        http = requests.Session()
        first = (host.base_url + "/DocumentReference",
                 {"_count": str(PAGE), "_elements": ",".join(fhir_events.NOTE_ELEMENTS)})
        state = {"url": first, "rss": []}

        def measured():
            proc.stdin.write(f"{pages_per_round}\n")
            proc.stdin.flush()
            answer = json.loads(proc.stdout.readline())
            notes = answer["done"] - state.get("done", 0)
            state["done"], state["next"] = answer["done"], answer["next"]
            state["rss"].append((answer["done"], status_kb(proc.pid)["VmRSS"]))
            return notes / answer["seconds"]

        def floor():
            url, params = state["url"]
            notes, seconds, _ = read_pages(http, url, params, pages_per_round)
            return notes / seconds

        def next_segment(i):
            if i:                                  # the pages the backfill reached last round
                state["url"] = (state["next"], None)

        rounds = alternate(args.rounds, floor, measured, before=next_segment)
        final = status_kb(proc.pid)
        proc.stdin.close()
        proc.wait(60)
        http.close()
        engine = sa.create_engine(store_url)
        with engine.connect() as c:
            stored = c.execute(sa.select(sa.func.count()).select_from(t.notes)).scalar()
        engine.dispose()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        host.stop()
        folder.cleanup()
    if state["done"] != args.notes or state["next"] is not None or stored != args.notes:
        raise RuntimeError(f"backfill incomplete: done {state['done']}, stored {stored}, next {state['next']}")

    med = statistics.median
    floor_rate, rate = med(f for f, _ in rounds), med(m for _, m in rounds)
    ratio = med(m / f for f, m in rounds)
    rss_first, rss_last = state["rss"][0], state["rss"][-1]
    peak_mb, growth_mb = final["VmHWM"] / 1024, (rss_last[1] - rss_first[1]) / 1024
    print(f"backfill of {args.notes:,} notes ({CLIENTS:,} clients, pages of {PAGE}, a checkpoint per page), "
          f"{args.rounds} rounds of {pages_per_round * PAGE:,} notes, medians")
    print(f"  floor: bare paged read       {floor_rate:9.0f} notes/s   {1e6 / floor_rate:6.1f} µs/note")
    print(f"  measured: backfill           {rate:9.0f} notes/s   {1e6 / rate:6.1f} µs/note   {ratio:.2f}x the floor")
    print(f"  backfill process RSS: {started_kb / 1024:.1f} MB ready, {rss_first[1] / 1024:.1f} MB at "
          f"{rss_first[0]:,} notes, {rss_last[1] / 1024:.1f} MB at {rss_last[0]:,}, peak {peak_mb:.1f} MB")
    checks = [("backfill throughput / bare paged read", f"{ratio:.2f}", f">= {THROUGHPUT_MIN}", ratio >= THROUGHPUT_MIN),
              ("backfill peak RSS (MB)", f"{peak_mb:.1f}", f"<= {PEAK_MAX_MB}", peak_mb <= PEAK_MAX_MB),
              (f"backfill RSS at {rss_last[0] // 1000}k - at {rss_first[0] // 1000}k (MB)", f"{growth_mb:.1f}",
               f"<= {GROWTH_MAX_MB}", growth_mb <= GROWTH_MAX_MB)]
    for check in checks:
        print(line(*check))
    met = all(c[3] for c in checks)
    print(f"backfill: {ratio:.2f}x the bare paged read, peak RSS {peak_mb:.1f} MB, growth {growth_mb:.1f} MB "
          f"from {rss_first[0] // 1000}k to {rss_last[0] // 1000}k notes: {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

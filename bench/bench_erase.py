"""Erasure: what zeroing deleted content (``PRAGMA secure_delete=ON``) costs the store's writes.

Every SQLite connection of the store runs with ``secure_delete`` on, so that no copy of a
client's words outlives its row. A write that frees space then also writes the zeros.

- **measured**: the store as shipped (``secure_delete=ON``).
- **floor**: the same store with ``secure_delete=OFF`` on every connection.

Each round, both stores do the same work on their own SQLite file (WAL mode): 15 clients
each get an intake (goals and answers in their words), 10 tagged and rated notes, and then
re-tag every note (tags and ratings deleted and rewritten); the write-backs are queued and
marked sent (their payloads cleared, so the old cells are freed). The stores keep growing
over the rounds, as a real one does. The ratio is the median of the per-round time ratios.
After the rounds both stores must hold every note, with no write-back left pending.

For context, the time of one ``purge`` (delete, then checkpoint with TRUNCATE) on the final
store is printed, with and without ``--vacuum``.

Target: measured / floor <= 1.10.

Run: ``.venv/bin/python bench/bench_erase.py [--rounds R]``. The last line is the target's figures.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import alternate, line  # noqa: E402

RATIO_MAX = 1.10
CLINIC = "clinic-b"
CLIENTS, NOTES = 15, 10
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def open_store(url: str, secure: bool):
    import sqlalchemy as sa
    from progress_plugin.store import Store
    store = Store.open(url)
    if not secure:
        @sa.event.listens_for(store.engine, "connect")
        def _off(dbapi_conn, _record):          # after the store's own pragmas
            dbapi_conn.execute("PRAGMA secure_delete=OFF")
        store.engine.dispose()
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == int(secure)
    return store


def work(store, round_no: int) -> float:
    """One round's writes; returns the seconds they took."""
    from progress_plugin import schemas
    from progress_plugin.store import outbox
    from progress_plugin.fhir import writeback
    from progress_plugin.core.events import IntakeSubmitted
    from progress_plugin.service.runtime import Runtime
    runtime = Runtime(store, clock=lambda: NOW,
                      on_effects=lambda conn, effects, state: writeback.enqueue(conn, effects, state.all_vocabularies(), NOW))
    start = time.perf_counter()
    for k in range(CLIENTS):
        cid = f"r{round_no}-c{k}"
        intake = schemas.load(schemas.intake_schema, {
            "goals": [{"words": f"Sleep through most nights {cid}", "whose": "client", "baseline": 3},
                      {"words": f"Say no to my boss once {cid}", "whose": "client", "baseline": 2}],
            "better_looks_like": "Waking up less tired " * 20, "small_shift": "One calm morning " * 20,
            "review_cadence": "every-4-sessions", "agreed": True, "agreed_on": "2026-01-05",
            "goals_reviewed": True})
        runtime.dispatch(IntakeSubmitted(CLINIC, NOW, cid, intake, "t1"))
        for again in (False, True):
            for n in range(NOTES):
                code = "setback" if again else "step-forward"
                runtime.dispatch(schemas.load(schemas.note_schema, {
                    "clinic_id": CLINIC, "client_id": cid, "note_id": f"{cid}-n{n}", "author": "t1",
                    "session_at": f"2026-01-{n + 1:02d}T10:00:00+00:00", "at": f"2026-01-{n + 1:02d}T10:00:00+00:00",
                    "tags": [{"code": code, "goals": ["g1"], "ratings": [{"goal": "g1", "value": 4 + again}]}]}))
    with store.begin() as c:
        rows = outbox.claim(c, "bench", NOW, 60, 100_000)
        outbox.done_many(c, [r["id"] for r in rows], "bench", NOW)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shipped = open_store(f"sqlite:///{tmp}/on.db", True)
        floor = open_store(f"sqlite:///{tmp}/off.db", False)
        for store in (shipped, floor):
            store.ensure_clinic(CLINIC, NOW)
        work(shipped, -1)                   # warm-up
        work(floor, -1)
        counter = iter(range(args.rounds))

        def before(i):
            before.round = next(counter)
        pairs = alternate(args.rounds, lambda: work(floor, before.round), lambda: work(shipped, before.round),
                          before=before)
        from progress_plugin.store import outbox
        expected = CLIENTS * NOTES * (args.rounds + 1)
        for store in (shipped, floor):      # both did the whole job: every note stored, every write-back sent
            with store.engine.connect() as c:
                notes = c.exec_driver_sql("SELECT count(*) FROM notes").scalar()
                pending = outbox.counts(c).get("pending", 0)
            if notes != expected or pending:
                raise SystemExit(f"the run did not do its work: {notes} notes (expected {expected}), {pending} pending")
        ratios = [m / f for f, m in pairs]
        for i, (f, m) in enumerate(pairs):
            print(f"round {i}: secure_delete off {f:.2f} s, on {m:.2f} s, ratio {m / f:.3f}")
        ratio = statistics.median(ratios)
        size = Path(f"{tmp}/on.db").stat().st_size
        for rebuild in (False, True):
            start = time.perf_counter()
            result = shipped.purge(CLINIC, "r0-c1" if not rebuild else "r0-c2", "bench", NOW, rebuild=rebuild)
            print(f"purge{' --vacuum' if rebuild else ''} of one client on a {size / 1e6:.1f} MB store: "
                  f"{time.perf_counter() - start:.3f} s ({result.detail})")
        shipped.close()
        floor.close()
    print(line("store writes, secure_delete on / off", f"{ratio:.3f}", f"<= {RATIO_MAX}", ratio <= RATIO_MAX))


if __name__ == "__main__":
    main()

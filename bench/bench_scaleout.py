"""Scale-out: the write-back outbox drained by 1, 2 and 4 ``progress-plugin worker`` processes on PostgreSQL.

The host is ``bench/slow_host.py``: a threaded FHIR server in its own process that answers every
request after 20 ms, as a real EHR does, and counts the requests it is answering at once and
every write it receives twice (by its ``Idempotency-Key``). The work is the outbox of the
write-back benchmark's course (12 clients, an intake and 10 signed notes each: about 280 rows,
450 requests), in a throwaway PostgreSQL cluster (``tests/pg.py``).

Each run starts N worker processes (the ``progress-plugin worker`` command, batches of 5 rows,
polling every 20 ms), lets them start, then makes every outbox row pending and times until
the last one is done. Rounds rotate the order of 1, 2 and 4 workers; figures are medians of
the per-round ratios to one worker's time.

- **Speed-up**: the one-worker time over the N-worker time. Target: 4 workers >= 3.5 x one.
- **Nothing twice**: no outbox row handled by two leases. A trigger in the benchmark's own
  database logs every lease taken on a row and every change to ``done``; a row leased twice
  or marked done twice in a drain counts. Target: 0, and every row done. The host's count of
  writes whose ``Idempotency-Key`` it saw before is printed beside it: it also counts the
  client's own retries of a request within one lease (a lost connection, a timeout), which
  are not a second handling, and so are the request totals per drain.
- The host's most concurrent requests are printed: N workers keep at most N in flight.

Only 2 cores: with 20 ms of host latency a request the drain is I/O-bound, so N workers can
go N times as fast as long as a worker's own CPU per row stays well under 20 ms / N.

Run: ``.venv/bin/python bench/bench_scaleout.py [--rounds N] [--delay-ms MS]``. The last line
is the target's figure.
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

import requests  # noqa: E402

from bench.bench_writeback import Course  # noqa: E402
from bench.common import line  # noqa: E402
from progress_plugin.store import outbox  # noqa: E402
from tests import e2e  # noqa: E402
from tests.pg import Cluster, binaries, free_port  # noqa: E402

COUNTS = (1, 2, 4)
SPEEDUP_MIN = 3.5
BATCH = 5
SECRET = "whsec_" + "c2NhbGUtb3V0LWJlbmNoLXNlY3JldC0zMi1ieXRlcw=="


class SlowHost:
    def __init__(self, delay_ms: float):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/fhir"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "slow_host.py"), str(self.port),
                                      str(delay_ms)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.http = requests.Session()

    def stats(self) -> dict:
        return self.http.get(f"http://127.0.0.1:{self.port}/__stats", timeout=5).json()

    def reset(self, data: bool = True) -> None:
        self.http.post(f"http://127.0.0.1:{self.port}/__reset", timeout=5)

    def register_notes(self, notes) -> None:
        pass                                # it answers every note: nothing to register

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(10)


# Every lease taken on an outbox row (a claim adds one to ``claims``) and every change to
# ``done`` is logged by a trigger in the benchmark's own database, so "handled twice" is
# counted from the store itself: a row leased by two claims (two workers, or one worker's
# expired lease taken again) or marked done twice. A client's retry of a request within one
# lease is not a second handling; the host's count of repeated Idempotency-Keys, which
# includes such retries, is printed beside it.
LOG_SQL = """
CREATE TABLE bench_outbox_log (row_id bigint NOT NULL, event text NOT NULL, owner text);
CREATE FUNCTION bench_outbox_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.claims > OLD.claims THEN
    INSERT INTO bench_outbox_log VALUES (NEW.id, 'lease', NEW.lease_owner);
  END IF;
  IF NEW.status = 'done' AND OLD.status IS DISTINCT FROM 'done' THEN
    INSERT INTO bench_outbox_log VALUES (NEW.id, 'done', OLD.lease_owner);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bench_outbox_log AFTER UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION bench_outbox_log();
"""
TWICE_SQL = """SELECT count(*) FROM (SELECT row_id FROM bench_outbox_log GROUP BY row_id
HAVING count(*) FILTER (WHERE event = 'lease') > 1 OR count(*) FILTER (WHERE event = 'done') > 1) twice"""
LEASES_SQL = "SELECT count(*) FILTER (WHERE event = 'lease'), count(DISTINCT owner) FROM bench_outbox_log"


def handled(course: Course) -> dict:
    """This drain's rows handled twice, leases taken and workers that took them (the store's log)."""
    with course.store.engine.connect() as c:
        twice = c.exec_driver_sql(TWICE_SQL).scalar()
        leases, owners = c.exec_driver_sql(LEASES_SQL).one()
    return {"twice": twice, "leases": leases, "owners": owners}


def drain(course: Course, config: Path, n: int, folder: Path) -> dict:
    workers = [e2e.WorkerProcess(config, f"worker-{n}-{k}") for k in range(n)]
    try:
        time.sleep(3)                       # started and polling an empty outbox
        course.prepare()                    # every row pending, the host's counts at zero
        with course.store.begin() as c:
            c.exec_driver_sql("TRUNCATE bench_outbox_log")
        start = time.perf_counter()
        while True:
            with course.store.engine.connect() as c:
                counts = outbox.counts(c)
            if counts.get(outbox.DONE) == course.rows:
                break
            if time.perf_counter() - start > 300:
                raise RuntimeError(f"{n} workers did not drain the outbox: {counts}")
            time.sleep(0.01)
        seconds = time.perf_counter() - start
    finally:
        for w in workers:
            w.stop()
    return {"seconds": seconds, **course.host.stats(), **handled(course)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    if binaries() is None:
        print("no PostgreSQL server binaries (initdb): the scale-out benchmark needs them")
        print(line("write-back, 4 workers / 1 worker (PostgreSQL)", "-", f">= {SPEEDUP_MIN}", False))
        return

    cluster = Cluster().start()
    host = SlowHost(args.delay_ms)
    folder = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        url = cluster.create_database("scaleout")
        course = Course(folder, host, store_url=url)
        with course.store.begin() as c:
            c.exec_driver_sql(LOG_SQL)
        config = e2e.write_config(folder, url, host.base_url, SECRET, lease_seconds=60, batch=BATCH)
        config.write_text(config.read_text().replace("poll_seconds = 0.05", "poll_seconds = 0.02"))
        runs = []
        for i in range(args.rounds):
            order = COUNTS[i % len(COUNTS):] + COUNTS[:i % len(COUNTS)]
            runs.append({n: drain(course, config, n, folder) for n in order})
        course.store.close()
    finally:
        host.stop()
        cluster.stop()

    reference = runs[0][1]["total"]
    twice = sum(r[n]["twice"] for r in runs for n in COUNTS)
    repeated = sum(r[n]["repeated"] for r in runs for n in COUNTS)
    if any(r[n]["leases"] < course.rows or r[n]["owners"] > n for r in runs for n in COUNTS):
        raise RuntimeError("the store's log missed leases: " + str([{n: (r[n]["leases"], r[n]["owners"])
                                                                     for n in COUNTS} for r in runs]))
    totals = {r[n]["total"] for r in runs for n in COUNTS}
    med = statistics.median
    speedup = {n: med(r[1]["seconds"] / r[n]["seconds"] for r in runs) for n in COUNTS}
    print(f"write-back scale-out on PostgreSQL: {course.rows} outbox rows, {reference} requests a drain, host "
          f"answering after {args.delay_ms:g} ms, batches of {BATCH}, {args.rounds} rounds, medians")
    for n in COUNTS:
        seconds = med(r[n]["seconds"] for r in runs)
        concurrent = max(r[n]["concurrent"] for r in runs)
        print(f"  {n} worker{'s' if n > 1 else ' '}   {seconds:6.2f} s   {course.rows / seconds:6.1f} rows/s   "
              f"speed-up {speedup[n]:4.2f}x   host's most concurrent requests {concurrent}")
    print(f"  requests per drain: {sorted(totals)}; rows leased or marked done twice (the store's log): {twice}; "
          f"writes the host received twice (a client's retries included): {repeated}")
    same = twice == 0       # request totals may differ by the client's own retries (context, above)
    checks = [("write-back, 2 workers / 1 worker (PostgreSQL)", f"{speedup[2]:.2f}", ">= 1.8", speedup[2] >= 1.8),
              ("write-back, 4 workers / 1 worker (PostgreSQL)", f"{speedup[4]:.2f}", f">= {SPEEDUP_MIN}",
               speedup[4] >= SPEEDUP_MIN),
              ("write-back rows handled twice (all runs)", str(twice), "= 0",
               same)]
    for check in checks:
        print(line(*check))
    print(json.dumps({"speedup": speedup, "twice": twice}))
    print(f"scale-out: 4 workers {speedup[4]:.2f}x one worker, {twice} rows handled twice: "
          f"{'MET' if all(c[3] for c in checks) else 'MISSED'}")


if __name__ == "__main__":
    main()

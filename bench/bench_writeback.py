"""Write-back: effects applied per second to a local FHIR host, against bare round trips.

The host is the example FHIR server (``python -m examples.fhir_host``, a keep-alive HTTP/1.1
server in its own process). The work is the outbox of a realistic course: for each of
12 clients an intake (Questionnaire once, QuestionnaireResponse, Goal, baseline
Observation) and 10 signed notes (a ``$meta-add`` of the note's tags and an Observation for
its rating), made by the worker from signed events, about 270 rows and 500 requests.

- **measured**: ``Worker.process_outbox()`` until the outbox is drained: claim rows with a
  lease, ``writeback.apply`` through the FHIR client (search by identifier, conditional
  update, ``$meta-add``; JSON, idempotency keys, retry policy, one ``requests.Session``)
  and mark each row done, on SQLite.
- **floor**: the same HTTP requests (method, URL, headers, body; recorded from the
  client once) sent with a bare ``requests.Session`` and nothing else.
- **new Session per request** (the target's comparison): the measured path with a client
  that does not keep its ``requests.Session``: each request goes out on a new one (a new
  pool, so a new TCP connection), as module-level ``requests.post(...)`` calls would.
- **Connection: close** (context): the measured path with the kept Session but
  ``Connection: close`` on every request, so only the TCP connection is new each time.
- **client alone** (context): ``writeback.apply`` for each row through the same client,
  without the outbox (no lease, no row marked done), to tell the client's own cost from
  the durable queue's.

Before each timed run the host's data is reset and the notes are registered again, and
every outbox row is made pending again, so all three runs make the host do the same
writes (the request count is checked). The three rotate order in each round; figures are
medians of per-round ratios.

Targets: measured >= 0.75 x the floor's rate; measured >= 1.3 x the rate with a new Session
per request.

Run: ``.venv/bin/python bench/bench_writeback.py [--rounds N]``. The last line is the target's figures.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import alternate, line  # noqa: E402
from examples.fhir_host import start_process  # noqa: E402
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback  # noqa: E402
from progress_plugin.service.hostlink import client  # noqa: E402
from progress_plugin.store import tables as t  # noqa: E402
from progress_plugin.service.settings import ServiceConfig  # noqa: E402
from progress_plugin.store import Store  # noqa: E402
from progress_plugin.service.worker import Worker  # noqa: E402
from tests.e2e import scenario  # noqa: E402

CLINIC = "clinic-a"
FLOOR_MIN, NEW_CONNECTION_MIN = 0.75, 1.3


def now() -> datetime:
    return datetime.now(timezone.utc)


class Course:
    """A store whose outbox holds a course's write-backs, and the notes the host must know."""

    def __init__(self, folder: Path, host, clients: int = 12, notes_per_client: int = 10, store_url: str | None = None):
        self.host = host
        self.store = Store.open(store_url or f"sqlite:///{folder / 'progress.db'}")
        self.config = ServiceConfig(store_url="", host_url=host.base_url, batch=50, lease_seconds=60,
                                    max_attempts=5, embedded_worker=False)
        counter = itertools.count()
        events, _ = scenario(lambda: f"doc-{next(counter)}", clients, notes_per_client)
        self.notes = [{"note_id": data["note_id"], "client_id": data["client_id"]}
                      for kind, data in events if kind == "note.signed"]
        with self.store.begin() as conn:
            for i, (kind, data) in enumerate(events):
                inbox.put(conn, CLINIC, f"evt_{i}", kind, {**data, "clinic_id": CLINIC,
                                                           **({"signed": True} if kind == "note.signed" else {})},
                          now())
        self.store.ensure_clinic(CLINIC, now())
        maker = Worker(self.store, self.config, clock=now, client=None)
        while maker.process_inbox():
            pass
        with self.store.engine.connect() as c:
            # a row done drops its payload: keep them to queue the same rows again
            self.payloads = [{"k_id": r.id, "payload": r.payload}
                             for r in c.execute(sa.select(t.outbox.c.id, t.outbox.c.payload).order_by(t.outbox.c.id))]
            self.kinds = [r.kind for r in c.execute(sa.select(t.outbox.c.kind).order_by(t.outbox.c.id))]
            self.rows = len(self.payloads)
            failed = c.execute(sa.select(sa.func.count()).select_from(t.inbox)
                               .where(t.inbox.c.status != inbox.DONE)).scalar()
        if failed or not self.rows:
            raise RuntimeError(f"course not ready: {failed} inbox rows not done, {self.rows} outbox rows")

    def prepare(self) -> None:
        """Untimed: the host starts empty (with the notes) and every row is pending again."""
        self.host.reset(data=True)
        self.host.register_notes(self.notes)
        with self.store.begin() as conn:
            conn.execute(t.outbox.update().where(t.outbox.c.id == sa.bindparam("k_id")).values(
                status=outbox.PENDING, attempts=0, next_attempt_at=now(), lease_owner=None, lease_until=None,
                last_error=None), self.payloads)

    def drain(self, worker: Worker) -> float:
        self.prepare()
        start = time.perf_counter()
        while worker.process_outbox():
            pass
        elapsed = time.perf_counter() - start
        with self.store.engine.connect() as c:
            counts = outbox.counts(c)
        if counts != {outbox.DONE: self.rows}:
            raise RuntimeError(f"outbox not drained cleanly: {counts}")
        return elapsed


class SessionPerRequest:
    """Stands in for a client's Session, sending each request on a new one."""

    def __init__(self, make):
        self.make = make
        self.hooks = {"response": []}

    def request(self, *args, **kwargs):
        with self.make() as session:
            return session.request(*args, **kwargs)

    def close(self) -> None:
        pass


def apply_only(worker: Worker, course: Course) -> float:
    """Context: ``writeback.apply`` for each row through the worker's client, no outbox."""
    course.prepare()
    start = time.perf_counter()
    for kind, row in zip(course.kinds, course.payloads):
        writeback.apply(worker.client, kind, row["payload"])
    return time.perf_counter() - start


def record(worker: Worker, course: Course) -> list[tuple]:
    """The requests the worker's client sends for the course (a warm-up run)."""
    sent = []

    def hook(response, *args, **kwargs):
        r = response.request
        sent.append((r.method, r.url, dict(r.headers), r.body))

    worker.client.session.hooks["response"].append(hook)
    course.drain(worker)
    worker.client.session.hooks["response"].remove(hook)
    return sent


def replay(sent: list[tuple], course: Course, http: requests.Session) -> float:
    course.prepare()
    start = time.perf_counter()
    for method, url, headers, body in sent:
        response = http.request(method, url, headers=headers, data=body, timeout=30)
        response.content
        if response.status_code >= 400:
            raise RuntimeError(f"replayed {method} {url} answered {response.status_code}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    host = start_process()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-writeback-") as folder:
            course = Course(Path(folder), host)
            kept = Worker(course.store, course.config, clock=now, owner="kept")
            closing = Worker(course.store, course.config, clock=now, owner="closing")
            closing.client.session.headers["Connection"] = "close"
            fresh = Worker(course.store, course.config, clock=now, owner="fresh")
            fresh.client.session = SessionPerRequest(lambda: client(course.config).session)
            sent = record(kept, course)
            http = requests.Session()
            replay(sent, course, http)
            course.drain(closing)
            course.drain(fresh)
            counts = []

            def counted(fn):
                def run():
                    elapsed = fn()
                    counts.append(host.stats()["total"])
                    return elapsed
                return run

            rounds = alternate(args.rounds, counted(lambda: replay(sent, course, http)),
                               counted(lambda: course.drain(kept)), counted(lambda: course.drain(fresh)),
                               counted(lambda: course.drain(closing)), counted(lambda: apply_only(kept, course)))
            http.close()
            course.store.close()
    finally:
        host.stop()
    if set(counts) != {len(sent)}:
        raise RuntimeError(f"the paths sent different numbers of requests: {sorted(set(counts))} vs {len(sent)}")

    med = statistics.median
    floor_t, kept_t, fresh_t, closing_t, apply_t = (med(r[k] for r in rounds) for k in range(5))
    vs_floor = med(r[0] / r[1] for r in rounds)
    vs_fresh = med(r[2] / r[1] for r in rounds)
    vs_closing = med(r[3] / r[1] for r in rounds)
    apply_vs_floor = med(r[0] / r[4] for r in rounds)
    print(f"write-back to the example FHIR host: {course.rows} outbox rows, {len(sent)} requests per run, "
          f"{args.rounds} rounds, medians")
    print(f"  floor: bare requests.Session          {len(sent) / floor_t:7.0f} req/s")
    print(f"  measured: worker, kept Session         {len(sent) / kept_t:7.0f} req/s   "
          f"{course.rows / kept_t:6.0f} effects/s   {vs_floor:.2f}x the floor")
    print(f"  new Session per request                {len(sent) / fresh_t:7.0f} req/s   "
          f"{course.rows / fresh_t:6.0f} effects/s   measured is {vs_fresh:.2f}x this")
    print(f"  kept Session, Connection: close        {len(sent) / closing_t:7.0f} req/s   "
          f"{course.rows / closing_t:6.0f} effects/s   measured is {vs_closing:.2f}x this")
    print(f"  client alone (writeback.apply, no outbox) {len(sent) / apply_t:4.0f} req/s   "
          f"{course.rows / apply_t:6.0f} effects/s   {apply_vs_floor:.2f}x the floor")
    print(line("write-back rate / bare Session rate", f"{vs_floor:.2f}", f">= {FLOOR_MIN}", vs_floor >= FLOOR_MIN))
    print(line("write-back rate / new Session per request", f"{vs_fresh:.2f}", f">= {NEW_CONNECTION_MIN}",
               vs_fresh >= NEW_CONNECTION_MIN))
    met = vs_floor >= FLOOR_MIN and vs_fresh >= NEW_CONNECTION_MIN
    print(f"write-back: {course.rows / kept_t:.0f} effects/s, {vs_floor:.2f}x bare round trips, "
          f"{vs_fresh:.2f}x a new Session per request ({vs_closing:.2f}x Connection: close): "
          f"{'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

"""Webhook ingest: signed events per second accepted by the receiver under gunicorn.

- **measured**: ``POST /webhooks/<clinic>`` of the service (``progress_plugin.web.app:create_app()``):
  Standard Webhooks signature, JSON, marshmallow schemas, the SQLite store (WAL) and the
  inbox row, answered 202. Every request carries a new ``webhook-id``, so each one is a
  real insert, never the cheaper duplicate path; after each run the inbox must hold at
  least as many new rows as wrk counted answers.
- **host down**: the same service configured with a host URL on a closed port. The receiver
  never calls the host, so its figures must not move; the host-up run also checks that the
  (running) host received no request at all.
- **floor**: a bare Flask endpoint answering 204 (``bench/floor_app.py``).

All three run under gunicorn with 2 sync workers (the layout with the best p99 on SQLite)
and are driven by ``wrk`` with ``bench/ingest.lua``, which sends requests signed
beforehand. wrk is C and sends pre-formatted bytes, so the load generator costs
microseconds per request; a Python client costs about as much per request as the floor
endpoint itself and would be what gets measured. Each round runs the three for a few
seconds each, in rotating order; the figures are medians of the per-round ratios.

Targets: throughput >= 0.5 x the floor; p99 <= 4 x the floor's p99, with the host up and down.

**Schemas built once.** A micro-benchmark times the per-event schema loads the receiver
does (the envelope, then the event's schema, from ``receiver.ENVELOPE_TYPES``) against the
same loads on schema instances built once here, and, for context, against building the
schemas for each event. Target: the receiver's per-event cost <= 1.3 x the reused-schema
baseline. It also counts marshmallow ``Schema`` constructions during 200 signed requests
through the real Flask app: it must be 0.

Run: ``.venv/bin/python bench/bench_ingest.py [--seconds S] [--rounds N]``. The last line
is the target's figures.
"""
from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import marshmallow as ma  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import alternate, line, paired  # noqa: E402
from progress_plugin import schemas
from progress_plugin.web import webhooks as receiver
from progress_plugin.service import settings  # noqa: E402
from progress_plugin.store import tables as t  # noqa: E402
from progress_plugin.web.signatures import sign_standard  # noqa: E402
from tests.e2e import BIN, env_for, no_control_socket, scenario, write_config  # noqa: E402
from tests.pg import Cluster, binaries, free_port  # noqa: E402

CLINIC = "clinic-a"
SECRET = "whsec_" + base64.b64encode(b"bench-ingest-secret-32-bytes-lng").decode()
LUA = ROOT / "bench" / "ingest.lua"
THROUGHPUT_MIN, P99_MAX, SCHEMA_MAX = 0.5, 4.0, 1.3
WRK_THREADS, CONNECTIONS = 2, 8


class Gunicorn:
    """gunicorn with 2 workers serving ``app`` from the repository root: ``sync`` workers, or
    ``gthread`` workers of ``threads`` threads each (HTTP keep-alive, group commit)."""

    def __init__(self, app: str, folder: Path, env: dict | None = None, workers: int = 2, threads: int = 1):
        self.port = free_port()
        kind = ["-k", "sync"] if threads == 1 else ["-k", "gthread", "--threads", str(threads)]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / f"gunicorn-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(workers), *kind, *no_control_socket(), "-b", f"127.0.0.1:{self.port}",
             "--timeout", "30", app],
            env=env or os.environ.copy(), stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            try:
                requests.post(self.url + f"/webhooks/{CLINIC}", data=b"{}", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn {app} did not start: see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Receiver(Gunicorn):
    """The service under gunicorn on its own SQLite store, with the host at ``host_url``."""

    def __init__(self, folder: Path, host_url: str, threads: int = 1, store_url: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.store_url = store_url or f"sqlite:///{folder / 'progress.db'}"
        config = write_config(folder, self.store_url, host_url, SECRET, clinic=CLINIC)
        super().__init__("progress_plugin.web.app:create_app()", folder, env_for(config), threads=threads)
        self.engine = sa.create_engine(self.store_url)

    def inbox_rows(self) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(t.inbox)).scalar()

    def stop(self) -> None:
        self.engine.dispose()
        super().stop()


# -- load ---------------------------------------------------------------------------------
def bodies() -> itertools.cycle:
    """Envelopes of a realistic course: an intake, then signed notes with tags and ratings."""
    counter = itertools.count()
    events, _ = scenario(lambda: f"doc-{next(counter)}", clients=20, notes_per_client=12)
    return itertools.cycle([json.dumps({"type": kind, "timestamp": "2026-02-01T00:00:00Z", "data": data},
                                       separators=(",", ":")) for kind, data in events])


def write_requests(path: Path, count: int, source) -> None:
    """``count`` requests signed now, each with a new webhook-id."""
    now = int(time.time())
    run = uuid.uuid4().hex[:8]
    with open(path, "w") as out:
        for i in range(count):
            body = next(source)
            event_id = f"evt_{run}_{i}"
            h = sign_standard(SECRET, event_id, now, body.encode())
            out.write(f"{event_id}\t{h['webhook-timestamp']}\t{h['webhook-signature']}\t{body}\n")


def wrk(url: str, requests_file: Path, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
                          "--timeout", "10s", "-s", str(LUA), url, "--", str(requests_file), str(WRK_THREADS)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    report = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    return report


def run_path(name: str, server: Gunicorn, requests_file: Path, seconds: float) -> dict:
    before = server.inbox_rows() if isinstance(server, Receiver) else 0
    report = wrk(server.url + f"/webhooks/{CLINIC}", requests_file, seconds)
    errors = {k: v for k, v in report["errors"].items() if v}
    if errors:
        raise RuntimeError(f"{name}: wrk saw errors {errors}")
    if isinstance(server, Receiver):
        if report["wrapped"]:
            raise RuntimeError(f"{name}: ran out of distinct requests; raise the count")
        time.sleep(0.2)                     # answers still in flight when wrk stopped
        added = server.inbox_rows() - before
        if added < report["requests"]:
            raise RuntimeError(f"{name}: {report['requests']} answers but only {added} new inbox rows")
    return report


#: The paths timed each round: (name, what it is). ``floor`` and ``floor-sync`` are the bare
#: Flask 204 under gthread and sync workers; the receivers' figures are against the floor of
#: their own layout.
PATHS = ("floor", "up", "down", "pg", "floor-sync", "sync")
THREADS = 4


def ingest(seconds: float, rounds: int, folder: Path) -> dict:
    from examples.fhir_host import start_process
    host = start_process()
    cluster = Cluster().start() if binaries() else None
    servers = {}
    try:
        closed = f"http://127.0.0.1:{free_port()}/fhir"
        servers["floor"] = Gunicorn("bench.floor_app:app", folder, threads=THREADS)
        servers["up"] = Receiver(folder / "up", host.base_url, threads=THREADS)
        servers["down"] = Receiver(folder / "down", closed, threads=THREADS)
        if cluster is not None:
            servers["pg"] = Receiver(folder / "pg", closed, threads=THREADS, store_url=cluster.create_database("ingest"))
        servers["floor-sync"] = Gunicorn("bench.floor_app:app", folder)
        servers["sync"] = Receiver(folder / "sync", closed)
        source = bodies()
        warm = folder / "warm.tsv"
        write_requests(warm, 4000, source)
        rates = {name: run_path(name, server, warm, 1)["rps"] for name, server in servers.items()}
        count = int(max(v for k, v in rates.items() if not k.startswith("floor")) * seconds * 3) + 2000
        current = folder / "requests.tsv"
        names = [n for n in PATHS if n in servers]

        def path(name):
            return lambda: run_path(name, servers[name], current, seconds)

        # Each round's requests are signed just before it: well within the 5-minute window.
        results = alternate(rounds, *(path(n) for n in names), before=lambda i: write_requests(current, count, source))
        host_requests = host.stats()["total"]
    finally:
        for server in servers.values():
            server.stop()
        host.stop()
        if cluster is not None:
            cluster.stop()
    return {"rounds": [dict(zip(names, r)) for r in results], "host_requests": host_requests}


def summarise(rounds: list[dict]) -> dict:
    med = statistics.median
    out = {}
    for name in ("floor", "floor-sync"):
        out[name] = {"rps": med(r[name]["rps"] for r in rounds), "p50": med(r[name]["p50_us"] for r in rounds),
                     "p99": med(r[name]["p99_us"] for r in rounds)}
    for name in ("up", "down", "pg", "sync"):
        if name not in rounds[0]:
            continue
        floor = "floor-sync" if name == "sync" else "floor"
        out[name] = {"rps": med(r[name]["rps"] for r in rounds), "p50": med(r[name]["p50_us"] for r in rounds),
                     "p99": med(r[name]["p99_us"] for r in rounds),
                     "throughput": med(r[name]["rps"] / r[floor]["rps"] for r in rounds),
                     "p99_ratio": med(r[name]["p99_us"] / r[floor]["p99_us"] for r in rounds),
                     "vs_sync_floor": med(r[name]["rps"] / r["floor-sync"]["rps"] for r in rounds)}
    return out


# -- schemas ------------------------------------------------------------------------------
def envelopes() -> list[dict]:
    counter = itertools.count()
    events, _ = scenario(lambda: f"doc-{next(counter)}", clients=4, notes_per_client=8)
    return [{"type": kind, "timestamp": "2026-02-01T00:00:00Z", "data": data} for kind, data in events]


def loader(envelope_schema, by_type: dict):
    """The receiver's loads for one event (``receiver._envelope`` up to the store), on given schemas."""
    def load(document: dict):
        envelope = schemas.load(envelope_schema, document)
        event_type, data = envelope["type"], dict(envelope["data"])
        data["clinic_id"] = CLINIC
        schema = by_type[event_type]
        if event_type.startswith("note."):
            data["signed"] = event_type == "note.signed"
        return schemas.load(schema() if isinstance(schema, type) else schema, data)
    return load


def schema_micro() -> tuple:
    course = envelopes()
    receivers = loader(schemas.envelope_schema, receiver.ENVELOPE_TYPES)
    reused = loader(schemas.EnvelopeSchema(), {k: type(v)() for k, v in receiver.ENVELOPE_TYPES.items()})
    fresh_types = {k: type(v) for k, v in receiver.ENVELOPE_TYPES.items()}

    def built_per_event(document):
        return loader(schemas.EnvelopeSchema(), fresh_types)(document)

    def over(load):
        """One call: the next event of the course; blocks of whole courses keep the mix equal."""
        docs = itertools.cycle(course)
        return lambda: load(next(docs))

    mine = paired("receiver's schemas", over(receivers), over(reused), calls=10 * len(course), rounds=9)
    per_request = paired("built per event", over(built_per_event), over(reused), calls=3 * len(course), rounds=5)
    return mine, per_request, schemas_built_during_requests(200)


def schemas_built_during_requests(n: int) -> int:
    """marshmallow Schema constructions while the real app receives ``n`` signed events."""
    from progress_plugin.web.app import create_app
    folder = tempfile.mkdtemp(prefix="bench-ingest-schemas-")
    config = settings.load({"store": {"url": f"sqlite:///{folder}/progress.db"},
                            "clinics": [{"id": CLINIC, "scheme": "standard-webhooks", "secrets": [SECRET]}]}, env={})
    app = create_app(config=config)
    client = app.test_client()
    docs = itertools.cycle(envelopes())

    def post():
        body = json.dumps(next(docs)).encode()
        headers = {**sign_standard(SECRET, "evt_" + uuid.uuid4().hex, int(time.time()), body),
                   "Content-Type": "application/json"}
        response = client.post(f"/webhooks/{CLINIC}", data=body, headers=headers)
        assert response.status_code == 202, response.get_data(as_text=True)

    for _ in range(5):                  # nested schemas are made on first use, once
        post()
    built = 0
    original = ma.Schema.__init__

    def counting(self, *args, **kwargs):
        nonlocal built
        built += 1
        original(self, *args, **kwargs)

    ma.Schema.__init__ = counting
    try:
        for _ in range(n):
            post()
    finally:
        ma.Schema.__init__ = original
    app.extensions["progress_plugin"].store.close()
    return built


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=2, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    mine, per_request, built = schema_micro()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        result = ingest(args.seconds, args.rounds, Path(folder))
    s = summarise(result["rounds"])

    print(f"ingest under gunicorn, 2 workers; wrk -t{WRK_THREADS} -c{CONNECTIONS}, {args.rounds} rounds of "
          f"{args.seconds:g} s per path, medians; ratios against the floor of the same worker layout")
    for name, label in (("floor", f"floor, gthread x{THREADS} (bare 204)"), ("floor-sync", "floor, sync (bare 204)")):
        r = s[name]
        print(f"  {label:<34}  {r['rps']:8.0f} req/s   p50 {r['p50'] / 1e3:6.2f} ms   p99 {r['p99'] / 1e3:6.2f} ms")
    for name, label in (("up", "receiver, SQLite, host up"), ("down", "receiver, SQLite, host down"),
                        ("pg", "receiver, PostgreSQL"), ("sync", "receiver, SQLite, sync workers")):
        if name not in s:
            print(f"  {label:<34}  not run (no PostgreSQL server binaries)")
            continue
        r = s[name]
        print(f"  {label:<34}  {r['rps']:8.0f} ev/s    p50 {r['p50'] / 1e3:6.2f} ms   p99 {r['p99'] / 1e3:6.2f} ms   "
              f"throughput {r['throughput']:.2f}x   p99 {r['p99_ratio']:.2f}x   ({r['vs_sync_floor']:.2f}x the sync floor)")
    print(f"  requests the running host received during ingest: {result['host_requests']}")
    print(f"  per-event schema loads: receiver {mine.measured * 1e6:.1f} µs, reused {mine.floor * 1e6:.1f} µs, "
          f"built per event {per_request.measured * 1e6:.1f} µs ({per_request.ratio:.2f}x)")
    print(f"  marshmallow schemas built during 200 requests: {built}")
    checks = []
    for name, label in (("up", "SQLite, host up"), ("down", "SQLite, host down"), ("pg", "PostgreSQL"),
                        ("sync", "SQLite, sync workers")):
        if name not in s:
            continue
        r = s[name]
        checks += [(f"ingest throughput / floor ({label})", f"{r['throughput']:.2f}", f">= {THROUGHPUT_MIN}",
                    r["throughput"] >= THROUGHPUT_MIN),
                   (f"ingest p99 / floor p99 ({label})", f"{r['p99_ratio']:.2f}", f"<= {P99_MAX:g}",
                    r["p99_ratio"] <= P99_MAX)]
    checks.append(("schema load per event / reused schema", f"{mine.ratio:.3f}", f"<= {SCHEMA_MAX}",
                   mine.ratio <= SCHEMA_MAX and built == 0))
    checks.append(("host requests during ingest", str(result["host_requests"]), "= 0", result["host_requests"] == 0))
    for check in checks:
        print(line(*check))
    met = all(c[3] for c in checks)
    up, down = s["up"], s["down"]
    print(f"ingest: throughput {up['throughput']:.2f}x / {down['throughput']:.2f}x (host up / down), "
          f"p99 {up['p99_ratio']:.2f}x / {down['p99_ratio']:.2f}x, schema load {mine.ratio:.3f}x, "
          f"{built} schemas built per 200 requests: {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

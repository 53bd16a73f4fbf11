"""Pages: time to first byte of the admin console, the check-in and the SMART app pages under
``wrk``, against a bare Flask page of the same size.

- **measured**: each page of :data:`PAGES` from the service under gunicorn (2 gthread workers,
  the shipped layout, SQLite store), signed in where the page needs it: the bench opens a
  console session for an admin token and a check-in session from a link, as a browser's
  sign-in would, and a SMART launch session (a ``smart_sessions`` row made by
  :func:`progress_plugin.store.smart.start_session`, its token sealed by the service's vault, as
  the launch callback makes it) for a configured EHR, and sends their cookies. The SMART pages
  read the EHR on each load (the tags page reads the launch's note): the EHR is
  ``bench/slow_host.py`` with no delay, a local FHIR host that answers at once, so the EHR's own
  latency is left out of the figures.
- **the client**: ``c1`` with an intake and six notes, sent through the receiver as a host sends
  them and applied by a worker pass (:func:`drain`), so the pages show a real intake, notes and panel.
- **floor**: ``bench/floor_pages.py``, a bare Flask page of the measured page's size, same
  gunicorn settings, same load.
- **Load**: ``wrk -t1 -c4`` for a few seconds per page and floor, alternating in rounds. wrk's
  latency is the time from sending a request to reading its whole answer; these pages are a
  few KiB, answered in one write, so it is the time to first byte within the write's cost.
- **Targets**: median / floor median <= 3, p99 <= 50 ms, per page.

Adding a page is one line of :data:`PAGES`: ``(name, path, session)``, the session ``console``,
``checkin``, ``smart`` or None.

Run: ``.venv/bin/python bench/bench_pages.py [--seconds S] [--rounds N] [--only smart]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.bench_ingest import CLINIC, SECRET, Gunicorn  # noqa: E402
from bench.bench_scaleout import SlowHost  # noqa: E402
from bench.common import line  # noqa: E402
from tests.e2e import env_for, write_config  # noqa: E402

#: (name, path, session): one line per page. ``{clinic}`` is the benchmark's clinic.
PAGES = [
    ("console: sign-in", "/admin/", None),
    ("console: clinic", "/admin/clinics/{clinic}/", "console"),
    ("console: tags", "/admin/clinics/{clinic}/tags", "console"),
    ("console: tokens", "/admin/clinics/{clinic}/tokens", "console"),
    ("console: history", "/admin/clinics/{clinic}/history", "console"),
    ("check-in", "/checkin/", "checkin"),
    ("check-in: progress", "/checkin/progress", "checkin"),
    ("smart: home", "/smart/app/", "smart"),
    ("smart: intake", "/smart/app/intake", "smart"),
    ("smart: tags", "/smart/app/tags", "smart"),
    ("smart: panel", "/smart/app/panel", "smart"),
]
EHR = "bench-ehr"
#: A Fernet key for the launch's tokens at rest (the bench's own; never a deployment's).
SMART_KEY = "uJ8Cz3wVq9vE2h7m0QnB6kX1sRtYpLdA4fGiHjKlMno="
RATIO_MAX, P99_MAX_MS = 3.0, 50.0


def smart_config(folder: Path, store_url: str, ehr_base: str, client_id: str = "progress-app") -> Path:
    """The service's config file (tests/e2e.py's) with ``[smart]`` set up for one EHR (``ehr_base``)
    acting for the benchmark's clinic."""
    config = write_config(folder, store_url, "http://127.0.0.1:9/fhir", SECRET, clinic=CLINIC)
    config.write_text(config.read_text() + f'''
[smart]
public_url = "http://127.0.0.1"

[[smart.ehrs]]
id = "{EHR}"
clinic = "{CLINIC}"
iss = ["{ehr_base}"]
client_id = "{client_id}"
embedded = false
''')
    return config


class Service(Gunicorn):
    """The service under gunicorn on its own SQLite store (:func:`smart_config`)."""

    def __init__(self, folder: Path, ehr_base: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.store_url = f"sqlite:///{folder / 'progress.db'}"
        self.config = smart_config(folder, self.store_url, ehr_base)
        super().__init__("progress_plugin.web.app:create_app()", folder,
                         {**env_for(self.config), "PROGRESS_PLUGIN_SMART_KEY": SMART_KEY}, threads=4)


class EHRHost(SlowHost):
    """``bench/slow_host.py`` with no delay, in its own process."""

    def __init__(self):
        super().__init__(0)
        self.base = self.base_url

    def requests(self) -> int:
        return self.stats()["total"]


def sessions(store_url: str, ehr_base: str) -> dict[str, str]:
    """Cookies of a signed-in console browser (an admin token), a check-in browser (a link) and a
    SMART launch of the EHR for client ``c1`` and its note, as the launch callback opens one."""
    from progress_plugin.service.clock import utcnow
    from progress_plugin.service.smart_vault import Vault
    from progress_plugin.store import Store, checkins, console_sessions, smart, tokens
    store = Store.open(store_url)
    now = utcnow()
    context = {"patient": "c1", "encounter": None, "fhirUser": "Practitioner/bench", "iss": ehr_base,
               "fhirContext": ["DocumentReference/note-1"], "need_patient_banner": True, "intent": None,
               "tenant": None}
    sealed = Vault([SMART_KEY]).seal({"access_token": "bench-access", "refresh_token": None, "id_token": None})
    launch = smart.start_session(store, ehr_id=EHR, clinic_id=CLINIC, context=context, scopes="launch openid",
                                 sealed=sealed, token_expires_at=now + timedelta(hours=2), now=now,
                                 lifetime=timedelta(hours=2), actor="Practitioner/bench", subject="patient:c1")
    _, token = tokens.create(store, CLINIC, "admin", "bench", now)
    console = console_sessions.start(store, tokens.verify(store, token), now, timedelta(hours=1))
    _, code = checkins.create_link(store, CLINIC, "c1", now, timedelta(days=1))
    checkin, _, reason = checkins.open_session(store, code, now, timedelta(hours=1))
    assert reason == "ok", reason
    store.close()
    return {"console": f"pp_console={console}", "checkin": f"pp_checkin={checkin}", "smart": f"pp_smart={launch}"}


def seed_requests():
    """The signed webhook requests (body, headers) of a client ``c1`` with an intake and a few notes."""
    import time
    import uuid

    from progress_plugin.web.signatures import sign_standard
    from tests.e2e import scenario
    events, _ = scenario(lambda: f"doc-{uuid.uuid4().hex[:8]}", clients=1, notes_per_client=6)
    for i, (kind, data) in enumerate(events):
        body = json.dumps({"type": kind, "timestamp": "2026-02-01T00:00:00Z",
                           "data": {**data, "client_id": "c1"}}).encode()
        yield body, {**sign_standard(SECRET, f"evt_seed_{i}", int(time.time()), body), "Content-Type": "application/json"}


def seed(url: str) -> None:
    """A client with an intake and a few notes, through the receiver (as a host would send them)."""
    http = requests.Session()
    for body, headers in seed_requests():
        assert http.post(f"{url}/webhooks/{CLINIC}", data=body, headers=headers, timeout=10).status_code < 300


def drain(config: Path) -> int:
    """Apply the seeded events to the client's state, as ``progress-plugin worker`` does; returns how many."""
    from progress_plugin.service import settings
    from progress_plugin.service.worker import Worker
    from progress_plugin.store import Store
    import os
    cfg = settings.load(settings.read_file(config), env={**os.environ, "PROGRESS_PLUGIN_SMART_KEY": SMART_KEY})
    store = Store.open(cfg.store_url)
    worker, done = Worker(store, cfg), 0
    while (n := worker.process_inbox()):
        done += n
    store.close()
    return done


def wrk(url: str, cookie: str | None, seconds: float) -> dict:
    headers = ["-H", f"Cookie: {cookie}"] if cookie else []
    out = subprocess.run(["wrk", "-t1", "-c4", "-d", f"{int(seconds)}s", "--timeout", "10s", *headers,
                          "-s", str(ROOT / "bench" / "pages.lua"), url], capture_output=True, text=True)
    report = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    if any(report["errors"].values()):
        raise RuntimeError(f"{url}: wrk saw errors {report['errors']}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="only the pages whose name starts with this")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    service = floor = ehr = None
    try:
        ehr = EHRHost()
        service = Service(folder / "service", ehr.base)
        floor = Gunicorn("bench.floor_pages:app", folder, threads=4)
        seed(service.url)
        if drain(service.config) < 7:
            raise RuntimeError("the seeded events did not reach the client's state")
        cookies = sessions(service.store_url, ehr.base)
        rows = []
        for name, path, session in (p for p in PAGES if p[0].startswith(args.only)):
            url = service.url + path.format(clinic=CLINIC)
            cookie = cookies[session] if session else None
            first = requests.get(url, headers={"Cookie": cookie} if cookie else {}, timeout=10, allow_redirects=False)
            if first.status_code != 200:
                raise RuntimeError(f"{name}: {path} answered {first.status_code}, not 200")
            floor_url = f"{floor.url}/floor/{len(first.content)}"
            pairs = []
            for i in range(args.rounds):
                runs = [lambda: wrk(floor_url, None, args.seconds), lambda: wrk(url, cookie, args.seconds)]
                got = [f() for f in (runs if i % 2 == 0 else runs[::-1])]
                pairs.append(got if i % 2 == 0 else got[::-1])
            med = statistics.median
            rows.append({"name": name, "bytes": len(first.content),
                         "p50": med(p["p50_us"] for _, p in pairs) / 1e3, "p99": med(p["p99_us"] for _, p in pairs) / 1e3,
                         "floor_p50": med(f["p50_us"] for f, _ in pairs) / 1e3,
                         "ratio": med(p["p50_us"] / f["p50_us"] for f, p in pairs)})
        reads = ehr.requests()
    finally:
        for server in (service, floor, ehr):
            if server is not None:
                server.stop()
    print(f"pages under gunicorn (2 gthread workers, SQLite), wrk -t1 -c4, {args.rounds} rounds of "
          f"{args.seconds:g} s per page and floor, medians; the SMART pages' EHR answers at once "
          f"({reads} reads, its latency left out)")
    for r in rows:
        print(f"  {r['name']:<22} {r['bytes'] / 1024:5.1f} KiB   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   "
              f"floor p50 {r['floor_p50']:5.2f} ms   ratio {r['ratio']:.2f}x")
    checks = []
    for r in rows:
        checks.append((f"page {r['name']}: p50 / bare page p50", f"{r['ratio']:.2f}", f"<= {RATIO_MAX:g}",
                       r["ratio"] <= RATIO_MAX))
        checks.append((f"page {r['name']}: p99 (ms)", f"{r['p99']:.1f}", f"<= {P99_MAX_MS:g}", r["p99"] <= P99_MAX_MS))
    for check in checks:
        print(line(*check))
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"pages: worst ratio {worst['ratio']:.2f}x ({worst['name']}), worst p99 {max(r['p99'] for r in rows):.1f} ms: "
          f"{'MET' if all(c[3] for c in checks) else 'MISSED'}")


if __name__ == "__main__":
    main()

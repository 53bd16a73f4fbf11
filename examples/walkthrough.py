"""The README's main job: the whole path on the embedded default, on this machine only.

    bash scripts/run            # = python -m examples.walkthrough (keeps serving; Ctrl-C stops)
    bash scripts/run --once     # run the story, print the results, stop

It starts, all on 127.0.0.1:

1. a local FHIR R4 host (``examples.fhir_host``) playing the notes platform;
2. the plugin's webhook service with its worker, on a SQLite store ``progress.db`` in the
   current folder (created 0600);
3. the example Python notes host (``examples.notes_host``), which loads the plugin by its
   entry point and shares the same store.

Then the host sends one client's course as signed Standard Webhooks (an intake, six tagged
notes with a setback and a "stirring up", the last one signed, with duplicates and
re-orderings), the worker applies them and writes back through FHIR, and the results are
printed: the client's id as ``client: ID``, each goal's ratings and reliable change, the
open prompts, and what the host received. Nothing leaves this machine.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from datetime import datetime, timezone

from werkzeug.serving import make_server

from examples import webhook_sender
from examples.fhir_host import start as start_host
from progress_plugin.service import demo
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.service import settings
from progress_plugin.store import tokens
from progress_plugin.web.app import create_app
from progress_plugin.store import Store
from progress_plugin.service.worker import Worker

CLINIC = "demo-clinic"


def serve_in_thread(app, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_drained(store: Store, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with store.engine.connect() as c:
            ins, outs = inbox.counts(c), outbox.counts(c)
        if ins and not ins.get("pending") and not outs.get("pending"):
            return {"inbox": ins, "outbox": outs}
        time.sleep(0.2)
    raise SystemExit(f"the worker did not finish in {timeout:.0f} s: inbox={ins} outbox={outs}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="stop after printing the results")
    parser.add_argument("--store", default="sqlite:///progress.db", help="the plugin's store (SQLAlchemy URL)")
    parser.add_argument("--port", type=int, default=8080, help="the webhook service's port (0: any free one)")
    parser.add_argument("--notes-port", type=int, default=5000, help="the example notes host's port (0: any)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)     # no per-request lines on the console

    host = start_host()
    secret = webhook_sender.new_secret()
    cfg = settings.load({"store": {"url": args.store}, "host": {"base_url": host.base_url},
                         "clinics": [{"id": CLINIC, "scheme": "standard-webhooks", "secrets": [secret]}],
                         "worker": {"poll_seconds": 0.1}}, env={})
    store = Store.open(cfg.store_url)
    service = serve_in_thread(create_app(store, config=cfg), args.port)
    worker = Worker(store, cfg)
    threading.Thread(target=worker.run, name="worker", daemon=True).start()
    url = f"http://127.0.0.1:{service.server_port}"
    print(f"local FHIR host:  {host.base_url}")
    print(f"webhook service:  {url}/webhooks/{CLINIC}  (store {cfg.store_url})")

    events = webhook_sender.client_story()
    client_id = events[0]["data"]["client_id"]
    host.register_notes([{"note_id": e["data"]["note_id"], "client_id": client_id}
                         for e in events if e["type"].startswith("note.")])
    reports = webhook_sender.deliver(f"{url}/webhooks/{CLINIC}", secret, events, duplicate_every=3, shuffle_seed=4,
                                     shuffle_window=3)
    print(f"client: {client_id}")
    print(f"sent {len(reports)} signed webhooks ({sum(r['duplicate'] for r in reports)} duplicates, re-ordered); "
          f"answers: {sorted({r['status'] for r in reports})}")
    drained = wait_drained(store)
    print(f"worker: inbox {drained['inbox']}, outbox {drained['outbox']}")
    demo.report(worker.runtime.progress(CLINIC, client_id), print)
    stats = host.stats()
    writes = {kind: sum(v["writes"] for v in keys.values()) for kind, keys in stats["writes"].items()}
    print("host received: " + ", ".join(f"{n} {kind}" for kind, n in sorted(writes.items()) if n)
          + f"; tagged notes: {len(stats['tags'])}; duplicate writes: {len(stats['duplicates'])}")

    _, token = tokens.create(store, CLINIC, "viewer", "walkthrough", datetime.now(timezone.utc), "walkthrough")
    print(f"progress panel:   curl -H 'Authorization: Bearer {token}' "
          f"{url}/clinics/{CLINIC}/clients/{client_id}/progress.html")
    if args.once:
        worker.stop()
        service.shutdown()
        host.stop()
        return 0

    from examples.notes_host.app import create_host_app
    notes = create_host_app("notes-host.db", cfg.store_url, "example-clinic")
    db = notes.extensions["notes_host"]["db"]
    if not db.clients():
        db.add_client("Alex Example")
    notes_server = serve_in_thread(notes, args.notes_port)
    print(f"example notes host (the plugin in process): http://127.0.0.1:{notes_server.server_port}/")
    print("serving; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())

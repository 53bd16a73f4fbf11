"""A FHIR host that answers every request after a fixed delay, as a real EHR does (20 ms by default).

A threaded HTTP/1.1 server (keep-alive; a thread per connection) that answers what the write-back
client sends: a search is an empty searchset Bundle, a create or conditional update (POST, PUT)
is ``201`` with the resource and an id, ``$meta-add`` is ``200`` with the tags. A read of
``DocumentReference/<id>`` is a progress note of patient ``c1`` (what the SMART app's tags page
reads of its launch's note; the pages benchmark runs this host with no delay). It keeps:

- ``total``: requests answered; ``concurrent``: the most it was answering at once;
- ``repeated``: writes whose ``Idempotency-Key`` it had already seen (each row's writes carry
  keys of their own): a row sent twice, or a client's retry of one request. The benchmark
  counts rows handled twice from the store (``bench_scaleout.py``); this is context.

``GET /__stats`` answers those; ``POST /__reset`` sets them to zero.

Run: ``python bench/slow_host.py PORT [DELAY_MS]``; it prints ``ready`` once listening.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def note(note_id: str) -> dict:
    """A progress note of patient ``c1`` (its metadata: a note's text is never read)."""
    return {"resourceType": "DocumentReference", "id": note_id, "meta": {"versionId": "1"}, "status": "current",
            "docStatus": "preliminary",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
            "subject": {"reference": "Patient/c1"}, "date": "2026-03-02T10:00:00+00:00"}


class State:
    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = self.now = self.concurrent = 0
            self.keys: Counter = Counter()

    def stats(self) -> dict:
        with self.lock:
            return {"total": self.total, "concurrent": self.concurrent,
                    "repeated": sum(n - 1 for n in self.keys.values() if n > 1), "keys": len(self.keys)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True     # headers and body go out at once, not 40 ms apart (delayed ACK)
    state: State

    def log_message(self, *args):          # quiet
        pass

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        if "id" in body:
            self.send_header("ETag", 'W/"1"')
        self.end_headers()
        self.wfile.write(data)

    def _work(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        path = self.path.split("?")[0]
        if path == "/__stats":
            return self._answer(200, self.state.stats())
        if path == "/__reset":
            self.state.reset()
            return self._answer(200, {})
        s = self.state
        with s.lock:
            s.total += 1
            s.now += 1
            s.concurrent = max(s.concurrent, s.now)
            key = self.headers.get("Idempotency-Key")
            if key and method in ("POST", "PUT"):
                s.keys[key] += 1
        try:
            time.sleep(s.delay)
            if method == "GET" and path.split("/")[-2:-1] == ["DocumentReference"]:
                return self._answer(200, note(path.split("/")[-1]))
            if method == "GET":
                return self._answer(200, {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []})
            if path.endswith("/$meta-add"):
                meta = (body.get("parameter") or [{}])[0].get("valueMeta") or {}
                return self._answer(200, {"resourceType": "Parameters",
                                          "parameter": [{"name": "return", "valueMeta": {**meta, "versionId": "2"}}]})
            return self._answer(201, {**body, "id": body.get("id") or uuid.uuid4().hex[:16], "meta": {"versionId": "1"}})
        finally:
            with s.lock:
                s.now -= 1

    def do_GET(self):
        self._work("GET")

    def do_POST(self):
        self._work("POST")

    def do_PUT(self):
        self._work("PUT")


def main() -> None:
    port, delay_ms = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    Handler.state = State(delay_ms / 1000)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

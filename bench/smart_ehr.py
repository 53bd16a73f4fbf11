"""The pages benchmark's EHR for the SMART app: a FHIR host that answers at once.

The SMART app's pages read the EHR on each load: the tags page reads the launch's note (its
metadata), and every page first sends the writes still waiting for the EHR (none, in the
benchmark: the launch's patient has nothing pending, so only the note read reaches the host).
This host answers ``GET DocumentReference/<id>`` with a progress note of patient ``c1`` and
anything else with an empty searchset, with no delay: the EHR's own latency is left out of the
pages' figures (a real EHR adds its read time to the tags page).

A threaded HTTP/1.1 server (keep-alive, ``TCP_NODELAY``). ``GET /__stats`` answers the number of
FHIR requests it answered.

Run: ``python bench/smart_ehr.py PORT``; it prints ``ready`` once listening.
"""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATIENT = "c1"
NOTE = "note-1"


def note(note_id: str) -> dict:
    return {"resourceType": "DocumentReference", "id": note_id, "meta": {"versionId": "1"}, "status": "current",
            "docStatus": "preliminary",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
            "subject": {"reference": f"Patient/{PATIENT}"}, "date": "2026-03-02T10:00:00+00:00"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock = threading.Lock()
    total = 0

    def log_message(self, *args):          # quiet
        pass

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/__stats":
            return self._answer(200, {"total": Handler.total})
        with Handler.lock:
            Handler.total += 1
        parts = path.split("/")
        if len(parts) >= 2 and parts[-2] == "DocumentReference":
            return self._answer(200, note(parts[-1]))
        return self._answer(200, {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Helpers for end-to-end runs with real processes on 127.0.0.1: gunicorn, workers, a sender."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa

from progress_plugin.store import tables as t
from progress_plugin.web.signatures import sign_standard

from tests.pg import free_port

BIN = Path(sys.executable).parent


def write_config(folder: Path, store_url: str, host_url: str, secret: str, clinic: str = "clinic-a",
                 lease_seconds: float = 3, batch: int = 20) -> Path:
    path = folder / "progress-plugin.toml"
    path.write_text(f'''[store]
url = "{store_url}"

[host]
base_url = "{host_url}"
timeout_seconds = 5

[[clinics]]
id = "{clinic}"
scheme = "standard-webhooks"
secrets = ["{secret}"]

[worker]
batch = {batch}
lease_seconds = {lease_seconds}
poll_seconds = 0.05
max_attempts = 30
embedded = false
''')
    return path


def env_for(config: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}
    env["PROGRESS_PLUGIN_CONFIG"] = str(config)
    return env



def no_control_socket() -> list[str]:
    """gunicorn 27 listens on a control socket in the home folder, one path for every gunicorn
    on the machine; a test's own gunicorn needs none, and must not meet another test's."""
    from importlib.metadata import version
    return ["--no-control-socket"] if int(version("gunicorn").split(".")[0]) >= 27 else []

class Service:
    """gunicorn serving ``progress_plugin.web.app:create_app()``: sync workers, or gthread
    workers of ``threads`` threads each."""

    def __init__(self, config: Path, workers: int = 2, threads: int = 1):
        self.threads = threads
        for _ in range(3):      # a port found free can be taken before gunicorn binds it: then another
            if self._start(config, workers):
                return
        raise RuntimeError("gunicorn did not start: " + (config.parent / "gunicorn.log").read_text()[-2000:])

    def _start(self, config: Path, workers: int) -> bool:
        """Start gunicorn on a free port; True once *it* answers /healthz (its log says it listens on
        that port), False when the port was taken meanwhile (the process is stopped)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_path = config.parent / "gunicorn.log"
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "30",
             *(["-k", "gthread", "--threads", str(self.threads)] if self.threads > 1 else ["-k", "sync"]),
             *no_control_socket(), "progress_plugin.web.app:create_app()"],
            env=env_for(config), stdout=self.log, stderr=subprocess.STDOUT, cwd=config.parent)
        listening = f"Listening at: {self.url} ({self.proc.pid})"
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            text = log_path.read_text()
            if "Connection in use" in text:
                break
            try:
                if listening in text and requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        if "Connection in use" in log_path.read_text():
            return False
        raise RuntimeError("gunicorn did not start: " + log_path.read_text()[-2000:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def kill9(self) -> None:
        """SIGKILL to gunicorn's workers and master at once: no worker finishes a request."""
        found = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in [int(p) for p in found] + [self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        self.log.close()


class WorkerProcess:
    def __init__(self, config: Path, name: str = "worker"):
        self.log = open(config.parent / f"{name}.log", "a")
        self.proc = subprocess.Popen([str(BIN / "progress-plugin"), "worker", "--log-level", "warning"],
                                     env=env_for(config), stdout=self.log, stderr=subprocess.STDOUT, cwd=config.parent)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def scenario(make_doc, clients: int, notes_per_client: int, seed: int = 7):
    """Events for ``clients`` clients (intake + signed tagged notes with ratings) and the expected writes."""
    rnd = random.Random(seed)
    events, expected = [], {"QuestionnaireResponse": 0, "Goal": 0, "Observation": 0, "tags": 0}
    for c in range(clients):
        client_id = f"p{c}-{uuid.uuid4().hex[:6]}"
        events.append(("intake.submitted", {"client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z",
                       "intake": {"goals": [{"words": "Sleep through", "whose": "client", "baseline": 3}],
                                  "review_cadence": "at-review", "review_date": "2027-01-01", "agreed": True,
                                  "agreed_on": "2026-01-05", "goals_reviewed": True}}))
        expected["QuestionnaireResponse"] += 1
        expected["Goal"] += 1
        expected["Observation"] += 1
        for n in range(notes_per_client):
            doc_id = make_doc()
            code = rnd.choice(["step-forward", "setback", "stirring-up", "holding-steady"])
            events.append(("note.signed", {"client_id": client_id, "note_id": doc_id, "author": "t1",
                           "session_at": f"2026-02-{n + 1:02d}T10:00:00Z", "at": f"2026-02-{n + 1:02d}T11:00:00Z",
                           "tags": [{"code": code, "goals": ["g1"], "ratings": [{"goal": "g1", "value": rnd.randint(0, 10)}]}]}))
            expected["Observation"] += 1
            expected["tags"] += 1
    return events, expected


def send(url: str, secret: str, events, duplicate_every: int = 9, seed: int = 3) -> dict:
    """Post signed events, with duplicates and re-orderings, retrying non-2xx like a host would."""
    rnd = random.Random(seed)
    items = [(f"evt_{i}_{uuid.uuid4().hex[:8]}", kind, data) for i, (kind, data) in enumerate(events)]
    items += [items[i] for i in range(0, len(items), duplicate_every)]
    rnd.shuffle(items)
    http = requests.Session()
    outcome = {"sent": 0, "accepted": 0, "duplicate": 0}
    for event_id, kind, data in items:
        body = json.dumps({"type": kind, "timestamp": "2026-02-01T00:00:00Z", "data": data}).encode()
        deadline, pause, answers = time.monotonic() + 60, 0.2, []    # a host retries with backoff, for longer still
        while True:
            headers = {**sign_standard(secret, event_id, int(time.time()), body), "Content-Type": "application/json"}
            try:
                r = http.post(url, data=body, headers=headers, timeout=10)
            except requests.RequestException as exc:
                answers.append(type(exc).__name__)
            else:
                if r.status_code < 300:
                    outcome["sent"] += 1
                    outcome["accepted" if r.json()["status"] == "accepted" else "duplicate"] += 1
                    break
                assert r.status_code >= 500, (r.status_code, r.text)
                answers.append(r.status_code)
            if time.monotonic() > deadline:
                raise AssertionError(f"event {event_id} never accepted: {answers}")
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)
    return outcome


def wait_drained(store_url: str, timeout: float = 90) -> dict:
    engine = sa.create_engine(store_url)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            with engine.connect() as c:
                inbox = dict(c.execute(sa.select(t.inbox.c.status, sa.func.count()).group_by(t.inbox.c.status)).all())
                outbox = dict(c.execute(sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status)).all())
            if not inbox.get("pending") and not outbox.get("pending") and inbox:
                return {"inbox": inbox, "outbox": outbox}
            time.sleep(0.3)
    finally:
        engine.dispose()
    raise AssertionError(f"not drained: inbox={inbox} outbox={outbox}")

"""A bounded soak: real processes sharing one store, killed -9 at random moments and restarted.

The processes are those of a deployment: the webhook service (gunicorn, two sync workers),
two ``progress-plugin worker`` processes, the example notes host (``examples.notes_host``,
which runs the plugin in-process through its hooks) and the command line in a loop. A FHIR
host of the test's own (``examples.fhir_host``, a thread) takes the write-backs.

Drivers in threads of the test process make the writes and keep a ledger of every write
that was ACKNOWLEDGED: a webhook answered 2xx, a note save answered with the host's redirect,
a CLI command that exited 0. A write whose answer never came (the process was killed) is
not in the ledger; it may or may not have landed, and either is correct.

Every choice (which process to kill, when, which CLI command runs next, which CLI run is
killed) comes from one seeded ``random.Random``. Only the moments the kernel schedules
differ between runs; nothing asserted depends on them.

At the end everything is stopped, the store is checked with the database's own tools
(``PRAGMA integrity_check`` on SQLite, ``amcheck`` on PostgreSQL), and each acknowledged
write is looked up: present, and applied once (the audit log has one row per application).
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

from progress_plugin.store import tables as t
from progress_plugin.web.signatures import sign_standard

from tests import e2e
from tests.pg import free_port

ROOT = Path(__file__).resolve().parent.parent
CLINIC = "clinic-a"
STARTUP_SECONDS = 90          # generous: two cores are shared with other work
DRAIN_SECONDS = 180


def wait_for(check, timeout: float, what: str, alive=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        if alive is not None and not alive():
            raise AssertionError(f"{what}: the process exited")
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


# -- processes -------------------------------------------------------------------------------
class Proc:
    """A long-running process that can be killed -9 and started again with the same arguments."""

    def __init__(self, name: str, argv: list[str], folder: Path, env: dict, ready=None):
        self.name, self.argv, self.folder, self.env, self.ready = name, argv, folder, env, ready
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0
        self.crashes: list[int] = []          # exit codes of exits nobody asked for

    def start(self, wait: bool = True) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"--- start {self.starts + 1}\n")
            log.flush()
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.folder, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        if self.ready is not None:
            wait_for(self.ready, STARTUP_SECONDS, f"{self.name} ready", self.alive)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Record an exit nobody asked for (a crash), then start the process again."""
        if self.proc is not None and not self.alive():
            self.crashes.append(self.proc.returncode)
            self.start()

    def kill9(self) -> None:
        """kill -9 the process and every process it started (gunicorn's workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        self.kills += 1

    def children(self) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)       # anything left of the group
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def open_files(self) -> list[str]:
        """Paths the process (and its children) hold open; a deleted file ends in "(deleted)"."""
        out = []
        for pid in [self.proc.pid, *self.children()]:
            folder = f"/proc/{pid}/fd"
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                try:
                    out.append(os.readlink(f"{folder}/{name}"))
                except OSError:
                    pass
        return out


def _http_ok(url: str):
    return lambda: requests.get(url, timeout=2).status_code == 200


# -- ledger ----------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What was acknowledged, and what else was seen."""

    webhooks: dict = field(default_factory=dict)       # event id -> (type, data)
    redeliveries: int = 0                              # acknowledged again, same event id
    notes: list = field(default_factory=list)          # (text marker, tag code) of saves answered 302
    vocab: list = field(default_factory=list)          # codes added by `vocab add` runs that exited 0
    tokens: list = field(default_factory=list)         # token ids of `tokens create` runs that exited 0
    reads: int = 0                                     # read-only CLI runs that exited 0
    unanswered: Counter = field(default_factory=Counter)   # attempts with no answer (process killed)
    server_errors: list = field(default_factory=list)  # 5xx answers: (who, status, body start)
    refused: list = field(default_factory=list)        # other non-2xx answers: (who, status, body start)
    cli_failures: list = field(default_factory=list)   # CLI runs (not killed) that exited non-zero
    cli_kills: int = 0
    cli_exits: int = 0                                 # CLI runs that exited by themselves
    driver_errors: list = field(default_factory=list)  # a driver thread that failed (a fault of the soak)


# -- drivers ---------------------------------------------------------------------------------
class Driver(threading.Thread):
    """A thread that makes writes; a failure of the thread itself is recorded, not lost."""

    def __init__(self, soak: "Soak", name: str):
        super().__init__(name=name, daemon=True)
        self.soak = soak
        self.rnd = random.Random(soak.rnd.random())

    def run(self) -> None:
        try:
            self.drive()
        except Exception as exc:
            self.soak.ledger.driver_errors.append(f"{self.name}: {exc!r}")

    def drive(self) -> None:
        raise NotImplementedError


class Webhooks(Driver):
    """Signed Standard Webhooks for the service: an intake per client, then signed tagged notes,
    and now and then an event already acknowledged sent again (a host redelivering). An event
    without an answer is sent again with the same id until it is answered, as a host would."""

    def __init__(self, soak: "Soak"):
        super().__init__(soak, "webhooks")
        self.http = requests.Session()

    def events(self):
        for c in range(10_000):
            client_id = f"wh-{c}"
            notes = [{"note_id": f"wh-{c}-n{n}", "client_id": client_id} for n in range(8)]
            self.soak.host.register_notes(notes)
            yield "intake.submitted", {
                "client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z",
                "intake": {"goals": [{"words": "Sleep through", "whose": "client", "baseline": 3}],
                           "review_cadence": "at-review", "review_date": "2027-01-01", "agreed": True,
                           "agreed_on": "2026-01-05", "goals_reviewed": True}}
            for n, note in enumerate(notes):
                yield "note.signed", {
                    **note, "author": "t1", "session_at": f"2026-02-{n + 1:02d}T10:00:00Z",
                    "at": f"2026-02-{n + 1:02d}T11:00:00Z",
                    "tags": [{"code": self.rnd.choice(["step-forward", "setback", "stirring-up", "holding-steady"]),
                              "goals": ["g1"], "ratings": [{"goal": "g1", "value": self.rnd.randint(0, 10)}]}]}

    def drive(self) -> None:
        ledger = self.soak.ledger
        for kind, data in self.events():
            if self.soak.stopping.is_set():
                return
            event_id = "evt_" + uuid.uuid4().hex
            if self.deliver(event_id, kind, data):
                ledger.webhooks[event_id] = (kind, data)
            if ledger.webhooks and self.rnd.random() < 0.1:
                again = self.rnd.choice(sorted(ledger.webhooks))
                if self.deliver(again, *ledger.webhooks[again]):
                    ledger.redeliveries += 1
            time.sleep(0.02)

    def deliver(self, event_id: str, kind: str, data: dict) -> bool:
        """Post until answered 2xx. False only when the soak ends first."""
        body = json.dumps({"type": kind, "timestamp": "2026-02-01T00:00:00Z", "data": data}).encode()
        ledger = self.soak.ledger
        while not self.soak.finished.is_set():
            headers = {**sign_standard(self.soak.secret, event_id, int(time.time()), body),
                       "Content-Type": "application/json"}
            try:
                r = self.http.post(self.soak.webhook_url, data=body, headers=headers, timeout=30)
            except requests.RequestException:
                ledger.unanswered["webhook"] += 1
                time.sleep(0.2)
                continue
            if r.status_code < 300:
                return r.json()["status"] in ("accepted", "duplicate")
            (ledger.server_errors if r.status_code >= 500 else ledger.refused).append(
                ("service", r.status_code, r.text[:200]))
            time.sleep(0.2)
        return False


class NoteSaves(Driver):
    """Notes saved in the example notes host's form, one tag each. Each save has its own marker
    in the note text (the text stays in the host's own database; the plugin never sees it). A
    save without an answer is not repeated: the host has no idempotency of its own."""

    CODES = ["step-forward", "holding-steady", "noticing-more", "small-shift", "moment-of-connection"]

    def __init__(self, soak: "Soak", client_id: str):
        super().__init__(soak, "note-saves")
        self.client_id = client_id

    def drive(self) -> None:
        ledger = self.soak.ledger
        http = requests.Session()
        n = 0
        while not self.soak.stopping.is_set():
            n += 1
            marker, code = f"soak-note-{n}", self.rnd.choice(self.CODES)
            form = {"type": "progress-note", "session_at": f"2026-03-{1 + n % 28:02d}T10:00", "text": marker,
                    f"tag-{code}": "on"}
            try:
                r = http.post(f"{self.soak.notes_url}/clients/{self.client_id}/notes/new", data=form,
                              allow_redirects=False, timeout=30)
            except requests.RequestException:
                ledger.unanswered["note save"] += 1
                http = requests.Session()
                time.sleep(0.2)
                continue
            if r.status_code == 302:
                ledger.notes.append((marker, code))
            else:
                (ledger.server_errors if r.status_code >= 500 else ledger.refused).append(
                    ("notes host", r.status_code, r.text[:200]))
            time.sleep(0.1)


class CommandLine(Driver):
    """`progress-plugin` commands one after another, in shuffled rounds of every command; about
    one run in five is killed -9 at a random moment of its life."""

    def __init__(self, soak: "Soak"):
        super().__init__(soak, "cli")

    def drive(self) -> None:
        n = 0
        kinds: list[str] = []
        # As an admin does on the first day: `migrate` makes the configured clinic (no command that
        # changes it does), so this first run is never killed.
        self.once("migrate", ["migrate"], n, None)
        while not self.soak.stopping.is_set():
            n += 1
            if not kinds:                           # rounds of every command, each round shuffled
                kinds = ["vocab add", "vocab add", "tokens create", "vocab list", "tokens list", "migrate",
                         "vocab history", "outbox list"]
                self.rnd.shuffle(kinds)
            kind = kinds.pop()
            args = {"vocab add": ["vocab", "add", f"soak-{n}", "--clinic", CLINIC, "--label", f"Soak {n}",
                                  "--category", "soak", "--new-category", "--direction", "none",
                                  "--actor", "soak"],
                    "tokens create": ["tokens", "create", "--clinic", CLINIC, "--role", "viewer",
                                      "--name", f"soak {n}", "--actor", "soak"],
                    "vocab list": ["vocab", "list", "--clinic", CLINIC],
                    "tokens list": ["tokens", "list", "--clinic", CLINIC],
                    "migrate": ["migrate"],
                    "vocab history": ["vocab", "history", "--clinic", CLINIC],
                    "outbox list": ["outbox", "list", "--status", "pending"]}[kind]
            kill_after = self.rnd.uniform(0.05, 1.5) if self.rnd.random() < 0.2 else None
            self.once(kind, args, n, kill_after)
            time.sleep(0.3)

    def once(self, kind: str, args: list[str], n: int, kill_after: float | None) -> None:
        ledger = self.soak.ledger
        proc = subprocess.Popen([str(e2e.BIN / "progress-plugin"), *args], env=self.soak.env, cwd=self.soak.folder,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=kill_after if kill_after is not None else 300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            ledger.cli_kills += 1
            ledger.unanswered["cli " + kind] += 1
            return
        ledger.cli_exits += 1
        if proc.returncode != 0:
            ledger.cli_failures.append((kind, proc.returncode, err[-400:]))
        elif kind == "vocab add":
            ledger.vocab.append(f"soak-{n}")
        elif kind == "tokens create":
            ledger.tokens.append(re.search(r"token id ([0-9a-f]+)", err).group(1))
        else:
            ledger.reads += 1


# -- the soak --------------------------------------------------------------------------------
class Soak:
    def __init__(self, folder: Path, store_url: str, host, secret: str, seed: int):
        self.folder, self.store_url, self.host, self.secret = folder, store_url, host, secret
        self.backend = sa.make_url(store_url).get_backend_name()
        self.rnd = random.Random(seed)
        self.ledger = Ledger()
        self.stopping = threading.Event()          # drivers start no new write
        self.finished = threading.Event()          # drivers give up a write in flight
        config = e2e.write_config(folder, store_url, host.base_url, secret, clinic=CLINIC, lease_seconds=3)
        self.env = e2e.env_for(config)
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        service_port, notes_port = free_port(), free_port()
        self.service_url = f"http://127.0.0.1:{service_port}"
        self.webhook_url = f"{self.service_url}/webhooks/{CLINIC}"
        self.notes_url = f"http://127.0.0.1:{notes_port}"
        self.notes_db = folder / "notes-host.db"
        self.service = Proc("service", [str(e2e.BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{service_port}",
                                        "--timeout", "60", *e2e.no_control_socket(), "progress_plugin.web.app:create_app()"],
                            folder, self.env, _http_ok(self.service_url + "/healthz"))
        self.workers = [Proc(f"worker{i}", [str(e2e.BIN / "progress-plugin"), "worker", "--log-level", "warning"],
                             folder, self.env) for i in range(2)]
        self.notes_host = Proc("notes-host", [sys.executable, "-m", "examples.notes_host", "--db", str(self.notes_db),
                                              "--plugin-store", store_url, "--clinic", CLINIC,
                                              "--port", str(notes_port)],
                               folder, self.env, _http_ok(self.notes_url + "/"))
        self.procs = [self.service, *self.workers, self.notes_host]
        self.kills = Counter()
        self.deleted_wal: list[str] = []

    # -- run ----------------------------------------------------------------------------------
    def run(self, rounds: int) -> dict:
        started = time.monotonic()
        # First as on a clinic's first day: the notes host alone on a new store (it creates and
        # migrates it), notes saved in it, and the command line used on the same store.
        self.notes_host.start()
        drivers = [NoteSaves(self, self._notes_client()), CommandLine(self)]
        for d in drivers:
            d.start()
        wait_for(lambda: len(self.ledger.notes) >= 5 and self.ledger.cli_exits >= 3, STARTUP_SECONDS,
                 "first note saves and command line runs")
        self._look_for_deleted_wal()
        # Then the service and the workers, all at once, and webhooks for them.
        for p in (self.service, *self.workers):
            p.start(wait=False)
        for p in (self.service, *self.workers):
            p.wait_ready()
        drivers.append(Webhooks(self))
        drivers[-1].start()
        try:
            self._chaos(rounds)
            wait_for(lambda: all(len(w) for w in (self.ledger.webhooks, self.ledger.notes, self.ledger.vocab,
                                                  self.ledger.tokens)),
                     STARTUP_SECONDS, "every kind of write acknowledged at least once")
        finally:
            self.stopping.set()
            for d in drivers:
                d.join(60)
            self.finished.set()
            for d in drivers:
                d.join(60)
        for p in self.procs:
            p.check_alive()
        self._look_for_deleted_wal()
        drained = self._drain()
        for p in self.procs:
            p.stop()
        result = self.check()
        result.update(drained)
        result["seconds"] = round(time.monotonic() - started, 1)
        return result

    def _notes_client(self) -> str:
        r = requests.post(f"{self.notes_url}/clients", data={"name": "Soak Client"}, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        return r.headers["Location"].rsplit("/", 1)[1]

    #: One round of the chaos: each kind of process killed once, in a shuffled order.
    ROUND = ("service", "service worker", "worker", "worker", "notes host")

    def _chaos(self, rounds: int) -> None:
        """Kill -9 one process after a seeded random pause, start it again, and so on for
        ``rounds`` rounds. How many kills of each kind there are is fixed; only how long the
        restarts take depends on the machine."""
        for _ in range(rounds):
            victims = list(self.ROUND)
            self.rnd.shuffle(victims)
            for victim in victims:
                time.sleep(self.rnd.uniform(0.8, 2.4))
                for p in self.procs:
                    p.check_alive()
                self._look_for_deleted_wal()
                if victim == "service worker":          # one gunicorn worker; the master starts another
                    wait_for(lambda: self.service.children(), STARTUP_SECONDS, "gunicorn workers",
                             self.service.alive)
                    pick = self.rnd.random()            # one draw, however many workers there are
                    children = sorted(self.service.children())
                    os.kill(children[int(pick * len(children))], signal.SIGKILL)
                    self.kills[victim] += 1
                    continue
                proc = {"service": self.service, "notes host": self.notes_host,
                        "worker": self.workers[self.kills["worker"] % len(self.workers)]}[victim]
                proc.kill9()
                self.kills[victim] += 1
                proc.start()
        time.sleep(self.rnd.uniform(0.8, 2.4))         # writes go on with everything running again

    def _look_for_deleted_wal(self) -> None:
        if self.backend != "sqlite":
            return
        for p in self.procs:
            if p.alive():
                self.deleted_wal += [f"{p.name}: {f}" for f in p.open_files()
                                     if "progress.db" in f and f.endswith("(deleted)")]

    def _drain(self) -> dict:
        """Wait until the workers have applied every event and sent every write-back."""
        engine = sa.create_engine(self.store_url)
        counts: dict = {}
        try:
            def drained():
                with engine.connect() as c:
                    counts["inbox"] = dict(c.execute(sa.select(t.inbox.c.status, sa.func.count())
                                                     .group_by(t.inbox.c.status)).all())
                    counts["outbox"] = dict(c.execute(sa.select(t.outbox.c.status, sa.func.count())
                                                      .group_by(t.outbox.c.status)).all())
                return not counts["inbox"].get("pending") and not counts["outbox"].get("pending")
            wait_for(drained, DRAIN_SECONDS, f"inbox and outbox drained (last seen {counts})")
        finally:
            engine.dispose()
        return counts

    # -- checks (every process has exited) ---------------------------------------------------
    def check(self) -> dict:
        assert not any(p.alive() for p in self.procs)
        integrity, integrity_checks = self._integrity()
        engine = sa.create_engine(self.store_url)
        try:
            with engine.connect() as c:
                found = self._find(c)
        finally:
            engine.dispose()
        ledger = self.ledger
        acknowledged = {"webhooks": len(ledger.webhooks), "notes": len(ledger.notes), "vocab": len(ledger.vocab),
                        "tokens": len(ledger.tokens)}
        present = {k: len(v["present"]) for k, v in found.items()}
        duplicated = {k: len(v["duplicated"]) for k, v in found.items()}
        return {
            "backend": self.backend,
            "processes": {p.name: {"starts": p.starts, "killed": p.kills, "crashed": p.crashes} for p in self.procs},
            "kills": {**self.kills, "cli run": ledger.cli_kills},
            "acknowledged": acknowledged, "present": present, "duplicated": duplicated,
            "missing": {k: sorted(v["missing"])[:20] for k, v in found.items()},
            "duplicates": {k: sorted(v["duplicated"])[:20] for k, v in found.items()},
            "redeliveries": ledger.redeliveries, "cli_reads": ledger.reads,
            "unanswered": dict(ledger.unanswered),
            "server_errors": ledger.server_errors[:20], "server_error_count": len(ledger.server_errors),
            "refused": ledger.refused[:20], "cli_failures": ledger.cli_failures[:20],
            "deleted_wal": self.deleted_wal[:20], "driver_errors": ledger.driver_errors,
            "integrity": integrity, "integrity_checks": integrity_checks,
        }

    def _integrity(self) -> tuple[str, str]:
        """("ok" or the problems found, what was checked): the store with the database's own
        checker, and the notes host's own SQLite file with ``PRAGMA integrity_check``."""
        problems, checked = [], []
        paths = [str(self.notes_db)]
        if self.backend == "sqlite":
            paths.insert(0, sa.make_url(self.store_url).database)
        else:
            found, what = amcheck(self.store_url)
            problems += found
            checked.append(what)
        for path in paths:
            conn = sqlite3.connect(path)
            try:
                results = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            finally:
                conn.close()
            checked.append(f"PRAGMA integrity_check {Path(path).name}")
            if results != ["ok"]:
                problems += [f"{Path(path).name}: {r}" for r in results]
        return ("ok" if not problems else "; ".join(problems)[:1000]), ", ".join(checked)

    def _find(self, c) -> dict:
        ledger = self.ledger
        audit = Counter()
        for action, subject in c.execute(sa.select(t.audit_log.c.action, t.audit_log.c.subject)):
            if action in ("note.tag", "note.sign"):
                audit["note:" + re.search(r"note:(\S+)", subject).group(1)] += 1
            elif action == "intake.record":
                audit["intake:" + re.search(r"client:(\S+)", subject).group(1)] += 1
            elif action == "token.create":
                audit["token:" + re.search(r"token:(\S+)", subject).group(1)] += 1

        # webhooks: one inbox row per event id, done, and its content applied once
        inbox = {}
        for event_id, status in c.execute(sa.select(t.inbox.c.event_id, t.inbox.c.status)
                                          .where(t.inbox.c.clinic_id == CLINIC)):
            inbox.setdefault(event_id, []).append(status)
        notes = Counter(r[0] for r in c.execute(sa.select(t.notes.c.note_id).where(t.notes.c.clinic_id == CLINIC)))
        tags = {(r.note_id, r.code) for r in c.execute(sa.select(t.note_tags.c.note_id, t.note_tags.c.code)
                                                       .where(t.note_tags.c.clinic_id == CLINIC))}
        intakes = {r[0] for r in c.execute(sa.select(t.intakes.c.client_id).where(t.intakes.c.clinic_id == CLINIC))}
        webhooks = _tally()
        for event_id, (kind, data) in ledger.webhooks.items():
            if kind == "intake.submitted":
                key, applied = "intake:" + data["client_id"], data["client_id"] in intakes
            else:
                key = "note:" + data["note_id"]
                applied = notes[data["note_id"]] == 1 and (data["note_id"], data["tags"][0]["code"]) in tags
            if inbox.get(event_id) == ["done"] and applied and audit[key] >= 1:
                webhooks["present"].append(event_id)
            else:
                webhooks["missing"].append(f"{event_id} {kind} inbox={inbox.get(event_id)} applied={applied} "
                                           f"audit={audit[key]}")
            if len(inbox.get(event_id, [])) > 1 or audit[key] > 1:
                webhooks["duplicated"].append(event_id)

        # note saves in the notes host: the host's note once, the plugin's record of it applied once
        host_notes = Counter()
        note_ids = {}
        conn = sqlite3.connect(self.notes_db)
        try:
            for note_id, text in conn.execute("SELECT id, text FROM notes"):
                host_notes[text] += 1
                note_ids[text] = note_id
        finally:
            conn.close()
        saves = _tally()
        for marker, code in ledger.notes:
            note_id = note_ids.get(marker)
            ok = (note_id is not None and notes[note_id] == 1 and (note_id, code) in tags
                  and audit["note:" + note_id] >= 1)
            saves["present" if ok else "missing"].append(marker)
            if host_notes[marker] > 1 or (note_id is not None and audit["note:" + note_id] > 1):
                saves["duplicated"].append(marker)

        # `vocab add`: the tag in the current vocabulary, added by one version
        current = c.execute(sa.select(t.vocabulary_versions.c.tags).where(t.vocabulary_versions.c.clinic_id == CLINIC)
                            .order_by(t.vocabulary_versions.c.version.desc()).limit(1)).scalar()
        codes = Counter(tag["code"] for tag in current)
        changes = Counter(r[0] for r in c.execute(sa.select(t.vocabulary_versions.c.change)
                                                  .where(t.vocabulary_versions.c.clinic_id == CLINIC)))
        vocab = _tally()
        for code in ledger.vocab:
            vocab["present" if codes[code] >= 1 and changes[f"add {code}"] >= 1 else "missing"].append(code)
            if codes[code] > 1 or changes[f"add {code}"] > 1:
                vocab["duplicated"].append(code)

        # `tokens create`: the token, created once
        stored = Counter(r[0] for r in c.execute(sa.select(t.tokens.c.token_id)))
        tokens = _tally()
        for token_id in ledger.tokens:
            tokens["present" if stored[token_id] == 1 else "missing"].append(token_id)
            if stored[token_id] > 1 or audit["token:" + token_id] > 1:
                tokens["duplicated"].append(token_id)
        return {"webhooks": webhooks, "notes": saves, "vocab": vocab, "tokens": tokens}


def _tally() -> dict:
    return {"present": [], "missing": [], "duplicated": []}


def amcheck(store_url: str) -> tuple[list[str], str]:
    """``amcheck`` on every table (``verify_heapam``) and B-tree index (``bt_index_parent_check``
    with ``heapallindexed``) of the store's schema: (problems found, what was checked)."""
    engine = sa.create_engine(store_url, isolation_level="AUTOCOMMIT")
    problems = []
    try:
        with engine.connect() as c:
            c.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
            tables = c.exec_driver_sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1").scalars().all()
            indexes = c.exec_driver_sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = 'public' AND c.relkind = 'i' "
                "AND a.amname = 'btree' ORDER BY 1").scalars().all()
            for name in tables:
                for row in c.exec_driver_sql("SELECT blkno, offnum, msg FROM verify_heapam(%(t)s::regclass)",
                                             {"t": f'public."{name}"'}):
                    problems.append(f"{name}: block {row.blkno}: {row.msg}")
            for name in indexes:
                try:
                    c.exec_driver_sql("SELECT bt_index_parent_check(%(i)s::regclass, true)", {"i": f'public."{name}"'})
                except sa.exc.DBAPIError as exc:
                    problems.append(f"{name}: {exc.orig}")
    finally:
        engine.dispose()
    if not tables or not indexes:
        problems.append("amcheck found no tables or indexes to check")
    return problems, f"amcheck: verify_heapam on {len(tables)} tables, bt_index_parent_check on {len(indexes)} indexes"


def summary_line(result: dict) -> str:
    procs = result["processes"]
    starts = sum(p["starts"] for p in procs.values())
    kills = sum(result["kills"].values())
    cli_ok = result["cli_reads"] + result["acknowledged"]["vocab"] + result["acknowledged"]["tokens"]
    return (f"soak {result['backend']}: {result['seconds']:.0f} s; processes: gunicorn (master + 2 workers), "
            f"2 workers, notes host ({starts} starts), {cli_ok} CLI runs exited 0; "
            f"{kills} killed -9 ({', '.join(f'{k} {v}' for k, v in sorted(result['kills'].items()))}); "
            f"writes acknowledged {sum(result['acknowledged'].values())} "
            f"({', '.join(f'{k} {v}' for k, v in result['acknowledged'].items())}), "
            f"present {sum(result['present'].values())}, duplicated {sum(result['duplicated'].values())}; "
            f"5xx {result['server_error_count']}; integrity {result['integrity']} ({result['integrity_checks']})")

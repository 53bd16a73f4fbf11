"""Fault tests with real processes on 127.0.0.1: gunicorn, `progress-plugin worker`, Medplum.

Each test breaks one thing (the host answers 429, drops connections, answers 409/412, the
worker is killed with kill -9 mid-batch, or every worker that takes one row is killed) and
ends with nothing lost and nothing duplicated:

- every expected write was answered 2xx by the host exactly once (a faulted attempt is not
  a write; the host's own counters are the witness);
- the host holds one intake Questionnaire, however often its conditional create was sent;
- every inbox row is done, and every outbox row is done (none pending, none dead);
- each row was reported done by one worker, once;
- no good row was set aside as failed or dead, as `inbox list`, `outbox list` and /readyz
  show it; only a row that kills every worker taking it is, and it is replayed.

Every test starts its own Medplum, so the host's counters and data belong to it alone, and
its searches stay fast (Medplum's in-memory identifier search scans every stored resource
of the type, about 0.7 ms each). A host outage of 503s is in test_e2e.py.
"""
from __future__ import annotations

import random
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from progress_plugin.core import intake as intake_mod
from progress_plugin.store import tables as t
from tests import e2e, fhir_server
from tests.conftest import SECRET

DONE_LINE = re.compile(r"^(\S+ \S+) INFO progress_plugin\.service\.worker (inbox|outbox) row done id=(\d+)")
RESCHEDULED_LINE = re.compile(r"^(\S+ \S+) WARNING progress_plugin\.service\.worker outbox row rescheduled id=(\d+) .*status=(\d+)")


# -- harness ----------------------------------------------------------------------------------
@pytest.fixture
def host():
    """A Medplum FHIR server of this test's own."""
    with fhir_server.running() as server:
        yield server


class WorkerProcess:
    """`progress-plugin worker` at info level, its log in a file of its own."""

    def __init__(self, config: Path, name: str):
        self.log_path = config.parent / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(e2e.BIN / "progress-plugin"), "worker", "--log-level", "info"],
                                     env=e2e.env_for(config), stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=config.parent)
        self.killed_at: float | None = None

    def owner(self, timeout: float = 30) -> str:
        """The lease owner name this worker logged on start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"worker started owner=(\S+)", self.log_path.read_text())
            if found:
                return found.group(1)
            assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
            time.sleep(0.05)
        raise AssertionError("worker did not start: " + self.log_path.read_text()[-2000:])

    def kill9(self) -> None:
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class Stack:
    """The service (gunicorn) and worker processes on one store; stopped at the end of the test."""

    def __init__(self, folder: Path, store_url: str, host_url: str, lease_seconds: float = 3,
                 gunicorn_workers: int = 2):
        self.folder = folder
        self.store_url = store_url
        self.config = e2e.write_config(folder, store_url, host_url, SECRET, lease_seconds=lease_seconds)
        self.workers: list[WorkerProcess] = []
        self.service = e2e.Service(self.config, workers=gunicorn_workers)

    @property
    def webhook_url(self) -> str:
        return f"{self.service.url}/webhooks/clinic-a"

    def worker(self) -> WorkerProcess:
        w = WorkerProcess(self.config, f"worker{len(self.workers)}")
        self.workers.append(w)
        return w

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(e2e.BIN / "progress-plugin"), *args], env=e2e.env_for(self.config),
                              cwd=self.folder, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.service.stop()

    def logs(self) -> str:
        return "".join(w.log_path.read_text() for w in self.workers)


@pytest.fixture
def stack(tmp_path):
    started: list[Stack] = []

    def start(host_url: str, **kw) -> Stack:
        s = Stack(tmp_path, f"sqlite:///{tmp_path / 'progress.db'}", host_url, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def make_docs(base_url: str, n: int) -> list[str]:
    """Create ``n`` notes (DocumentReferences) at the host; their ids."""
    http = requests.Session()
    doc = {"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}
    ids = [http.post(f"{base_url}/DocumentReference", json=doc, timeout=10).json()["id"] for _ in range(n)]
    http.close()
    return ids


def scenario(base_url: str, clients: int, notes_per_client: int, rate_every: int = 1, seed: int = 7):
    """Signed-note events for ``clients`` clients (an intake each, then tagged notes, every
    ``rate_every``-th note with a rating) and the host writes they must cause, once each."""
    rnd = random.Random(seed)
    docs = iter(make_docs(base_url, clients * notes_per_client))
    events = []
    expected = {"QuestionnaireResponse": 0, "Goal": 0, "Observation": 0, "tags": 0}
    for c in range(clients):
        client_id = f"p{c}-{uuid.uuid4().hex[:8]}"
        events.append(("intake.submitted", {
            "client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z",
            "intake": {"goals": [{"words": "Sleep through", "whose": "client", "baseline": 3}],
                       "review_cadence": "at-review", "review_date": "2027-01-01", "agreed": True,
                       "agreed_on": "2026-01-05", "goals_reviewed": True}}))
        expected["QuestionnaireResponse"] += 1
        expected["Goal"] += 1
        expected["Observation"] += 1            # the baseline rating
        for n in range(notes_per_client):
            tag = {"code": rnd.choice(["step-forward", "setback", "stirring-up", "holding-steady"]), "goals": ["g1"]}
            if n % rate_every == 0:
                tag["ratings"] = [{"goal": "g1", "value": rnd.randint(0, 10)}]
                expected["Observation"] += 1
            day = 1 + n % 28
            events.append(("note.signed", {
                "client_id": client_id, "note_id": next(docs), "author": "t1",
                "session_at": f"2026-02-{day:02d}T{8 + n // 28:02d}:00:00Z",
                "at": f"2026-02-{day:02d}T{8 + n // 28:02d}:30:00Z", "tags": [tag]}))
            expected["tags"] += 1
    return events, expected


def ok_counts(host) -> dict[str, int]:
    """2xx answers per request pattern, as the host counted them."""
    return {pattern: sum(n for status, n in by_status.items() if status.startswith("2"))
            for pattern, by_status in host.stats()["statuses"].items()}


def questionnaires_at(host) -> int:
    bundle = requests.get(f"{host.base_url}/Questionnaire", timeout=10,
                          params={"url": intake_mod.SECTION_URL, "version": intake_mod.SECTION_VERSION}).json()
    return len(bundle.get("entry") or [])


def table_statuses(store_url: str) -> tuple[Counter, Counter]:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as c:
            inbox = Counter(dict(c.execute(sa.select(t.inbox.c.status, sa.func.count()).group_by(t.inbox.c.status)).all()))
            outbox = Counter(dict(c.execute(sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status)).all()))
    finally:
        engine.dispose()
    return inbox, outbox


def done_lines(logs: str) -> Counter:
    """How often each (table, row id) was reported done."""
    return Counter((m.group(2), int(m.group(3))) for m in map(DONE_LINE.match, logs.splitlines()) if m)


def assert_nothing_lost_or_duplicated(host, stack: Stack, events, expected, questionnaire_posts: int | None = 1):
    """The checks every fault test ends with (see the module docstring)."""
    ok = ok_counts(host)
    assert ok.get("PUT QuestionnaireResponse", 0) == expected["QuestionnaireResponse"]
    assert ok.get("PUT Goal", 0) == expected["Goal"]
    assert ok.get("PUT Observation", 0) == expected["Observation"]
    assert ok.get("PATCH DocumentReference/:id", 0) == expected["tags"]
    if questionnaire_posts is not None:
        assert ok.get("POST Questionnaire", 0) == questionnaire_posts
    assert questionnaires_at(host) == 1
    inbox, outbox = table_statuses(stack.store_url)
    assert inbox == {"done": len(events)}
    rows = 1 + sum(expected.values())              # the Questionnaire, then one row per write
    assert outbox == {"done": rows}
    reported = done_lines(stack.logs())
    assert max(reported.values()) == 1, [k for k, n in reported.items() if n > 1]
    return reported


def assert_no_failed_rows(stack: Stack):
    """What an operator sees: no failed inbox row, no dead letter, and no row left with a
    claim that came to nothing (every row's last lease ended in an outcome)."""
    assert "no failed rows" in stack.cli("inbox", "list").stdout
    assert "no dead rows" in stack.cli("outbox", "list").stdout
    assert requests.get(f"{stack.service.url}/readyz", timeout=10).json()["failed_rows"] == {"inbox": 0, "outbox": 0}
    engine = sa.create_engine(stack.store_url)
    try:
        with engine.connect() as c:
            assert {n for table in (t.inbox, t.outbox) for n in c.execute(sa.select(table.c.claims)).scalars()} == {0}
    finally:
        engine.dispose()


# -- faults -------------------------------------------------------------------------------------
def test_429_with_retry_after_is_honoured_and_nothing_is_lost(host, stack):
    """Three 429s with Retry-After: 3 on one Observation write. The client sleeps the
    Retry-After between its own retries; when they run out, the row is rescheduled no sooner
    than Retry-After (its own backoff would be 1 s), and then written once."""
    events, expected = scenario(host.base_url, clients=3, notes_per_client=4)
    host.reset()
    host.fault(count=3, status=429, retry_after=3, method="PUT", path="Observation")
    s = stack(host.base_url)
    s.worker()
    e2e.send(s.webhook_url, SECRET, events)
    e2e.wait_drained(s.store_url, timeout=90)

    assert host.count("PUT Observation", 429) == 3
    assert_nothing_lost_or_duplicated(host, s, events, expected)
    logs = s.logs().splitlines()
    rescheduled = [m for m in map(RESCHEDULED_LINE.match, logs) if m]
    assert [(m.group(3)) for m in rescheduled] == ["429"]
    row = rescheduled[0].group(2)
    done_at = next(m.group(1) for m in map(DONE_LINE.match, logs) if m and m.group(2) == "outbox" and m.group(3) == row)
    waited = _seconds(done_at) - _seconds(rescheduled[0].group(1))
    assert waited >= 2.9, f"row {row} was retried {waited:.2f} s after a Retry-After of 3 s"


def test_connection_resets_lose_nothing(host, stack):
    """The host drops the connection (after reading the request, before answering) twelve
    times in a row: the client retries within the call, then the row is rescheduled."""
    events, expected = scenario(host.base_url, clients=3, notes_per_client=4, seed=8)
    host.reset()
    host.fault(count=12, reset=True)
    s = stack(host.base_url)
    s.worker()
    e2e.send(s.webhook_url, SECRET, events)
    e2e.wait_drained(s.store_url, timeout=90)

    resets = sum(by_status.get("reset", 0) for by_status in host.stats()["statuses"].values())
    assert resets == 12
    assert "rescheduled" in s.logs()               # at least one row ran out of in-call retries
    assert_nothing_lost_or_duplicated(host, s, events, expected)


def test_one_409_or_412_is_resolved_by_one_reread_and_reapply(host, stack):
    """DESIGN.md: "a 409 or 412 is never blindly retried". One conflict on a Goal PUT, one
    on a tag PATCH and one 412 on a QuestionnaireResponse PUT: each row re-reads the host's
    copy once and writes once more, in the same attempt. Nothing is rescheduled or dead."""
    events, expected = scenario(host.base_url, clients=3, notes_per_client=3, seed=9)
    host.reset()
    host.fault(count=1, status=409, method="PUT", path="Goal")
    host.fault(count=1, status=409, method="PATCH", path="DocumentReference")
    host.fault(count=1, status=412, method="PUT", path="QuestionnaireResponse")
    s = stack(host.base_url)
    s.worker()
    e2e.send(s.webhook_url, SECRET, events)
    e2e.wait_drained(s.store_url, timeout=90)

    stats = host.stats()
    assert stats["statuses"]["PUT Goal"]["409"] == 1
    assert stats["statuses"]["PATCH DocumentReference/:id"]["409"] == 1
    assert stats["statuses"]["PUT QuestionnaireResponse"]["412"] == 1
    # one search (or read) per row, and exactly one more for each conflict
    assert stats["counts"]["GET Goal"] == expected["Goal"] + 1
    assert stats["counts"]["GET QuestionnaireResponse"] == expected["QuestionnaireResponse"] + 1
    assert stats["counts"]["GET DocumentReference/:id"] == expected["tags"] + 1
    assert stats["counts"]["PUT Goal"] == expected["Goal"] + 1
    assert "outbox row rescheduled" not in s.logs() and "outbox row dead" not in s.logs()
    assert_nothing_lost_or_duplicated(host, s, events, expected)
    engine = sa.create_engine(s.store_url)
    with engine.connect() as c:
        attempts = set(c.execute(sa.select(t.outbox.c.attempts)).scalars())
    engine.dispose()
    assert attempts == {1}                          # resolved within the first attempt


def test_a_second_409_dead_letters_the_row_until_it_is_replayed(host, stack):
    """Two conflicts in a row on the same Goal PUT: the re-read and reapply also conflicts,
    so the row goes to the dead letters (never retried blindly). `outbox retry` replays it
    and the Goal is then written once."""
    events, expected = scenario(host.base_url, clients=2, notes_per_client=2, seed=10)
    host.reset()
    host.fault(count=2, status=409, method="PUT", path="Goal")
    s = stack(host.base_url)
    s.worker()
    e2e.send(s.webhook_url, SECRET, events)
    _wait_for(lambda: table_statuses(s.store_url)[1] == {"dead": 1, "done": 1 + sum(expected.values()) - 1})

    listed = s.cli("outbox", "list")
    assert listed.returncode == 0, listed.stderr
    dead = [line for line in listed.stdout.splitlines() if " dead " in line]
    assert len(dead) == 1 and "goal/" in dead[0] and "HostConflict" in dead[0]
    assert host.count("PUT Goal", 409) == 2 and host.count("PUT Goal", 200) + host.count("PUT Goal", 201) == expected["Goal"] - 1

    replay = s.cli("outbox", "retry", "--all")
    assert replay.returncode == 0, replay.stderr
    e2e.wait_drained(s.store_url, timeout=60)
    assert_nothing_lost_or_duplicated(host, s, events, expected)


def test_kill_9_of_the_worker_mid_batch_loses_and_duplicates_nothing(host, stack):
    """300 events (20 clients: an intake and 14 signed notes each, every 4th note rated)
    arrive while the worker is killed with kill -9 again and again, each time while it holds
    leased rows, after a random short while; a new worker process is started after each kill.

    Notes are mostly unrated to keep Medplum's identifier searches (a scan per search) short;
    every note is still tagged through the JSON Patch path."""
    events, expected = scenario(host.base_url, clients=20, notes_per_client=14, rate_every=4, seed=12)
    assert len(events) == 300
    host.reset()
    s = stack(host.base_url, lease_seconds=2)
    sending = threading.Thread(target=e2e.send, args=(s.webhook_url, SECRET, events), daemon=True)
    rnd = random.Random(2026)
    engine = sa.create_engine(s.store_url)
    kills = []                                      # (owner, rows it still held once dead)
    try:
        sending.start()
        deadline = time.monotonic() + 150
        while len([k for k in kills if k[1]]) < 12 and time.monotonic() < deadline:
            w = s.worker()
            owner = w.owner()
            if not _wait_for(lambda: _held(engine, owner) > 0, timeout=5, fail=False):
                break                               # nothing left to take: drained early
            time.sleep(rnd.uniform(0.05, 0.8))
            w.kill9()
            kills.append((owner, _held(engine, owner)))
        sending.join(120)
        assert not sending.is_alive()
        s.worker()                                  # the last one finishes the work
        e2e.wait_drained(s.store_url, timeout=120)
    finally:
        engine.dispose()

    mid_batch = [k for k in kills if k[1]]
    assert len(mid_batch) >= 10, kills
    assert all(w.proc.returncode == -signal.SIGKILL for w in s.workers[:len(kills)])
    # A killed worker may have sent the Questionnaire and died before marking it done; the
    # replay is a conditional create the host answers 200 without creating anything.
    reported = assert_nothing_lost_or_duplicated(host, s, events, expected, questionnaire_posts=None)
    # each row is reported done once, save those whose worker died between commit and log
    assert sum(reported.values()) >= len(events) + 1 + sum(expected.values()) - len(kills)
    # the rows in hand at each kill were claimed again, alone, and finished: none was failed
    assert_no_failed_rows(s)
    assert "LeaseExpired" not in s.logs()
    print(f"kill -9: {len(kills)} kills, {len(mid_batch)} holding rows "
          f"({sum(k[1] for k in kills)} rows in hand), {sum(expected.values()) + 1} writes")


def test_a_row_that_kills_every_worker_taking_it_fails_alone_and_is_replayed(host, stack):
    """One inbox row kills the worker process handling it (here: the test kills each worker
    with kill -9 while that worker reads the row's note, which the host answers slowly).
    It arrives first, so it shares its first batch with the events behind it. With
    ``inbox_max_attempts = 3`` it is taken three times, the last two alone, and then failed
    (``LeaseExpired``); the events of its batch are claimed one by one and applied, none
    failed. `inbox list`, `check` and /readyz show the failed row; once the cause is gone
    (the host answers a fourth read at once), `inbox retry` replays it."""
    from progress_plugin.store import inbox
    events, expected = scenario(host.base_url, clients=2, notes_per_client=3, seed=14)
    (doc,) = make_docs(host.base_url, 1)
    host.reset()
    host.fault(count=3, delay_ms=3000, method="GET", path=f"DocumentReference/{doc}")     # three slow reads
    s = stack(host.base_url, lease_seconds=2)
    s.config.write_text(s.config.read_text().replace("max_attempts = 30", "max_attempts = 30\ninbox_max_attempts = 3"))
    engine = sa.create_engine(s.store_url)
    try:
        with engine.begin() as c:
            inbox.put(c, "clinic-a", "evt-crash", "fhir.focus", {"focus": f"DocumentReference/{doc}"},
                      datetime.now().astimezone())
        e2e.send(s.webhook_url, SECRET, events, duplicate_every=1000)

        def reads() -> int:
            return sum(1 for e in host.stats()["log"] if e["method"] == "GET" and doc in e["path"])

        for kill in range(3):
            seen = reads()
            w = s.worker()
            w.owner()
            _wait_for(lambda: reads() > seen, timeout=30)           # this worker is on the row: it "crashes"
            w.kill9()
        s.worker()
        e2e.wait_drained(s.store_url, timeout=90)
        with engine.connect() as c:
            crash = c.execute(sa.select(t.inbox).where(t.inbox.c.event_id == "evt-crash")).one()
        inbox_states, outbox_states = table_statuses(s.store_url)
    finally:
        engine.dispose()
    assert (crash.status, crash.error, crash.attempts, crash.claims) == ("failed", "LeaseExpired", 0, 0)
    assert inbox_states == {"done": len(events), "failed": 1} and outbox_states == {"done": 1 + sum(expected.values())}
    assert reads() == 3                                            # taken three times, never a fourth

    listed = s.cli("inbox", "list")
    line = next(line for line in listed.stdout.splitlines() if "evt-crash" in line)
    assert line.split()[:7] == [str(crash.id), "clinic-a", "fhir.focus", "evt-crash", "failed", "0", "LeaseExpired"]
    checked = s.cli("check")
    assert checked.returncode == 3 and "WARN inbox: 1 failed" in checked.stdout, checked.stdout
    assert requests.get(f"{s.service.url}/readyz", timeout=10).json()["failed_rows"] == {"inbox": 1, "outbox": 0}

    assert host.pending_faults() == []                              # the cause is gone
    assert "requeued: 1" in s.cli("inbox", "retry", str(crash.id)).stdout
    e2e.wait_drained(s.store_url, timeout=60)
    assert_nothing_lost_or_duplicated(host, s, events + [("fhir.focus", {})], expected)
    assert_no_failed_rows(s)


def _held(engine, owner: str) -> int:
    with engine.connect() as c:
        return sum(c.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.lease_owner == owner, table.c.status == "pending")).scalar() for table in (t.inbox, t.outbox))


def _wait_for(check, timeout: float = 60, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    if fail:
        raise AssertionError("condition not met in time")
    return False


def _seconds(stamp: str) -> float:
    """A logging timestamp (``2026-11-25 20:15:29,534``) as seconds since the epoch (local time)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()

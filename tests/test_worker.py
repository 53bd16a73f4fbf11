"""The worker against Medplum's in-memory FHIR server: inbox -> core -> outbox -> host."""
import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa

from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.store import tables as t
from progress_plugin.store import Store
from progress_plugin.service.settings import ServiceConfig
from progress_plugin.service.worker import Worker


def new_doc(base) -> str:
    doc = {"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZSB0ZXh0"}}]}
    return requests.post(f"{base}/DocumentReference", json=doc, timeout=5).json()["id"]


@pytest.fixture
def setup(service_config, medplum):
    cfg = dataclasses.replace(service_config, host_url=medplum.base_url, lease_seconds=2)
    store = Store.open(cfg.store_url)
    store.ensure_clinic("clinic-a", datetime.now(timezone.utc))
    return cfg, store, medplum


def put(store, event_type, data, event_id=None):
    with store.begin() as conn:
        return inbox.put(conn, "clinic-a", event_id or uuid.uuid4().hex, event_type,
                         {"clinic_id": "clinic-a", **data}, datetime.now(timezone.utc))


def drain(worker, rounds=20):
    for _ in range(rounds):
        if not worker.run_once():
            return
    raise AssertionError("worker did not drain")


def intake(client_id):
    return {"client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z",
            "intake": {"goals": [{"words": "Sleep through", "whose": "client", "baseline": 3}],
                       "review_cadence": "monthly", "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True,
                       "private_reflection": "PRIVATE-CANARY"}}


def note(client_id, note_id, value, signed=False):
    return {"client_id": client_id, "note_id": note_id, "session_at": "2026-01-12T10:00:00Z", "author": "t1",
            "at": "2026-01-12T11:00:00Z", "signed": signed,
            "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": value}]},
                     {"code": "stirring-up"}]}


def test_events_become_host_writes_exactly_once(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = new_doc(host.base_url)
    host.reset()
    put(store, "intake.submitted", intake(client_id), "e1")
    put(store, "note.signed", note(client_id, doc_id, 6, signed=True), "e2")
    assert put(store, "note.signed", note(client_id, doc_id, 6, signed=True), "e2") is False   # duplicate
    worker = Worker(store, cfg)
    drain(worker)
    with store.engine.connect() as c:
        assert inbox.counts(c) == {"done": 2}
        assert outbox.counts(c) == {"done": 6}    # questionnaire, response, goal, baseline, rating, tags
    stats = host.stats()["counts"]
    assert stats.get("PUT Goal") == 1 and stats.get("PUT Observation") == 2
    assert stats.get("PUT QuestionnaireResponse") == 1 and stats.get("POST Questionnaire") == 1
    assert stats.get("PATCH DocumentReference/:id") == 1
    doc = requests.get(f"{host.base_url}/DocumentReference/{doc_id}", timeout=5).json()
    assert sorted(tag["code"] for tag in doc["meta"]["tag"]) == ["step-forward", "stirring-up"]
    assert doc["content"][0]["attachment"]["data"] == "bm90ZSB0ZXh0"       # note content untouched
    qr = requests.get(f"{host.base_url}/QuestionnaireResponse",
                      params={"identifier": f"https://progress-plugin.org/fhir/intake|clinic-a/{client_id}/intake-2026-01-05"},
                      timeout=5).json()["entry"][0]["resource"]
    assert "PRIVATE-CANARY" not in str(qr)
    # a redelivery of the same signed note changes nothing and writes nothing
    host.reset()
    put(store, "note.signed", note(client_id, doc_id, 6, signed=True), "e3")
    drain(worker)
    assert host.stats()["total"] == 0


def test_host_down_reschedules_then_recovers(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    put(store, "intake.submitted", intake(client_id))
    host.fault(count=200, status=503)
    worker = Worker(store, dataclasses.replace(cfg, max_attempts=5))
    worker.process_inbox()
    worker.process_outbox()
    with store.engine.connect() as c:
        pending = c.execute(sa.select(t.outbox.c.attempts, t.outbox.c.next_attempt_at, t.outbox.c.status)).all()
    assert pending and all(r.status == "pending" and r.attempts == 1 for r in pending)
    host.reset()
    # the rows wait for their backoff: run the worker with a clock past it
    later = Worker(store, cfg, clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=5))
    drain(later)
    with store.engine.connect() as c:
        assert outbox.counts(c) == {"done": 4}


def test_permanent_refusal_dead_letters_and_retry_replays(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    put(store, "intake.submitted", intake(client_id))
    host.fault(count=100, status=422, method="PUT")
    worker = Worker(store, cfg)
    drain(worker)
    with store.engine.connect() as c:
        counts = outbox.counts(c)
    assert counts.get("dead") == 3 and counts.get("done") == 1     # the Questionnaire POST went through
    host.reset()
    with store.begin() as c:
        assert outbox.retry(c, datetime.now(timezone.utc)) == 3
    drain(worker)
    with store.engine.connect() as c:
        assert outbox.counts(c) == {"done": 4}


def test_a_note_before_its_intake_waits_for_it(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = new_doc(host.base_url)
    put(store, "note.saved", note(client_id, doc_id, 5), "late-note")
    worker = Worker(store, cfg)
    worker.process_inbox()
    with store.engine.connect() as c:
        row = c.execute(sa.select(t.inbox).where(t.inbox.c.event_id == "late-note")).first()
    assert row.status == "pending" and row.lease_owner == "deferred"
    put(store, "intake.submitted", intake(client_id))
    clock = [datetime.now(timezone.utc)]
    later = Worker(store, cfg, clock=lambda: clock[0])
    for _ in range(3):                  # time passes: the deferred note is tried again after its intake
        clock[0] += timedelta(seconds=60)
        drain(later)
    state = store.load_state("clinic-a", client_id)
    assert list(state.notes) == [doc_id]


def test_expired_lease_is_reclaimed_and_a_lost_lease_rolls_back(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    put(store, "intake.submitted", intake(client_id), "lease-1")
    now = datetime.now(timezone.utc)
    with store.begin() as c:
        claimed = inbox.claim(c, "dead-worker", now, 2, 10)
    assert [r["event_id"] for r in claimed] == ["lease-1"]
    with store.begin() as c:
        assert inbox.claim(c, "other", now, 2, 10) == []          # still leased
    with store.begin() as c:
        again = inbox.claim(c, "other", now + timedelta(seconds=3), 2, 10)
    assert [r["event_id"] for r in again] == ["lease-1"]
    with store.begin() as c:
        assert inbox.finish(c, again[0]["id"], "dead-worker", now) is False   # the old owner cannot finish it
        assert inbox.finish(c, again[0]["id"], "other", now) is True


# -- poison rows (no host needed: only the inbox is processed) ---------------------------------
POISON_WORDS = "Sleep through \ud800 CANARY-poison-words"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def poison_store(store, clock):
    """An inbox with a good intake and a poison one: its goal words hold a lone surrogate,
    which JSON stores (as an escape) but neither SQLite nor PostgreSQL will take as text."""
    bad = intake("c-poison")
    bad["intake"]["goals"][0]["words"] = POISON_WORDS
    with store.begin() as conn:
        inbox.put(conn, "clinic-a", "evt-poison", "intake.submitted", {"clinic_id": "clinic-a", **bad}, clock())
        inbox.put(conn, "clinic-a", "evt-good", "intake.submitted", {"clinic_id": "clinic-a", **intake("c-good")},
                  clock())
    return ServiceConfig(store_url="", batch=10, lease_seconds=30)


def inbox_row(store, event_id):
    with store.engine.connect() as c:
        return c.execute(sa.select(t.inbox).where(t.inbox.c.event_id == event_id)).one()


def test_a_stored_row_the_boundary_would_refuse_fails_at_once_and_is_kept(store):
    """A row stored before the boundary checked text (a lone surrogate in goal words) is
    refused by the worker's schema: failed at the first attempt, kept for a person to look at."""
    clock = Clock()
    worker = Worker(store, poison_store(store, clock), clock=clock)
    assert worker.process_inbox() == 2
    assert inbox_row(store, "evt-good").status == "done"
    row = inbox_row(store, "evt-poison")
    assert (row.status, row.attempts, row.error) == ("failed", 1, "ValidationError")
    assert row.payload["intake"]["goals"][0]["words"] == POISON_WORDS      # kept for a replay
    assert "CANARY" not in str(store.audit_rows())


def test_a_poison_row_fails_after_bounded_attempts_with_a_code_and_good_rows_go_on(store, monkeypatch):
    from progress_plugin.service.runtime import Runtime
    clock = Clock()
    with store.begin() as conn:
        for client in ("c-poison", "c-good"):
            inbox.put(conn, "clinic-a", f"evt-{client[2:]}", "intake.submitted",
                      {"clinic_id": "clinic-a", **intake(client)}, clock())
    cfg = ServiceConfig(store_url="", batch=10, lease_seconds=30)
    real = Runtime.dispatch

    def broken(self, event, *a, **kw):                         # a fault of ours on one client's events
        if getattr(event, "client_id", "") == "c-poison":
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        return real(self, event, *a, **kw)

    monkeypatch.setattr(Runtime, "dispatch", broken)
    assert cfg.inbox_max_attempts == 5                      # the default bound
    worker = Worker(store, cfg, clock=clock)
    assert worker.process_inbox() == 2                       # the poison row does not stop the batch
    assert inbox_row(store, "evt-good").status == "done"
    row = inbox_row(store, "evt-poison")
    assert (row.status, row.attempts, row.error, row.lease_owner) == ("pending", 1, "UnicodeEncodeError", None)
    assert worker.process_inbox() == 0                       # rescheduled with backoff, not retried at once
    rounds = 1
    while inbox_row(store, "evt-poison").status == "pending":
        clock.now += timedelta(minutes=6)                    # past the longest backoff
        assert worker.process_inbox() == 1
        rounds += 1
        assert rounds <= 10, "the poison row is retried for ever"
    row = inbox_row(store, "evt-poison")
    assert (rounds, row.status, row.attempts, row.error) == (5, "failed", 5, "UnicodeEncodeError")
    clock.now += timedelta(hours=1)
    assert worker.process_inbox() == 0                       # failed rows are never claimed again
    with store.engine.connect() as c:
        assert inbox.count(c, inbox.FAILED) == 1
        assert [(r["event_id"], r["error"]) for r in inbox.rows(c)] == [("evt-poison", "UnicodeEncodeError")]


def test_retry_replays_a_failed_row_once_its_cause_is_gone(store, monkeypatch):
    from progress_plugin.service.runtime import Runtime
    clock = Clock()
    cfg = dataclasses.replace(poison_store(store, clock), inbox_max_attempts=2)
    real = Runtime.dispatch

    def broken(self, event, *a, **kw):                         # a fault of ours on one client's events
        if getattr(event, "client_id", "") == "c-good":
            raise KeyError("g1")
        return real(self, event, *a, **kw)

    monkeypatch.setattr(Runtime, "dispatch", broken)
    worker = Worker(store, cfg, clock=clock)
    for _ in range(3):
        worker.process_inbox()
        clock.now += timedelta(minutes=6)
    assert (inbox_row(store, "evt-good").status, inbox_row(store, "evt-good").error) == ("failed", "KeyError")
    monkeypatch.setattr(Runtime, "dispatch", real)            # the fault is fixed
    with store.begin() as c:
        assert [r["event_type"] for r in inbox.retry(c, clinic_id="clinic-a")] == ["intake.submitted"] * 2
    with store.begin() as c:
        assert inbox.retry(c) == []                            # idempotent: nothing failed any more
    assert (inbox_row(store, "evt-good").status, inbox_row(store, "evt-good").attempts) == ("pending", 0)
    worker.process_inbox()
    assert inbox_row(store, "evt-good").status == "done"
    assert store.load_state("clinic-a", "c-good").intake is not None
    with store.begin() as c:
        assert [r["id"] for r in inbox.drop(c, [inbox_row(store, "evt-good").id])] == []   # only failed rows


def test_a_note_with_two_goal_ratings_and_no_tags_writes_two_observations(setup):
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = new_doc(host.base_url)
    two_goals = intake(client_id)
    two_goals["intake"]["goals"].append({"words": "Walk to the shop", "whose": "carer", "baseline": 2})
    put(store, "intake.submitted", two_goals)
    drain(Worker(store, cfg))
    host.reset()
    rated = {**note(client_id, doc_id, 0), "tags": [],
             "ratings": [{"goal": "g1", "value": 7}, {"goal": "g2", "value": 4, "rated_by": "carer"}]}
    put(store, "note.saved", rated)
    drain(Worker(store, cfg))
    with store.engine.connect() as c:
        assert inbox.counts(c) == {"done": 2}
    assert host.stats()["counts"].get("PUT Observation") == 2
    found = requests.get(f"{host.base_url}/Observation", params={"derived-from": f"DocumentReference/{doc_id}"},
                         timeout=5).json().get("entry") or []
    values = sorted(e["resource"]["valueInteger"] for e in found
                    if any(d.get("reference") == f"DocumentReference/{doc_id}" for d in e["resource"].get("derivedFrom", [])))
    assert values == [4, 7]


def test_a_redefined_goal_is_a_new_goal_and_the_old_one_ends_replaced_in_the_host_and_the_panel(setup):
    from progress_plugin.core.progress import compute
    from progress_plugin.view import chart, panel
    cfg, store, host = setup
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = new_doc(host.base_url)
    first = intake(client_id)
    first["intake"]["goals"].append({"words": "Go back to the office", "whose": "client", "baseline": 4})
    put(store, "intake.submitted", first)
    put(store, "note.saved", {**note(client_id, doc_id, 0), "tags": [], "ratings": [{"goal": "g2", "value": 4}]})
    redefined = intake(client_id)
    redefined["at"] = "2026-01-15T10:00:00Z"
    redefined["intake"]["goals"].append({"id": "g2b", "replaces": "g2", "words": "Decide for myself about work",
                                         "whose": "client", "baseline": 5, "rank": 2})
    put(store, "intake.submitted", redefined)
    drain(Worker(store, cfg))
    with store.engine.connect() as c:
        assert inbox.counts(c) == {"done": 3}
    found = {}
    for gid in ("g2", "g2b"):
        bundle = requests.get(f"{host.base_url}/Goal", timeout=5, params={
            "identifier": f"https://progress-plugin.org/fhir/goal|clinic-a/{client_id}/{gid}"}).json()
        [found[gid]] = [e["resource"] for e in bundle.get("entry") or []]
    old, new = found["g2"], found["g2b"]
    assert (old["lifecycleStatus"], old["description"]["text"]) == ("cancelled", "Go back to the office")
    assert "replaced by a new goal" in old["note"][0]["text"] and old["note"][0]["text"].endswith("/g2b.")
    assert (new["lifecycleStatus"], new["description"]["text"]) == ("active", "Decide for myself about work")
    assert "replaces an earlier goal" in new["note"][0]["text"]

    state = store.load_state("clinic-a", client_id)
    progress = compute(client_id, state.intake, state.notes.values(), state.all_vocabularies(),
                       datetime(2026, 1, 20, tzinfo=timezone.utc))
    data = panel.panel_data(progress, state.intake)
    lines = {g["goal_id"]: g for g in data["goals"]}
    assert set(lines) == {"g1", "g2", "g2b"}                       # the old line ends, the new one starts
    assert (lines["g2"]["words"], lines["g2"]["replaced_by"], lines["g2"]["last"]) == ("Go back to the office", "g2b", 4)
    assert [p["value"] for p in lines["g2"]["client"]] == [4, 4]   # its ratings stay under its own words
    assert (lines["g2b"]["baseline"], lines["g2b"]["delta"], lines["g2b"]["redefined_at"]) == (5, None, 1)
    assert [(p["session"], p["value"]) for p in lines["g2b"]["client"]] == [(1, 5)]   # no -1 that never happened
    svg = chart.render(data)
    assert "progress redefined at session 1: new starting point 5/10" in svg       # the marker
    assert "Goal 2, until redefined" in svg
    html = panel.render_html(progress, state.intake)
    assert "Progress redefined at session 1" in html and "Redefined at session 1: these words" in html

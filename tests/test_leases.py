"""Leases: a row whose claims come to nothing is claimed alone, then set aside after a bound;
a row another worker finished between a claim's SELECT and its UPDATE is not claimed again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from progress_plugin.core import effects as fx
from progress_plugin.store import inbox
from progress_plugin.store import leases
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback
from progress_plugin.store import tables as t
from progress_plugin.store import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
LEASE = 10


def put(store, *event_ids):
    with store.begin() as c:
        for event_id in event_ids:
            inbox.put(c, "clinic-a", event_id, "note.saved", {"note_id": event_id}, T0)


def claim(store, owner, at, max_claims=3, limit=10):
    with store.begin() as c:
        return [r["event_id"] for r in inbox.claim(c, owner, at, LEASE, limit, max_claims=max_claims)]


def state(store):
    with store.engine.connect() as c:
        return {r.event_id: (r.status, r.claims, r.error)
                for r in c.execute(sa.select(t.inbox.c.event_id, t.inbox.c.status, t.inbox.c.claims, t.inbox.c.error))}


def finish(store, owner, event_id, at):
    with store.begin() as c:
        row_id = c.execute(sa.select(t.inbox.c.id).where(t.inbox.c.event_id == event_id)).scalar()
        assert inbox.finish(c, row_id, owner, at)


def test_a_row_whose_worker_keeps_dying_is_failed_and_its_batch_mates_are_not(store):
    """`crash` kills every worker that takes it, before any outcome is written; `a` and `b`
    were in its first batch. After the first death the rows are suspects, claimed one at a
    time; `crash` uses up its claims alone and fails, `a` and `b` each finish on their next claim."""
    put(store, "crash", "a", "b")
    at = T0
    assert claim(store, "w1", at) == ["crash", "a", "b"]          # w1 dies holding all three
    for owner in ("w2", "w3"):
        at += timedelta(seconds=LEASE + 1)
        assert claim(store, owner, at) == ["crash"]               # a suspect goes alone; it kills owner too
    assert state(store) == {"crash": ("pending", 3, None), "a": ("pending", 1, None), "b": ("pending", 1, None)}
    at += timedelta(seconds=LEASE + 1)
    assert claim(store, "w4", at) == ["a"]                        # crash: 3 claims, no outcome: set aside
    finish(store, "w4", "a", at)
    assert claim(store, "w4", at) == ["b"]
    finish(store, "w4", "b", at)
    assert state(store) == {"crash": ("failed", 0, leases.LEASE_EXPIRED), "a": ("done", 0, None),
                            "b": ("done", 0, None)}
    put(store, "c", "d")
    assert claim(store, "w4", at) == ["c", "d"]                   # no suspects left: batches again


def test_a_row_handed_back_unfinished_is_not_a_suspect(store):
    put(store, "a", "b")
    assert claim(store, "w1", T0) == ["a", "b"]
    with store.begin() as c:
        assert leases.release(c, t.inbox, "w1", [r[0] for r in c.execute(sa.select(t.inbox.c.id))]) == 2
    assert state(store) == {"a": ("pending", 0, None), "b": ("pending", 0, None)}
    assert claim(store, "w2", T0) == ["a", "b"]


def test_an_outcome_clears_the_claims(store):
    """A deferral or a counted failure is an outcome: the worker lived through the row."""
    put(store, "a", "b")
    assert claim(store, "w1", T0) == ["a", "b"]
    at = T0 + timedelta(seconds=LEASE + 1)
    assert claim(store, "w2", at) == ["a"]
    with store.begin() as c:
        a = c.execute(sa.select(t.inbox).where(t.inbox.c.event_id == "a")).one()._mapping
        assert inbox.defer(c, a["id"], "w2", at + timedelta(seconds=5), "waiting") is True
    assert claim(store, "w3", at) == ["b"]
    with store.begin() as c:
        b = dict(c.execute(sa.select(t.inbox).where(t.inbox.c.event_id == "b")).one()._mapping)
        assert inbox.fail(c, b, "w3", at, "KeyError", max_attempts=5) == inbox.PENDING
    assert state(store) == {"a": ("pending", 0, "waiting"), "b": ("pending", 0, "KeyError")}


def test_an_outbox_row_whose_sends_keep_killing_the_worker_goes_dead(store):
    with store.begin() as c:
        c.execute(t.outbox.insert(), [dict(clinic_id="clinic-a", key=k, kind="upsert", payload={}, status="pending",
                                           attempts=0, next_attempt_at=T0, created_at=T0, updated_at=T0)
                                      for k in ("crash", "ok")])
    at = T0
    for expected in (["crash", "ok"], ["crash"]):
        with store.begin() as c:
            assert [r["key"] for r in outbox.claim(c, "w", at, LEASE, 10, max_claims=2)] == expected
        at += timedelta(seconds=LEASE + 1)
    with store.begin() as c:
        assert [r["key"] for r in outbox.claim(c, "w", at, LEASE, 10, max_claims=2)] == ["ok"]
        assert [(r["key"], r["last_error"]) for r in outbox.rows(c, "dead")] == [("crash", "LeaseExpired")]
        assert outbox.retry(c, at) == 1
        assert [r["key"] for r in outbox.claim(c, "w2", at, LEASE, 10, max_claims=2)] == ["crash"]


# -- another worker in between ------------------------------------------------------------
AT = datetime(2026, 2, 2, 9, 0, tzinfo=timezone.utc)


def between_select_and_update(store: Store, table: sa.Table, meanwhile) -> None:
    """Run ``meanwhile`` once, on its own connection, just before ``store`` updates ``table``
    (on SQLite a claim's SELECT holds no lock, so another process may write in between)."""
    fired = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith(f"UPDATE {table.name.upper()} "):
            fired.append(statement)
            meanwhile()
    return fired


@pytest.fixture
def other(sqlite_url, sqlite_store):
    store = Store.open(sqlite_url)                 # a second worker process, as far as SQLite can tell
    yield store
    store.close()


def test_an_inbox_row_another_worker_finished_meanwhile_is_not_claimed(sqlite_store, other):
    with sqlite_store.begin() as c:
        inbox.put(c, "clinic-a", "evt_1", "note.signed", {"note_id": "n1"}, AT)

    def finished_by_the_other_worker():
        with other.begin() as c:
            (row,) = inbox.claim(c, "w2", AT, 30, 10)
            assert inbox.finish(c, row["id"], "w2", AT)
    fired = between_select_and_update(sqlite_store, t.inbox, finished_by_the_other_worker)

    with sqlite_store.begin() as c:
        claimed = inbox.claim(c, "w1", AT, 30, 10)
    assert fired                                   # the other worker did run in between
    assert claimed == []
    with other.engine.connect() as c:
        assert c.execute(sa.select(t.inbox.c.status, t.inbox.c.lease_owner, t.inbox.c.attempts)).all() \
            == [("done", None, 0)]          # attempts counts failures only


def test_an_outbox_row_that_went_dead_meanwhile_is_not_claimed(sqlite_store, other):
    sqlite_store.ensure_clinic("clinic-a", AT)
    with sqlite_store.begin() as c:
        writeback.enqueue(c, [fx.FlagReviewDue("clinic-a", "c1", AT, "every-session")], {}, AT)

    def refused_for_good_by_the_host():
        with other.begin() as c:
            (row,) = outbox.claim(c, "w2", AT, 30, 10)
            outbox.dead(c, row, "w2", AT, "HostConflict: 409")
    fired = between_select_and_update(sqlite_store, t.outbox, refused_for_good_by_the_host)

    with sqlite_store.begin() as c:
        claimed = outbox.claim(c, "w1", AT + timedelta(seconds=1), 30, 10)
    assert fired
    assert claimed == []
    with other.engine.connect() as c:
        assert c.execute(sa.select(t.outbox.c.status, t.outbox.c.lease_owner)).all() == [("dead", None)]

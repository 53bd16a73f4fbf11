"""The inbox stores each event id once per clinic, also when two requests race."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import sqlalchemy as sa

from progress_plugin import inbox
from progress_plugin import tables as t

AT = datetime(2026, 2, 2, 9, 0, tzinfo=timezone.utc)


def rows(store):
    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.select(t.inbox.c.clinic_id, t.inbox.c.event_id, t.inbox.c.payload,
                                                      t.inbox.c.status).order_by(t.inbox.c.id))]


def test_an_event_id_is_stored_once_per_clinic(store):
    with store.begin() as conn:
        assert inbox.put(conn, "clinic-a", "evt_1", "note.signed", {"note_id": "n1"}, AT) is True
        assert inbox.put(conn, "clinic-a", "evt_1", "note.signed", {"note_id": "changed"}, AT) is False
    with store.begin() as conn:
        assert inbox.put(conn, "clinic-a", "evt_1", "note.signed", {}, AT) is False
        assert inbox.put(conn, "clinic-b", "evt_1", "note.signed", {"note_id": "n9"}, AT) is True
    assert rows(store) == [("clinic-a", "evt_1", {"note_id": "n1"}, "pending"),
                           ("clinic-b", "evt_1", {"note_id": "n9"}, "pending")]


def test_racing_requests_with_one_event_id_store_it_once(store):
    results, barrier = [], threading.Barrier(6)

    def deliver():
        barrier.wait()
        with store.begin() as conn:
            results.append(inbox.put(conn, "clinic-a", "evt_race", "note.signed", {"note_id": "n1"}, AT))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert len(rows(store)) == 1

"""The inbox stores each event id once per clinic, also when two requests race."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import sqlalchemy as sa

from progress_plugin.store import inbox
from progress_plugin.store import tables as t

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


def test_a_failure_backs_off_then_fails_and_only_failed_rows_are_retried_or_dropped(store):
    from datetime import timedelta
    with store.begin() as conn:
        inbox.put(conn, "clinic-a", "evt_1", "note.signed", {"note_id": "n1"}, AT)
        inbox.put(conn, "clinic-a", "evt_2", "note.signed", {"note_id": "n2"}, AT)
    waits, at = [], AT
    for _ in range(3):
        with store.begin() as conn:
            (row,) = inbox.claim(conn, "w", at, 30, 1)
            assert row["event_id"] == "evt_1"
            state = inbox.fail(conn, row, "w", at, "KeyError", max_attempts=3)
            until = conn.execute(sa.select(t.inbox.c.lease_until).where(t.inbox.c.id == row["id"])).scalar()
        waits.append((state, None if until is None else (until.replace(tzinfo=AT.tzinfo) - at).total_seconds()))
        at += timedelta(minutes=10)
    assert waits == [("pending", 5.0), ("pending", 10.0), ("failed", None)]
    with store.begin() as conn:
        assert inbox.fail(conn, row, "w", at, "KeyError", max_attempts=3) is None        # not leased: no write
        assert [r["event_id"] for r in inbox.rows(conn)] == ["evt_1"]
        assert inbox.drop(conn, [2]) == [] and inbox.retry(conn, [2]) == []                # evt_2 is pending
        assert [r["id"] for r in inbox.retry(conn)] == [1] and inbox.retry(conn) == []
        (again,) = inbox.claim(conn, "w", at, 30, 1)
        assert (again["event_id"], again["attempts"], again["payload"]) == ("evt_1", 0, {"note_id": "n1"})


def test_the_sqlite_insert_stores_a_row_as_sqlalchemy_does(tmp_path):
    """``put`` on SQLite goes to the driver; the row's stored bytes are those of the SQLAlchemy insert."""
    from sqlalchemy.dialects import sqlite

    from progress_plugin.store import Store
    compiled = inbox._insert_new("sqlite").compile(dialect=sqlite.dialect(), column_keys=[
        "clinic_id", "event_id", "event_type", "payload", "received_at", "status", "attempts"])
    assert compiled.string == inbox._SQLITE_INSERT
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    payload = {"note_id": "n1", "words": "é \u202e", "n": [1, 2.5, None, True]}
    at = datetime(2026, 2, 2, 9, 0, 1, 250, tzinfo=timezone.utc)
    with store.begin() as conn:
        assert inbox.put(conn, "clinic-a", "evt_driver", "note.signed", payload, at) is True
        conn.execute(inbox._insert_new("sqlite"), {"clinic_id": "clinic-a", "event_id": "evt_sa", "event_type": "note.signed",
                                                   "payload": payload, "received_at": at, "status": inbox.PENDING,
                                                   "attempts": 0})
        assert inbox.put(conn, "clinic-a", "evt_driver", "note.signed", {}, at) is False
    with store.engine.connect() as c:
        stored = c.exec_driver_sql("SELECT clinic_id, event_type, payload, received_at, status, attempts, claims, "
                                   "lease_owner, typeof(received_at), typeof(payload) FROM inbox ORDER BY event_id").all()
    assert len(stored) == 2 and stored[0] == stored[1]
    with store.begin() as c:
        claimed = inbox.claim(c, "w", at, 30, 10)
    assert [r["payload"] for r in claimed] == [payload, payload]
    store.close()


def test_the_postgresql_insert_stores_a_row_as_sqlalchemy_does(pg_url):
    """``put`` on PostgreSQL sends the key lock and the insert in one pipeline; the row is the
    SQLAlchemy insert's, and a second put of the key stores nothing."""
    from sqlalchemy.dialects import postgresql

    from progress_plugin.store import Store
    compiled = inbox._insert_new("postgresql").compile(dialect=postgresql.dialect()).string
    assert inbox._PG_INSERT == _positional(compiled, ["event_type", "payload", "received_at", "status", "attempts",
                                                      "clinic_id", "event_id"])
    store = Store.open(pg_url)
    payload = {"note_id": "n1", "words": "é \u202e", "n": [1, 2.5, None, True]}
    at = datetime(2026, 2, 2, 9, 0, 1, 250, tzinfo=timezone.utc)
    with store.begin() as conn:
        assert inbox.put(conn, "clinic-a", "evt_driver", "note.signed", payload, at) is True
        conn.execute(inbox._insert_new("postgresql"), {
            "clinic_id": "clinic-a", "event_id": "evt_sa", "event_type": "note.signed", "payload": payload,
            "received_at": at, "status": inbox.PENDING, "attempts": 0})
        assert inbox.put(conn, "clinic-a", "evt_driver", "note.signed", {}, at) is False
        assert inbox.put(conn, "clinic-a", "evt_sa", "note.signed", {}, at) is False
    with store.engine.connect() as c:
        stored = c.exec_driver_sql("SELECT clinic_id, event_type, payload::text, received_at, status, attempts, claims, "
                                   "lease_owner FROM inbox ORDER BY event_id").all()
    assert len(stored) == 2 and stored[0] == stored[1]
    store.close()


def _positional(sql: str, names: list[str]) -> str:
    for name in names:
        sql = sql.replace(f"%({name})s", "%s")
    return sql


def test_the_one_key_lock_of_the_insert_is_the_lock_of_lock_keys(pg_url):
    """A writer holding ``lock_keys`` of a key holds up ``put`` of that key (and of no other key)."""
    from progress_plugin.store import Store, partitions
    store = Store.open(pg_url)
    at = datetime(2026, 2, 2, tzinfo=timezone.utc)
    with store.engine.connect() as holder:
        holder.begin()
        partitions.lock_keys(holder, "clinic-a", ["evt_1"])
        with store.begin() as conn:
            assert inbox.put(conn, "clinic-a", "evt_2", "note.signed", {}, at) is True
        try:
            with store.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = 300")
                inbox.put(conn, "clinic-a", "evt_1", "note.signed", {}, at)
        except sa.exc.OperationalError as exc:
            assert "lock timeout" in str(exc)
        else:
            raise AssertionError("put did not wait for the key's lock")
        holder.rollback()
    store.close()

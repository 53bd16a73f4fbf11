"""The durable inbox: verified events wait here until the worker has applied them.

Deduplicated by ``(clinic_id, event_id)``: a redelivered event is acknowledged and dropped.
Payloads hold ids, codes and ratings (and, for intakes, the client's goal words); never note text.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin import tables as t
from progress_plugin.leases import claim as _claim
from progress_plugin.store import utc

PENDING, DONE, FAILED = "pending", "done", "failed"


def put(conn: Connection, clinic_id: str, event_id: str, event_type: str, payload: dict, now: datetime) -> bool:
    """Store one event. False when this event id was seen before (nothing is written).

    One ``INSERT ... ON CONFLICT DO NOTHING`` on the event key, so a request that races
    another with the same event id needs no read first and no savepoint."""
    result = conn.execute(_insert_new(conn.dialect.name), {
        "clinic_id": clinic_id, "event_id": event_id, "event_type": event_type, "payload": payload,
        "received_at": utc(now), "status": PENDING, "attempts": 0})
    return result.first() is not None


_INSERTS: dict = {}


def _insert_new(dialect: str):
    statement = _INSERTS.get(dialect)
    if statement is None:
        from sqlalchemy.dialects import postgresql, sqlite
        module = {"postgresql": postgresql, "sqlite": sqlite}[dialect]
        statement = _INSERTS[dialect] = module.insert(t.inbox).on_conflict_do_nothing(
            index_elements=["clinic_id", "event_id"]).returning(t.inbox.c.id)   # a row only when inserted
    return statement


def claim(conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int) -> list[dict]:
    ids = _claim(conn, t.inbox, owner, utc(now), lease_seconds, limit, t.inbox.c.status == PENDING)
    if not ids:
        return []
    rows = conn.execute(sa.select(t.inbox).where(t.inbox.c.id.in_(ids)).order_by(t.inbox.c.id))
    return [dict(r._mapping) for r in rows]


def finish(conn: Connection, row_id: int, owner: str, now: datetime, status: str = DONE,
           error: str | None = None) -> bool:
    """Mark a claimed row processed. False when the lease was lost (the caller must roll back).

    A processed row keeps its event id (for deduplication) but not its payload: what it
    carried now lives in the store's own tables, and PHI is kept once, not twice."""
    values = dict(status=status, processed_at=utc(now), lease_owner=None, lease_until=None, error=error,
                  attempts=t.inbox.c.attempts + 1)
    if status == DONE:
        values["payload"] = {}
    result = conn.execute(t.inbox.update().where(t.inbox.c.id == row_id, t.inbox.c.lease_owner == owner)
                          .values(**values))
    return result.rowcount == 1


def defer(conn: Connection, row_id: int, owner: str, until: datetime, error: str) -> bool:
    """Leave a row pending but untouchable until ``until`` (e.g. a note that arrived before its intake)."""
    result = conn.execute(t.inbox.update().where(t.inbox.c.id == row_id, t.inbox.c.lease_owner == owner)
                          .values(lease_owner="deferred", lease_until=utc(until), error=error[:500],
                                  attempts=t.inbox.c.attempts + 1))
    return result.rowcount == 1


def waiting_for_intake(client_id: str) -> str:
    """The reason stored on a note deferred until its client's intake arrives (ids only)."""
    return f"waiting for the intake of client {client_id}"[:500]


def lock_wakes(conn: Connection, clinic_id: str) -> None:
    """Serialise deferring notes with waking them, per clinic, until the transaction ends.

    A row lock on the clinic on PostgreSQL; SQLite runs one writer at a time anyway (the
    caller writes before it reads, so it holds the write lock when it looks)."""
    conn.execute(sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id).with_for_update())


def wake_deferred(conn: Connection, clinic_id: str, client_id: str | None = None) -> int:
    """Make deferred rows due now: the notes waiting for ``client_id``'s intake, which just
    arrived, or (without a client) every deferred row of the clinic."""
    lock_wakes(conn, clinic_id)
    where = [t.inbox.c.clinic_id == clinic_id, t.inbox.c.status == PENDING, t.inbox.c.lease_owner == "deferred"]
    if client_id is not None:
        where.append(t.inbox.c.error == waiting_for_intake(client_id))
    return conn.execute(t.inbox.update().where(*where).values(lease_owner=None, lease_until=None)).rowcount


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(t.inbox.c.status, sa.func.count()).group_by(t.inbox.c.status))
    return {status: n for status, n in rows}


def bump(conn: Connection, clinic_id: str, name: str, now: datetime, by: int = 1) -> int:
    """Add to a named counter (unknown event types, subscription gaps, ...). Returns the new value."""
    c = t.counters
    where = sa.and_(c.c.clinic_id == clinic_id, c.c.name == name[:100])
    if conn.execute(c.update().where(where).values(value=c.c.value + by, updated_at=utc(now))).rowcount == 0:
        try:
            with conn.begin_nested():
                conn.execute(c.insert().values(clinic_id=clinic_id, name=name[:100], value=by, updated_at=utc(now)))
        except sa.exc.IntegrityError:
            conn.execute(c.update().where(where).values(value=c.c.value + by, updated_at=utc(now)))
    return conn.execute(sa.select(c.c.value).where(where)).scalar()


def counter(conn: Connection, clinic_id: str, name: str) -> int | None:
    return conn.execute(sa.select(t.counters.c.value).where(
        t.counters.c.clinic_id == clinic_id, t.counters.c.name == name)).scalar()


def set_counter(conn: Connection, clinic_id: str, name: str, value: int, now: datetime) -> None:
    c = t.counters
    where = sa.and_(c.c.clinic_id == clinic_id, c.c.name == name[:100])
    if conn.execute(c.update().where(where).values(value=value, updated_at=utc(now))).rowcount == 0:
        conn.execute(c.insert().values(clinic_id=clinic_id, name=name[:100], value=value, updated_at=utc(now)))

"""The durable inbox: verified events wait here until the worker has applied them.

Deduplicated by ``(clinic_id, event_id)``: a redelivered event is acknowledged and dropped.
Payloads hold ids, codes and ratings (and, for intakes, the client's goal words); never note text.

**Poison rows.** A row the worker cannot apply does not come back for ever. Each failure
(:func:`fail`) adds one to ``attempts``, stores an error *code* (an exception's class
name, never its message, which could quote a person's words) and reschedules the row with
backoff; at the worker's ``inbox_max_attempts`` the row goes to ``failed``. A row that
kills the worker process instead of raising is bounded by its claims (see
:mod:`progress_plugin.store.leases`) and fails with the code ``LeaseExpired``. Failed rows keep
their payload until ``progress-plugin inbox retry`` replays them or ``inbox drop`` (or a
client's purge) deletes them; ``/readyz`` and ``progress-plugin check`` count them.
Deferrals (a note waiting for its intake, a host that does not answer) are not failures.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from progress_plugin.store import leases
from progress_plugin.store import partitions
from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc

log = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"
STATUSES = (PENDING, DONE, FAILED)
#: Backoff after a failure: 5 s, 10 s, 20 s, ... at most 5 minutes.
FAIL_BACKOFF, MAX_FAIL_BACKOFF = 5.0, 300.0


def put(conn: Connection, clinic_id: str, event_id: str, event_type: str, payload: dict, now: datetime) -> bool:
    """Store one event. False when this event id was seen before (nothing is written).

    SQLite: one ``INSERT ... ON CONFLICT DO NOTHING`` on the event key, so a request that races
    another with the same event id needs no read first and no savepoint. PostgreSQL, where the
    inbox is partitioned by time and ``(clinic_id, event_id)`` cannot be a unique constraint:
    the key's advisory lock, then an insert only if no partition holds the key
    (:mod:`progress_plugin.store.partitions`)."""
    if conn.dialect.name == "sqlite":
        return _put_sqlite(conn, (clinic_id, event_id, event_type, payload, utc(now), PENDING, 0, 0))
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _put_postgresql(conn, clinic_id, event_id, event_type, payload, utc(now))
    if conn.dialect.name == "postgresql":
        partitions.lock_keys(conn, clinic_id, [event_id])
    result = conn.execute(_insert_new(conn.dialect.name), {
        "clinic_id": clinic_id, "event_id": event_id, "event_type": event_type, "payload": payload,
        "received_at": utc(now), "status": PENDING, "attempts": 0})
    return result.first() is not None


_INSERTS: dict = {}
#: The SQLite insert as SQLAlchemy compiles ``_insert_new("sqlite")`` (its columns, ``claims`` by its default).
_SQLITE_INSERT = ("INSERT INTO inbox (clinic_id, event_id, event_type, payload, received_at, status, attempts, claims) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clinic_id, event_id) DO NOTHING RETURNING id")


def _put_sqlite(conn: Connection, values: tuple) -> bool:
    """The SQLite insert straight to the driver's cursor, in the caller's transaction: each value
    through its column type's own bind processor, so the row is stored exactly as
    ``_insert_new("sqlite")`` stores it, without SQLAlchemy's statement execution, which costs
    several times SQLite's insert (this is the webhook receiver's one write per event)."""
    processors = _PROCESSORS.get(conn.dialect)
    if processors is None:
        processors = _PROCESSORS[conn.dialect] = [
            t.inbox.c[k].type._cached_bind_processor(conn.dialect) for k in
            ("clinic_id", "event_id", "event_type", "payload", "received_at", "status", "attempts", "claims")]
    cursor = conn.connection.cursor()
    try:
        cursor.execute(_SQLITE_INSERT, [v if p is None else p(v) for p, v in zip(processors, values)])
        return cursor.fetchone() is not None
    finally:
        cursor.close()


_PROCESSORS: dict = {}
#: ``_insert_new("postgresql")`` for a psycopg cursor (the same statement, positional).
_PG_INSERT = ("INSERT INTO inbox (clinic_id, event_id, event_type, payload, received_at, status, attempts) "
              "SELECT k.c, k.e, %s, %s::JSON, %s::TIMESTAMP WITH TIME ZONE, %s, %s "
              "FROM (SELECT CAST(%s AS varchar) AS c, CAST(%s AS varchar) AS e) AS k WHERE NOT EXISTS "
              "(SELECT 1 FROM inbox WHERE clinic_id = k.c AND event_id = k.e) RETURNING id")


def _put_postgresql(conn: Connection, clinic_id, event_id, event_type, payload, received_at) -> bool:
    """The key's advisory lock, then the insert unless a partition holds the key, sent together
    in psycopg's pipeline mode: one round trip (with the transaction's ``BEGIN``) instead of one
    per statement. Still two statements, so the insert's look-up takes its snapshot after the
    lock is granted and sees the row of a writer that held the lock before (READ COMMITTED);
    the payload goes through its column's bind processor, as through SQLAlchemy."""
    process = _PROCESSORS.get(conn.dialect)
    if process is None:
        process = _PROCESSORS[conn.dialect] = t.inbox.c.payload.type._cached_bind_processor(conn.dialect)
    driver = conn.connection.driver_connection
    values = (event_type, process(payload) if process else payload, received_at, PENDING, 0, clinic_id, event_id)
    cursor = driver.cursor()
    try:
        with driver.pipeline():
            cursor.execute(partitions.LOCK_ONE_KEY, (clinic_id, event_id))
            cursor.execute(_PG_INSERT, values)
        return cursor.fetchone() is not None
    except conn.dialect.loaded_dbapi.Error as exc:
        # raised as SQLAlchemy raises a driver's error (wrapped; a lost connection invalidated)
        conn._handle_dbapi_exception(exc, _PG_INSERT, values, cursor, None)
        raise
    finally:
        cursor.close()


def _insert_new(dialect: str):
    statement = _INSERTS.get(dialect)
    if statement is None and dialect == "postgresql":
        statement = _INSERTS[dialect] = sa.text(
            "INSERT INTO inbox (clinic_id, event_id, event_type, payload, received_at, status, attempts) "
            "SELECT k.c, k.e, :event_type, :payload, :received_at, :status, :attempts "
            "FROM (SELECT CAST(:clinic_id AS varchar) AS c, CAST(:event_id AS varchar) AS e) AS k WHERE NOT EXISTS "
            "(SELECT 1 FROM inbox WHERE clinic_id = k.c AND event_id = k.e) RETURNING id").bindparams(
            sa.bindparam("payload", type_=t.inbox.c.payload.type),
            sa.bindparam("received_at", type_=t.inbox.c.received_at.type))
    if statement is None:
        statement = _INSERTS[dialect] = sqlite.insert(t.inbox).on_conflict_do_nothing(
            index_elements=["clinic_id", "event_id"]).returning(t.inbox.c.id)   # a row only when inserted
    return statement


def claim(conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int,
          max_claims: int | None = None) -> list[dict]:
    """Lease due pending rows. Rows claimed ``max_claims`` times in a row without an outcome
    are failed here (``LeaseExpired``) instead of being handed out once more."""
    now = utc(now)
    ready = t.inbox.c.status == PENDING
    rows, aside = leases.claim_rows(conn, t.inbox, owner, now, lease_seconds, limit, ready, max_claims,
                                    status=FAILED, processed_at=now,
                                    error=leases.LEASE_EXPIRED)
    for row_id in aside:
        log.warning("inbox row failed id=%s error=%s claims=%s", row_id, leases.LEASE_EXPIRED, max_claims)
    return rows


def finish(conn: Connection, row_id: int, owner: str, now: datetime) -> bool:
    """Mark a claimed row done. False when the lease was lost (the caller must roll back).

    A done row keeps its event id (for deduplication) but not its payload: what it
    carried now lives in the store's own tables, and PHI is kept once, not twice."""
    result = conn.execute(t.inbox.update().where(t.inbox.c.id == row_id, t.inbox.c.lease_owner == owner)
                          .values(status=DONE, processed_at=utc(now), lease_owner=None, lease_until=None,
                                  claims=0, error=None, payload={}))
    return result.rowcount == 1


def fail(conn: Connection, row: dict, owner: str, now: datetime, code: str, max_attempts: int) -> str | None:
    """Count one failed attempt of a claimed row: reschedule it with backoff, or at
    ``max_attempts`` set it ``failed``. ``code`` names the error (a class name, never a
    message). Returns the row's new status, or None when the lease was lost."""
    attempts = row["attempts"] + 1
    values = dict(attempts=attempts, error=code[:100], claims=0, lease_owner=None)
    if attempts >= max_attempts:
        values.update(status=FAILED, processed_at=utc(now), lease_until=None)
    else:
        delay = min(MAX_FAIL_BACKOFF, FAIL_BACKOFF * 2 ** min(attempts - 1, 10))
        values.update(lease_until=utc(now) + timedelta(seconds=delay))
    result = conn.execute(t.inbox.update().where(t.inbox.c.id == row["id"], t.inbox.c.lease_owner == owner)
                          .values(**values))
    return values.get("status", PENDING) if result.rowcount == 1 else None


def defer(conn: Connection, row_id: int, owner: str, until: datetime, error: str) -> bool:
    """Leave a row pending but untouchable until ``until`` (e.g. a note that arrived before its intake).
    Not a failed attempt: ``attempts`` stays as it is."""
    result = conn.execute(t.inbox.update().where(t.inbox.c.id == row_id, t.inbox.c.lease_owner == owner)
                          .values(lease_owner="deferred", lease_until=utc(until), error=error[:500], claims=0))
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


def count(conn: Connection, status: str = FAILED) -> int:
    """How many rows have ``status`` (one index lookup; cheap enough for /readyz)."""
    return conn.execute(sa.select(sa.func.count()).select_from(t.inbox).where(t.inbox.c.status == status)).scalar()


def rows(conn: Connection, status: str | None = FAILED, clinic_id: str | None = None, limit: int = 100,
         ids=None) -> list[dict]:
    """Rows for a listing: ids, type, status, attempts and error code; never the payload."""
    i = t.inbox.c
    q = sa.select(i.id, i.clinic_id, i.event_id, i.event_type, i.status, i.attempts, i.error, i.received_at,
                  i.processed_at, i.lease_owner, i.lease_until).order_by(i.id)
    if status:
        q = q.where(i.status == status)
    if clinic_id:
        q = q.where(i.clinic_id == clinic_id)
    if ids:
        q = q.where(i.id.in_(list(ids)))
    return [dict(r._mapping) for r in conn.execute(q.limit(limit) if limit else q)]


def retry(conn: Connection, ids=None, clinic_id: str | None = None) -> list[dict]:
    """Put failed rows back in the queue, due now, with their attempts and claims reset (all
    failed rows, or those in ``ids``, of one clinic or all). Returns the rows put back (ids,
    clinic, type); a second call finds them pending and does nothing."""
    return _take_failed(conn, ids, clinic_id, t.inbox.update().values(
        status=PENDING, attempts=0, claims=0, lease_owner=None, lease_until=None, processed_at=None))


def drop(conn: Connection, ids, clinic_id: str | None = None) -> list[dict]:
    """Delete failed rows for good (their payload with them). Returns the rows deleted."""
    return _take_failed(conn, ids, clinic_id, t.inbox.delete())


def _take_failed(conn, ids, clinic_id, statement) -> list[dict]:
    where = [t.inbox.c.status == FAILED]
    if ids:
        where.append(t.inbox.c.id.in_(list(ids)))
    if clinic_id:
        where.append(t.inbox.c.clinic_id == clinic_id)
    taken = conn.execute(statement.where(*where).returning(t.inbox.c.id, t.inbox.c.clinic_id, t.inbox.c.event_type))
    return sorted((dict(r._mapping) for r in taken), key=lambda r: r["id"])


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

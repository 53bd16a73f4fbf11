"""The durable outbox: host-bound effects wait here until the host has them.

Rows are written in the same transaction as the effects they come from, keyed by the
effect's idempotency key, so an effect is queued once however often its event arrives.
A failed write is rescheduled (a row with a later ``next_attempt_at``, never a sleeping
thread); a permanent refusal goes to the ``dead`` state, from which
``progress-plugin outbox retry`` replays it. Every way round is bounded by the worker's
``max_attempts``: a refusal is dead at once, a host that stays down or a fault of ours
(e.g. building the request raises) is dead after that many attempts, and a row whose
sends kill the worker process is dead after that many claims without an outcome (code
``LeaseExpired``; see :mod:`progress_plugin.store.leases`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin.store import leases
from progress_plugin.store import partitions
from progress_plugin.store import tables as t
from progress_plugin.store.engine import CHUNK, chunks, keys_in
from progress_plugin.core.dates import utc

log = logging.getLogger(__name__)

PENDING, DONE, DEAD = "pending", "done", "dead"
STATUSES = (PENDING, DONE, DEAD)
MAX_BACKOFF = 300.0


def put(conn: Connection, rows, now: datetime, target: str | None = None) -> int:
    """Queue host writes, each ``(clinic_id, client_id, key, kind, payload)``; a key already
    queued for the clinic is skipped. Returns how many new rows were written.

    ``target``: None for the configured host (the worker sends them), or ``smart:<ehr>`` for rows
    sent to a SMART EHR with a launch's token (the worker leaves them alone)."""
    now = utc(now)
    found: dict[tuple[str, str], tuple] = {}     # (clinic_id, key) -> (client_id, kind, payload): the first, in order
    for clinic_id, client_id, key, kind, payload in rows:
        found.setdefault((clinic_id, key[:400]), (client_id, kind, payload))
    queued = set()
    for clinic_id in sorted({clinic for clinic, _ in found}):
        keys = [key for clinic, key in found if clinic == clinic_id]
        if conn.dialect.name == "postgresql":     # partitioned: the keys' locks make (clinic_id, key) unique
            partitions.lock_keys(conn, clinic_id, keys)
        for chunk in chunks(keys, CHUNK):          # the keys already queued: one look-up per chunk, not per row
            queued.update((clinic_id, key) for key in keys_in(conn, _QUEUED, "outbox", "key", clinic_id, chunk))
    fresh = [{"clinic_id": clinic_id, "client_id": client_id, "key": key, "kind": kind, "payload": payload,
              "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
              "target": target} for (clinic_id, key), (client_id, kind, payload) in found.items()
             if (clinic_id, key) not in queued]
    if fresh:
        conn.execute(t.outbox.insert(), fresh)
    return len(fresh)


_QUEUED = sa.select(t.outbox.c.key).where(t.outbox.c.clinic_id == sa.bindparam("clinic"),
                                          t.outbox.c.key.in_(sa.bindparam("values", expanding=True)))


def claim(conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int,
          max_claims: int | None = None, target: str | None = None) -> list[dict]:
    """Lease due pending rows for ``target`` (None: the configured host). Rows claimed
    ``max_claims`` times in a row without an outcome go to the dead letters here
    (``LeaseExpired``) instead of being handed out once more."""
    now = utc(now)
    for_target = t.outbox.c.target.is_(None) if target is None else t.outbox.c.target == target
    ready = sa.and_(t.outbox.c.status == PENDING, t.outbox.c.next_attempt_at <= now, for_target)
    rows, aside = leases.claim_rows(conn, t.outbox, owner, now, lease_seconds, limit, ready, max_claims,
                                    status=DEAD, updated_at=now,
                                    last_error=leases.LEASE_EXPIRED)
    for row_id in aside:
        log.warning("outbox row dead id=%s error=%s claims=%s", row_id, leases.LEASE_EXPIRED, max_claims)
    return rows


_DUE = (sa.select(t.outbox.c.id).where(
    t.outbox.c.target == sa.bindparam("target"), t.outbox.c.status == PENDING,
    t.outbox.c.next_attempt_at <= sa.bindparam("now"),
    sa.or_(t.outbox.c.lease_until.is_(None), t.outbox.c.lease_until < sa.bindparam("now"))).limit(1))


def any_due(conn: Connection, now: datetime, target: str) -> bool:
    """Whether :func:`claim` would find a row of ``target`` (not None) to lease or set aside now: one
    indexed read (``ix_outbox_target``), so a page can skip the claim's transaction when there is none."""
    return conn.execute(_DUE, {"target": target, "now": utc(now)}).first() is not None


def _finish(conn, row_id, owner, **values) -> bool:
    values.update(lease_owner=None, lease_until=None, claims=0)
    q = t.outbox.update().where(t.outbox.c.id == row_id)
    if owner is not None:
        q = q.where(t.outbox.c.lease_owner == owner)
    return conn.execute(q.values(**values)).rowcount == 1


def done(conn, row_id: int, owner: str, now: datetime) -> bool:
    """The host has it. The payload (which may hold a client's goal words) is cleared; the key stays."""
    return _finish(conn, row_id, owner, status=DONE, attempts=t.outbox.c.attempts + 1, updated_at=utc(now),
                   last_error=None, payload={})


def done_many(conn, row_ids: list[int], owner: str, now: datetime) -> int:
    """:func:`done` for several rows in one statement; only rows ``owner`` still holds."""
    return conn.execute(t.outbox.update().where(t.outbox.c.id.in_(row_ids), t.outbox.c.lease_owner == owner).values(
        status=DONE, attempts=t.outbox.c.attempts + 1, updated_at=utc(now), last_error=None, payload={},
        lease_owner=None, lease_until=None, claims=0)).rowcount


def reschedule(conn, row: dict, owner: str, now: datetime, error: str, retry_after: float | None,
               max_attempts: int) -> str:
    """Try again later with exponential backoff (or the host's Retry-After); dead after ``max_attempts``."""
    attempts = row["attempts"] + 1
    if attempts >= max_attempts:
        _finish(conn, row["id"], owner, status=DEAD, attempts=attempts, updated_at=utc(now), last_error=error[:500])
        return DEAD
    delay = min(MAX_BACKOFF, 2.0 ** (attempts - 1))
    if retry_after is not None:
        delay = min(MAX_BACKOFF, max(delay, float(retry_after)))
    _finish(conn, row["id"], owner, status=PENDING, attempts=attempts, updated_at=utc(now),
            next_attempt_at=utc(now) + timedelta(seconds=delay), last_error=error[:500])
    return PENDING


def kept(conn, row: dict, owner: str, now: datetime, error: str, max_attempts: int) -> str:
    """A refusal a person sees and may retry (a SMART launch's write the EHR refused): the row stays
    pending, due at once, with its error; dead after ``max_attempts`` refusals."""
    attempts = row["attempts"] + 1
    status = DEAD if attempts >= max_attempts else PENDING
    _finish(conn, row["id"], owner, status=status, attempts=attempts, updated_at=utc(now), next_attempt_at=utc(now),
            last_error=error[:500])
    return status


def dead(conn, row: dict, owner: str, now: datetime, error: str) -> None:
    _finish(conn, row["id"], owner, status=DEAD, attempts=row["attempts"] + 1, updated_at=utc(now),
            last_error=error[:500])


def rows(conn, status: str | None = None, clinic_id: str | None = None, limit: int = 100) -> list[dict]:
    q = sa.select(t.outbox.c.id, t.outbox.c.clinic_id, t.outbox.c.key, t.outbox.c.kind, t.outbox.c.status,
                  t.outbox.c.attempts, t.outbox.c.next_attempt_at, t.outbox.c.last_error,
                  t.outbox.c.target).order_by(t.outbox.c.id)
    if status:
        q = q.where(t.outbox.c.status == status)
    if clinic_id:
        q = q.where(t.outbox.c.clinic_id == clinic_id)
    return [dict(r._mapping) for r in conn.execute(q.limit(limit))]


def unsent(conn, target: str, clinic_id: str, limit: int = 50) -> list[dict]:
    """The rows of ``target`` and the clinic not yet done (pending or dead), oldest first, each with
    ``what``: the type of the resource it writes (``DocumentReference`` for a note's tags)."""
    q = sa.select(t.outbox.c.id, t.outbox.c.kind, t.outbox.c.status, t.outbox.c.attempts, t.outbox.c.last_error,
                  t.outbox.c.payload, t.outbox.c.updated_at).where(
        t.outbox.c.target == target, t.outbox.c.clinic_id == clinic_id, t.outbox.c.status != DONE)
    out = []
    for r in conn.execute(q.order_by(t.outbox.c.id).limit(limit)):
        row = dict(r._mapping)
        row["what"] = what(row.pop("payload"), row["kind"])
        out.append(row)
    return out


def what(payload: dict | None, kind: str) -> str:
    """The type of the resource a row of ``kind`` writes (``DocumentReference`` for a note's tags)."""
    payload = payload or {}
    return payload.get("type") or (payload.get("resource") or {}).get("resourceType") or kind


def retry(conn, now: datetime, ids=None, clinic_id: str | None = None, target: str | None = None) -> int:
    """Put dead rows back in the queue (all dead rows, or those in ``ids``; of one clinic or
    all; of one SMART target, or any). Idempotent writes make this safe."""
    q = t.outbox.update().where(t.outbox.c.status == DEAD)
    if ids:
        q = q.where(t.outbox.c.id.in_(list(ids)))
    if clinic_id:
        q = q.where(t.outbox.c.clinic_id == clinic_id)
    if target:
        q = q.where(t.outbox.c.target == target)
    return conn.execute(q.values(status=PENDING, attempts=0, claims=0, next_attempt_at=utc(now), lease_owner=None,
                                 lease_until=None, updated_at=utc(now))).rowcount


def drop(conn, ids, clinic_id: str | None = None) -> int:
    """Delete dead rows for good."""
    q = t.outbox.delete().where(t.outbox.c.status == DEAD, t.outbox.c.id.in_(list(ids)))
    if clinic_id:
        q = q.where(t.outbox.c.clinic_id == clinic_id)
    return conn.execute(q).rowcount


def counts(conn) -> dict[str, int]:
    return {s: n for s, n in conn.execute(sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status))}


def count(conn, status: str = DEAD) -> int:
    """How many rows have ``status`` (one index lookup; cheap enough for /readyz)."""
    return conn.execute(sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.status == status)).scalar()

"""Claiming rows of a work table (inbox, outbox) with leases.

A claimed row carries ``lease_owner`` and ``lease_until``. A worker that dies mid-batch
leaves its leases to expire; the rows are then claimed again. On PostgreSQL the claim
uses ``FOR UPDATE SKIP LOCKED`` so concurrent workers never block on, or take, the same
rows. SQLite serialises writers, so there the UPDATE of the selected
ids checks again that each row is still free and ready (the SELECT before it took no lock).

**Claims without an outcome.** Each claim adds one to the row's ``claims``; every outcome
a living worker writes (done, failed or dead, rescheduled, deferred) sets it back to 0,
and handing a row back unfinished (:func:`release`) takes the claim back. So ``claims`` is
the number of times in a row the row was leased and then heard of no more: its lease ran
out because the process holding it died (kill -9, out of memory, a crash in a C library)
or stalled.

That count is kept per claim, not per row begun, so it costs no write beyond the claim
itself; but a worker that dies mid-batch leaves the same count on the rows it never
reached as on the row it died on. To tell them apart, a row with ``claims > 0`` (a
*suspect*) is claimed alone, never in a batch: the rows that shared a batch with a row
that kills the process go through one by one and have their count cleared by their
outcome, and only the row that really kills the process keeps adding to its own. The
caller gives ``max_claims``: a row claimed that many times without an outcome is not
claimed again but reported in :attr:`Claim.exhausted`, and the caller sets it aside
(inbox ``failed``, outbox ``dead``) in the same transaction. A good row caught in hand by
a kill is charged one claim, which its next, solitary, claim clears; it would take
``max_claims`` kills in a row, each while that row alone is in hand, to set it aside.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: The error code of a row set aside because its leases kept running out.
LEASE_EXPIRED = "LeaseExpired"


class Claim(NamedTuple):
    ids: list[int]          # leased to the caller now
    exhausted: list[int]    # claimed ``max_claims`` times without an outcome: not leased, to be set aside


def claim(conn: Connection, table: sa.Table, owner: str, now: datetime, lease_seconds: float, limit: int,
          ready: sa.ColumnElement, max_claims: int | None = None) -> Claim:
    """Lease up to ``limit`` rows matching ``ready`` whose lease is free or expired.

    A suspect (a row whose last claim came to nothing) is leased alone; see the module's
    docstring. Rows claimed ``max_claims`` times without an outcome are returned in
    ``exhausted`` instead of being leased."""
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    query = sa.select(table.c.id, table.c.claims).where(ready, free).order_by(table.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    found = conn.execute(query).all()
    exhausted = [i for i, n in found if max_claims is not None and n >= max_claims]
    rest = [(i, n) for i, n in found if i not in exhausted]
    suspects = [i for i, n in rest if n > 0]
    ids = suspects[:1] or [i for i, _ in rest]
    if not ids:
        return Claim([], exhausted)
    until = now + timedelta(seconds=lease_seconds)
    # ``ready`` again, not only ``free``: on SQLite the SELECT above holds no lock, and another
    # worker may have finished a row since (done, failed, dead: its lease cleared, so "free").
    result = conn.execute(table.update().where(table.c.id.in_(ids), free, ready)
                          .values(lease_owner=owner, lease_until=until, claims=table.c.claims + 1))
    if result.rowcount != len(ids):       # only possible without SKIP LOCKED: re-read what is ours
        ids = [r[0] for r in conn.execute(sa.select(table.c.id).where(
            table.c.id.in_(ids), table.c.lease_owner == owner, table.c.lease_until == until))]
    return Claim(ids, exhausted)


def claim_rows(conn: Connection, table: sa.Table, owner: str, now: datetime, lease_seconds: float, limit: int,
               ready: sa.ColumnElement, max_claims: int | None = None, **aside) -> tuple[list[dict], list[int]]:
    """:func:`claim`, then write ``aside`` (a failed or dead status) on the exhausted rows, and
    read the leased rows whole, in id order. Returns the rows and the ids set aside."""
    ids, exhausted = claim(conn, table, owner, now, lease_seconds, limit, ready, max_claims)
    put_aside = set_aside(conn, table, exhausted, now, ready, **aside)
    if not ids:
        return [], put_aside
    rows = conn.execute(sa.select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
    return [dict(r._mapping) for r in rows], put_aside


def set_aside(conn: Connection, table: sa.Table, ids: list[int], now: datetime, ready: sa.ColumnElement,
              **values) -> list[int]:
    """Write ``values`` (a failed or dead status) on the ``exhausted`` rows of a claim that
    are still free and ``ready``. Returns the ids written."""
    if not ids:
        return []
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    return [r[0] for r in conn.execute(table.update().where(table.c.id.in_(ids), ready, free).values(
        lease_owner=None, lease_until=None, claims=0, **values).returning(table.c.id))]


def still_mine(table: sa.Table, row_id: int, owner: str):
    """A WHERE clause that holds only while ``owner`` keeps the lease on ``row_id``."""
    return sa.and_(table.c.id == row_id, table.c.lease_owner == owner)


def renew(conn: Connection, table: sa.Table, owner: str, ids: list[int], until: datetime) -> int:
    """Push the leases ``owner`` still holds on ``ids`` forward to ``until``. Returns how many it holds."""
    return conn.execute(table.update().where(table.c.id.in_(ids), table.c.lease_owner == owner)
                        .values(lease_until=until)).rowcount


def release(conn: Connection, table: sa.Table, owner: str, ids: list[int], not_before: datetime | None = None) -> int:
    """Hand back rows ``owner`` claimed but will not finish now. They can be claimed again at
    once, or from ``not_before`` on; only rows ``owner`` still holds are touched. The claim
    is taken back (``claims`` less one): the worker is alive and the row did not end it."""
    return conn.execute(table.update().where(table.c.id.in_(ids), table.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=not_before,
                                claims=sa.case((table.c.claims > 0, table.c.claims - 1), else_=0))).rowcount

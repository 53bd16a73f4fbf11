"""Claiming rows of a work table (inbox, outbox) with leases.

A claimed row carries ``lease_owner`` and ``lease_until``. A worker that dies mid-batch
leaves its leases to expire; the rows are then claimed again. On PostgreSQL the claim
uses ``FOR UPDATE SKIP LOCKED`` so concurrent workers never block on, or take, the same
rows. SQLite serialises writers, so there the UPDATE of the selected ids checks again that
each row is still free and ready (the SELECT before it took no lock).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def claim(conn: Connection, table: sa.Table, owner: str, now: datetime, lease_seconds: float, limit: int,
          ready: sa.ColumnElement) -> list[int]:
    """Lease up to ``limit`` rows matching ``ready`` whose lease is free or expired. Returns their ids."""
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    query = sa.select(table.c.id).where(ready, free).order_by(table.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [r[0] for r in conn.execute(query)]
    if not ids:
        return []
    until = now + timedelta(seconds=lease_seconds)
    # ``ready`` again, not only ``free``: on SQLite the SELECT above holds no lock, and another
    # worker may have finished a row since (done, failed, dead: its lease cleared, so "free").
    result = conn.execute(table.update().where(table.c.id.in_(ids), free, ready)
                          .values(lease_owner=owner, lease_until=until))
    if result.rowcount != len(ids):       # only possible without SKIP LOCKED: re-read what is ours
        ids = [r[0] for r in conn.execute(sa.select(table.c.id).where(
            table.c.id.in_(ids), table.c.lease_owner == owner, table.c.lease_until == until))]
    return ids


def still_mine(table: sa.Table, row_id: int, owner: str):
    """A WHERE clause that holds only while ``owner`` keeps the lease on ``row_id``."""
    return sa.and_(table.c.id == row_id, table.c.lease_owner == owner)


def release(conn: Connection, table: sa.Table, owner: str, ids: list[int], not_before: datetime | None = None) -> int:
    """Hand back rows ``owner`` claimed but will not finish now. They can be claimed again at
    once, or from ``not_before`` on; only rows ``owner`` still holds are touched."""
    return conn.execute(table.update().where(table.c.id.in_(ids), table.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=not_before)).rowcount

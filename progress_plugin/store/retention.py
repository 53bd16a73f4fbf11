"""Retention: done inbox and outbox rows go after ``days``; audit rows after ``audit_days``.

A done row is kept only for deduplication (its payload is already gone), and a host redelivers
for days, not months. What goes, in small steps that never hold a long lock:

- PostgreSQL: every partition whose whole range is past the retention window and that holds
  no waiting, failed or dead row is detached and dropped (:func:`partitions.drop_old`); a
  partition held by such a row, and the default partition, lose their old done rows by batched
  deletes. Rows are removed a whole partition at a time, so a row may stay up to
  ``partition_days`` longer than ``days``. Each run also makes the partitions ahead.
- SQLite: batched deletes, ``batch`` rows per short transaction (each one takes the write lock
  for a few milliseconds; other writers go between them).

Never removed by :func:`prune`: pending rows, failed inbox rows and dead outbox rows (they wait
for ``retry`` or ``drop``), and the audit log, which :func:`prune_audit` alone removes, after its
own, longer window. Each run's figures are kept in the ``counters`` table (clinic ``*``) for
``/metrics``: runs, rows removed per table, the last run's time and duration.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from progress_plugin.core.dates import utc
from progress_plugin.store import inbox, partitions
from progress_plugin.store import tables as t

#: table -> (its time column, the statuses that are pruned)
PRUNED = {"inbox": (t.inbox.c.received_at, ("done",)), "outbox": (t.outbox.c.created_at, ("done",))}
STORE_WIDE = "*"          # the counters' clinic for figures of the whole store


@dataclass
class Pruned:
    """What a prune run removed (or, dry, would remove)."""
    rows: dict = field(default_factory=dict)             # table -> rows removed
    dropped: list = field(default_factory=list)          # partitions dropped (PostgreSQL)
    held: list = field(default_factory=list)             # old partitions kept for a waiting or failed row
    made: list = field(default_factory=list)             # partitions made ahead
    seconds: float = 0.0
    longest_lock: float = 0.0     # the longest transaction that held a table's exclusive lock (a partition drop)
    longest_batch: float = 0.0    # the longest batched-delete transaction


def prune(engine: Engine, now: datetime, policy, dry_run: bool = False) -> Pruned:
    """Remove done inbox and outbox rows older than ``policy.days`` (see the module).

    ``policy`` has ``days``, ``batch``, ``partition_days``, ``partitions_ahead_days`` and
    ``lock_timeout_ms`` (:class:`~progress_plugin.service.retention_settings.RetentionConfig`)."""
    started = time.monotonic()
    now = utc(now)
    cutoff = now - timedelta(days=policy.days)
    out = Pruned()
    postgres = engine.dialect.name == "postgresql"
    if postgres and not dry_run:
        out.made = partitions.ensure_ahead(engine, now, policy.partition_days, policy.partitions_ahead_days,
                                           policy.lock_timeout_ms)
    for name, (column, statuses) in PRUNED.items():
        table = column.table
        removed, before = 0, cutoff
        if postgres:
            with engine.connect() as conn:
                parted = partitions.partitioned(conn, name)
            if parted:
                dropped, held = partitions.drop_old(engine, name, cutoff, policy.lock_timeout_ms, dry_run)
                out.dropped += [d.name for d in dropped]
                out.held += held
                removed += 0 if dry_run else sum(d.rows for d in dropped)   # dry: counted below
                out.longest_lock = max([out.longest_lock] + [d.lock_seconds for d in dropped])
                with engine.connect() as conn:
                    before = partitions.edge(conn, name, cutoff)
        old = sa.and_(table.c.status.in_(statuses), column < before)
        if dry_run:
            with engine.connect() as conn:
                removed += conn.execute(sa.select(sa.func.count()).select_from(table).where(old)).scalar()
        else:
            count, longest = _delete_in_batches(engine, table, old, policy.batch)
            removed += count
            out.longest_batch = max(out.longest_batch, longest)
        out.rows[name] = removed
    out.seconds = time.monotonic() - started
    if not dry_run:
        _record(engine, now, out)
    return out


def prune_audit(engine: Engine, now: datetime, audit_days: int, batch: int, dry_run: bool = False) -> Pruned:
    """Remove audit rows older than ``audit_days``, in batches. Only ``progress-plugin audit prune`` calls this."""
    started = time.monotonic()
    old = t.audit_log.c.at < utc(now) - timedelta(days=audit_days)
    out = Pruned()
    if dry_run:
        with engine.connect() as conn:
            out.rows["audit_log"] = conn.execute(sa.select(sa.func.count()).select_from(t.audit_log).where(old)).scalar()
    else:
        out.rows["audit_log"], out.longest_batch = _delete_in_batches(engine, t.audit_log, old, batch)
    out.seconds = time.monotonic() - started
    if not dry_run:
        with engine.begin() as conn:
            inbox.bump(conn, STORE_WIDE, "prune:audit:runs", now)
            inbox.bump(conn, STORE_WIDE, "prune:audit:rows", now, out.rows["audit_log"])
    return out


def _delete_in_batches(engine: Engine, table: sa.Table, where, batch: int) -> tuple[int, float]:
    """Delete the rows matching ``where``, ``batch`` at a time, oldest ids first, each batch in a
    transaction of its own. Returns the rows deleted and the longest batch's seconds."""
    total, longest = 0, 0.0
    while True:
        started = time.monotonic()
        with engine.begin() as conn:
            ids = [r[0] for r in conn.execute(sa.select(table.c.id).where(where).order_by(table.c.id).limit(batch))]
            if ids:
                total += conn.execute(table.delete().where(table.c.id.in_(ids), where)).rowcount
        longest = max(longest, time.monotonic() - started)
        if len(ids) < batch:
            return total, longest


def _record(engine: Engine, now: datetime, out: Pruned) -> None:
    with engine.begin() as conn:
        inbox.bump(conn, STORE_WIDE, "prune:runs", now)
        for name, n in out.rows.items():
            inbox.bump(conn, STORE_WIDE, f"prune:rows:{name}", now, n)
        inbox.set_counter(conn, STORE_WIDE, "prune:last-at", int(now.timestamp()), now)
        inbox.set_counter(conn, STORE_WIDE, "prune:last-ms", int(out.seconds * 1000), now)


def figures(engine: Engine) -> dict[str, int]:
    """The store-wide counters (prune runs, rows removed, claims, host errors), by name."""
    c = t.counters
    with engine.connect() as conn:
        return {r.name: r.value for r in conn.execute(
            sa.select(c.c.name, c.c.value).where(c.c.clinic_id == STORE_WIDE))}

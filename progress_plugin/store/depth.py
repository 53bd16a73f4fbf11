"""What ``/metrics`` reads from the store at scrape time: queue depths, ages, partitions.

Every figure here is read when it is asked for, so every web process of every machine answers
the same. Counts of the states a person or a worker waits on (pending, failed, dead) are exact
(index lookups on ``status``). The count of done rows is exact on SQLite; on PostgreSQL it is the
planner's estimate (``pg_class.reltuples`` of the partitions, refreshed by autovacuum), since
counting tens of millions of rows on every scrape would cost seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from progress_plugin.core.dates import utc
from progress_plugin.store import partitions
from progress_plugin.store import tables as t

#: table -> (its states, the exactly counted ones, the column a pending row's age is read from)
QUEUES = {"inbox": (t.inbox, ("pending", "done", "failed"), t.inbox.c.received_at),
          "outbox": (t.outbox, ("pending", "done", "dead"), t.outbox.c.created_at)}
OUTSIDE_CAP = 10000        # rows counted in a default partition, at most


@dataclass
class Depth:
    rows: dict = field(default_factory=dict)          # (table, state) -> rows
    oldest_pending: dict = field(default_factory=dict)   # table -> seconds (0 when none waits)
    outside: dict = field(default_factory=dict)       # table -> rows in the default partition (PostgreSQL)
    ahead: dict = field(default_factory=dict)         # table -> seconds from now to the end of the last partition


def read(engine: Engine, now: datetime) -> Depth:
    now = utc(now)
    out = Depth()
    with engine.connect() as conn:
        for name, (table, states, since) in QUEUES.items():
            parted = partitions.partitioned(conn, name)
            for state in states:
                if state == "done" and parted:
                    continue
                out.rows[(name, state)] = conn.execute(sa.select(sa.func.count()).select_from(table).where(
                    table.c.status == state)).scalar()
            if parted:
                estimate = conn.execute(sa.text(
                    "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": name}).scalar()
                others = sum(n for (tn, st), n in out.rows.items() if tn == name)
                out.rows[(name, "done")] = max(int(estimate) - others, 0)
                out.outside[name] = conn.execute(sa.text(
                    f"SELECT count(*) FROM (SELECT 1 FROM {name}_default LIMIT {OUTSIDE_CAP}) AS d")).scalar()
                found = partitions.parts(conn, name)
                out.ahead[name] = (found[-1].hi - now).total_seconds() if found else 0.0
            oldest = conn.execute(sa.select(sa.func.min(since)).where(table.c.status == "pending")).scalar()
            out.oldest_pending[name] = max((now - utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
    return out

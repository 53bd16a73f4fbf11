"""PostgreSQL: the inbox and the outbox are partitioned by time, so retention drops a partition.

Each table is ``PARTITION BY RANGE`` of the time a row came in (the inbox's ``received_at``, the
outbox's ``created_at``), in partitions of ``partition_days`` (7 by default) aligned on Mondays,
named ``inbox_p20260302`` for the range starting that day, plus one ``<table>_default`` partition
that takes a row outside every range (a clock far off, or partitions not made in time) so that
no write ever fails for want of a partition. :func:`ensure` makes partitions ahead of time (the
migration, every prune run); a new partition's rows already in the default partition are moved
into it first. SQLite keeps plain tables (see :mod:`progress_plugin.store.retention`).

**Deduplication.** PostgreSQL requires a unique constraint on a partitioned table to include the
partition key, so ``(clinic_id, event_id)`` (inbox) and ``(clinic_id, key)`` (outbox) are no longer
unique constraints on PostgreSQL; they are plain indexes, and :func:`lock_keys` makes them hold:
a writer takes a transaction-scoped advisory lock on each key (``pg_advisory_xact_lock`` of a
64-bit hash of clinic and key), then looks the key up in every partition, then inserts. Two
writers of one key are serialised by the lock; the second one's lookup runs in a new statement
after the first one committed, so it sees the row whichever partition it went to, across any
partition boundary, for as long as the row is kept. The cost: one more statement per insert and
one index probe per partition kept (about 5 at 30 days in weeks). Transaction-scoped locks work
behind PgBouncer in transaction mode (session locks would not). See bench/README.md.

**Locks.** A partition is made as a table of its own and then attached (``ATTACH PARTITION``
takes a SHARE UPDATE EXCLUSIVE lock on the parent, which blocks no reader or writer; only the
default partition is locked exclusively, from the move of its rows of the new range until the
attach, so that no row of that range can arrive in between; it is most often empty, so this takes
milliseconds, and never longer than ``lock_timeout_ms`` waiting). Dropping one detaches it first: that takes an ACCESS EXCLUSIVE lock on the parent
for the milliseconds of the catalog change, after waiting at most ``lock_timeout_ms`` for it (a
drop that cannot get its lock in time is left for the next run). Partition DDL is serialised
between processes by a transaction-scoped advisory lock.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

#: table -> the column it is partitioned by
TIME_COLUMN = {"inbox": "received_at", "outbox": "created_at"}
#: table -> the statuses whose rows are never pruned (waiting, or for a person to look at)
KEPT = {"inbox": ("pending", "failed"), "outbox": ("pending", "dead")}
DDL_LOCK = 7263542                 # advisory lock serialising partition DDL between processes
KEY_LOCK_SEED = 7263543            # seed of the hash whose advisory lock guards one key
ANCHOR = datetime(1970, 1, 5, tzinfo=timezone.utc)     # a Monday: partitions start on Mondays
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Part:
    name: str
    lo: datetime
    hi: datetime


def partitioned(conn: Connection, table: str) -> bool:
    """True when ``table`` is a partitioned table (PostgreSQL at migration 0011r or later)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(sa.text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:t)"),
                        {"t": table}).scalar() is True


def parts(conn: Connection, table: str) -> list[Part]:
    """The range partitions of ``table``, oldest first (the default partition is not among them)."""
    rows = conn.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": table})
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            lo, hi = (datetime.fromisoformat(v).astimezone(timezone.utc) for v in match.groups())
            found.append(Part(name, lo, hi))
    return sorted(found, key=lambda p: p.lo)


def align(when: datetime, days: int) -> datetime:
    """The start of the ``days``-wide range (counted from a Monday) that holds ``when``."""
    width = timedelta(days=days)
    return ANCHOR + ((when - ANCHOR) // width) * width


def missing(existing: list[Part], start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """The ranges to make so that ``[start, end)`` is covered, each at most ``days`` wide, aligned,
    and cut short where an existing partition begins (partitions made with another width stay)."""
    out, cursor = [], align(start, days)
    while cursor < end:
        covering = next((p for p in existing if p.lo <= cursor < p.hi), None)
        if covering is not None:
            cursor = covering.hi
            continue
        hi = align(cursor, days) + timedelta(days=days)
        later = [p.lo for p in existing if p.lo > cursor]
        if later and min(later) < hi:
            hi = min(later)
        out.append((cursor, hi))
        cursor = hi
    return out


def ensure(conn: Connection, table: str, start: datetime, end: datetime, days: int) -> list[str]:
    """Make the partitions of ``table`` that ``[start, end)`` lacks, in the caller's transaction
    (which holds :data:`DDL_LOCK` while it runs). Rows of a new range waiting in the default
    partition are moved into the new partition. Returns the names made."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DDL_LOCK})
    made = []
    column = TIME_COLUMN[table]
    for lo, hi in missing(parts(conn, table), start, end, days):
        name = f"{table}_p{lo:%Y%m%d}"
        conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
        # No writer may add a row of this range to the default partition between the move and
        # the attach (the attach's check would then fail). The lock is the one the attach takes
        # anyway (ACCESS EXCLUSIVE), taken before the move: taking a weaker one first and the
        # attach's later would be an upgrade, which deadlocks with a writer that read the table.
        conn.exec_driver_sql(f"LOCK TABLE {table}_default IN ACCESS EXCLUSIVE MODE")
        conn.execute(sa.text(f"WITH moved AS (DELETE FROM {table}_default WHERE {column} >= :lo AND {column} < :hi "
                             f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"), {"lo": lo, "hi": hi})
        conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM "
                             f"('{lo.isoformat()}') TO ('{hi.isoformat()}')")
        made.append(name)
    return made


def ensure_ahead(engine: Engine, now: datetime, days: int, ahead_days: int, lock_timeout_ms: int) -> list[str]:
    """Partitions of the inbox and the outbox from now to ``ahead_days`` ahead, one short
    transaction per table. Returns the names made (none when another process holds the DDL lock
    past ``lock_timeout_ms``: it makes them)."""
    made = []
    for table in TIME_COLUMN:
        try:
            with engine.begin() as conn:
                if not partitioned(conn, table):
                    continue
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
                made += ensure(conn, table, now, now + timedelta(days=ahead_days), days)
        except sa.exc.OperationalError:        # lock not granted in time: the next run makes them
            continue
    return made


@dataclass
class Dropped:
    name: str
    rows: int
    lock_seconds: float      # how long the transaction that held the parent's exclusive lock took


def drop_old(engine: Engine, table: str, before: datetime, lock_timeout_ms: int, dry_run: bool = False
             ) -> tuple[list[Dropped], list[str]]:
    """Drop the partitions of ``table`` whose whole range is older than ``before`` and that hold no
    row to keep (:data:`KEPT`). Returns those dropped (or, with ``dry_run``, that would be) and
    the names of those kept for a waiting or failed row (their done rows go by batched deletes)."""
    dropped, held = [], []
    with engine.connect() as conn:
        old = [p for p in parts(conn, table) if p.hi <= before]
    kept = ", ".join(f"'{s}'" for s in KEPT[table])
    for part in old:
        with engine.connect() as conn:
            if conn.execute(sa.text(f"SELECT 1 FROM {part.name} WHERE status IN ({kept}) LIMIT 1")).first():
                held.append(part.name)
                continue
            rows = conn.execute(sa.text(f"SELECT count(*) FROM {part.name}")).scalar()
        if dry_run:
            dropped.append(Dropped(part.name, rows, 0.0))
            continue
        started = time.monotonic()
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
                if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": DDL_LOCK}).scalar():
                    continue                   # another process is at it
                conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {part.name}")
                # Checked again under the lock: a row kept since the first look keeps the partition.
                if conn.execute(sa.text(f"SELECT 1 FROM {part.name} WHERE status IN ({kept}) LIMIT 1")).first():
                    raise _Keep()
                conn.exec_driver_sql(f"DROP TABLE {part.name}")
        except _Keep:
            held.append(part.name)
            continue
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):   # lock timeout, or detached meanwhile
            continue
        dropped.append(Dropped(part.name, rows, time.monotonic() - started))
    return dropped, held


def edge(conn: Connection, table: str, cutoff: datetime) -> datetime:
    """Rows older than this may go by batched deletes: the start of the partition that holds
    ``cutoff`` (a partition's rows go together, when the whole partition is past retention)."""
    found = parts(conn, table)
    ends = [p.hi for p in found if p.hi <= cutoff]
    if ends:
        return max(ends)
    return min([p.lo for p in found] + [cutoff])


#: :func:`lock_keys` of one key, for a driver's cursor (``%s``: the clinic, then the key): the same hash.
LOCK_ONE_KEY = (f"SELECT pg_advisory_xact_lock(hashtextextended(CAST(%s AS text) || chr(31) || CAST(%s AS text), "
                f"{KEY_LOCK_SEED}))")


def lock_keys(conn: Connection, clinic_id: str, keys) -> None:
    """Take the transaction-scoped advisory lock of each ``(clinic_id, key)``, in one order (by
    hash), so two writers of the same keys queue instead of deadlocking. Held until commit."""
    conn.execute(sa.text(
        "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(:c || chr(31) || k, :seed) AS h "
        "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS s"),
        {"c": clinic_id, "keys": list(keys), "seed": KEY_LOCK_SEED})


class _Keep(Exception):
    pass

"""retention: the inbox and the outbox partitioned by time on PostgreSQL; 64-bit ids and counters

PostgreSQL only; a SQLite store keeps its plain tables (retention deletes there in batches).

- ``inbox`` becomes ``PARTITION BY RANGE (received_at)`` and ``outbox`` ``PARTITION BY RANGE
  (created_at)``: weekly partitions (``inbox_p20260302``, Mondays) from the oldest row's week to
  four weeks ahead, and a ``<table>_default`` partition for a row outside every range. Retention
  then drops a partition whose week is past, instead of deleting its rows one by one. The rows
  are copied over with their ids (data kept); the tables keep their names, columns, sequences
  and index names.
- The primary key becomes ``(id, <time column>)``: a key of a partitioned table must hold the
  partition key. ``id`` stays unique in practice (one sequence) and becomes ``bigint``, as do
  the ``counters`` (at a million events a day a 32-bit id runs out in under six years).
- Deduplication: a unique constraint on a partitioned table must include the partition key, and
  ``(clinic_id, event_id, received_at)`` would let a redelivery through (it arrives at another
  time). The unique constraints ``uq_inbox_event`` and ``uq_outbox_key`` become plain indexes
  (``ix_inbox_event``, ``ix_outbox_key``), and every insert takes the key's transaction-scoped
  advisory lock and looks the key up before inserting (``store.partitions.lock_keys``): a key
  is unique across partition boundaries for as long as its row is kept, and two processes
  inserting it at once queue on the lock. Considered and not chosen: a dedup table of its own
  partitioned the same way, each key written into its own period and the next (unique by
  constraint alone, but twice the rows, and a window fixed by the partition width rather than
  by the retention), and the partition key in the constraint plus a look at the neighbouring
  partition (the same lock would be needed to make the look safe). The cost of the choice: one
  more statement per insert, one index probe per kept partition, and uniqueness that holds
  only for writes through the store's code (a hand-written INSERT is not checked).

Revision ID: 0011r
Revises: 0010s
"""
from datetime import datetime, timedelta, timezone

from alembic import op

from progress_plugin.store import partitions

revision = "0011r"
down_revision = "0010s"
branch_labels = None
depends_on = None

#: table: (time column, {old unique constraint: new plain index, columns}, other indexes)
TABLES = {
    "inbox": ("received_at", ("uq_inbox_event", "ix_inbox_event", "clinic_id, event_id"),
              (("ix_inbox_status", "status, id"),)),
    "outbox": ("created_at", ("uq_outbox_key", "ix_outbox_key", "clinic_id, key"),
               (("ix_outbox_due", "status, next_attempt_at"), ("ix_outbox_client", "clinic_id, client_id"),
                ("ix_outbox_target", "target, status"))),
}
WEEK_DAYS, AHEAD_DAYS = 7, 28


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    now = datetime.now(timezone.utc)
    for table, (column, (unique, index, key), indexes) in TABLES.items():
        plain = f"{table}_plain"
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {plain}")
        conn.exec_driver_sql(f"ALTER TABLE {plain} RENAME CONSTRAINT pk_{table} TO pk_{plain}")
        conn.exec_driver_sql(f"ALTER TABLE {plain} RENAME CONSTRAINT {unique} TO {unique}_plain")
        for name, _ in indexes:
            conn.exec_driver_sql(f"ALTER INDEX {name} RENAME TO {name}_plain")
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {plain} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})")
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN id TYPE bigint")
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id, {column})")
        conn.exec_driver_sql(f"CREATE INDEX {index} ON {table} ({key})")
        for name, columns in indexes:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({columns})")
        conn.exec_driver_sql(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        oldest = conn.exec_driver_sql(f"SELECT min({column}) FROM {plain}").scalar() or now
        partitions.ensure(conn, table, min(oldest, now), now + timedelta(days=AHEAD_DAYS), WEEK_DAYS)
        conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {plain}")
        conn.exec_driver_sql(f"ALTER SEQUENCE {table}_id_seq AS bigint OWNED BY {table}.id")
        conn.exec_driver_sql(f"DROP TABLE {plain}")
        conn.exec_driver_sql(f"ANALYZE {table}")
    conn.exec_driver_sql("ALTER TABLE counters ALTER COLUMN value TYPE bigint")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, (column, (unique, index, key), indexes) in TABLES.items():
        parted = f"{table}_parted"
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {parted}")
        conn.exec_driver_sql(f"ALTER TABLE {parted} RENAME CONSTRAINT pk_{table} TO pk_{parted}")
        for name, _ in indexes + ((index, None),):
            conn.exec_driver_sql(f"ALTER INDEX {name} RENAME TO {name}_parted")
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {parted} INCLUDING DEFAULTS)")
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {unique} UNIQUE ({key})")
        for name, columns in indexes:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({columns})")
        conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {parted}")
        conn.exec_driver_sql(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
        conn.exec_driver_sql(f"DROP TABLE {parted}")

"""The store's engines and connections: SQLite file by default, PostgreSQL when scaled out.

A SQLite file is created with mode 0600 (goals in the client's words are PHI) and never
opened outside SQLite. :class:`StoreBase` is what every part of
:class:`~progress_plugin.store.Store` stands on: the engine and its connections.
"""
from __future__ import annotations

import functools
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from progress_plugin.errors import ConfigError
from progress_plugin.store.group_commit import GroupCommit, ThreadConnections

DEFAULT_URL = "sqlite:///progress.db"
#: ``?pooler=transaction`` on a PostgreSQL URL: the store is reached through a pooler in
#: transaction mode (PgBouncer's ``pool_mode = transaction``), so no statement is prepared on the
#: server. Everything else the store does holds there: its advisory locks are transaction-scoped
#: (``pg_advisory_xact_lock``), its claims (``FOR UPDATE SKIP LOCKED``) and its ``SET LOCAL``s
#: live inside one transaction.
POOLER = "pooler"
BUSY_TIMEOUT_MS = 30000
CHUNK = 500     # ids per IN list


def sqlite_path(url: sa.URL) -> str | None:
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


def create_private_file(path: str) -> None:
    """Create the SQLite file with mode 0600, through SQLite itself.

    The file is never opened outside SQLite: closing any descriptor of a database file drops
    every POSIX lock the process holds on it, SQLite's own included ("How To Corrupt An
    SQLite Database File", section 2.2). SQLite creates the file, and later its ``-wal`` and
    ``-shm`` files with the same mode, under a umask that leaves the group and others out."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    previous = os.umask(0o077)
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)             # by path: no descriptor of the file is opened


def make_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        if not os.path.exists(path):
            create_private_file(path)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # Deleted content is overwritten with zeros (freelist pages too), so no copy of a
            # client's words outlives its row in the database file (see Store.erase).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args = {}
    pooler = parsed.query.get(POOLER)
    if pooler is not None:
        if pooler != "transaction":
            raise ConfigError(f"store URL: {POOLER}={pooler!r}: the only value is 'transaction'")
        parsed = parsed.difference_update_query([POOLER])
        # Behind PgBouncer in transaction mode each transaction may run on another server
        # connection, which does not know a statement psycopg prepared on the last one.
        connect_args["prepare_threshold"] = None
    return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)


_REVISION = re.compile(r"""^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:["']([^"'\n]+)["']|None)\s*$""", re.M)


@functools.lru_cache(maxsize=None)
def migration_heads() -> frozenset[str]:
    """The newest revision(s) of ``progress_plugin/migrations``, read from the files' text.

    A revision no other one names as its ``down_revision``. When a file cannot be read
    this way (a merge has a tuple of parents) the answer is empty, so :meth:`Store.at_head`
    says False and alembic decides."""
    revisions, parents = set(), set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        found = dict(m.group(1, 2) for m in _REVISION.finditer(path.read_text(encoding="utf-8")))
        if found.get("revision"):
            revisions.add(found["revision"])
            if "down_revision" not in found:
                return frozenset()
            if found["down_revision"]:
                parents.add(found["down_revision"])
    return frozenset(revisions - parents)


def chunks(items, size):
    """``items`` (a list) in slices of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def keys_in(c: Connection, statement, table: str, column: str, clinic_id: str, values: list) -> list:
    """``column`` of the rows of ``table`` with ``clinic_id`` whose ``column`` is in ``values``
    (a list of strings, at most :data:`CHUNK`): ``statement`` (parameters ``clinic`` and an
    expanding one named after the list) on PostgreSQL; on SQLite the same query straight to the
    driver, as SQLAlchemy's expansion of a long IN list costs more than SQLite's look-up."""
    if c.dialect.name != "sqlite":
        return [r[0] for r in c.execute(statement, {"clinic": clinic_id, "values": values})]
    sql = f"SELECT {column} FROM {table} WHERE clinic_id = ? AND {column} IN ({', '.join('?' * len(values))})"
    return [r[0] for r in c.exec_driver_sql(sql, (clinic_id, *values))]


class StoreBase:
    """An engine and its connections; the rest of the store is built on these."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def at_head(self) -> bool:
        """True when the schema is at the newest migration; False when behind, or when unsure.

        Read without alembic: its import costs a process about 10 MB of memory that a
        process only reading and writing rows (a worker, a backfill) never gets back."""
        heads = migration_heads()
        if len(heads) != 1:
            return False
        try:
            with self.engine.connect() as c:
                current = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
        except sa.exc.DBAPIError:        # no version table yet
            return False
        return current == list(heads)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        for kept in (self.__dict__.get("_group"), self.__dict__.get("_threads")):
            if kept is not None:
                kept.close()
        self.engine.dispose()

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    def grouped(self, write):
        """Run ``write(conn)`` in a transaction shared with other threads' writes and return
        its result once committed (:mod:`~progress_plugin.store.group_commit`).

        On PostgreSQL each write is its own transaction on a connection its thread keeps
        (:class:`~progress_plugin.store.group_commit.ThreadConnections`): the
        server commits concurrent transactions side by side (and shares their WAL flushes
        itself), while a group would make each process's requests wait for one leader's
        transaction at a time, every write's key lock (``pg_advisory_xact_lock``) held until
        the whole group commits."""
        if self.engine.dialect.name != "sqlite":
            kept = self.__dict__.get("_threads")
            if kept is None:
                kept = self.__dict__.setdefault("_threads", ThreadConnections(self.engine))
            return kept.run(write)
        group = self.__dict__.get("_group")
        if group is None:
            path = sqlite_path(self.engine.url)
            group = self.__dict__.setdefault("_group", GroupCommit(
                self.engine, None if path is None else os.path.abspath(path) + ".commit-lock"))
        return group.run(write)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    @contextmanager
    def _conn(self, conn: Connection | None, write: bool = False):
        """The caller's connection when given; else a new one, in a transaction when ``write``."""
        if conn is not None:
            yield conn
        elif write:
            with self.engine.begin() as c:
                yield c
        else:
            with self.engine.connect() as c:
                yield c

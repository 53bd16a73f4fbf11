"""Group commit: several threads' small writes committed in one transaction.

The webhook receiver answers 2xx only once its inbox row is committed. Committing each
request's row on its own costs a transaction per request, and on a SQLite file two
processes then take turns at the one write lock, the loser asleep in SQLite's busy handler
(1, 2, 5, 10 ms ...) while the lock is long free again. Here:

- **One transaction per group.** :meth:`GroupCommit.run` queues a write (a function of a
  connection) and waits. The first waiting thread of a process becomes the leader: it takes
  every queued write (at most ``max_batch``), runs them in one transaction, commits, and
  hands each caller its result. Writes queued meanwhile form the next group, led by one of
  their own threads. A lone request is its own leader, so a single-threaded (sync) worker
  pays no hand-off between threads.
- **A 2xx still means committed.** A caller returns only after the commit of its group
  returned. When the commit fails, every caller of the group gets the error. When one write
  of a group raises, the group is rolled back and each of its writes runs again in a
  transaction of its own, so one bad write fails alone.
- **Writers of a SQLite file queue in the kernel.** Around its transaction a leader holds an
  exclusive ``flock`` on a lock file beside the database (``<file>.commit-lock``: a file
  of its own, never the database file, which only SQLite opens), so the leaders of the
  service's processes wait in turn and wake the moment the lock is free, instead of polling
  SQLite's lock. Other writers (the worker, the console) keep SQLite's busy timeout; the lock
  file only orders the receivers. A PostgreSQL store does not group at all: its server commits
  concurrent transactions side by side (:meth:`~progress_plugin.store.engine.StoreBase.grouped`).

- **One connection per process.** The leader runs its group on a connection the committer
  keeps (only one leader runs at a time), not one checked out of the pool and returned for
  each group; a group that fails closes it, and a forked process opens its own.

A write must be safe to run twice in a failed group (an ``INSERT ... ON CONFLICT DO
NOTHING``, a counter bump in a savepoint): the group's first run was rolled back.
"""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from typing import Callable, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
MAX_BATCH = 64


class _Write:
    __slots__ = ("fn", "done", "value", "error")

    def __init__(self, fn):
        self.fn, self.done, self.value, self.error = fn, False, None, None

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class GroupCommit:
    """Commits the writes of concurrent threads of one process in groups. Thread-safe."""

    def __init__(self, engine: Engine, lock_path: str | None = None, max_batch: int = MAX_BATCH):
        self.engine = engine
        self.lock_path = lock_path
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Write] = []
        self._leading = False
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._conn: Connection | None = None
        self._conn_pid: int | None = None
        #: groups committed and writes in them, since the process started (for the benchmark)
        self.groups = self.writes = 0

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a transaction shared with other threads' writes; return its
        result once that transaction is committed (or raise what ``fn`` or the commit raised)."""
        write = _Write(fn)
        with self._cond:
            self._queue.append(write)
            while True:
                while self._leading and not write.done:
                    self._cond.wait()
                if write.done:
                    return write.result()
                self._leading = True
                group = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
                self._cond.release()
                try:
                    self._commit(group)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()

    def _commit(self, group: list[_Write]) -> None:
        try:
            conn = self._connection()
            with self._serialised(), conn.begin():
                values = [w.fn(conn) for w in group]
        except BaseException as exc:
            self._drop()
            if len(group) == 1:
                group[0].error, group[0].done = exc, True
                if not isinstance(exc, Exception):
                    raise
                return
            for w in group:               # find the bad write: each alone
                self._commit([w])
            return
        self.groups += 1
        self.writes += len(group)
        for w, value in zip(group, values):
            w.value, w.done = value, True

    def _connection(self) -> Connection:
        """The leader's connection (only a leader calls this: one thread at a time)."""
        if self._conn is None or self._conn_pid != os.getpid():
            self._conn = self.engine.connect()         # a forked process's copy of its parent's is left alone
            self._conn_pid = os.getpid()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._conn_pid == os.getpid():
            _close(conn)

    def close(self) -> None:
        """Give the kept connection back (the store is closing); a group running now keeps it."""
        with self._cond:
            if not self._leading:
                self._drop()

    @contextmanager
    def _serialised(self):
        if self.lock_path is None:
            yield
            return
        if self._lock_pid != os.getpid():       # a forked process opens its own (flock is per open file)
            previous = os.umask(0o077)
            try:
                self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            finally:
                os.umask(previous)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


class ThreadConnections:
    """PostgreSQL: each write its own transaction, on a connection its thread keeps.

    The server commits concurrent transactions side by side, so writes are not grouped
    (:meth:`~progress_plugin.store.engine.StoreBase.grouped`); keeping the connection saves the
    pool's checkout and its liveness check (``pool_pre_ping``: one round trip per write).
    That check's job is done here afterwards: when a write finds its kept connection gone (a
    server restart), nothing was committed (no ``COMMIT`` was sent) and it runs once more on a
    new connection. A failed commit is never run again: its caller gets the error. Any other
    error closes the connection too; a forked process opens its own."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: dict[int, Connection] = {}      # thread id -> its connection (to close them all)
        self._busy: set[int] = set()

    def run(self, fn: Callable[[Connection], T]) -> T:
        for attempt in (1, 2):
            conn = self._connection()
            self._busy.add(threading.get_ident())
            try:
                transaction = conn.begin()
                try:
                    value = fn(conn)
                except DBAPIError as exc:
                    self._drop()
                    if attempt == 1 and exc.connection_invalidated:
                        continue
                    raise
                except BaseException:
                    self._drop()
                    raise
                try:
                    transaction.commit()
                except BaseException:
                    self._drop()
                    raise
                return value
            finally:
                self._busy.discard(threading.get_ident())
        raise AssertionError("unreachable")

    def _connection(self) -> Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or local.conn is None:
            local.conn, local.pid = self.engine.connect(), os.getpid()
            with self._lock:
                self._kept[threading.get_ident()] = local.conn
        return local.conn

    def _drop(self) -> None:
        conn, self._local.conn = self._local.conn, None
        with self._lock:
            self._kept.pop(threading.get_ident(), None)
        _close(conn)

    def close(self) -> None:
        """Give back the kept connections of threads not writing now (the store is closing)."""
        with self._lock:
            idle = [(ident, c) for ident, c in self._kept.items() if ident not in self._busy]
            for ident, _ in idle:
                del self._kept[ident]
        for _, conn in idle:
            _close(conn)


def _close(conn: Connection) -> None:
    """Give a kept connection back; a broken one cannot be, and the pool discards it."""
    try:
        conn.close()
    except Exception:       # noqa: BLE001
        pass

"""Schema migrations with alembic, run from code (``Store.open``) or ``progress-plugin migrate``."""
from __future__ import annotations

import fcntl
import os

from sqlalchemy.engine import Engine

from progress_plugin.store.engine import sqlite_path

LOCK_SUFFIX = ".migrate-lock"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision``. Several processes may call this at once:
    on PostgreSQL an advisory lock serialises them, on SQLite an ``flock`` on a side file
    beside the database (``progress.db.migrate-lock``).

    The database file itself is never opened here: closing a descriptor of it would drop
    every POSIX lock this process holds on it, SQLite's own included, and another process
    could then delete the write-ahead log under this one."""
    path = sqlite_path(engine.url)
    if path is None:
        return _upgrade(engine, revision)
    fd = os.open(path + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            _upgrade(engine, revision)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _upgrade(engine: Engine, revision: str) -> None:
    # alembic only here, when a migration runs: importing it costs a process about 10 MB of
    # memory, which a store already at the newest revision never needs (Store.at_head).
    from alembic import command
    from alembic.config import Config
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7263541)")
        cfg = Config()
        cfg.set_main_option("script_location", "progress_plugin.store:migrations")
        cfg.attributes["engine"] = engine
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

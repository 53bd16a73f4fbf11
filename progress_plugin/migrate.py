"""Schema migrations with alembic, run from code (``Store.open``) or ``progress-plugin migrate``."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "progress_plugin:migrations")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision``. Several processes may call this at once:
    on PostgreSQL an advisory lock serialises them, on SQLite an ``flock`` on the database
    file (a lock SQLite itself does not use on Linux)."""
    from progress_plugin.store import sqlite_path
    path = sqlite_path(engine.url)
    if path is None:
        return _upgrade(engine, revision)
    import fcntl
    with open(path, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _upgrade(engine, revision)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _upgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7263541)")
        cfg = config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

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
    """Bring the store's schema to ``revision``. On PostgreSQL an advisory lock serialises
    concurrent starters, so several processes may call this at once."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7263541)")
        cfg = config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

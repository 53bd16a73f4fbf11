"""Opening a store migrates it, and skips alembic when the schema is already at the newest revision."""
from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from progress_plugin.store.migrate import upgrade
from progress_plugin.store import Store
from progress_plugin.store.engine import migration_heads


def test_the_heads_read_from_the_files_are_alembics():
    config = Config()
    config.set_main_option("script_location", "progress_plugin.store:migrations")
    assert migration_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())
    assert len(migration_heads()) == 1


def test_a_store_behind_is_migrated_and_then_at_head(store_url):
    bare = Store.open(store_url, migrate=False)
    assert bare.at_head() is False                      # no version table yet
    upgrade(bare.engine, "0001")
    assert bare.at_head() is False                      # behind
    bare.close()
    store = Store.open(store_url)                       # alembic brings it up
    assert store.at_head() is True
    with store.engine.connect() as c:
        assert [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))] == list(migration_heads())
    store.close()


def test_opening_a_store_at_head_does_not_import_alembic(sqlite_url):
    Store.open(sqlite_url).close()
    probe = ("import sys; from progress_plugin.store import Store; "
             f"s = Store.open({sqlite_url!r}); s.ping(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    fresh = sqlite_url.replace("progress.db", "fresh.db")
    out = subprocess.run([sys.executable, "-c", probe.replace(sqlite_url, fresh)], capture_output=True, text=True,
                         check=True)
    assert "'alembic'" in out.stdout                    # a new store does need it


def test_a_store_error_never_carries_the_values_it_was_given(store_url):
    """A store error's text must not quote the parameters it was given, which may be a
    client's words."""
    store = Store.open(store_url)
    words = "CANARY-words-in-a-failed-insert"
    with store.begin() as c:
        c.execute(sa.text("CREATE TABLE probe (v VARCHAR(80) PRIMARY KEY)"))
        c.execute(sa.text("INSERT INTO probe (v) VALUES (:v)"), {"v": words})
    try:
        with store.begin() as c:
            c.execute(sa.text("INSERT INTO probe (v) VALUES (:v)"), {"v": words})
    except sa.exc.IntegrityError as exc:
        # PostgreSQL's own DETAIL line may quote a key, so callers log an error's class only;
        # what SQLAlchemy adds (the statement and its parameters) never holds the values.
        added = str(exc)[str(exc).index("[SQL:"):]
        assert words not in added
        assert "hidden due to hide_parameters" in added
    else:
        raise AssertionError("the duplicate insert was accepted")
    finally:
        with store.begin() as c:
            c.execute(sa.text("DROP TABLE probe"))
        store.close()

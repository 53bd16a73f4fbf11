"""The app's own routes: /readyz reports failed rows as figures, without going 503 for them."""
from datetime import datetime, timezone

import sqlalchemy as sa

from progress_plugin import inbox
from progress_plugin import tables as t
from progress_plugin.app import create_app

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def test_readyz_counts_failed_inbox_and_dead_outbox_rows_but_stays_200(store):
    app = create_app(store, clock=lambda: NOW, blueprints=[])
    client = app.test_client()
    assert client.get("/readyz").json == {"status": "ready", "problems": [], "failed_rows": {"inbox": 0, "outbox": 0}}
    with store.begin() as c:
        for n in range(3):
            inbox.put(c, "clinic-a", f"evt-{n}", "note.saved", {}, NOW)
        rows = inbox.claim(c, "w", NOW, 30, 10)
        for row in rows[:2]:
            inbox.fail(c, row, "w", NOW, "KeyError", max_attempts=1)
        inbox.fail(c, rows[2], "w", NOW, "KeyError", max_attempts=5)          # rescheduled: not failed yet
        c.execute(t.outbox.insert(), [dict(clinic_id="clinic-a", key=f"k{n}", kind="upsert", payload={}, status=s,
                                           attempts=1, next_attempt_at=NOW, created_at=NOW, updated_at=NOW)
                                      for n, s in enumerate(["dead", "pending", "done"])])
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json == {"status": "ready", "problems": [], "failed_rows": {"inbox": 2, "outbox": 1}}


def test_readyz_has_no_figures_while_the_store_is_unreachable(sqlite_store):
    from tests.pg import free_port
    app = create_app(sqlite_store, clock=lambda: NOW, blueprints=[])
    sqlite_store.engine = sa.create_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.json["failed_rows"] is None and r.json["problems"][0].startswith("store:")

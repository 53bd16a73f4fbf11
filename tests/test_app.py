"""The app's own routes and answers: /readyz reports failed rows as figures without going 503
for them; every failure answers JSON ``{error, message}``, never a traceback."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from flask import Blueprint

from progress_plugin.store import inbox
from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app

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


CANARY = "CANARY-client-words-in-an-exception"
probe = Blueprint("probe", __name__)


@probe.get("/boom")
def boom():
    raise RuntimeError(f"the note said {CANARY}")


@probe.get("/deep")
def deep():
    def down(n):
        return down(n + 1)
    return down(0)


@pytest.fixture
def app(app_factory, sqlite_store):
    return app_factory(sqlite_store, blueprints=[probe])


@pytest.mark.parametrize("path", ["/boom", "/deep"])
def test_an_unexpected_exception_is_a_json_500_without_traceback_or_message(client, caplog, path):
    with caplog.at_level(logging.ERROR):
        r = client.get(path)
    assert r.status_code == 500 and r.mimetype == "application/json"
    assert set(r.json) == {"error", "message"} and r.json["error"] == "InternalServerError"
    assert "Traceback" not in r.text and CANARY not in r.text and "File " not in r.text
    # logged by class and place, without the exception's message (it may quote a person's words)
    (record,) = [rec for rec in caplog.records if rec.name == "progress_plugin.web.app"]
    assert path in record.getMessage() and CANARY not in record.getMessage() and "Error" in record.getMessage()
    assert record.exc_info is None


def test_http_errors_answer_json_and_keep_their_headers(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json["error"] == "Not Found" and r.json["message"]
    r = client.post("/boom")
    assert r.status_code == 405 and r.json["error"] == "Method Not Allowed" and "GET" in r.headers["Allow"]

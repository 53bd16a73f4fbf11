"""The app's error answers: JSON ``{error, message}`` for every failure, never a traceback."""
from __future__ import annotations

import logging

import pytest
from flask import Blueprint

from progress_plugin.app import create_app

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
def client(sqlite_store):
    return create_app(sqlite_store, blueprints=[probe]).test_client()


@pytest.mark.parametrize("path", ["/boom", "/deep"])
def test_an_unexpected_exception_is_a_json_500_without_traceback_or_message(client, caplog, path):
    with caplog.at_level(logging.ERROR):
        r = client.get(path)
    assert r.status_code == 500 and r.mimetype == "application/json"
    assert set(r.json) == {"error", "message"} and r.json["error"] == "InternalServerError"
    assert "Traceback" not in r.text and CANARY not in r.text and "File " not in r.text
    # logged by class and place, without the exception's message (it may quote a person's words)
    (record,) = [rec for rec in caplog.records if rec.name == "progress_plugin.app"]
    assert path in record.getMessage() and CANARY not in record.getMessage() and "Error" in record.getMessage()
    assert record.exc_info is None


def test_http_errors_answer_json_and_keep_their_headers(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json["error"] == "Not Found" and r.json["message"]
    r = client.post("/boom")
    assert r.status_code == 405 and r.json["error"] == "Method Not Allowed" and "GET" in r.headers["Allow"]

"""Panels kept by the client's state token, and their ETags: 304 until the state changes."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from progress_plugin import schemas
from progress_plugin.service import panel_cache
from progress_plugin.service.panel_cache import PanelCache
from progress_plugin.store import client_versions, tokens
from progress_plugin.store import tables as t
from progress_plugin.web import panel_routes as panel_http
from progress_plugin.web.app import create_app

from tests.test_panel import START, seed_client

URL = "/clinics/clinic-a/clients/c1/progress.{fmt}"


@pytest.fixture
def runtime(store, now):
    from progress_plugin.service.runtime import Runtime
    return Runtime(store, clock=lambda: now)


@pytest.fixture
def service(store, now, runtime, monkeypatch):
    monkeypatch.setattr(panel_cache, "panels", PanelCache())
    monkeypatch.setattr(panel_http, "panels", panel_cache.panels)
    seed_client(runtime, "clinic-a", "c1", 8)
    app = create_app(store, clock=lambda: now, blueprints=[panel_http.blueprint])
    token = tokens.create(store, "clinic-a", "viewer", "v", now)[1]
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _note(runtime, n: int) -> None:
    at = START + timedelta(days=7 * n)
    runtime.dispatch(schemas.load(schemas.note_schema, {
        "clinic_id": "clinic-a", "client_id": "c1", "note_id": f"c1-n{n}", "session_at": at.isoformat(),
        "author": "t1", "at": at.isoformat(), "signed": True,
        "tags": [{"code": "repair", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 9}]}]}))


@pytest.mark.parametrize("fmt", ["html", "svg"])
def test_a_second_request_with_the_etag_is_a_304_until_the_state_changes(service, runtime, fmt):
    client, auth = service
    first = client.get(URL.format(fmt=fmt), headers=auth)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    again = client.get(URL.format(fmt=fmt), headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "no-store"
    assert client.get(URL.format(fmt=fmt), headers={**auth, "If-None-Match": '"other"'}).status_code == 200

    _note(runtime, 9)                                             # a new session: the panel changes
    changed = client.get(URL.format(fmt=fmt), headers={**auth, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_data() != first.get_data()


def test_the_etag_differs_by_audience_and_language_and_a_kept_panel_is_the_drawn_one(service):
    client, auth = service
    tags = {(view, lang): client.get(URL.format(fmt="html"), headers=auth, query_string={"view": view, "lang": lang})
            for view in ("therapist", "client") for lang in ("en", "hi")}
    assert len({r.headers["ETag"] for r in tags.values()}) == 4
    kept = client.get(URL.format(fmt="html"), headers=auth, query_string={"view": "client", "lang": "hi"})
    assert kept.get_data() == tags[("client", "hi")].get_data()
    assert kept.headers["Content-Language"] == "hi"


def test_no_etag_without_auth_and_the_304_needs_a_token(service):
    client, auth = service
    etag = client.get(URL.format(fmt="html"), headers=auth).headers["ETag"]
    refused = client.get(URL.format(fmt="html"), headers={"If-None-Match": etag})
    assert refused.status_code == 401 and "ETag" not in refused.headers


def test_every_write_to_a_client_gives_it_a_new_token_and_a_purge_removes_it(store, runtime, now):
    seed_client(runtime, "clinic-a", "c1", 2)
    with store.engine.connect() as c:
        before = client_versions.read(c, "clinic-a", "c1")
    _note(runtime, 3)
    with store.engine.connect() as c:
        after = client_versions.read(c, "clinic-a", "c1")
        assert client_versions.read(c, "clinic-a", "nobody") is None
    assert before and after and before != after
    store.purge("clinic-a", "c1", "test", now)
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.client_versions)).scalar() == 0


def test_the_cache_keeps_at_most_its_limit_least_recently_used_out_first():
    cache = PanelCache(max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"                    # "b" is now the least recently used
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.render(None, lambda: "drawn") == "drawn" and cache.get(None) is None

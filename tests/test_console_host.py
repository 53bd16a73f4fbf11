"""The console mounted in a Python host's own Flask app (progress_plugin.web.console.mount), behind the
host's own login: the host's principal edits, nobody else gets in, form tokens are still checked, and
the admin_pages hook says how to get there."""
from __future__ import annotations

import io
import logging
import pkgutil
import re

import pytest
from flask import Flask
from flask_babel import Babel

from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.hosts.manager import make_manager
from progress_plugin.store import tokens
from progress_plugin.web import console

A, B = "clinic-a", "clinic-b"
BASE = f"/admin/clinics/{A}"
SAM = {"clinic_id": A, "role": "admin", "user": "sam", "name": "Sam Mehta"}


def host_app(store, who, *, babel=False, **kwargs):
    """A host with its own secret key and login: ``who["now"]`` is whoever it says is signed in."""
    app = Flask("a_notes_host")
    app.secret_key = "the host's own secret key, long and random enough"
    if babel:                                  # a host with its own Babel and its own catalog domain
        Babel(app, default_domain="the_hosts_own")

    @app.get("/login")
    def login():
        return "the host's sign-in page"

    assert console.mount(app, principal=lambda: who["now"], store=store, **kwargs) == kwargs.get("url_prefix", "/admin")
    return app


def csrf(client, url=f"{BASE}/import") -> str:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def renamed(store) -> bytes:
    doc = fhir_vocabulary.export(store.vocabulary(A), A)
    doc["tags"][0]["label"] = "Moved toward"
    return fhir_vocabulary.dumps(doc).encode()


def import_file(client, content: bytes, token: str | None):
    data = {"file": (io.BytesIO(content), "tags.json"), **({"csrf_token": token} if token else {})}
    return client.post(f"{BASE}/import", data=data, content_type="multipart/form-data")


def field(html: str, name: str) -> str:
    from html import unescape
    return unescape(re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html).group(1))


@pytest.fixture
def store(sqlite_store, now):
    sqlite_store.ensure_clinic(A, now)
    sqlite_store.ensure_clinic(B, now)
    return sqlite_store


def test_the_hosts_signed_in_admin_edits_through_the_console(store):
    who = {"now": SAM}
    client = host_app(store, who, home_url="/notes").test_client()
    r = client.get("/admin/")
    assert r.status_code == 303 and r.headers["Location"] == f"{BASE}/"
    home = client.get(f"{BASE}/").get_data(as_text=True)
    assert "<bdi>Sam Mehta</bdi>" in home and 'href="/notes"' in home
    assert 'action="/admin/sign-out"' not in home                     # the host's login is the way in and out
    preview = import_file(client, renamed(store), csrf(client)).get_data(as_text=True)
    r = client.post(f"{BASE}/import/apply", content_type="multipart/form-data",
                    data={name: field(preview, name) for name in ("csrf_token", "content", "version")})
    assert r.status_code == 303 and store.current_version(A) == 2
    assert store.vocabulary(A).resolve("step-forward").label == "Moved toward"
    row = store.audit_rows(A)[-1]
    assert (row["actor"], row["action"], row["new_version"]) == ("host:sam", "vocabulary.import", 2)
    assert "sam, in your notes system" in client.get(f"{BASE}/history").get_data(as_text=True)


def test_without_a_principal_every_page_is_404_or_the_hosts_sign_in(store):
    who = {"now": None}
    app = host_app(store, who)
    client = app.test_client()
    pages = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/admin/") and "static" not in r.rule]
    assert {"/admin/", "/admin/clinics/<clinic>/import", "/admin/clinics/<clinic>/history"} <= set(pages)
    for rule in pages:
        r = client.get(rule.replace("<clinic>", A).replace("<fmt>", "json").replace("<token_id>", "x"))
        assert r.status_code in (404, 405), rule
    elsewhere = host_app(store, who, sign_in_url="/login", url_prefix="/manage").test_client()
    r = elsewhere.get(f"/manage/clinics/{A}/history")
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert elsewhere.get("/manage/").headers["Location"] == "/login"


def test_the_consoles_own_token_sign_in_is_not_offered_in_a_host(store, now):
    who = {"now": None}
    client = host_app(store, who).test_client()
    _, token = tokens.create(store, A, "admin", "practice manager", now)
    who["now"] = SAM                                       # to get a form token from a page
    form = csrf(client)
    who["now"] = None
    r = client.post("/admin/sign-in", data={"token": token, "csrf_token": form})
    assert r.status_code == 404 and "pp_console=" not in str(r.headers)
    assert client.get(f"{BASE}/").status_code == 404


def test_form_tokens_are_still_checked(store):
    client = host_app(store, {"now": SAM}).test_client()
    for token in (None, "IjEyMyI.abc.def"):
        r = import_file(client, renamed(store), token)
        assert r.status_code == 400 and "This form had expired" in r.get_data(as_text=True)
    r = client.post(f"{BASE}/import/apply", data={"content": renamed(store).decode(), "version": "1"},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and store.current_version(A) == 1
    assert import_file(client, renamed(store), csrf(client)).status_code == 200     # with its token: the preview


def test_a_viewer_reads_another_clinic_is_404_and_a_malformed_principal_is_nobody(store, caplog):
    who = {"now": {**SAM, "role": "viewer"}}
    client = host_app(store, who).test_client()
    assert client.get(f"{BASE}/history").status_code == 200 and client.get(f"{BASE}/export/json").status_code == 200
    assert client.get(f"{BASE}/import").status_code == 403
    who["now"] = SAM                                       # a form token, from a page with a form
    token = csrf(client)
    who["now"] = {**SAM, "role": "viewer"}
    assert import_file(client, renamed(store), token).status_code == 403 and store.current_version(A) == 1
    who["now"] = {**SAM, "clinic_id": B}
    assert client.get(f"{BASE}/history").status_code == 404
    caplog.set_level(logging.WARNING)
    who["now"] = {**SAM, "role": "owner"}
    assert client.get(f"{BASE}/history").status_code == 404
    assert "console host principal refused fields=role" in caplog.text


def test_the_console_speaks_the_plugins_words_in_a_host_with_its_own_catalog(store):
    client = host_app(store, {"now": SAM}, babel=True).test_client()
    html = client.get(f"{BASE}/history?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in html and "टैग का इतिहास" in html and "History of the tags" not in html
    assert "History of the tags" in client.get(f"{BASE}/history?lang=en").get_data(as_text=True)


def test_mount_takes_a_store_url_and_mounts_once(sqlite_url, now):
    app = Flask("host")
    app.secret_key = "another host's secret key"
    console.mount(app, principal=lambda: SAM, store=sqlite_url)
    store = app.extensions["progress_plugin"].store
    try:
        store.ensure_clinic(A, now)
        assert app.test_client().get(f"{BASE}/").status_code == 200
        with pytest.raises(ValueError):
            console.mount(app, principal=lambda: SAM, store=store)
    finally:
        store.close()


def test_admin_pages_says_how_to_reach_the_console(store, sqlite_url, now):
    pm = make_manager()
    plugin = pm.get_plugin("progress")
    plugin.setup(store=store, clock=lambda: now)
    try:
        (page,) = pm.hook.admin_pages(clinic_id=A, locale=None)
    finally:
        plugin.reset()
    offered = page["data"]["console"]
    assert offered == {"mount": "progress_plugin.web.console:mount", "path": f"{BASE}/"}
    assert pkgutil.resolve_name(offered["mount"]) is console.mount
    app = Flask("host")
    app.secret_key = "yet another host's secret key"
    pkgutil.resolve_name(offered["mount"])(app, principal=lambda: SAM, store=sqlite_url)
    try:
        assert app.test_client().get(offered["path"]).status_code == 200          # the path, as documented
    finally:
        app.extensions["progress_plugin"].store.close()

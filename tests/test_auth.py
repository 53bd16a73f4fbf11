"""``auth.require``: 401 without a valid token, 404 across clinics, 403 for a role too low."""
from __future__ import annotations

import pytest
from flask import Blueprint, g, jsonify

from progress_plugin.web import auth
from progress_plugin.store import tokens
from progress_plugin.web.app import create_app

bp = Blueprint("auth_probe", __name__)


@bp.get("/clinics/<clinic>/probe")
@auth.require("viewer")
def read(clinic):
    return jsonify(clinic=clinic, token_id=g.principal.token_id, role=g.principal.role, actor=auth.actor())


@bp.post("/clinics/<clinic>/probe")
@auth.require("admin")
def write(clinic):
    return jsonify(written=clinic)


@bp.get("/no-clinic")
@auth.require("viewer")
def misdeclared():
    return "never"


@pytest.fixture
def app_tokens(sqlite_store, now):
    app = create_app(sqlite_store, blueprints=[bp])
    for clinic in ("clinic-a", "clinic-b"):
        sqlite_store.ensure_clinic(clinic, now)
    made = {name: tokens.create(sqlite_store, clinic, role, name, now)
            for name, clinic, role in [("a-admin", "clinic-a", "admin"), ("a-viewer", "clinic-a", "viewer"),
                                       ("b-admin", "clinic-b", "admin")]}
    return app.test_client(), made


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_valid_tokens_pass_and_set_the_principal(app_tokens):
    client, made = app_tokens
    token_id, token = made["a-viewer"]
    r = client.get("/clinics/clinic-a/probe", headers=bearer(token))
    assert r.status_code == 200
    assert r.json == {"clinic": "clinic-a", "token_id": token_id, "role": "viewer", "actor": f"token:{token_id}"}
    assert client.post("/clinics/clinic-a/probe", headers=bearer(made["a-admin"][1])).json == {"written": "clinic-a"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token pp_x",
                                    "Bearer pp_0123456789abcdef_" + "A" * 43, "Bearer not-a-token"])
def test_missing_or_invalid_token_is_401_with_a_challenge(app_tokens, header):
    client, _ = app_tokens
    r = client.get("/clinics/clinic-a/probe", headers={"Authorization": header} if header is not None else {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "clinic-a" not in r.get_data(as_text=True)


def test_scheme_is_case_insensitive(app_tokens):
    client, made = app_tokens
    r = client.get("/clinics/clinic-a/probe", headers={"Authorization": f"bearer {made['a-admin'][1]}"})
    assert r.status_code == 200


def test_revoked_token_is_401(app_tokens, sqlite_store, now):
    client, made = app_tokens
    token_id, token = made["a-admin"]
    tokens.revoke(sqlite_store, token_id, now)
    assert client.get("/clinics/clinic-a/probe", headers=bearer(token)).status_code == 401


def test_other_clinic_is_404_and_looks_like_a_clinic_that_does_not_exist(app_tokens):
    client, made = app_tokens
    b = bearer(made["b-admin"][1])
    existing = client.get("/clinics/clinic-a/probe", headers=b)
    missing = client.get("/clinics/no-such-clinic/probe", headers=b)
    assert existing.status_code == missing.status_code == 404
    assert existing.get_data() == missing.get_data()
    assert "clinic-a" not in existing.get_data(as_text=True)
    # a viewer of another clinic gets 404 on a write too, not 403
    assert client.post("/clinics/clinic-b/probe", headers=bearer(made["a-viewer"][1])).status_code == 404


def test_viewer_cannot_write(app_tokens):
    client, made = app_tokens
    r = client.post("/clinics/clinic-a/probe", headers=bearer(made["a-viewer"][1]))
    assert r.status_code == 403
    assert r.json["error"] == "Forbidden"


def test_require_rejects_unknown_roles_and_routes_without_a_clinic(app_tokens):
    with pytest.raises(ValueError):
        auth.require("owner")
    client, made = app_tokens
    assert client.get("/no-clinic", headers=bearer(made["a-admin"][1])).status_code == 500
    assert read.required_role == "viewer" and write.required_role == "admin"


def test_refused_tokens_are_logged_by_id_or_hash_prefix_and_counted(app_tokens, sqlite_store, now, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    client, made = app_tokens
    a_id, a_token = made["a-admin"]
    b_id, b_token = made["b-admin"]
    wrong_secret = a_token[:-4] + ("AAAA" if not a_token.endswith("AAAA") else "BBBB")
    unknown = "pp_0123456789abcdef_" + "A" * 43
    junk = "not-a-token-" + "S3CRET" * 4
    for token, url in [(wrong_secret, "/clinics/clinic-a/probe"), (unknown, "/clinics/clinic-a/probe"),
                       (junk, "/clinics/clinic-a/probe"), (b_token, "/clinics/clinic-a/probe"),
                       (junk, "/clinics/no-such-clinic/probe")]:
        assert client.get(url, headers=bearer(token)).status_code in (401, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "progress_plugin.web.auth"]
    assert f"token refused clinic=clinic-a token={a_id} reason=bad-secret" in lines
    assert "token refused clinic=clinic-a token=0123456789abcdef reason=unknown" in lines
    assert f"token refused clinic=clinic-a token={tokens.label(junk)} reason=malformed" in lines
    assert tokens.label(junk).startswith("h:") and len(tokens.label(junk)) == 10
    assert f"token refused clinic=clinic-a token={b_id} reason=other-clinic" in lines
    text = caplog.text
    for token in (a_token, wrong_secret, unknown, junk, b_token):
        assert token not in text and token.split("_", 2)[-1] not in text
    by_clinic, by_token = tokens.failures(sqlite_store)
    assert by_clinic == {"clinic-a": 4, "*": 1}              # a made-up clinic id adds no counter of its own
    assert by_token == {a_id: 1, b_id: 1}


def test_a_valid_token_adds_nothing_to_the_counts(app_tokens, sqlite_store):
    client, made = app_tokens
    assert client.get("/clinics/clinic-a/probe", headers=bearer(made["a-viewer"][1])).status_code == 200
    assert tokens.failures(sqlite_store) == ({}, {})

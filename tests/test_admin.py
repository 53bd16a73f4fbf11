"""The admin API: the whole cycle, If-Match, 422 shapes, audit rows, auth on every route, OpenAPI."""
from __future__ import annotations

import re

import pytest
from fhir.resources.R4B import get_fhir_model_class
from openapi_spec_validator import validate as validate_openapi

from progress_plugin.web import admin
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.store import tokens
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.web.app import all_blueprints, create_app
from progress_plugin.store import Store
from progress_plugin.core.vocabulary import default

A, B = "clinic-a", "clinic-b"

#: Routes that answer without a token, on purpose.
PUBLIC = {
    "/openapi.json": "the API description; holds no clinic data",
    "/healthz": "liveness probe for the process manager",
    "/readyz": "readiness probe; says whether the store and host answer, and counts failed rows (no ids)",
    "/static/<path:filename>": "Flask's static files (none are clinic data)",
    "/cds-services": "CDS Hooks discovery; holds no clinic data",
    "/checkin/static/<path:filename>": "the check-in page's stylesheet (no clinic data)",
    "/smart/static/<path:filename>": "the SMART app's stylesheet (no clinic data)",
    "/smart/launch": "starts a SMART authorization with an allowed EHR; shows nothing (tests/test_smart_refusals.py)",
    "/smart/login": "starts a standalone SMART launch with an allowed EHR; shows nothing",
}
#: Routes authenticated by a signature instead of a token (checked in their own tests).
SIGNED = {
    "/webhooks/<clinic>": "host webhooks, verified by the clinic's signing secret",
    "/cds-services/progress-defined-together": "CDS Hooks calls, verified by the EHR's JWT (tests/test_cds_jwt.py)",
    "/cds/progress.html": "the CDS card's link: a one-time code, then a session cookie (tests/test_cds.py)",
    "/canvas/<clinic>": "the Canvas plugin's events, verified by the clinic's X-Signature (tests/test_canvas_service.py)",
    "/c/<token>": "a client's check-in link: a random token stored hashed, then a session cookie (tests/test_checkin_web.py)",
    "/checkin/": "the client's check-in: the link's session cookie and a form token (tests/test_checkin_web.py)",
    "/checkin/thanks": "after a check-in: the link's session cookie",
    "/checkin/progress": "the client's own view: the link's session cookie, one client only",
    "/smart/callback": "the EHR's answer: a single-use state, then the code exchanged with the EHR (tests/test_smart_refusals.py)",
    "/smart/logout": "the SMART session cookie and its form token",
    "/smart/app/": "the SMART app: the session cookie a launch made (tests/test_smart_refusals.py)",
    "/smart/app/intake": "the SMART app: the launch's session cookie and a form token",
    "/smart/app/tags": "the SMART app: the launch's session cookie and a form token",
    "/smart/app/panel": "the SMART app: the launch's session cookie",
    "/smart/app/retry": "the SMART app: the launch's session cookie and a form token",
    "/metrics": "Prometheus metrics: a metrics token, which opens nothing else (tests/test_metrics.py)",
}
#: The admin console's pages: a session cookie from a signed-in token, and a form token on every
#: POST (tests/test_console.py walks them: each needs the session, or is the sign-in page).
CONSOLE = "/admin/"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Lookups sent as a POST body because their list is too long for a URL; they write nothing
#: (tests/test_panel_http.py checks that), so any token of the clinic may use them.
READ_ONLY_POSTS = {"/clinics/<clinic>/tag-labels",
                   # a therapist (viewer token) makes and revokes a client's check-in link; no clinic setting changes
                   "/clinics/<clinic>/clients/<client>/checkin-links", "/clinics/<clinic>/checkin-links/<link_id>/revoke"}
PLACEHOLDERS = {"clinic": A, "code": "step-forward", "token": "x" * 43, "link_id": "0" * 16}


@pytest.fixture
def app(app_factory, store, now):
    return app_factory(store, clock=lambda: now, blueprints=[admin.blueprint])


@pytest.fixture
def creds(store, now):
    made = {}
    for name, clinic, role in [("admin", A, "admin"), ("viewer", A, "viewer"), ("b-admin", B, "admin")]:
        store.ensure_clinic(clinic, now)
        token_id, token = tokens.create(store, clinic, role, name, now)
        made[name] = (token_id, {"Authorization": f"Bearer {token}"})
    return made


def h(creds, who, version=None):
    headers = dict(creds[who][1])
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return headers


URL = f"/clinics/{A}/vocabulary"


# -- the whole cycle ----------------------------------------------------------------------
def test_whole_cycle_through_the_api(client, creds, store, now, tmp_path):
    r = client.get(URL, headers=h(creds, "viewer"))
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    assert [t["code"] for t in r.json["tags"]] == [t.code for t in default().tags]

    new = {"code": "named-a-need", "label": "Named a need", "category": "relationship", "direction": "toward"}
    r = client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1))
    assert r.status_code == 201 and r.headers["ETag"] == '"2"'
    assert r.headers["Location"].endswith(f"{URL}/tags/named-a-need")
    assert r.json["tag"]["status"] == "active" and r.json["version"] == 2

    r = client.patch(f"{URL}/tags/named-a-need", json={"label": "Named what they need", "direction": "mixed"},
                     headers=h(creds, "admin", 2))
    assert r.status_code == 200 and r.json["tag"]["label"] == "Named what they need"
    r = client.post(f"{URL}/tags/setback/retire", headers=h(creds, "admin", 3))
    assert r.status_code == 200 and r.json["tag"]["status"] == "retired"
    r = client.post(f"{URL}/tags/setback/restore", headers=h(creds, "admin", 4))
    assert r.json["tag"]["status"] == "active" and r.headers["ETag"] == '"5"'
    client.post(f"{URL}/tags/came-back/retire", headers=h(creds, "admin", 5))

    r = client.get(f"{URL}/tags/named-a-need?version=2", headers=h(creds, "viewer"))
    assert r.json["tag"]["label"] == "Named a need" and r.headers["ETag"] == '"6"'
    r = client.get(f"{URL}?version=3", headers=h(creds, "viewer"))
    assert r.json["version"] == 3 and r.json["current_version"] == 6

    r = client.get(f"{URL}/history", headers=h(creds, "viewer"))
    admin_id = creds["admin"][0]
    assert [(v["version"], v["by"], v["change"]) for v in r.json["versions"]] == [
        (1, "system", "default vocabulary"), (2, f"token:{admin_id}", "add named-a-need"),
        (3, f"token:{admin_id}", "edit named-a-need label,direction"), (4, f"token:{admin_id}", "retire setback"),
        (5, f"token:{admin_id}", "restore setback"), (6, f"token:{admin_id}", "retire came-back")]

    r = client.get(f"{URL}/diff?from=1&to=6", headers=h(creds, "viewer"))
    assert r.json == {"clinic_id": A, "from": 1, "to": 6, "added": ["named-a-need"], "removed": [],
                      "retired": ["came-back"], "restored": [], "edited": []}
    r = client.get(f"{URL}/diff", headers=h(creds, "viewer"))             # default: previous -> current
    assert (r.json["from"], r.json["to"], r.json["retired"]) == (5, 6, ["came-back"])
    r = client.get(f"{URL}/diff?from=2&to=3", headers=h(creds, "viewer"))
    assert r.json["edited"] == [{"code": "named-a-need", "fields": {"label": ["Named a need", "Named what they need"],
                                                                    "direction": ["toward", "mixed"]}}]

    exported_json = client.get(f"{URL}/export?format=json", headers=h(creds, "viewer"))
    exported_fhir = client.get(f"{URL}/export?format=fhir", headers=h(creds, "viewer"))
    assert exported_json.json["format"] == "progress-plugin/vocabulary" and exported_json.json["version"] == 6
    assert exported_fhir.mimetype == "application/fhir+json"
    get_fhir_model_class("Bundle").model_validate(exported_fhir.json)

    # every change left an audit row: who (the token), clinic, what, old and new version
    rows = [r for r in store.audit_rows(A) if r["action"].startswith("vocabulary.")]
    assert [(r["actor"], r["action"], r["old_version"], r["new_version"]) for r in rows] == [
        (f"token:{admin_id}", "vocabulary.add", 1, 2), (f"token:{admin_id}", "vocabulary.edit", 2, 3),
        (f"token:{admin_id}", "vocabulary.retire", 3, 4), (f"token:{admin_id}", "vocabulary.restore", 4, 5),
        (f"token:{admin_id}", "vocabulary.retire", 5, 6)]
    assert all(r["clinic_id"] == A and r["at"] is not None for r in rows)

    # import into a fresh store, both formats; a second import of the same content makes no version
    current = store.vocabulary(A)
    for fmt, body in [("json", exported_json.data), ("fhir", exported_fhir.data)]:
        fresh = Store.open(f"sqlite:///{tmp_path / fmt}.db")
        try:
            fresh.ensure_clinic("moved", now)
            _, token = tokens.create(fresh, "moved", "admin", "import", now)
            other = create_app(fresh, clock=lambda: now, blueprints=[admin.blueprint]).test_client()
            auth = {"Authorization": f"Bearer {token}"}
            r = other.post("/clinics/moved/vocabulary/import", data=body, headers={**auth, "If-Match": "1"},
                           content_type="application/json")
            assert r.status_code == 200 and r.json == {"clinic_id": "moved", "version": 2, "changed": True,
                                                       "kind": "json" if fmt == "json" else "fhir-bundle"}
            assert current.same_tags(fresh.vocabulary("moved").tags)
            r = other.post("/clinics/moved/vocabulary/import", data=body, headers={**auth, "If-Match": "2"},
                           content_type="application/json")
            assert r.json["changed"] is False and r.headers["ETag"] == '"2"'
            assert [v["version"] for v in fresh.history("moved")] == [1, 2]
            r = other.get("/clinics/moved/vocabulary/diff?from=1&to=2", headers=auth)
            assert r.json["added"] == ["named-a-need"] and r.json["retired"] == ["came-back"]
        finally:
            fresh.close()


def test_roles_through_the_api_are_kept_by_a_rename_and_exported(client, creds, store):
    new = {"code": "looked-again", "label": "We looked again", "category": "relationship", "direction": "none",
           "role": "review"}
    r = client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1))
    assert r.status_code == 201 and r.json["tag"]["role"] == "review"
    r = client.patch(f"{URL}/tags/looked-again", json={"label": "Looked at progress again"}, headers=h(creds, "admin", 2))
    assert r.json["tag"]["role"] == "review" and r.json["tag"]["label"] == "Looked at progress again"
    r = client.patch(f"{URL}/tags/progress-redefined", json={"role": None}, headers=h(creds, "admin", 3))
    assert r.status_code == 200 and r.json["tag"]["role"] is None
    assert store.vocabulary(A, 3).resolve("progress-redefined").role == "review"       # versioned
    r = client.get(f"{URL}/diff?from=3&to=4", headers=h(creds, "viewer"))
    assert r.json["edited"] == [{"code": "progress-redefined", "fields": {"role": ["review", None]}}]
    assert [(v["version"], v["change"]) for v in client.get(f"{URL}/history", headers=h(creds, "viewer")).json[
        "versions"]][-1] == (4, "edit progress-redefined role")
    tags = {t["code"]: t for t in client.get(f"{URL}/export?format=json", headers=h(creds, "viewer")).json["tags"]}
    assert (tags["looked-again"]["role"], tags["progress-redefined"]["role"], tags["repair"]["role"]) == (
        "review", None, "repair")
    bundle = client.get(f"{URL}/export?format=fhir", headers=h(creds, "viewer")).json
    (cs,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CodeSystem"]
    roles = {c["code"]: p["valueCode"] for c in cs["concept"] for p in c["property"] if p["code"] == "role"}
    assert roles == {"looked-again": "review", "strain-noticed": "strain", "repair": "repair"}
    assert any(p["code"] == "role" and p["type"] == "code" for p in cs["property"])


def test_labels_and_descriptions_per_language_through_the_api(client, creds, store):
    new = {"code": "named-a-need", "label": "Named a need", "description": "Said what they need.",
           "category": "relationship", "direction": "toward",
           "labels": {"hi": "ज़रूरत बताई"}, "descriptions": {"hi": "अपनी ज़रूरत खुलकर कही।"}}
    r = client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1))
    assert r.status_code == 201 and r.json["tag"]["labels"] == {"hi": "ज़रूरत बताई"}
    r = client.get(f"{URL}/tags/named-a-need", headers=h(creds, "viewer"))
    assert r.json["tag"]["labels"] == {"hi": "ज़रूरत बताई"} and r.json["tag"]["descriptions"] == {
        "hi": "अपनी ज़रूरत खुलकर कही।"} and r.json["tag"]["label"] == "Named a need"
    listed = {t["code"]: t for t in client.get(URL, headers=h(creds, "viewer")).json["tags"]}
    assert listed["setback"]["labels"] == {"hi": "एक कदम पीछे"} and listed["named-a-need"]["labels"]["hi"] == "ज़रूरत बताई"

    # PATCH merges: a language given is set, null removes one, the others stay
    r = client.patch(f"{URL}/tags/named-a-need", json={"labels": {"en": "Named a need, out loud"},
                                                        "descriptions": {"hi": None}}, headers=h(creds, "admin", 2))
    assert r.status_code == 200 and r.json["tag"]["labels"] == {"en": "Named a need, out loud", "hi": "ज़रूरत बताई"}
    assert r.json["tag"]["descriptions"] == {}
    r = client.get(f"{URL}/diff?from=2&to=3", headers=h(creds, "viewer"))
    assert r.json["edited"] == [{"code": "named-a-need", "fields": {
        "labels.en": [None, "Named a need, out loud"], "descriptions.hi": ["अपनी ज़रूरत खुलकर कही।", None]}}]
    assert client.get(f"{URL}/history", headers=h(creds, "viewer")).json["versions"][-1]["change"] == (
        "edit named-a-need labels,descriptions")
    assert store.vocabulary(A, 2).resolve("named-a-need").description_in("hi") == "अपनी ज़रूरत खुलकर कही।"  # kept


@pytest.mark.parametrize("body, path, message", [
    ({"labels": {"xx": "Hello"}}, ["labels", "xx"], "Unknown language 'xx': give one of en, hi."),
    ({"labels": {"hindi": "नमस्ते"}}, ["labels", "hindi"], "Unknown language 'hindi': give one of en, hi."),
    ({"labels": {"hi": "ल" * 81}}, ["labels", "hi"], "Length must be between 1 and 80."),
    ({"labels": {"hi": ""}}, ["labels", "hi"], "Length must be between 1 and 80."),
    ({"descriptions": {"hi": "व" * 301}}, ["descriptions", "hi"], "Length must be between 1 and 300."),
    ({"labels": ["hi", "नमस्ते"]}, ["labels"], "Not a valid mapping type."),
    ({"labels": {"hi": 5}}, ["labels", "hi"], "Not a valid string."),
])
def test_a_bad_text_per_language_is_a_422_naming_the_field(client, creds, store, body, path, message):
    new = {"code": "named-a-need", "label": "Named a need", "category": "relationship", "direction": "toward", **body}
    for method, url in [("POST", f"{URL}/tags"), ("PATCH", f"{URL}/tags/setback")]:
        sent = new if method == "POST" else body
        r = client.open(url, method=method, json=sent, headers=h(creds, "admin", 1))
        assert r.status_code == 422, (method, r.json)
        found = r.json["json"]
        for key in path:
            found = found[key]
        assert found == [message]
    assert store.current_version(A) == 1


def test_a_label_per_language_taken_in_the_category_is_refused_naming_the_language(client, creds, store):
    r = client.post(f"{URL}/tags", json={"code": "back-step", "label": "Back step", "category": "movement",
                                         "direction": "away", "labels": {"hi": "एक कदम पीछे"}},
                    headers=h(creds, "admin", 1))
    assert r.status_code == 422 and r.json["json"] == {"labels": {"hi": [
        "Label 'एक कदम पीछे' in 'hi' is already used in category 'movement' by tag 'setback'."]}}
    r = client.patch(f"{URL}/tags/step-forward", json={"labels": {"hi": "मन में हलचल"}}, headers=h(creds, "admin", 1))
    assert r.status_code == 422 and list(r.json["json"]["labels"]) == ["hi"]
    r = client.post(f"{URL}/tags", json={"code": "back-step", "label": "Back step", "category": "action",
                                         "direction": "away", "labels": {"hi": "एक कदम पीछे"}},
                    headers=h(creds, "admin", 1))
    assert r.status_code == 201                                  # another category may say the same


# -- concurrency ----------------------------------------------------------------------------
def test_writes_need_if_match_and_a_stale_one_loses_nothing(client, creds, store):
    body = {"label": "Step ahead"}
    r = client.patch(f"{URL}/tags/step-forward", json=body, headers=h(creds, "admin"))
    assert r.status_code == 428 and r.headers["ETag"] == '"1"'
    assert client.patch(f"{URL}/tags/step-forward", json=body, headers={**h(creds, "admin"), "If-Match": "*"}
                        ).status_code == 428
    assert client.patch(f"{URL}/tags/step-forward", json=body, headers=h(creds, "admin", 1)).status_code == 200
    # a second admin still holding version 1
    r = client.patch(f"{URL}/tags/step-forward", json={"label": "Step onward"}, headers=h(creds, "admin", 1))
    assert r.status_code == 412 and r.headers["ETag"] == '"2"'
    assert store.vocabulary(A).resolve("step-forward").label == "Step ahead"
    assert store.current_version(A) == 2
    # a weak tag, a bare number and a list naming the current version all match
    for etag, action in [('W/"2"', "setback/retire"), ("3", "setback/restore"), ('"7", "4"', "repair/retire")]:
        r = client.post(f"{URL}/tags/{action}", headers={**h(creds, "admin"), "If-Match": etag})
        assert r.status_code == 200, etag
    assert store.current_version(A) == 5 and not store.vocabulary(A).resolve("repair").active
    r = client.post(f"{URL}/tags/repair/restore", headers={**h(creds, "admin"), "If-Match": "five"})
    assert r.status_code == 412 and store.current_version(A) == 5


def test_the_store_refuses_a_race_the_view_could_not_see(store, now):
    """save_vocabulary compares versions inside its transaction, so two edits on one version cannot both win."""
    from progress_plugin.errors import PreconditionFailed
    store.ensure_clinic(A, now)
    v1 = store.vocabulary(A)
    first, change = vocab_io.change(v1, "retire", "setback")
    second, change2 = vocab_io.change(v1, "retire", "repair")
    store.save_vocabulary(A, first, "one", change, now, expected_version=1)
    with pytest.raises(PreconditionFailed):
        store.save_vocabulary(A, second, "two", change2, now, expected_version=1)
    assert store.vocabulary(A).resolve("repair").active


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body,field", [
    ("post", "/tags", {"code": "bad code", "label": "", "category": "action", "direction": "up"}, "code"),
    ("post", "/tags", {"code": "x", "label": "Setback", "category": "movement", "direction": "away"}, "label"),
    ("post", "/tags", {"code": "setback", "label": "New", "category": "movement", "direction": "away"}, "code"),
    ("post", "/tags", {"code": "x", "label": "X", "category": "action", "direction": "toward",
                       "status": "retired"}, "status"),
    ("patch", "/tags/setback", {"code": "set-back"}, "code"),
    ("patch", "/tags/setback", {"status": "retired"}, "status"),
    ("patch", "/tags/setback", {"label": "x" * 81, "colour": "red"}, "colour"),
    ("patch", "/tags/setback", {}, "_schema"),
    ("post", "/tags", {"code": "x", "label": "X", "category": "action", "direction": "toward",
                       "role": "closure"}, "role"),
    ("patch", "/tags/setback", {"role": "Review"}, "role"),
    ("post", "/tags/setback/restore", None, "status"),
])
def test_bad_input_is_422_with_every_problem_by_field(client, creds, store, method, path, body, field):
    kwargs = {"json": body} if body is not None else {}
    r = getattr(client, method)(URL + path, headers=h(creds, "admin", 1), **kwargs)
    assert r.status_code == 422
    assert set(r.json) == {"json"} and field in r.json["json"]
    assert all(isinstance(msgs, list) and msgs for msgs in r.json["json"].values())
    assert store.current_version(A) == 1


def test_a_non_json_body_is_422(client, creds):
    r = client.post(f"{URL}/tags", data="code=x", headers=h(creds, "admin", 1),
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 422 and "_schema" in r.json["json"]


def test_bad_query_arguments_are_422(client, creds):
    for query, field in [("?version=zero", "version"), ("?version=0", "version"), ("?colour=1", "colour")]:
        r = client.get(URL + query, headers=h(creds, "viewer"))
        assert r.status_code == 422 and field in r.json["json"]
    r = client.get(f"{URL}/export?format=xml", headers=h(creds, "viewer"))
    assert r.status_code == 422 and "format" in r.json["json"]


def test_unknown_versions_and_codes_are_404(client, creds):
    assert client.get(f"{URL}?version=99", headers=h(creds, "viewer")).status_code == 404
    assert client.get(f"{URL}/tags/nope", headers=h(creds, "viewer")).status_code == 404
    assert client.post(f"{URL}/tags/nope/retire", headers=h(creds, "admin", 1)).status_code == 404


def test_an_import_with_problems_reports_all_and_changes_nothing(client, creds, store):
    doc = fhir_vocabulary.export(default(), A, "json")
    doc["tags"][0]["code"] = "has space"
    doc["tags"][3]["direction"] = "sideways"
    doc["tags"][5]["label"] = doc["tags"][6]["label"].upper()
    r = client.post(f"{URL}/import", data=fhir_vocabulary.dumps(doc), content_type="application/json",
                    headers=h(creds, "admin", 1))
    assert r.status_code == 422
    assert sorted(r.json["json"]["tags"]) == ["0", "3", "6"]
    assert r.json["json"]["tags"]["3"]["direction"][0].startswith("line ")
    assert store.current_version(A) == 1
    r = client.post(f"{URL}/import", data="{not json", content_type="application/json",
                    headers=h(creds, "admin", 1))
    assert r.status_code == 422 and "not valid JSON" in r.json["json"]["_schema"][0]


# -- auth on every route --------------------------------------------------------------------
def _cases(label, blueprints):
    store = Store.open("sqlite://")                     # only to build the app and read its URL map
    try:
        rules = list(create_app(store, blueprints=blueprints).url_map.iter_rules())
    finally:
        store.close()
    for rule in rules:
        for method in sorted(rule.methods - {"OPTIONS"}):      # OPTIONS answers the Allow header only
            yield pytest.param(label, rule.rule, method, id=f"{label}:{method}:{rule.rule}")


ROUTE_CASES = list(_cases("admin", [admin.blueprint])) + list(_cases("service", all_blueprints()))


def _url(rule: str, **override) -> str:
    values = {**PLACEHOLDERS, **override}
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values.get(m.group(1), "x"), rule)


@pytest.fixture
def full_client(sqlite_store, now):
    apps = {"admin": create_app(sqlite_store, clock=lambda: now, blueprints=[admin.blueprint]),
            "service": create_app(sqlite_store, clock=lambda: now, blueprints=all_blueprints())}
    made = {}
    for name, clinic, role in [("admin", A, "admin"), ("viewer", A, "viewer"), ("b-admin", B, "admin")]:
        sqlite_store.ensure_clinic(clinic, now)
        made[name] = {"Authorization": f"Bearer {tokens.create(sqlite_store, clinic, role, name, now)[1]}"}
    return apps, made


@pytest.mark.parametrize("label,rule,method", ROUTE_CASES)
def test_every_route_is_authenticated(full_client, label, rule, method):
    apps, made = full_client
    app = apps[label]
    client = app.test_client()
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == rule and method in r.methods)
    call = lambda url, headers: client.open(url, method=method, headers={**headers, "If-Match": '"1"'},  # noqa: E731
                                            json={} if method in WRITE_METHODS else None)
    if rule in PUBLIC:
        assert "<clinic>" not in rule
        r = call(_url(rule), {})
        assert r.status_code not in (401, 403)
        if rule in ("/openapi.json", "/healthz"):
            assert r.status_code == 200
        return
    if rule.startswith(CONSOLE):
        r = call(_url(rule), made["admin"])                  # a bearer token opens no console page
        public = method in ("GET", "HEAD") and rule in ("/admin/", "/admin/static/<path:filename>")   # sign-in, CSS
        assert public or not 200 <= r.status_code < 300, f"{method} {rule} answered a bearer token"
        return
    assert "<clinic>" in rule or rule in SIGNED, f"{rule} has no <clinic> and is not listed as public"
    if rule in SIGNED:
        r = call(_url(rule), {})
        assert not 200 <= r.status_code < 300, f"unsigned {method} {rule} was accepted"
        return
    view = app.view_functions[endpoint]
    assert getattr(view, "required_role", None) in ("viewer", "admin"), f"{endpoint} does not use auth.require"
    if method in WRITE_METHODS and rule not in READ_ONLY_POSTS:
        assert view.required_role == "admin", f"{method} {rule} lets a viewer write"

    r = call(_url(rule), {})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = call(_url(rule), {"Authorization": "Bearer pp_0000000000000000_" + "x" * 43})
    assert r.status_code == 401

    across = call(_url(rule), made["b-admin"])               # a token of clinic B on clinic A
    assert across.status_code == 404
    assert A not in across.get_data(as_text=True)
    missing = call(_url(rule, clinic="no-such-clinic"), made["b-admin"])
    assert missing.status_code == 404 and missing.get_data() == across.get_data()

    r = call(_url(rule), made["viewer"])
    if method in WRITE_METHODS and rule not in READ_ONLY_POSTS:
        assert r.status_code == 403
    else:
        assert r.status_code not in (401, 403)
        if endpoint.startswith("admin."):
            assert r.status_code == 200                       # the viewer reads the vocabulary
    r = call(_url(rule), made["admin"])
    assert r.status_code not in (401, 403)


def test_the_route_walk_covers_the_admin_api():
    rules = {c.values[1] for c in ROUTE_CASES if c.values[0] == "admin"}
    assert {"/clinics/<clinic>/vocabulary", "/clinics/<clinic>/vocabulary/tags",
            "/clinics/<clinic>/vocabulary/tags/<code>", "/clinics/<clinic>/vocabulary/tags/<code>/retire",
            "/clinics/<clinic>/vocabulary/tags/<code>/restore", "/clinics/<clinic>/vocabulary/history",
            "/clinics/<clinic>/vocabulary/diff", "/clinics/<clinic>/vocabulary/import",
            "/clinics/<clinic>/vocabulary/export", "/openapi.json"} <= rules
    service = {c.values[1] for c in ROUTE_CASES if c.values[0] == "service"}
    assert rules - {"/healthz"} <= service                     # the service mounts the admin API


# -- OpenAPI --------------------------------------------------------------------------------
@pytest.mark.parametrize("blueprints", ["admin", "all"])
def test_openapi_document_is_valid_and_public(sqlite_store, blueprints):
    app = create_app(sqlite_store, blueprints=[admin.blueprint] if blueprints == "admin" else all_blueprints())
    r = app.test_client().get("/openapi.json")
    assert r.status_code == 200
    doc = r.json
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
              and rule.rule != "/openapi.json" for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    ops = doc["paths"]["/clinics/{clinic}/vocabulary/tags/{code}"]
    assert ops["patch"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TagEdit"}
    assert any(p["name"] == "If-Match" and p["required"] for p in ops["patch"]["parameters"])
    assert {"401", "403", "404", "412", "422", "428"} <= set(ops["patch"]["responses"])
    assert doc["components"]["schemas"]["Tag"]["properties"]["code"]["pattern"] == "^[A-Za-z0-9._-]{1,64}$"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# -- publishing to the host -----------------------------------------------------------------
def test_with_a_host_configured_each_new_version_is_queued_for_it(sqlite_store, now):
    import sqlalchemy as sa

    from progress_plugin.store import tables as t
    from progress_plugin.service.settings import ServiceConfig
    config = ServiceConfig(store_url="unused", host_url="http://127.0.0.1:9/fhir")
    app = create_app(sqlite_store, config=config, clock=lambda: now, blueprints=[admin.blueprint])
    sqlite_store.ensure_clinic(A, now)
    _, token = tokens.create(sqlite_store, A, "admin", "x", now)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"{URL}/tags/setback/retire", headers={**auth, "If-Match": "1"}).status_code == 200
    body = fhir_vocabulary.dumps(fhir_vocabulary.export(sqlite_store.vocabulary(A), A, "json"))
    r = client.post(f"{URL}/import", data=body, content_type="application/json", headers={**auth, "If-Match": "2"})
    assert r.json["changed"] is False                               # no new version, nothing more to send
    with sqlite_store.engine.connect() as c:
        rows = c.execute(sa.select(t.outbox.c.key, t.outbox.c.payload)).all()
    assert sorted(row.key for row in rows) == [f"vocabulary/{A}/2/codesystem", f"vocabulary/{A}/2/valueset"]
    cs = next(row.payload["resource"] for row in rows if row.key.endswith("codesystem"))
    assert cs["version"] == "2" and any(c["code"] == "setback" for c in cs["concept"])


def test_every_change_is_told_to_the_core_through_the_runtime(client, creds, dispatched):
    new = {"code": "named-a-need", "label": "Named a need", "category": "relationship", "direction": "toward"}
    client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1))
    client.patch(f"{URL}/tags/named-a-need", json={"label": "Named what they need"}, headers=h(creds, "admin", 2))
    client.post(f"{URL}/tags/setback/retire", headers=h(creds, "admin", 3))
    client.post(f"{URL}/tags/setback/restore", headers=h(creds, "admin", 4))
    body = fhir_vocabulary.dumps(fhir_vocabulary.export(default(), A, "json"))
    for version in (5, 6):                                             # the second import changes nothing
        r = client.post(f"{URL}/import", data=body, content_type="application/json",
                        headers=h(creds, "admin", version))
    assert r.json["changed"] is False
    actor = f"token:{creds['admin'][0]}"
    assert [(type(e).__name__, e.clinic_id, e.vocabulary.version, e.actor, who) for e, who in dispatched] == [
        ("VocabularyChanged", A, version, actor, actor) for version in (2, 3, 4, 5, 6)]


def test_without_a_host_nothing_is_queued(client, creds, store):
    import sqlalchemy as sa

    from progress_plugin.store import tables as t
    assert client.post(f"{URL}/tags/setback/retire", headers=h(creds, "admin", 1)).status_code == 200
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar() == 0


# -- hostile input: each of these answered 5xx, or was accepted, before the shared JSON reader --------
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("method,path", [("POST", "/tags"), ("PATCH", "/tags/setback"), ("POST", "/import")])
def test_json_nested_ten_thousand_deep_is_422_not_500(client, creds, store, method, path):
    r = client.open(f"{URL}{path}", method=method, data=DEEP, content_type="application/json",
                    headers=h(creds, "admin", 1))
    assert r.status_code == 422, r.text
    assert r.json["json"]["_schema"] == ["JSON nested more than 64 levels deep."]
    assert store.current_version(A) == 1


@pytest.mark.parametrize("label,message", [("Named\ud800", "lone surrogate"), ("Named\x00", "NUL character")])
def test_a_label_with_a_lone_surrogate_or_nul_is_422_naming_it(client, creds, store, label, message):
    new = {"code": "named", "label": label, "category": "relationship", "direction": "toward"}
    r = client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1))
    assert r.status_code == 422 and message in r.json["json"]["label"][0]
    r = client.patch(f"{URL}/tags/setback", json={"description": label}, headers=h(creds, "admin", 1))
    assert r.status_code == 422 and message in r.json["json"]["description"][0]
    assert store.current_version(A) == 1
    assert client.get(f"{URL}/export", headers=h(creds, "viewer")).status_code == 200


def test_bidi_controls_in_a_label_are_kept(client, creds):
    label = "\u2067قدم\u2069 forward"
    new = {"code": "step-rtl", "label": label, "category": "movement", "direction": "toward"}
    assert client.post(f"{URL}/tags", json=new, headers=h(creds, "admin", 1)).status_code == 201
    assert client.get(f"{URL}/tags/step-rtl", headers=h(creds, "viewer")).json["tag"]["label"] == label


@pytest.mark.parametrize("path,arg", [("", "version"), ("/tags/setback", "version"), ("/diff", "from"),
                                      ("/diff", "to")])
def test_a_thirty_digit_version_is_422_naming_it(client, creds, path, arg):
    for value in ("9" * 30, "9" * 5000, str(2 ** 31)):
        r = client.get(f"{URL}{path}?{arg}={value}", headers=h(creds, "viewer"))
        assert r.status_code == 422 and arg in r.json["json"], r.text


def test_an_import_with_a_5000_digit_integer_is_422_naming_it_with_its_line(client, creds, store):
    text = fhir_vocabulary.dumps(fhir_vocabulary.export(default(), A, "json")).replace(
        '"version": 1', '"version": ' + "9" * 5000)
    r = client.post(f"{URL}/import", data=text, content_type="application/json", headers=h(creds, "admin", 1))
    assert r.status_code == 422
    assert r.json["json"]["version"] == ["line 3: Number out of range: integers must be between "
                                         "-9223372036854775808 and 9223372036854775807."]
    assert store.current_version(A) == 1


def test_problems_keyed_by_position_and_by_name_together_are_written_as_json(client, creds):
    r = client.post(f"{URL}/import", json={"resourceType": "Bundle", "entry": ["x", 1]}, headers=h(creds, "admin", 1))
    assert r.status_code == 422, r.text
    assert sorted(r.json["json"]["entry"]) == ["0", "1", "_schema"]

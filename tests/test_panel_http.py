"""The progress endpoints: token auth scoped per clinic, the three formats, the client view, the summary."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from progress_plugin.view import panel
from progress_plugin.web import panel_routes as panel_http
from progress_plugin.store import tokens
from progress_plugin.web.app import all_blueprints, create_app

from tests.test_panel import PRIVATE, THERAPIST_ONLY_LABEL, seed_client

URL = "/clinics/{clinic}/clients/{client}/progress.{fmt}"


@pytest.fixture
def service(sqlite_store, now, runtime):
    seed_client(runtime, "clinic-a", "c1", 12)
    seed_client(runtime, "clinic-b", "b1", 3)
    app = create_app(sqlite_store, clock=lambda: now, blueprints=[panel_http.blueprint])
    made = {name: tokens.create(sqlite_store, clinic, role, name, now)[1]
            for name, clinic, role in [("a-viewer", "clinic-a", "viewer"), ("a-admin", "clinic-a", "admin"),
                                       ("b-viewer", "clinic-b", "viewer")]}
    return app.test_client(), made


@pytest.fixture
def runtime(sqlite_store, now):
    from progress_plugin.service.runtime import Runtime
    return Runtime(sqlite_store, clock=lambda: now)


def get(client, url, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers, query_string=params)


def test_the_service_mounts_the_panel_blueprint():
    assert panel_http.blueprint in all_blueprints()


@pytest.mark.parametrize("fmt,mimetype", [("html", "text/html"), ("json", "application/json"),
                                          ("svg", "image/svg+xml")])
def test_each_format_for_viewer_and_admin_tokens(service, fmt, mimetype):
    client, made = service
    for token in (made["a-viewer"], made["a-admin"]):
        r = get(client, URL.format(clinic="clinic-a", client="c1", fmt=fmt), token)
        assert r.status_code == 200
        assert r.mimetype == mimetype
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    body = r.get_data(as_text=True)
    if fmt == "json":
        assert [g["words"] for g in r.json["goals"]][0].startswith("Get through a work meeting")
        assert len(r.json["sessions"]) == 12 and r.json["audience"] == "therapist"
    elif fmt == "svg":
        assert ET.fromstring(body).get("role") == "img"
    else:
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and f"script-src '{panel.TOOLTIP_JS_HASH}'" in csp
        assert body.startswith("<!doctype html>") and "Therapist view" in body


def test_client_view_leaves_out_therapist_only_content(service):
    client, made = service
    token = made["a-viewer"]
    mine = {fmt: get(client, URL.format(clinic="clinic-a", client="c1", fmt=fmt), token).get_data(as_text=True)
            for fmt in ("html", "json", "svg")}
    shared = {fmt: get(client, URL.format(clinic="clinic-a", client="c1", fmt=fmt), token, view="client")
              .get_data(as_text=True) for fmt in ("html", "json", "svg")}
    for fmt in ("html", "json", "svg"):
        assert THERAPIST_ONLY_LABEL in mine[fmt] and THERAPIST_ONLY_LABEL not in shared[fmt]
        assert "let-go-of-fixing" not in shared[fmt]
    assert PRIVATE in mine["html"] and PRIVATE in mine["json"]
    assert PRIVATE not in shared["html"] and PRIVATE not in shared["json"]
    assert "Shared view" in shared["html"]


def test_auth_and_scoping(service):
    client, made = service
    a_url = URL.format(clinic="clinic-a", client="c1", fmt="json")
    assert get(client, a_url).status_code == 401
    assert get(client, a_url, "pp_0123456789abcdef_" + "A" * 43).status_code == 401
    r = get(client, a_url, made["b-viewer"])                            # another clinic's token
    assert r.status_code == 404 and "Get through" not in r.get_data(as_text=True)
    # clinic-b's own client through clinic-a's URL is unknown there
    assert get(client, URL.format(clinic="clinic-a", client="b1", fmt="json"), made["a-viewer"]).status_code == 404
    assert get(client, URL.format(clinic="clinic-a", client="nobody", fmt="html"), made["a-viewer"]).status_code == 404
    assert get(client, URL.format(clinic="clinic-b", client="b1", fmt="json"), made["b-viewer"]).status_code == 200
    assert get(client, "/clinics/clinic-a/summary.json").status_code == 401
    assert get(client, "/clinics/clinic-a/summary.json", made["b-viewer"]).status_code == 404


def test_bad_query_is_422(service):
    client, made = service
    url = URL.format(clinic="clinic-a", client="c1", fmt="json")
    r = get(client, url, made["a-viewer"], view="family")
    assert r.status_code == 422 and "view" in r.json["json"]
    assert get(client, url, made["a-viewer"], colour="red").status_code == 422
    r = get(client, "/clinics/clinic-a/summary.json", made["a-viewer"], **{"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 422 and "from" in r.json["json"]
    assert get(client, "/clinics/clinic-a/summary.json", made["a-viewer"], to="yesterday").status_code == 422


def test_summary_endpoint(service):
    client, made = service
    r = get(client, "/clinics/clinic-a/summary.json", made["a-viewer"], **{"from": "2025-01-01", "to": "2026-12-31"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert r.json["clients"] == 1 and r.json["clients_with_agreed_goals"] == 1
    assert r.json["sessions_in_range"] == 12
    assert sum(r.json["tags_by_category"].values()) == r.json["tags_in_range"] > 12
    text = r.get_data(as_text=True)
    assert "Get through" not in text and PRIVATE not in text and "c1" not in text


# -- POST /clinics/<clinic>/tag-labels ----------------------------------------------------------
LABELS = "/clinics/{clinic}/tag-labels"


def post_labels(client, token, body, clinic="clinic-a", **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, (bytes, str)):
        return client.post(LABELS.format(clinic=clinic), headers=headers, data=body, **kwargs)
    return client.post(LABELS.format(clinic=clinic), headers=headers, json=body)


def test_tag_labels_route_answers_per_pair_at_its_version(service, sqlite_store, now):
    client, made = service
    v1 = sqlite_store.vocabulary("clinic-a")
    sqlite_store.save_vocabulary("clinic-a", v1.edit("setback", label="Step back"), "admin", "edit setback", now)
    pairs = [{"code": "setback", "version": 1}, {"code": "setback", "version": 2},
             {"code": "gone", "version": 1}, {"code": "setback", "version": 7}]
    for token in (made["a-viewer"], made["a-admin"]):
        r = post_labels(client, token, {"pairs": pairs})
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        labels = r.json["labels"]
        assert [x.get("label") for x in labels] == ["Setback", "Step back", None, None]
        assert [x["found"] for x in labels] == [True, True, False, False]
        assert labels[1]["direction"] == "away" and labels[1]["status"] == "active"
        assert labels[2]["problem"] == "Unknown tag code 'gone' in vocabulary version 1."
        assert labels[3]["problem"] == "There is no vocabulary version 7."


def test_tag_labels_route_needs_a_token_of_the_clinic(service, sqlite_store, now):
    client, made = service
    v1 = sqlite_store.vocabulary("clinic-b")
    sqlite_store.save_vocabulary("clinic-b", v1.edit("setback", label="Clinic B's own"), "admin", "edit", now)
    body = {"pairs": [{"code": "setback", "version": 2}]}
    assert post_labels(client, None, body).status_code == 401
    assert post_labels(client, "not-a-token", body).status_code == 401
    r = post_labels(client, made["a-viewer"], body, clinic="clinic-b")        # another clinic's token
    assert r.status_code == 404 and "Clinic B" not in r.get_data(as_text=True)
    r = post_labels(client, made["a-viewer"], body)                            # its own clinic has no version 2
    assert r.status_code == 200 and r.json["labels"][0]["found"] is False
    r = post_labels(client, made["b-viewer"], body, clinic="clinic-b")
    assert r.json["labels"][0]["label"] == "Clinic B's own"


@pytest.mark.parametrize("body, expected", [
    ({"pairs": [{"code": "setback", "version": "two"}]}, {"pairs": {"0": {"version": ["Not a valid integer."]}}}),
    ({"pairs": [{"version": 1}]}, {"pairs": {"0": {"code": ["Missing data for required field."]}}}),
    ({"pairs": [{"code": "setback", "version": 1}] * 501}, {"pairs": ["At most 500 pairs per request."]}),
    ({}, {"pairs": ["Missing data for required field."]}),
    ({"pairs": [], "clinic_id": "clinic-b"}, {"clinic_id": ["Unknown field."]}),
    ([{"code": "setback", "version": 1}], {"_schema": ["Expected a JSON object."]}),
])
def test_tag_labels_route_bad_input_is_422_naming_the_field(service, body, expected):
    client, made = service
    r = post_labels(client, made["a-viewer"], body)
    assert r.status_code == 422 and r.json == {"json": expected}


def test_tag_labels_route_refuses_a_body_that_is_not_json(service):
    client, made = service
    r = post_labels(client, made["a-viewer"], "pairs=setback", content_type="text/plain")
    assert r.status_code == 422 and "Content-Type: application/json" in r.json["json"]["_schema"][0]
    r = post_labels(client, made["a-viewer"], b"{not json", content_type="application/json")
    assert r.status_code == 422 and "_schema" in r.json["json"]


def test_tag_labels_route_writes_nothing(service, sqlite_store):
    """A lookup sent as a POST body: it neither creates a clinic nor adds a vocabulary version or an audit row."""
    client, made = service
    before = (sqlite_store.history("clinic-a"), sqlite_store.audit_rows("clinic-a"))
    assert post_labels(client, made["a-viewer"], {"pairs": [{"code": "setback", "version": 1}]}).status_code == 200
    assert post_labels(client, made["a-viewer"], {"pairs": [{"code": "x", "version": 3}]}).status_code == 200
    assert (sqlite_store.history("clinic-a"), sqlite_store.audit_rows("clinic-a")) == before
    assert post_labels(client, made["a-viewer"], {"pairs": []}, clinic="clinic-new").status_code == 404
    assert not sqlite_store.clinic_exists("clinic-new")


# -- languages -------------------------------------------------------------------------------------
def said_in(r) -> str:
    """The language a panel answer is in, from its words; Content-Language must say the same."""
    if r.mimetype == "application/json":
        text = " ".join(p["message"] for p in r.json["prompts"])
        hindi, english = "सेशन" in text, "session" in text
    else:
        text = r.get_data(as_text=True)
        hindi, english = "प्रगति" in text, "Progress" in text
    assert hindi != english
    assert r.headers["Content-Language"] == ("hi" if hindi else "en")
    return r.headers["Content-Language"]


@pytest.mark.parametrize("fmt", ["html", "json", "svg"])
def test_lang_then_accept_language_then_the_clinic_default(service, sqlite_store, now, fmt):
    client, made = service
    url, token = URL.format(clinic="clinic-a", client="c1", fmt=fmt), made["a-viewer"]

    def ask(lang=None, accept=None):
        headers = {"Authorization": f"Bearer {token}", **({"Accept-Language": accept} if accept else {})}
        r = client.get(url, headers=headers, query_string={"lang": lang} if lang else {})
        assert r.status_code == 200 and "Accept-Language" in r.headers["Vary"]
        return r

    assert said_in(ask()) == "en"                                      # no preference anywhere: English
    assert said_in(ask(accept="hi-IN,hi;q=0.9,en;q=0.5")) == "hi"
    assert said_in(ask(lang="hi")) == "hi"
    assert said_in(ask(lang="en", accept="hi")) == "en"                # ?lang= beats Accept-Language
    assert said_in(ask(lang="fr", accept="hi")) == "hi"                # one we lack falls through
    assert said_in(ask(accept="fr, de;q=0.8")) == "en"
    sqlite_store.ensure_clinic("clinic-a", now, language="hi")          # the clinic's default language
    assert said_in(ask()) == "hi"
    assert said_in(ask(accept="en-GB")) == "en"                         # Accept-Language beats the default
    assert said_in(ask(lang="en", accept="hi")) == "en"
    assert said_in(ask(accept="fr")) == "hi"
    r = ask(lang="hi")
    if fmt == "html":
        body = r.get_data(as_text=True)
        assert '<html lang="hi" dir="ltr">' in body and "<title>प्रगति</title>" in body
        assert "Get through a work meeting" in body                     # the client's words, as written
    elif fmt == "json":
        assert r.json["prompts"] and all("Goal" not in p["message"] for p in r.json["prompts"])
        assert r.json["goals"][0]["status"] in ("reliable improvement", "no reliable change yet",
                                                "reliable deterioration", "not enough ratings yet")
    else:
        assert ET.fromstring(r.get_data(as_text=True)).get("{http://www.w3.org/XML/1998/namespace}lang") == "hi"


@pytest.mark.parametrize("value", ["x" * 40, "hi IN", "<script>", "हिन्दी"])
def test_a_malformed_lang_is_422_naming_it(service, value):
    client, made = service
    r = get(client, URL.format(clinic="clinic-a", client="c1", fmt="html"), made["a-viewer"], lang=value)
    assert r.status_code == 422 and "lang" in r.json["json"] and value not in r.get_data(as_text=True)


@pytest.mark.parametrize("fmt", ["html", "svg"])
def test_with_lang_hi_no_english_is_left_from_the_catalogs(service, fmt):
    from tests.test_panel import GOAL_WORDS, english_left, not_catalogued, visible
    client, made = service
    url = URL.format(clinic="clinic-a", client="c1", fmt="{}")
    data = get(client, url.format("json"), made["a-viewer"], lang="hi").json
    theirs = [*GOAL_WORDS, *(str(v) for v in data["answers"].values()), *{m["label"] for m in data["markers"]},
              *not_catalogued()]
    r = get(client, url.format(fmt), made["a-viewer"], lang="hi")
    assert r.status_code == 200 and r.headers["Content-Language"] == "hi"
    said = visible(r.get_data(as_text=True), *theirs)
    assert english_left(said) == [] and "प्रगति" in said
    english = get(client, url.format(fmt), made["a-viewer"], lang="en").get_data(as_text=True)
    assert len(english_left(visible(english, *theirs))) > 10              # the check sees English where it is

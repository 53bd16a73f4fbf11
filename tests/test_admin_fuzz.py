"""Hypothesis fuzz of the admin API: hostile bodies (tests/fuzz.py) on ``POST``/``PATCH /tags`` and
``/import``, and hostile query arguments and tag codes in URLs, with a valid admin token and the
current ``If-Match``. Never 5xx, never a traceback; after anything accepted the vocabulary still
lists and exports."""
import itertools
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.web import admin
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.store import tokens
from progress_plugin.store import Store
from progress_plugin.core.vocabulary import default

from tests.fuzz import INTEGERS, TEXT, bodies, check_answer, fuzz_settings

A = "clinic-a"
URL = f"/clinics/{A}/vocabulary"
LIMIT = 64 * 1024
NEW_TAG = {"code": "named-a-need", "label": "Named a need \u202eévil\u202c", "description": "हिंदी में भी",
           "category": "relationship", "direction": "toward", "audience": "all",
           "labels": {"hi": "ज़रूरत बताई"}, "descriptions": {"hi": "अपनी ज़रूरत कही।", "en": "Said what they need."}}
EDIT = {"label": "Stepped forward", "description": "One line", "category": "movement", "direction": "mixed",
        "audience": "therapist", "code": "step-forward", "labels": {"hi": "आगे बढ़े", "en": None},
        "descriptions": {"hi": None}}
_n = itertools.count(1)
FILES = [fhir_vocabulary.export(default(), A, "json"), fhir_vocabulary.export(default(), A, "fhir")]


@pytest.fixture(scope="module")
def api(tmp_path_factory, app_factory):
    from datetime import datetime, timezone
    path = tmp_path_factory.mktemp("admin-fuzz") / "p.db"
    store = Store.open(f"sqlite:///{path}")
    store.ensure_clinic(A, datetime.now(timezone.utc))
    _, token = tokens.create(store, A, "admin", "fuzz", datetime.now(timezone.utc))
    app = app_factory(store, blueprints=[admin.blueprint], max_body=LIMIT)
    yield app.test_client(), store, {"Authorization": f"Bearer {token}"}
    store.close()


def send(api, boundary, method, url, body=None):
    client, store, auth = api
    headers = {**auth, "If-Match": f'"{store.current_version(A)}"', "Content-Type": "application/json"}
    r = client.open(url, method=method, data=body, headers=headers)
    check_answer(boundary, r.status_code, r.get_data())
    if r.status_code < 300 and method != "GET":          # what was accepted can be read and exported
        for fmt in ("json", "fhir"):
            shown = client.get(f"{URL}/export?format={fmt}", headers=auth)
            assert shown.status_code == 200, shown.get_data()[:300]
            shown.get_data().decode("utf-8")
    return r


def url_text(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@fuzz_settings(200)
@given(data=st.data())
def test_post_tags(api, fuzz_counts, data):
    n = next(_n)                       # a new code and label each time, so valid ones are added
    tag = {**NEW_TAG, "code": f"{NEW_TAG['code']}-{n}", "label": f"{NEW_TAG['label']} {n}",
           "labels": {"hi": f"{NEW_TAG['labels']['hi']} {n}"}}
    send(api, "admin: POST /tags", "POST", f"{URL}/tags", data.draw(bodies(tag, LIMIT)))


@fuzz_settings(200)
@given(data=st.data(), code=st.one_of(st.sampled_from([t.code for t in default().tags]), TEXT))
def test_patch_tags(api, fuzz_counts, data, code):
    n = next(_n)
    edit = {**EDIT, "code": code, "label": f"{EDIT['label']} {n}", "labels": {"hi": f"आगे बढ़े {n}", "en": None}}
    send(api, "admin: PATCH /tags/<code>", "PATCH", f"{URL}/tags/{url_text(code) or 'x'}",
         data.draw(bodies(edit, LIMIT)))


@fuzz_settings(150)
@given(data=st.data(), template=st.sampled_from(FILES))
def test_import(api, fuzz_counts, data, template):
    send(api, "admin: POST /import", "POST", f"{URL}/import", data.draw(bodies(template, LIMIT)))


QUERY_VALUES = st.one_of(TEXT, INTEGERS.map(str), INTEGERS.map(str),
                         st.sampled_from(["9" * 30, "9" * 5000, "-1", "0", "1", "1e5", "NaN", "\u0663", "json", "fhir",
                                          ""]))
QUERIES = {"": ["version"], "/tags/step-forward": ["version"], "/diff": ["from", "to"], "/export": ["format"],
           "/history": []}


@fuzz_settings(150)
@given(route=st.sampled_from(sorted(QUERIES)), data=st.data())
def test_query_arguments(api, fuzz_counts, route, data):
    names = st.sampled_from(QUERIES[route] + ["x"]) if data.draw(st.integers(0, 9)) == 0 or not QUERIES[route] \
        else st.sampled_from(QUERIES[route])
    args = data.draw(st.dictionaries(names, QUERY_VALUES, max_size=2))
    query = "&".join(f"{url_text(k)}={url_text(v)}" for k, v in args.items())
    send(api, "admin: query arguments", "GET", f"{URL}{route}?{query}")

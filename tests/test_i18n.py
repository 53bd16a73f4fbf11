"""The service's answers in a person's language (progress_plugin.web.i18n): ``?lang=``, then
``Accept-Language``, then the clinic's default language; field names and machine codes unchanged;
``Content-Language`` on every JSON error answer; nothing told about a clinic before the caller is known."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from flask import Blueprint

from progress_plugin.service import settings
from progress_plugin.store import tokens
from progress_plugin.web import i18n
from progress_plugin.web.app import create_app
from progress_plugin.web.signatures import sign_standard

from tests.conftest import SECRET

HI_CLINIC, EN_CLINIC = "clinic-hi", "clinic-en"
BAD_TAG = {"code": "a b", "category": "movement", "direction": "sideways", "colour": "red"}
ENGLISH_ERRORS = {"code": ["Codes are 1-64 characters of letters, digits, '.', '_' or '-'."],
                  "label": ["Missing data for required field."],
                  "direction": ["Must be one of: toward, steady, mixed, away, none."],
                  "colour": ["Unknown field."]}
HINDI_ERRORS = {"code": ["कोड में 1 से 64 तक अक्षर, नंबर, '.', '_' या '-' हो सकते हैं।"],
                "label": ["यह भरना ज़रूरी है।"],
                "direction": ["इनमें से एक चुनें: toward, steady, mixed, away, none।"],
                "colour": ["यह फ़ील्ड यहाँ नहीं होता; इसे हटा दें।"]}


@pytest.fixture
def app(app_factory, sqlite_url, now):
    config = settings.load({"store": {"url": sqlite_url}, "clinics": [
        {"id": HI_CLINIC, "scheme": "standard-webhooks", "secrets": [SECRET], "language": "hi"},
        {"id": EN_CLINIC, "scheme": "standard-webhooks", "secrets": [SECRET]}]}, env={})
    return app_factory(config=config, clock=lambda: now)


@pytest.fixture
def headers(app, now):
    """An admin token's headers per clinic, naming the current vocabulary version in If-Match."""
    store = app.extensions["progress_plugin"].store
    return {clinic: {"Authorization": f"Bearer {tokens.create(store, clinic, 'admin', 'admin', now)[1]}",
                     "If-Match": '"1"'} for clinic in (HI_CLINIC, EN_CLINIC)}


def add_tag(client, headers, clinic, query="", **extra):
    return client.post(f"/clinics/{clinic}/vocabulary/tags{query}", json=BAD_TAG,
                       headers={**headers[clinic], **extra})


# -- which language ------------------------------------------------------------------------------
def test_english_stays_as_it_was_and_says_so(client, headers):
    r = add_tag(client, headers, EN_CLINIC)
    assert r.status_code == 422 and r.json == {"json": ENGLISH_ERRORS}
    assert r.headers["Content-Language"] == "en" and "Accept-Language" in r.headers["Vary"]


@pytest.mark.parametrize("clinic, query, extra", [
    (EN_CLINIC, "?lang=hi", {}),                                   # asked for in the URL
    (EN_CLINIC, "", {"Accept-Language": "hi-IN"}),                 # only the browser's languages
    (EN_CLINIC, "", {"Accept-Language": "fr, hi;q=0.8, en;q=0.5"}),  # the best the catalogs carry
    (HI_CLINIC, "", {}),                                           # the clinic's default language
], ids=["lang", "accept-language", "accept-language-order", "clinic-default"])
def test_field_errors_are_said_in_hindi_with_the_field_names_kept(client, headers, clinic, query, extra):
    r = add_tag(client, headers, clinic, query, **extra)
    assert r.status_code == 422 and r.json == {"json": HINDI_ERRORS}
    assert r.headers["Content-Language"] == "hi"


def test_what_is_asked_for_wins_over_the_clinics_default(client, headers):
    assert add_tag(client, headers, HI_CLINIC, "?lang=en").json == {"json": ENGLISH_ERRORS}
    assert add_tag(client, headers, HI_CLINIC, "", **{"Accept-Language": "en-GB"}).json == {"json": ENGLISH_ERRORS}


def test_a_message_with_values_is_said_in_hindi_and_the_error_code_stays(client, headers):
    r = client.get(f"/clinics/{HI_CLINIC}/vocabulary?version=99", headers=headers[HI_CLINIC])
    assert r.status_code == 404 and r.json == {
        "error": "NotFound", "message": f"क्लिनिक '{HI_CLINIC}' की टैग सूची का वर्ज़न 99 नहीं है"}
    stale = {**headers[HI_CLINIC], "If-Match": '"7"'}
    r = client.post(f"/clinics/{HI_CLINIC}/vocabulary/tags/step-forward/retire", headers=stale)
    assert r.status_code == 412 and r.json["error"] == "PreconditionFailed"
    assert r.json["message"] == 'टैग की सूची अब वर्ज़न 1 पर है, "7" पर नहीं; दोबारा लोड करके फिर कोशिश करें।'
    assert r.headers["Content-Language"] == "hi"


def test_a_query_error_is_said_in_hindi_too(client, headers):
    r = client.get(f"/clinics/{EN_CLINIC}/vocabulary?version=0&lang=hi", headers=headers[EN_CLINIC])
    assert r.status_code == 422 and r.json == {"json": {"version": ["वर्ज़न 1 से 2147483647 के बीच होना चाहिए।"],
                                                        "lang": ["यह फ़ील्ड यहाँ नहीं होता; इसे हटा दें।"]}}


# -- nothing is told before the caller is known ----------------------------------------------------
def test_a_refused_token_is_answered_alike_for_every_clinic(client, headers):
    for clinic in (HI_CLINIC, EN_CLINIC, "no-such-clinic"):
        r = client.get(f"/clinics/{clinic}/vocabulary", headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json["message"], r.headers["Content-Language"]) == (401, "The token is not valid.", "en")
    other = client.get(f"/clinics/{HI_CLINIC}/vocabulary", headers=headers[EN_CLINIC])
    missing = client.get("/clinics/no-such-clinic/vocabulary", headers=headers[EN_CLINIC])
    assert other.status_code == missing.status_code == 404 and other.json == missing.json
    assert other.headers["Content-Language"] == missing.headers["Content-Language"] == "en"
    asked = client.get(f"/clinics/{HI_CLINIC}/vocabulary", headers={"Authorization": "Bearer nope",
                                                                    "Accept-Language": "hi"})
    assert asked.json == {"error": "Unauthorized", "message": "यह token सही नहीं है।"}


def test_an_unverified_webhook_is_answered_in_the_asked_language_only(client, signed):
    headers, body = signed("note.saved", {"client_id": "c1"}, secret="whsec_" + "b3RoZXItb3RoZXItb3RoZXItb3RoZXItMzJi")
    r = client.post(f"/webhooks/{HI_CLINIC}", data=body, headers=headers)
    assert r.status_code == 401 and r.json["error"] == "signature verification failed"
    assert r.json["message"].startswith("The signature did not verify") and r.headers["Content-Language"] == "en"
    r = client.post(f"/webhooks/{HI_CLINIC}?lang=hi", data=body, headers=headers)
    assert r.json["message"].startswith("Signature मेल नहीं खाया") and r.headers["Content-Language"] == "hi"
    r = client.post("/webhooks/no-such-clinic", data=body, headers={**headers, "Accept-Language": "hi"})
    assert r.status_code == 404 and r.json == {"error": "unknown clinic",
                                               "message": "इस id का कोई क्लिनिक यहाँ सेट नहीं है; पता जाँच लें।"}


# -- webhooks -------------------------------------------------------------------------------------
def test_a_verified_webhooks_errors_and_refusals_are_in_the_clinics_language(client, signed):
    note = {"client_id": "c1", "note_id": "n1", "session_at": "yesterday", "author": "t1",
            "at": "2026-01-12T11:00:00Z", "tags": [{"code": "a b"}]}
    headers, body = signed("note.saved", note)
    r = client.post(f"/webhooks/{HI_CLINIC}", data=body, headers=headers)
    assert r.status_code == 422 and r.json == {"json": {"data": {
        "session_at": ["सही तारीख़ और समय दें (ISO 8601)।"], "tags": {"0": {"code": ["यह टैग का कोड नहीं है: a b।"]}}}}}
    headers, body = signed("note.saved", note)
    assert client.post(f"/webhooks/{EN_CLINIC}", data=body, headers=headers).json == {"json": {"data": {
        "session_at": ["Not a valid datetime."], "tags": {"0": {"code": ["Not a tag code: a b."]}}}}}
    headers, body = signed("note.signed", dict(note, note_type="Psychotherapy Note"))
    r = client.post(f"/webhooks/{HI_CLINIC}", data=body, headers=headers)
    assert r.status_code == 202 and r.json == {"status": "refused", "reason_code": "refused-protected",
                                               "reason": "सुरक्षित श्रेणी का नोट"}


def test_a_body_that_is_not_json_is_said_in_hindi(client):
    body = b"[" * 80 + b"]" * 80
    headers = {**sign_standard(SECRET, "evt_deep", int(time.time()), body), "Content-Type": "application/json"}
    r = client.post(f"/webhooks/{HI_CLINIC}", data=body, headers=headers)
    assert r.status_code == 400 and r.json == {"error": "body is not JSON", "message": "JSON में 64 से ज़्यादा परतें हैं।"}


# -- Content-Language on every JSON error answer ---------------------------------------------------
@pytest.mark.parametrize("method, path, kwargs, status", [
    ("get", "/no-such-page", {}, 404),
    ("put", "/healthz", {}, 405),
    ("post", f"/webhooks/{EN_CLINIC}", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("post", f"/webhooks/{EN_CLINIC}", {"data": b"x" * (2 * 1024 * 1024), "headers": {"Content-Type": "application/json"}},
     413),
    ("get", f"/clinics/{EN_CLINIC}/vocabulary", {}, 401),
])
def test_every_json_error_answer_says_its_language(client, method, path, kwargs, status):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status and r.is_json and r.json["message"]
    assert r.headers["Content-Language"] == "en"
    hindi = getattr(client, method)(path + "?lang=hi", **kwargs)
    assert hindi.status_code == status and hindi.headers["Content-Language"] == "hi"
    assert hindi.json["message"] != r.json["message"] and hindi.json.get("error") == r.json.get("error")


def test_werkzeugs_errors_are_said_in_our_words(client):
    r = client.get("/no-such-page", headers={"Accept-Language": "hi"})
    assert r.json == {"error": "Not Found", "message": "यहाँ कुछ नहीं है; पता जाँच लें।"}
    r = client.put("/healthz")
    assert r.json["message"] == "This address does not take this method; the Allow header lists the ones it takes."
    assert "GET" in r.headers["Allow"]


def test_a_store_that_cannot_say_the_clinics_language_leaves_the_answer_in_english(client, headers, app,
                                                                                   monkeypatch):
    store = app.extensions["progress_plugin"].store
    monkeypatch.setattr(type(store), "clinic_language", lambda self, clinic_id, conn=None: 1 / 0)
    r = add_tag(client, headers, HI_CLINIC)
    assert r.status_code == 422 and r.json == {"json": ENGLISH_ERRORS}


@pytest.mark.parametrize("clinic_id", [None, "", "x" * 129, "a\x00b", "\ud800", 42])
def test_no_clinics_language_is_looked_up_for_an_id_no_clinic_can_have(app, clinic_id, monkeypatch):
    store = app.extensions["progress_plugin"].store
    monkeypatch.setattr(type(store), "clinic_language", lambda self, clinic_id, conn=None: pytest.fail("looked up"))
    with app.test_request_context("/"):
        assert i18n.clinic_language(clinic_id) is None


# -- the language of an answer, on a bare app ------------------------------------------------------
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
probe = Blueprint("probe", __name__)


@probe.get("/clinics/<clinic>/probe")
def _probe(clinic):
    from flask_babel import get_locale
    return {"language": i18n.language(), "words": i18n.words().code, "babel": str(get_locale())}


@pytest.fixture
def probe_client(sqlite_store):
    sqlite_store.ensure_clinic("clinic-en", NOW)
    sqlite_store.ensure_clinic("clinic-hi", NOW, language="hi")
    return create_app(sqlite_store, clock=lambda: NOW, blueprints=[probe]).test_client()


@pytest.mark.parametrize("url, headers, expected", [
    ("/clinics/clinic-en/probe", {}, "en"),
    ("/clinics/clinic-hi/probe", {}, "hi"),                                   # the clinic's default
    ("/clinics/clinic-en/probe", {"Accept-Language": "fr, hi-IN;q=0.8, en;q=0.5"}, "hi"),
    ("/clinics/clinic-hi/probe", {"Accept-Language": "en-GB"}, "en"),         # the browser beats the clinic
    ("/clinics/clinic-hi/probe?lang=en", {"Accept-Language": "hi"}, "en"),     # ?lang= beats both
    ("/clinics/clinic-en/probe?lang=hi", {}, "hi"),
    ("/clinics/clinic-hi/probe?lang=xx", {"Accept-Language": "de"}, "hi"),    # unknown: falls through
    ("/clinics/nobody/probe", {"Accept-Language": "hi;q=0"}, "en"),           # q=0 means "not this"
])
def test_the_language_of_an_answer(probe_client, url, headers, expected):
    answer = probe_client.get(url, headers=headers).get_json()
    assert answer == {"language": expected, "words": expected, "babel": expected}


def test_the_clinics_language_comes_from_the_configuration_and_can_change(sqlite_store, sqlite_url):
    raw = {"store": {"url": sqlite_url},
           "clinics": [{"id": "clinic-a", "scheme": "x-signature", "secrets": ["s" * 32], "language": "hi"}]}
    create_app(sqlite_store, config=settings.load(raw), clock=lambda: NOW, blueprints=[])
    assert sqlite_store.clinic_language("clinic-a") == "hi"
    raw["clinics"][0]["language"] = "en"
    create_app(sqlite_store, config=settings.load(raw), clock=lambda: NOW, blueprints=[])
    assert sqlite_store.clinic_language("clinic-a") == "en"
    assert [r["action"] for r in sqlite_store.audit_rows("clinic-a")].count("clinic.language") == 1


def test_a_language_the_catalogs_lack_is_refused_in_the_configuration(sqlite_url):
    raw = {"clinics": [{"id": "clinic-a", "scheme": "x-signature", "secrets": ["s" * 32], "language": "fr"}]}
    with pytest.raises(settings.ConfigError, match="clinics.0.language"):
        settings.load(raw)


@probe.get("/clinics/<clinic>/said")
def _said_in_template(clinic):
    from flask import render_template_string
    return render_template_string("{{ _('Tags') }}|{{ ngettext('%(num)d note', '%(num)d notes', 3) }}|"
                                  "{{ _('Goal {n}').format(n=2) }}")


@pytest.mark.parametrize("url, code", [("/clinics/clinic-hi/said", "hi"), ("/clinics/clinic-en/said", "en"),
                                       ("/clinics/clinic-hi/said?lang=en", "en")])
def test_templates_say_the_requests_language_from_its_catalog(probe_client, url, code):
    from flask_babel import get_translations
    app = probe_client.application
    with app.test_request_context(url):
        babel = get_translations()                 # what flask-babel itself would have said
        expected = (f"{babel.gettext('Tags')}|{babel.ngettext('%(num)d note', '%(num)d notes', 3) % {'num': 3}}|"
                    f"{babel.gettext('Goal {n}').format(n=2)}")
    said = probe_client.get(url).get_data(as_text=True)
    assert said == expected
    assert (said.split("|")[0] != "Tags") == (code == "hi")


def test_a_get_reads_the_clinics_language_once_and_a_post_each_time(app, monkeypatch):
    store = app.extensions["progress_plugin"].store
    asked = []
    monkeypatch.setattr(type(store), "clinic_language", lambda self, clinic_id, conn=None: asked.append(1) or "hi")
    with app.test_request_context("/", method="GET"):
        assert [i18n.clinic_language("clinic-a") for _ in range(3)] == ["hi"] * 3
    assert len(asked) == 1
    with app.test_request_context("/", method="POST"):
        i18n.clinic_language("clinic-a"), i18n.clinic_language("clinic-a")
    assert len(asked) == 3


def test_the_clinics_fallback_language_is_read_with_the_pages_language(app, monkeypatch):
    store = app.extensions["progress_plugin"].store
    asked = []
    monkeypatch.setattr(type(store), "clinic_language", lambda self, clinic_id, conn=None: asked.append(1) or "hi")
    with app.test_request_context("/clinics/clinic-a/x", method="GET"):
        assert i18n.language("clinic-a") == "hi"
        assert [i18n.clinic_fallback("clinic-a") for _ in range(2)] == ["hi", "hi"]
    assert len(asked) == 1
    monkeypatch.setattr(type(store), "clinic_language", lambda self, clinic_id, conn=None: "fr")
    with app.test_request_context("/", method="GET"):
        assert i18n.clinic_fallback("clinic-a") is None          # a language the catalogs lack


SAYINGS = ("{{ _('Tags') }}|{{ gettext('Tags') }}|{{ _('100%% sure') }}|{{ _('Goal %(n)s', n='<b>') }}|"
           "{% for i in [1, 2] %}{{ _('Tags') }}{{ ngettext('%(num)d note', '%(num)d notes', i) }}{% endfor %}|"
           "{% trans n=3 %}{{ n }} note{% pluralize %}{{ n }} notes{% endtrans %}|"
           "{{ pgettext('menu', 'Tags') }}|{{ npgettext('menu', '%(num)d tag', '%(num)d tags', 2) }}|"
           "{% autoescape false %}{{ _('Goal %(n)s', n='<b>') }}{{ _('Tags') }}{% endautoescape %}")


@probe.get("/clinics/<clinic>/sayings")
def _sayings(clinic):
    from flask import render_template_string
    return render_template_string(SAYINGS)


def test_templates_say_as_jinjas_own_gettext_and_follow_the_language_at_once(probe_client):
    """The templates' callables keep a string said once per catalog: each answer is what Jinja's newstyle
    gettext over the request's catalog gives, and the next request in another language is said in it."""
    from jinja2 import Environment
    from progress_plugin import lang

    def jinjas(code):
        env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
        env.install_gettext_translations(lang.words(code).translations, newstyle=True)
        return env.from_string(SAYINGS).render()

    for url, code in [("/clinics/clinic-en/sayings", "en"), ("/clinics/clinic-en/sayings?lang=hi", "hi"),
                      ("/clinics/clinic-hi/sayings", "hi"), ("/clinics/clinic-hi/sayings?lang=en", "en"),
                      ("/clinics/clinic-en/sayings", "en")]:
        said = probe_client.get(url).get_data(as_text=True)
        assert said == jinjas(code), url
        assert said.startswith("Tags|") == (code == "en")
    assert "Goal &lt;b&gt;" in said and "Goal <b>" in said and "100% sure" in said

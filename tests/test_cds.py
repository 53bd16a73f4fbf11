"""The CDS Hooks patient-view service: discovery, the card, its link, prefetch read back with
fhirAuthorization (from Medplum, and from a small recording FHIR server), 412, and input checks."""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import sqlalchemy as sa

from progress_plugin import schemas
from progress_plugin.web import cds
from progress_plugin.web import cds_link
from progress_plugin.service import settings
from progress_plugin.store import tables
from progress_plugin.web.app import all_blueprints, create_app
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.fhir.resources import GOAL_ID_SYSTEM
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store

from tests.test_cds_jwt import (ISS, PATH, PUBLIC, cds_section, keys, keyserver, make_token,  # noqa: F401
                                request_body)

START = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
PRIVATE = "CANARY-CDS-PRIVATE-REFLECTION"
STORE_WORDS = ("STORE-COPY sleep through most nights", "STORE-COPY say no to my boss once")
CHART_WORDS = "Sleep through most nights"
THERAPIST_ONLY_LABEL = "Let go of fixing"


# -- data ---------------------------------------------------------------------------------------
def seed(runtime, client="c1", sessions=5, clinic="clinic-a"):
    """Two goals agreed on 2026-01-05 (review every 4 sessions), then ``sessions`` weekly notes:
    the client rates goal 1 from 3 up to 7; goal 2 is never rated; one note has a therapist-only tag."""
    intake = schemas.load(schemas.intake_schema, {
        "goals": [{"words": STORE_WORDS[0], "whose": "client", "baseline": 3, "rank": 1},
                  {"words": STORE_WORDS[1], "whose": "client", "baseline": 2, "rank": 2}],
        "better_looks_like": "Waking up less tired", "review_cadence": "every-4-sessions",
        "agreed": True, "agreed_on": START.date().isoformat(), "goals_reviewed": True,
        "private_reflection": PRIVATE})
    runtime.dispatch(IntakeSubmitted(clinic, START, client, intake, "t1"))
    for i in range(1, sessions + 1):
        at = (START + timedelta(days=7 * i)).isoformat()
        tags = [{"code": "small-shift", "goals": ["g1"], "ratings": [{"goal": "g1", "value": min(7, 3 + i)}]}]
        if i == 2:
            tags.append({"code": "let-go-of-fixing", "goals": [], "ratings": []})
        runtime.dispatch(schemas.load(schemas.note_schema, {
            "clinic_id": clinic, "client_id": client, "note_id": f"{client}-n{i}", "session_at": at,
            "author": "t1", "at": at, "signed": True, "tags": tags}))


def chart_goal(client, goal_id, words, status="active", clinic="clinic-a"):
    return {"resourceType": "Goal", "lifecycleStatus": status, "description": {"text": words},
            "subject": {"reference": f"Patient/{client}"},
            "identifier": [{"system": GOAL_ID_SYSTEM, "value": f"{clinic}/{client}/{goal_id}"}]}


def body_for(client="c1", goals=None, patient=True, **extra):
    body = request_body(client)
    entries = [{"resource": g} for g in (goals if goals is not None else [chart_goal(client, "g1", CHART_WORDS)])]
    body["prefetch"] = {"patient": {"resourceType": "Patient", "id": client} if patient else None,
                        "goals": {"resourceType": "Bundle", "type": "searchset", "entry": entries}}
    body.update(extra)
    return body


# -- the service ----------------------------------------------------------------------------------
@pytest.fixture
def make_service(sqlite_url, keys, now):
    stores = []

    def make(**cds_overrides):
        section = {k: v for k, v in cds_section(keys, **cds_overrides).items() if v is not None}
        config = settings.load({"store": {"url": sqlite_url}, "cds": section}, env={})
        store = Store.open(config.store_url)
        stores.append(store)
        app = create_app(store, config=config, clock=lambda: now, blueprints=[cds.blueprint])
        return app.test_client(), store, config
    yield make
    for s in stores:
        s.close()


@pytest.fixture
def service(make_service, now):
    client, store, config = make_service()
    seed(Runtime(store, clock=lambda: now))
    return client, store, config


def post(client, keys, body, token=None, **kwargs):
    token = token or make_token(keys)
    return client.post(PATH, json=body, headers={"Authorization": f"Bearer {token}"}, **kwargs)


# -- discovery ------------------------------------------------------------------------------------
def test_the_service_mounts_the_cds_blueprint():
    assert cds.blueprint in all_blueprints()


def test_discovery_lists_the_patient_view_service_with_its_prefetch(service):
    client, _, _ = service
    r = client.get("/cds-services")
    assert r.status_code == 200
    (svc,) = r.get_json()["services"]
    assert svc["id"] == "progress-defined-together" and svc["hook"] == "patient-view"
    assert svc["title"] and svc["description"]
    assert svc["prefetch"] == {"patient": "Patient/{{context.patientId}}",
                               "goals": "Goal?patient={{context.patientId}}&lifecycle-status=active"}


def test_without_a_cds_section_the_endpoints_are_404(service_config, keys):
    assert service_config.cds is None
    store = Store.open(service_config.store_url)
    try:
        client = create_app(store, config=service_config, blueprints=[cds.blueprint]).test_client()
        assert client.get("/cds-services").status_code == 404
        assert post(client, keys, body_for()).status_code == 404
    finally:
        store.close()


# -- the card -------------------------------------------------------------------------------------
def test_the_card_for_two_goals_with_the_review_due(service, keys):
    client, _, _ = service
    r = post(client, keys, body_for())
    assert r.status_code == 200, r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    (card,) = r.get_json()["cards"]
    assert card["summary"] == "Progress defined together: 2 goals, review due"
    assert card["indicator"] == "warning"
    assert card["source"] == {"label": "Progress defined together"}
    assert uuid.UUID(card["uuid"])
    detail = card["detail"]
    assert "1. **\u2068Sleep through most nights\u2069**: 3 at the start, 7 now: reliable improvement" in detail
    assert "2. **Goal 2**: 2 at the start; not enough ratings yet" in detail
    assert "Review (agreed: every 4 sessions): **due**, 5 session(s) since the last one." in detail
    assert "agreed with the client on 5 January 2026," in detail          # a date as the language writes it
    (link,) = card["links"]
    assert link["type"] == "absolute" and link["label"]
    assert link["url"].startswith(PUBLIC + "/cds/progress.html?code=")


def test_the_card_shows_only_words_the_chart_sent_and_nothing_therapist_only(service, keys, caplog):
    client, store, _ = service
    caplog.set_level(logging.DEBUG)
    r = post(client, keys, body_for())
    text = json.dumps(r.get_json())
    assert CHART_WORDS in text
    for words in STORE_WORDS:                  # our copy of the goals never goes out on the card
        assert words not in text
    assert PRIVATE not in text and THERAPIST_ONLY_LABEL not in text and "therapist" not in text.lower()
    for words in (CHART_WORDS, *STORE_WORDS, PRIVATE):
        assert words not in caplog.text
    (row,) = [a for a in store.audit_rows("clinic-a") if a["action"] == "cds.patient-view"]
    assert row["actor"] == "cds:Practitioner/pr-1" and row["outcome"] == "card"
    assert row["subject"].startswith("client:c1 hook:")
    assert not any(w in json.dumps(row, default=str) for w in (CHART_WORDS, *STORE_WORDS))


def test_goals_of_another_client_or_another_system_are_not_matched(service, keys):
    client, _, _ = service
    goals = [chart_goal("c2", "g1", "Someone else's goal"),
             {**chart_goal("c1", "g2", "Unrelated goal"), "identifier": [{"system": "urn:other", "value": "x"}]},
             chart_goal("c1", "g2", "Speak up at work"), {"resourceType": "Observation"}]
    (card,) = post(client, keys, body_for(goals=goals)).get_json()["cards"]
    assert "1. **Goal 1**:" in card["detail"] and "2. **\u2068Speak up at work\u2069**:" in card["detail"]
    assert "Someone else" not in card["detail"] and "Unrelated" not in card["detail"]


def test_chart_words_are_escaped_as_markdown(service, keys):
    client, _, _ = service
    nasty = "**Sleep** [click](javascript:alert(1)) <img src=x>\n# heading"
    (card,) = post(client, keys, body_for(goals=[chart_goal("c1", "g1", nasty)])).get_json()["cards"]
    line = next(li for li in card["detail"].splitlines() if li.startswith("1. "))
    assert line.startswith("1. **\u2068" + r"\*\*Sleep\*\* \[click\]\(javascript:alert\(1\)\) &lt;img src=x&gt; \# heading"
                           + "\u2069**:")
    assert "<img" not in card["detail"] and "](" not in card["detail"]


def test_chart_words_are_bidi_isolated_on_the_card(service, keys):
    client, _, _ = service
    (card,) = post(client, keys, body_for(goals=[chart_goal("c1", "g1", "Sleep \u202eevil \u2069more")])).get_json()["cards"]
    line = next(li for li in card["detail"].splitlines() if li.startswith("1. "))
    assert line.startswith("1. **\u2068Sleep \u202eevil more\u202c\u2069**: 3 at the start")


def test_review_not_yet_due_is_info(make_service, keys, now):
    client, store, _ = make_service()
    seed(Runtime(store, clock=lambda: now), sessions=2)
    (card,) = post(client, keys, body_for()).get_json()["cards"]
    assert card["summary"] == "Progress defined together: 2 goals"
    assert card["indicator"] == "info"
    assert "Review (agreed: every 4 sessions): next after 2 more session(s)." in card["detail"]


def test_the_card_is_in_the_clinics_default_language_whatever_the_request_asks(service, keys, now):
    client, store, _ = service
    store.ensure_clinic("clinic-a", now, language="hi")
    for asked, query in (({}, ""), ({"Accept-Language": "en"}, ""), ({}, "?lang=en")):
        r = client.post(PATH + query, json=body_for(),
                        headers={"Authorization": f"Bearer {make_token(keys)}", **asked})
        assert r.status_code == 200 and r.headers["Content-Language"] == "hi"
        (card,) = r.get_json()["cards"]
        assert card["summary"] == "मिलकर तय की गई प्रगति: 2 लक्ष्य, दोबारा देखने का समय हो गया है"
        assert card["source"] == {"label": "मिलकर तय की गई प्रगति"}
        assert card["links"][0]["label"] == "प्रगति का साझा पेज खोलें"
        lines = card["detail"].splitlines()
        assert lines[0] == "5 जनवरी 2026 को क्लाइंट के साथ मिलकर तय किए गए लक्ष्य, क्लाइंट के अपने अंकों के साथ (0 से 10):"
        assert lines[2].startswith("1. **\u2068Sleep through most nights\u2069**: शुरुआत में 3, अब 7: ")  # chart words kept
        assert lines[3].startswith("2. **लक्ष्य 2**: शुरुआत में 2; ")
        assert lines[5].startswith("दोबारा साथ में देखना (तय हुआ: ") and lines[5].endswith(
            "): **समय हो गया है**, पिछली बार के बाद 5 सेशन हो चुके हैं।")


def test_a_card_for_one_goal_says_goal_once_in_each_language():
    from progress_plugin import lang
    from progress_plugin.core.intake import Goal, Intake
    from progress_plugin.core.progress import compute
    from progress_plugin.core.vocabulary import default
    intake = Intake("i1", (Goal("g1", "Sleep", "client", 3, 1),), "monthly", False, START.date(), True)
    progress = compute("c1", intake, [], {1: default()}, START)
    english = cds.card(progress, intake, {}, None)
    assert english["summary"] == "Progress defined together: 1 goal" and "links" not in english
    assert english["detail"].startswith("Goals not yet agreed (a draft), with the client's own ratings (0 to 10):")
    hindi = cds.card(progress, intake, {}, None, lang.words("hi"))
    assert hindi["summary"] == "मिलकर तय की गई प्रगति: 1 लक्ष्य"
    assert hindi["detail"].splitlines()[0] == "लक्ष्य अभी तय नहीं हुए (ड्राफ़्ट), क्लाइंट के अपने अंकों के साथ (0 से 10):"
    assert "1. **लक्ष्य 1**: शुरुआत में 3; " in hindi["detail"]


def test_no_card_without_an_intake_or_without_the_patient(service, keys):
    client, store, _ = service
    assert post(client, keys, body_for(client="c9")).get_json() == {"cards": []}
    assert post(client, keys, body_for(patient=False)).get_json() == {"cards": []}
    outcomes = [a["outcome"] for a in store.audit_rows("clinic-a") if a["action"] == "cds.patient-view"]
    assert outcomes == ["no-card", "no-card"]


def test_an_issuer_sees_only_its_own_clinic(make_service, keys, now):
    client, store, _ = make_service(issuers=[{"iss": ISS, "jku": [keys.url + "/jwks.json"], "clinic": "clinic-b"}])
    seed(Runtime(store, clock=lambda: now))                      # clinic-a's client c1
    assert post(client, keys, body_for()).get_json() == {"cards": []}


def test_without_a_link_secret_the_card_has_no_link(make_service, keys, now):
    client, store, _ = make_service(link_secret_env="UNSET_FOR_THIS_TEST", link_secret=None)
    seed(Runtime(store, clock=lambda: now))
    (card,) = post(client, keys, body_for()).get_json()["cards"]
    assert "links" not in card
    assert client.get("/cds/progress.html?code=x").status_code == 404


# -- the link: a SMART launch when the clinic has a SMART EHR --------------------------------------
SMART_PUBLIC = "https://progress.example.org/app"


def smart_section(**ehr_overrides) -> dict:
    ehr = {"id": "ehr-1", "clinic": "clinic-a", "iss": ["https://ehr.example/fhir/R4"], "client_id": "progress-app"}
    ehr.update(ehr_overrides)
    return {"public_url": SMART_PUBLIC + "/", "token_key_env": "SMART_KEY", "ehrs": [ehr]}


@pytest.fixture
def make_smart_service(sqlite_url, keys, now):
    from cryptography.fernet import Fernet
    stores = []

    def make(**ehr_overrides):
        config = settings.load({"store": {"url": sqlite_url}, "cds": cds_section(keys),
                                "smart": smart_section(**ehr_overrides)},
                               env={"SMART_KEY": Fernet.generate_key().decode()})
        store = Store.open(config.store_url)
        stores.append(store)
        seed(Runtime(store, clock=lambda: now))
        return create_app(store, config=config, clock=lambda: now, blueprints=[cds.blueprint]).test_client(), store
    yield make
    for s in stores:
        s.close()


def test_with_a_smart_ehr_for_the_clinic_the_link_is_a_smart_launch_with_app_context(make_smart_service, keys):
    client, store = make_smart_service()
    (card,) = post(client, keys, body_for()).get_json()["cards"]
    (link,) = card["links"]
    assert set(link) == {"label", "url", "type", "appContext"}
    assert link["type"] == "smart" and link["label"] == "Open the progress view"
    assert link["url"] == SMART_PUBLIC + "/smart/launch"             # the EHR adds iss and launch
    assert json.loads(link["appContext"]) == {"page": "panel", "client": "c1"}
    with store.engine.connect() as conn:                              # no one-time code was made for it
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.link_codes)).scalar() == 0


def test_a_smart_ehr_without_cds_link_or_of_another_clinic_keeps_the_absolute_link(make_smart_service, keys):
    for overrides in ({"cds_link": False}, {"clinic": "clinic-b"}):
        client, _ = make_smart_service(**overrides)
        (card,) = post(client, keys, body_for()).get_json()["cards"]
        (link,) = card["links"]
        assert link["type"] == "absolute" and "appContext" not in link
        assert link["url"].startswith(PUBLIC + "/cds/progress.html?code=")


def test_the_smart_links_label_is_in_the_clinics_language(make_smart_service, keys, now):
    client, store = make_smart_service()
    store.ensure_clinic("clinic-a", now, language="hi")
    (card,) = post(client, keys, body_for()).get_json()["cards"]
    assert card["links"][0]["label"] == "प्रगति का पेज खोलें" and card["links"][0]["type"] == "smart"


# -- the link -------------------------------------------------------------------------------------
def card_link(client, keys, body=None):
    (card,) = post(client, keys, body or body_for()).get_json()["cards"]
    url = urlsplit(card["links"][0]["url"])
    return f"{url.path}?{url.query}", url.query.removeprefix("code=")


def test_the_link_opens_the_shared_view_once_through_a_session_cookie(service, keys):
    client, store, config = service
    link, code = card_link(client, keys)
    assert len(code) >= 43                                      # 32 random bytes
    first = client.get(link)
    assert first.status_code == 303 and first.headers["Location"] == PUBLIC + "/cds/progress.html"
    assert first.headers["Cache-Control"] == "no-store" and first.headers["Referrer-Policy"] == "no-referrer"
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{cds_link.COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/cds/progress.html" in cookie and f"Max-Age={config.cds.session_ttl_seconds}" in cookie
    assert ("Secure" in cookie) == PUBLIC.startswith("https://")
    r = client.get("/cds/progress.html")                        # the clean URL, with the cookie
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "Shared view" in page and STORE_WORDS[0] in page
    assert PRIVATE not in page and THERAPIST_ONLY_LABEL not in page
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    (row,) = [a for a in store.audit_rows("clinic-a") if a["action"] == "cds.panel"]
    assert row["actor"] == "cds:Practitioner/pr-1" and row["subject"] == "client:c1"
    assert [a["outcome"] for a in store.audit_rows("clinic-a") if a["action"] == "cds.link"] == ["exchanged"]


def test_the_shared_view_is_kept_per_state_and_a_browser_sending_its_etag_gets_a_304(service, keys, monkeypatch,
                                                                                     now):
    from progress_plugin.service.panel_cache import PanelCache
    from progress_plugin.view import panel
    client, store, config = service
    monkeypatch.setattr(cds_link, "panels", PanelCache())
    drawn, draw = [], panel.render_html
    monkeypatch.setattr(panel, "render_html", lambda *a, **k: drawn.append(1) or draw(*a, **k))
    client.get(card_link(client, keys)[0])
    first = client.get("/cds/progress.html")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and len(drawn) == 1
    kept = client.get("/cds/progress.html")
    assert kept.get_data() == first.get_data() and kept.headers["ETag"] == etag and len(drawn) == 1
    again = client.get("/cds/progress.html", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["Cache-Control"] == "no-store"
    assert len(drawn) == 1
    assert len([a for a in store.audit_rows("clinic-a") if a["action"] == "cds.panel"]) == 3   # each time shown
    at = (START + timedelta(days=7 * 6)).isoformat()                      # a sixth session: the panel changes
    Runtime(store, clock=lambda: now).dispatch(schemas.load(schemas.note_schema, {
        "clinic_id": "clinic-a", "client_id": "c1", "note_id": "c1-n6", "session_at": at,
        "author": "t1", "at": at, "signed": True,
        "tags": [{"code": "repair", "goals": [], "ratings": []}]}))
    changed = client.get("/cds/progress.html", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and len(drawn) == 2


def test_the_store_keeps_only_digests_of_codes_and_sessions(service, keys):
    client, store, config = service
    link, code = card_link(client, keys)
    session = client.get(link).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    with store.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(sa.select(tables.link_codes))]
    assert sorted(r["kind"] for r in rows) == ["code", "session"]
    assert code not in str(rows) and session not in str(rows)
    assert {r["key"] for r in rows} == {cds_link._digest(config.cds, v) for v in (code, session)}


def test_a_reused_code_is_410_in_another_browser_and_goes_back_to_the_view_in_the_same_one(make_service, keys, now):
    client, store, config = make_service()
    seed(Runtime(store, clock=lambda: now))
    link, _ = card_link(client, keys)
    assert client.get(link).status_code == 303
    assert client.get(link).status_code == 303                   # the same browser: its own session
    other = client.application.test_client()                     # a second browser, no cookie
    r = other.get(link)
    assert r.status_code == 410 and r.mimetype == "text/html"
    assert "already been used" in r.get_data(as_text=True) and "Set-Cookie" not in r.headers
    assert other.get("/cds/progress.html").status_code == 401
    outcomes = [a["outcome"] for a in store.audit_rows("clinic-a") if a["action"] == "cds.link"]
    assert outcomes == ["exchanged", "reused", "reused"]


def test_an_expired_or_unknown_code_and_an_expired_session_get_a_clear_page(make_service, keys, now):
    clock = [now]
    client, store, config = make_service()
    client.application.extensions["progress_plugin"].clock = lambda: clock[0]
    seed(Runtime(store, clock=lambda: now))
    link, code = card_link(client, keys)
    late, _ = card_link(client, keys)
    assert client.get(link).status_code == 303
    clock[0] = now + timedelta(seconds=config.cds.session_ttl_seconds + 1)
    r = client.get("/cds/progress.html")                          # the session has ended
    assert r.status_code == 401 and "Open the progress view" in r.get_data(as_text=True)
    clock[0] = now + timedelta(seconds=config.cds.link_ttl_seconds + 1)
    r = client.get(late)
    assert r.status_code == 410 and "expired" in r.get_data(as_text=True) and "Set-Cookie" not in r.headers
    for bad in (code[:-2] + "xx", "", "x" * 500):
        r = client.get("/cds/progress.html", query_string={"code": bad})
        assert r.status_code == 404 and "does not work" in r.get_data(as_text=True)
    assert [a["outcome"] for a in store.audit_rows("clinic-a") if a["action"] == "cds.link"] == ["exchanged", "expired"]


def test_a_links_pages_are_in_the_asked_language_else_the_clinics_once_the_link_names_it(service, keys, now):
    client, store, _ = service
    store.ensure_clinic("clinic-a", now, language="hi")
    r = client.get("/cds/progress.html", query_string={"code": "nope"})        # no clinic known: English
    assert r.status_code == 404 and '<html lang="en" dir="ltr">' in r.get_data(as_text=True)
    r = client.get("/cds/progress.html", query_string={"code": "nope"}, headers={"Accept-Language": "hi-IN"})
    page = r.get_data(as_text=True)
    assert r.status_code == 404 and r.headers["Content-Language"] == "hi" and '<html lang="hi" dir="ltr">' in page
    assert "<h1>यह लिंक काम नहीं कर रहा</h1>" in page
    assert "हो सकता है यह ठीक से कॉपी नहीं हुआ हो। चार्ट के कार्ड से प्रगति का पेज फिर से खोलें।" in page
    link, _ = card_link(client, keys)
    assert client.get(link).status_code == 303
    client.delete_cookie(cds_link.COOKIE, path="/cds/progress.html")
    r = client.get(link)                                                        # the clinic's link: its language
    assert r.status_code == 410 and "<h1>यह लिंक पहले ही इस्तेमाल हो चुका है</h1>" in r.get_data(as_text=True)
    r = client.get(link + "&lang=en")
    assert r.status_code == 410 and "<h1>This link has already been used</h1>" in r.get_data(as_text=True)


def test_a_forged_cookie_or_a_code_used_as_a_cookie_opens_nothing(service, keys):
    client, _, _ = service
    _, code = card_link(client, keys)
    for value in (code, "x" * 43, ""):
        client.set_cookie(cds_link.COOKIE, value, path="/cds/progress.html")
        assert client.get("/cds/progress.html").status_code == 401
    assert client.get(f"/cds/progress.html?code={code}").status_code == 303    # the code itself still works once


# -- missing prefetch -----------------------------------------------------------------------------
def test_missing_prefetch_without_fhir_authorization_is_412(service, keys):
    client, _, _ = service
    body = body_for()
    body["prefetch"] = {}
    r = post(client, keys, body)
    assert r.status_code == 412
    assert r.get_json()["missing"] == ["patient", "goals"]
    body = body_for()
    del body["prefetch"]["goals"]
    body["fhirServer"] = "https://ehr.example.org/fhir"           # a server but no authorization
    r = post(client, keys, body)
    assert r.status_code == 412 and r.get_json()["missing"] == ["goals"]


def test_missing_prefetch_is_read_from_medplum_with_fhir_authorization(make_service, keys, medplum, now):
    base = medplum.base_url
    patient = requests.post(f"{base}/Patient", json={"resourceType": "Patient", "name": [{"family": "Test"}]},
                            timeout=10).json()
    pid = patient["id"]
    for goal in (chart_goal(pid, "g1", CHART_WORDS), chart_goal(pid, "g2", "A goal that was completed",
                                                                status="completed")):
        assert requests.post(f"{base}/Goal", json=goal, timeout=10).status_code == 201
    client, store, _ = make_service()
    seed(Runtime(store, clock=lambda: now), client=pid)
    medplum.reset()
    body = body_for(client=pid, fhirServer=base,
                    fhirAuthorization={"access_token": "ehr-token", "token_type": "Bearer", "expires_in": 300,
                                       "scope": "user/Patient.read user/Goal.read", "subject": "ehr-client-1"})
    body["prefetch"] = {}
    r = post(client, keys, body)
    assert r.status_code == 200, r.get_json()
    (card,) = r.get_json()["cards"]
    assert f"1. **\u2068{CHART_WORDS}\u2069**: 3 at the start, 7 now" in card["detail"]
    assert "2. **Goal 2**" in card["detail"]                     # the completed goal is not active
    assert medplum.count("GET Patient/:id", 200) == 1 and medplum.count("GET Goal", 200) == 1


class RecordingFHIR:
    """A small FHIR server on 127.0.0.1 that records each request and answers with ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/fhir"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def app(self, environ, start_response):
        request = Request(environ)
        self.requests.append({"path": request.path, "args": request.args.to_dict(),
                              "authorization": request.headers.get("Authorization")})
        if self.status != 200:
            body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "security"}]}
            response = Response(json.dumps(body), status=self.status, mimetype="application/fhir+json")
        elif request.path.startswith("/fhir/Patient/"):
            response = Response(json.dumps({"resourceType": "Patient", "id": request.path.rsplit("/", 1)[1]}),
                                mimetype="application/fhir+json")
        else:
            bundle = {"resourceType": "Bundle", "type": "searchset",
                      "entry": [{"resource": chart_goal("c1", "g2", "Speak up at work")}]}
            response = Response(json.dumps(bundle), mimetype="application/fhir+json")
        return response(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fhir():
    server = RecordingFHIR()
    yield server
    server.stop()


AUTH = {"access_token": "ehr-token-123", "token_type": "Bearer", "expires_in": 300,
        "scope": "user/Goal.read", "subject": "ehr-client-1"}


def test_only_the_missing_key_is_read_with_the_ehrs_token(service, keys, fhir):
    client, _, _ = service
    body = body_for(fhirServer=fhir.url, fhirAuthorization=AUTH)
    del body["prefetch"]["goals"]
    r = post(client, keys, body)
    assert r.status_code == 200
    assert "2. **\u2068Speak up at work\u2069**" in r.get_json()["cards"][0]["detail"]
    assert fhir.requests == [{"path": "/fhir/Goal", "args": {"patient": "Patient/c1", "lifecycle-status": "active"},
                              "authorization": "Bearer ehr-token-123"}]


def test_a_fhir_server_that_refuses_the_token_gives_412(service, keys, fhir):
    client, _, _ = service
    fhir.status = 401
    body = body_for(fhirServer=fhir.url, fhirAuthorization=AUTH)
    body["prefetch"] = {}
    r = post(client, keys, body)
    assert r.status_code == 412 and "401" in r.get_json()["message"]


def test_a_fhir_server_the_issuer_may_not_name_is_never_called(make_service, keys, fhir, now):
    client, store, _ = make_service(issuers=[{"iss": ISS, "jku": [keys.url + "/jwks.json"], "clinic": "clinic-a",
                                              "fhir_servers": ["https://ehr.example.org/fhir"]}])
    seed(Runtime(store, clock=lambda: now))
    body = body_for(fhirServer=fhir.url, fhirAuthorization=AUTH)
    body["prefetch"] = {}
    r = post(client, keys, body)
    assert r.status_code == 412 and "not one this issuer may name" in r.get_json()["message"]
    assert fhir.requests == []


# -- input checks, in order -----------------------------------------------------------------------
def test_content_type_is_checked_before_the_token(service):
    client, _, _ = service
    r = client.post(PATH, data=json.dumps(body_for()), content_type="text/plain")
    assert r.status_code == 415


def test_the_token_is_checked_before_the_body(service):
    client, _, _ = service
    r = client.post(PATH, data="{not json", content_type="application/json", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401


def test_an_oversized_body_is_413(service, keys):
    client, _, _ = service
    body = body_for()
    body["prefetch"]["goals"]["entry"] = [{"resource": chart_goal("c1", "g1", "x" * 1000)}] * 300
    assert post(client, keys, body).status_code == 413


def test_a_body_that_is_not_json_is_400(service, keys):
    client, _, _ = service
    for data in ("{not json", "[1, 2]"):
        r = client.post(PATH, data=data, content_type="application/json",
                        headers={"Authorization": f"Bearer {make_token(keys)}"})
        assert r.status_code == 400


@pytest.mark.parametrize("change,path", [
    (lambda b: b.update(hook="order-select"), ["hook"]),
    (lambda b: b.pop("hookInstance"), ["hookInstance"]),
    (lambda b: b["context"].pop("patientId"), ["context", "patientId"]),
    (lambda b: b["context"].update(patientId="../etc/passwd"), ["context", "patientId"]),
    (lambda b: b["context"].update(userId="Device/1"), ["context", "userId"]),
    (lambda b: b.update(fhirAuthorization=AUTH), ["fhirServer"]),
    (lambda b: b.update(fhirServer="https://ehr.example.org/fhir",
                        fhirAuthorization={**AUTH, "token_type": "MAC"}), ["fhirAuthorization", "token_type"]),
    (lambda b: b["prefetch"].update(patient={"resourceType": "Patient", "id": "c2"}), ["prefetch", "patient"]),
    (lambda b: b["prefetch"].update(goals=[]), ["prefetch", "goals"]),
    (lambda b: b.update(context="c1"), ["context"]),
])
def test_a_bad_request_is_422_with_the_field(service, keys, change, path):
    client, _, _ = service
    body = body_for()
    change(body)
    r = post(client, keys, body)
    assert r.status_code == 422, r.get_json()
    messages = r.get_json()["json"]
    for key in path:
        messages = messages[key]
    assert messages


def test_a_client_without_an_intake_is_not_read_from_the_ehr(service, keys, fhir):
    client, _, _ = service
    body = body_for(client="c9", fhirServer=fhir.url, fhirAuthorization=AUTH)
    body["prefetch"] = {}
    r = post(client, keys, body)
    assert r.status_code == 200 and r.get_json() == {"cards": []}
    assert fhir.requests == []


# -- hostile input: each of these answered 5xx before the shared JSON reader ------------------------
def test_json_nested_ten_thousand_deep_is_400_not_500(service, keys):
    client, _, _ = service
    r = client.post(PATH, data="[" * 10_000 + "]" * 10_000, content_type="application/json",
                    headers={"Authorization": f"Bearer {make_token(keys)}"})
    assert r.status_code == 400 and r.get_json()["message"] == "JSON nested more than 64 levels deep."


@pytest.mark.parametrize("value,message", [("hook-\ud800", "lone surrogate"), ("hook-\x00", "NUL character")])
def test_a_lone_surrogate_or_nul_is_422_naming_the_field(service, keys, value, message):
    client, store, _ = service
    r = post(client, keys, body_for(hookInstance=value))
    assert r.status_code == 422 and message in r.get_json()["json"]["hookInstance"][0]


@pytest.mark.parametrize("goal", [
    {"resourceType": "Goal", "description": {"text": "Sleep"}, "identifier": ["c1/g1"]},
    {"resourceType": "Goal", "description": ["Sleep"], "identifier": [{"value": "x"}]},
    {"resourceType": "Goal", "description": {"text": "Sleep"}, "identifier": "clinic-a/c1/g1"},
])
def test_prefetched_goals_of_the_wrong_shape_are_ignored_not_a_500(service, keys, goal):
    client, _, _ = service
    r = post(client, keys, body_for(goals=[goal]))
    assert r.status_code == 200 and "Goal 1" in r.get_json()["cards"][0]["detail"]


def test_the_card_counts_the_goal_that_replaced_another_and_not_the_one_it_replaced():
    from progress_plugin.core.intake import Goal, Intake
    from progress_plugin.core.progress import compute
    from progress_plugin.core.vocabulary import default
    at = datetime(2026, 1, 5, tzinfo=timezone.utc)
    goals = (Goal("g1", "Sleep", "client", 3, 1), Goal("g2", "Go back", "client", 4, 2, "replaced", replaced_by="g2b"),
             Goal("g2b", "Decide", "client", 5, 2, replaces="g2", since=at))
    intake = Intake("i1", goals, "monthly", True, at.date(), True)
    progress = compute("c1", intake, [], {1: default()}, at)
    got = cds.card(progress, intake, {"g1": "Sleep", "g2": "Go back", "g2b": "Decide"}, None)
    assert "2 goals" in got["summary"] and "Decide" in got["detail"] and "Go back" not in got["detail"]

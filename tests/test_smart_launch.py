"""SMART App Launch, the app's side, against the EHR stand-in in front of Medplum (tests/smart_ehr.py):
the EHR and standalone launches, the three client authentications, PKCE, the cookie, the refresh,
the session shared through the store, and no secret in any URL, cookie or log line."""
from __future__ import annotations

import base64
import hashlib
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from flask import g

from progress_plugin.fhir import smart_discovery
from progress_plugin.service import settings
from progress_plugin.store import Store
from progress_plugin.store import smart as rows
from progress_plugin.web.app import create_app
from progress_plugin.web.smart import launch as smart_launch
from progress_plugin.web.smart.context import current

from tests.conftest import SECRET
from tests.smart_ehr import NOTE_TEXT
from tests.smart_setup import EHR_ID, REDIRECT, register_app, smart_section

KEY = Fernet.generate_key().decode()
CLINIC = {"id": "clinic-a", "scheme": "standard-webhooks", "secrets": [SECRET]}


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def build(sqlite_url, ehr, clock, env=None, store=None, **overrides):
    config = settings.load({"store": {"url": sqlite_url}, "clinics": [CLINIC],
                            "smart": smart_section(ehr, **overrides)},
                           env={"PROGRESS_PLUGIN_SMART_KEY": KEY, **(env or {})})
    store = store or Store.open(sqlite_url)
    app = create_app(store, config=config, clock=clock)
    app.config.update(SERVER_NAME="app.example", PREFERRED_URL_SCHEME="https")    # the test client's address

    def probe(page=None):                          # stands in for the app's pages (tests/test_smart_pages.py has them)
        launch = current()
        with launch.client() as fhir:
            fhir.read("Patient", launch.patient)
        return {"patient": launch.patient, "encounter": launch.encounter, "user": launch.fhir_user,
                "note": launch.note, "scopes": sorted(launch.scopes), "page": page}
    for endpoint in ("home", "intake", "tags", "panel"):
        app.view_functions[f"smart_app.{endpoint}"] = probe
    return app, store


@pytest.fixture
def chart(smart_ehr):
    """In Medplum: a patient with an encounter and a note, and another patient with a note of their own."""
    patient, other = smart_ehr.seed_patient(), smart_ehr.seed_patient(given="Other")
    return {"patient": patient, "encounter": smart_ehr.seed_encounter(patient), "note": smart_ehr.seed_note(patient),
            "other": other, "other_note": smart_ehr.seed_note(other)}


@pytest.fixture
def world(sqlite_url, smart_ehr, chart, now):
    smart_discovery.clear_cache()
    register_app(smart_ehr)
    clock = Clock(now)
    app, store = build(sqlite_url, smart_ehr, clock)
    yield app, store, smart_ehr, clock, chart
    store.close()


def launch_id(ehr, chart, **launch) -> str:
    """A launch at the stand-in: the chart's patient, encounter and note unless ``launch`` says otherwise."""
    context = {"patient": chart["patient"], "encounter": chart["encounter"], "document_reference": chart["note"]}
    context.update(launch)
    return ehr.launch(**context)


def go_authorize(location: str) -> requests.Response:
    """The browser at the EHR's authorize endpoint (it approves at once): its redirect back."""
    return requests.get(location, allow_redirects=False, timeout=10)


def callback_path(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["Location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    return f"{parts.path}?{parts.query}"


def launched(http, ehr, chart, **launch):
    """An EHR launch through to the callback's answer."""
    started = http.get(f"/smart/launch?iss={ehr.fhir_base}&launch={launch_id(ehr, chart, **launch)}")
    assert started.status_code == 302, started.data
    return http.get(callback_path(go_authorize(started.headers["Location"])))


def sessions(store) -> int:
    return rows.count_sessions(store)


# -- the happy launches -----------------------------------------------------------------------
def test_ehr_launch_opens_the_app_with_the_launch_context_and_an_opaque_cookie(world, caplog):
    app, store, ehr, _, chart = world
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="progress_plugin")
    http = app.test_client()
    started = http.get(f"/smart/launch?iss={ehr.fhir_base}&launch={launch_id(ehr, chart)}")
    asked = parse_qs(urlsplit(started.headers["Location"]).query)
    assert asked["aud"] == [ehr.fhir_base] and asked["response_type"] == ["code"]
    assert asked["code_challenge_method"] == ["S256"] and len(asked["state"][0]) >= 43
    assert "launch" in asked["scope"][0].split() and "patient/Goal.crus" in asked["scope"][0].split()
    done = http.get(callback_path(go_authorize(started.headers["Location"])))
    assert done.status_code == 303
    assert done.headers["Location"] == "/smart/app/"
    cookie = done.headers["Set-Cookie"]
    assert cookie.startswith("pp_smart=")
    for flag in ("HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/smart/"):
        assert flag in cookie
    sent = ehr.token_posts[-1]["form"]
    challenge = asked["code_challenge"][0]
    assert base64.urlsafe_b64encode(hashlib.sha256(sent["code_verifier"].encode()).digest()).rstrip(b"=").decode() \
        == challenge
    assert sent["client_id"] == "progress-app" and ehr.token_posts[-1]["authorization"] is None
    assert ehr.token_requests[-1] == {"grant_type": "authorization_code", "client_auth": "none",
                                      "client_id": "progress-app", "status": 200, "code_verifier": True, "error": None}
    # the callback read the note with the launch's token, through the EHR's patient compartment
    read = [r for r in ehr.requests_for(chart["patient"]) if r["path"] == f"DocumentReference/{chart['note']}"]
    assert [(r["method"], r["status"]) for r in read] == [("GET", 200)]
    page = http.get("/smart/app/")
    assert page.status_code == 200, page.data
    assert page.json == {"patient": chart["patient"], "encounter": chart["encounter"], "user": ehr.user,
                         "note": f"DocumentReference/{chart['note']}", "scopes": sorted(page.json["scopes"]),
                         "page": None}
    assert "patient/Goal.crus" in page.json["scopes"]
    assert ehr.fhir_log[-1]["path"] == f"Patient/{chart['patient']}" and ehr.fhir_log[-1]["status"] == 200
    assert sessions(store) == 1
    # nothing secret anywhere: the URL after the callback, the cookie, the logs, the audit rows
    cookie_value = cookie.split(";")[0].split("=", 1)[1]
    issued = ehr.issued_tokens()
    assert len(issued) >= 4                     # the code, the access, refresh and id tokens
    planted = issued + [asked["state"][0], asked["launch"][0], sent["code_verifier"]]
    shown = done.headers["Location"] + cookie_value + caplog.text + repr(store.audit_rows())
    for secret in planted:
        assert secret not in shown
    with store.engine.connect() as c:
        stored = repr(list(c.exec_driver_sql("SELECT * FROM smart_sessions"))) + \
            repr(list(c.exec_driver_sql("SELECT * FROM smart_requests")))
    for secret in planted:
        assert secret not in stored
    assert cookie_value not in stored
    note_words = base64.b64encode(NOTE_TEXT.encode()).decode()
    assert NOTE_TEXT not in caplog.text + stored and note_words not in caplog.text + stored
    audit = [r for r in store.audit_rows() if r["action"] == "smart.launch"]
    assert audit[-1]["outcome"] == "ok" and audit[-1]["subject"] == f"patient:{chart['patient']}"
    assert audit[-1]["actor"] == ehr.user


def test_a_launch_not_embedded_gets_a_lax_cookie(sqlite_url, smart_ehr, chart, now):
    smart_discovery.clear_cache()
    register_app(smart_ehr)
    app, store = build(sqlite_url, smart_ehr, Clock(now), embedded=False)
    cookie = launched(app.test_client(), smart_ehr, chart).headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "Secure" in cookie and "Partitioned" not in cookie   # public_url is https
    store.close()


def test_standalone_launch_asks_for_a_patient_and_opens_the_page_asked(world):
    app, store, ehr, *_ = world
    http = app.test_client()
    started = http.get(f"/smart/login?ehr={EHR_ID}&page=panel")
    assert started.status_code == 302
    scope = parse_qs(urlsplit(started.headers["Location"]).query)["scope"][0].split()
    assert "launch/patient" in scope and "launch" not in scope
    assert "launch" not in parse_qs(urlsplit(started.headers["Location"]).query)
    done = http.get(callback_path(go_authorize(started.headers["Location"])))
    assert done.status_code == 303 and done.headers["Location"] == "/smart/app/panel"
    page = http.get("/smart/app/panel").json
    assert page["patient"] == ehr.default_patient and page["note"] is None and page["user"] == ehr.user


@pytest.mark.parametrize("alg,curve", [("ES384", "P-384"), ("RS384", None)])
def test_private_key_jwt_signs_an_assertion_the_ehr_verifies(sqlite_url, smart_ehr, chart, now, tmp_path, alg, curve):
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import ECKey, RSAKey
    smart_discovery.clear_cache()
    kid = {"kid": "progress-1"}
    key = ECKey.generate_key(curve, parameters=kid) if curve else RSAKey.generate_key(2048, parameters=kid)
    pem = tmp_path / "app.pem"
    pem.write_bytes(key.as_pem(private=True))
    register_app(smart_ehr, "private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    app, store = build(sqlite_url, smart_ehr, Clock(now), client_auth="private_key_jwt", private_key_file=str(pem),
                       key_id="progress-1", signing_alg=alg)
    http = app.test_client()
    assert launched(http, smart_ehr, chart).status_code == 303
    assert smart_ehr.token_requests[-1]["client_auth"] == "private_key_jwt"
    assert smart_ehr.token_requests[-1]["status"] == 200
    sent = smart_ehr.token_posts[-1]["form"]
    assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    token = jose_jwt.decode(sent["client_assertion"], key, algorithms=[alg])
    assert token.header["alg"] == alg and token.header["kid"] == "progress-1"
    assert token.claims["iss"] == token.claims["sub"] == "progress-app"
    assert token.claims["aud"] == smart_ehr.token_endpoint
    assert 0 < token.claims["exp"] - token.claims["iat"] <= 300 and token.claims["jti"]
    assert "code_verifier" in sent and smart_ehr.token_posts[-1]["authorization"] is None
    assert sessions(store) == 1
    store.close()


def test_client_secret_basic_sends_the_secret_in_the_authorization_header(sqlite_url, smart_ehr, chart, now):
    smart_discovery.clear_cache()
    register_app(smart_ehr, "client_secret_basic", secret="s3cret-value-for-tests")
    app, store = build(sqlite_url, smart_ehr, Clock(now), env={"EHR_SECRET": "s3cret-value-for-tests"},
                       client_auth="client_secret_basic", client_secret_env="EHR_SECRET")
    assert launched(app.test_client(), smart_ehr, chart).status_code == 303
    assert smart_ehr.token_requests[-1]["client_auth"] == "client_secret_basic"
    received = smart_ehr.token_posts[-1]
    assert received["authorization"] == "Basic " + base64.b64encode(b"progress-app:s3cret-value-for-tests").decode()
    assert "code_verifier" in received["form"] and "client_secret" not in received["form"]
    store.close()


def test_an_ended_access_token_is_refreshed_before_the_page(world):
    app, store, ehr, clock, chart = world
    http = app.test_client()
    launched(http, ehr, chart)
    first = len(ehr.token_requests)
    clock.now += timedelta(seconds=ehr.access_seconds + 1)
    ehr.expire_tokens()                                         # the EHR refuses the old access token too
    page = http.get("/smart/app/")
    assert page.status_code == 200
    assert ehr.token_requests[first]["grant_type"] == "refresh_token" and ehr.token_requests[first]["status"] == 200
    assert ehr.fhir_log[-1]["path"] == f"Patient/{chart['patient']}" and ehr.fhir_log[-1]["status"] == 200
    clock.now += timedelta(seconds=60)
    assert http.get("/smart/app/").status_code == 200
    assert len(ehr.token_requests) == first + 1                 # the new token is used, not refreshed again


def test_the_session_lives_in_the_store_so_another_process_sees_it(world, sqlite_url):
    app, store, ehr, clock, chart = world
    http = app.test_client()
    cookie = launched(http, ehr, chart).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    other_store = Store.open(sqlite_url)
    other, _ = build(sqlite_url, ehr, clock, store=other_store)
    second = other.test_client()
    second.set_cookie("pp_smart", cookie, domain="app.example", path="/smart/")
    page = second.get("/smart/app/")
    assert page.status_code == 200 and page.json["patient"] == chart["patient"]
    with other_store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    other_store.close()


def test_logout_ends_the_session_with_its_form_token(world):
    from progress_plugin.web.smart.session import _FORM_LABEL
    import hmac
    app, store, ehr, _, chart = world
    http = app.test_client()
    cookie = launched(http, ehr, chart).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert http.post("/smart/logout").status_code == 400
    assert sessions(store) == 1
    token = hmac.new(cookie.encode(), _FORM_LABEL, hashlib.sha256).hexdigest()
    out = http.post("/smart/logout", data={"form_token": token})
    assert out.status_code == 200 and sessions(store) == 0
    assert "pp_smart=;" in out.headers["Set-Cookie"]
    assert http.get("/smart/app/").status_code == 401


def test_the_pages_frame_ancestors_are_the_ehrs(world):
    app, *_ = world
    http = app.test_client()
    page = http.get("/smart/login?ehr=nope")
    assert "frame-ancestors https://ehr.example" in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_a_blueprint_list_without_smart_is_untouched(sqlite_url, now):
    app = create_app(Store.open(sqlite_url), config=settings.load({"store": {"url": sqlite_url}}, env={}))
    assert app.test_client().get("/smart/launch?iss=x&launch=y").status_code == 404
    assert smart_launch.blueprint.name == "smart_launch"
    with app.test_request_context("/"):
        assert g.get("smart_launch") is None

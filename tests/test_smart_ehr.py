"""The SMART EHR stand-in (tests/smart_ehr.py), driven with Authlib's own OAuth 2 client: what it
accepts (public, client_secret_basic, private_key_jwt ES384/RS384 clients; EHR and standalone
launches; refresh) and what it refuses (redirect URI, PKCE, verifier, replayed code, launch, aud,
scopes, compartment, expired or revoked tokens)."""
from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests import smart_scopes
from tests.smart_ehr import NOTE_TEXT

REDIRECT = "https://app.example/smart/callback"
SCOPES = ("launch openid fhirUser offline_access patient/Patient.rs patient/Goal.cruds patient/Observation.cruds "
          "patient/QuestionnaireResponse.cruds patient/DocumentReference.rs patient/Encounter.rs")


# -- a client, as an app would drive it ------------------------------------------------------------
class App:
    def __init__(self, ehr, client_id="app", auth="none", scopes=SCOPES, allowed=SCOPES, secret=None, key=None,
                 alg="ES384", **register):
        self.ehr = ehr
        jwks = {"keys": [key.as_dict(private=False)]} if key is not None else None
        ehr.register_client(client_id, auth=auth, redirect_uris=[REDIRECT], scopes=allowed, secret=secret,
                            jwks=jwks, **register)
        self.session = OAuth2Session(client_id, key if key is not None else secret, scope=scopes,
                                     redirect_uri=REDIRECT, code_challenge_method="S256",
                                     token_endpoint_auth_method=auth)
        if auth == "private_key_jwt":
            self.session.register_client_auth_method(PrivateKeyJWT(ehr.token_endpoint, alg=alg,
                                                                   headers={"kid": key.kid}))
        self.verifier = generate_token(48)

    def authorize(self, **params) -> dict:
        """The authorize request's answer: the redirect's query (or the error body when it did not redirect)."""
        params.setdefault("aud", self.ehr.fhir_base)
        url, self.state = self.session.create_authorization_url(self.ehr.authorize_endpoint,
                                                                code_verifier=self.verifier, **params)
        r = requests.get(url, allow_redirects=False, timeout=10)
        if r.status_code != 302:
            return {"status": r.status_code, **r.json()}
        location = r.headers["Location"]
        assert location.startswith(REDIRECT + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def token(self, code: str, verifier: str | None = None) -> dict:
        return self.session.fetch_token(self.ehr.token_endpoint, code=code,
                                        code_verifier=verifier if verifier is not None else self.verifier)

    def launch(self, **launch) -> dict:
        answer = self.authorize(launch=self.ehr.launch(**launch))
        assert "code" in answer, answer
        return self.token(answer["code"])


def fhir(ehr, token: str | None, method: str, path: str, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{ehr.fhir_base}/{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def chart(smart_ehr):
    """A patient with an encounter and a progress note, another patient with their own, in Medplum."""
    p = smart_ehr.seed_patient()
    other = smart_ehr.seed_patient(given="Other")
    return {"patient": p, "encounter": smart_ehr.seed_encounter(p), "note": smart_ehr.seed_note(p),
            "other": other, "other_note": smart_ehr.seed_note(other, protected=True)}


# -- discovery ----------------------------------------------------------------------------------
def test_discovery_names_the_endpoints_and_s256_and_can_be_switched_off_for_the_metadata(smart_ehr):
    config = requests.get(smart_ehr.fhir_base + "/.well-known/smart-configuration", timeout=10).json()
    assert config["authorization_endpoint"] == smart_ehr.authorize_endpoint
    assert config["token_endpoint"] == smart_ehr.token_endpoint
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"ES384", "RS384"}
    assert {"launch-ehr", "client-confidential-asymmetric", "permission-v2"} <= set(config["capabilities"])
    assert requests.get(config["jwks_uri"], timeout=10).json()["keys"][0]["kty"] == "RSA"
    smart_ehr.discovery(False)
    assert requests.get(smart_ehr.fhir_base + "/.well-known/smart-configuration", timeout=10).status_code == 404
    meta = requests.get(smart_ehr.fhir_base + "/metadata", timeout=10).json()
    (uris,) = meta["rest"][0]["security"]["extension"]
    assert {e["url"]: e["valueUri"] for e in uris["extension"]} == {
        "authorize": smart_ehr.authorize_endpoint, "token": smart_ehr.token_endpoint}


# -- accepted --------------------------------------------------------------------------------------
def test_an_ehr_launch_of_a_public_client_gives_the_context_an_id_token_and_a_refresh(smart_ehr, chart):
    app = App(smart_ehr)
    launch = smart_ehr.launch(chart["patient"], encounter=chart["encounter"], document_reference=chart["note"],
                              app_context='{"page":"panel"}')
    answer = app.authorize(launch=launch, nonce="n-1")
    assert answer["state"] == app.state
    token = app.token(answer["code"])
    assert token["patient"] == chart["patient"] and token["encounter"] == chart["encounter"]
    assert token["fhirContext"] == [{"reference": f"DocumentReference/{chart['note']}"}]
    assert token["need_patient_banner"] is False and token["appContext"] == '{"page":"panel"}'
    assert token["scope"].split() == SCOPES.split() and token["expires_in"] == 3600 and token["refresh_token"]
    keys = KeySet.import_key_set(requests.get(smart_ehr.jwks_uri, timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["aud"] == "app" and claims["iss"] == smart_ehr.base and claims["nonce"] == "n-1"
    assert claims["fhirUser"] == f"{smart_ehr.fhir_base}/{smart_ehr.user}"
    assert fhir(smart_ehr, token["access_token"], "GET", f"Patient/{chart['patient']}").status_code == 200
    assert smart_ehr.token_requests[-1] == {"grant_type": "authorization_code", "client_auth": "none",
                                            "client_id": "app", "status": 200, "code_verifier": True, "error": None}
    assert smart_ehr.authorize_requests[-1]["code_challenge_method"] == "S256"

    refreshed = app.session.refresh_token(smart_ehr.token_endpoint, refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"] and refreshed["patient"] == chart["patient"]
    with pytest.raises(OAuthError) as old:                       # rotated: the old refresh token is spent
        app.session.refresh_token(smart_ehr.token_endpoint, refresh_token=token["refresh_token"])
    assert old.value.error == "invalid_grant"


def test_a_confidential_client_with_client_secret_basic(smart_ehr, chart):
    token = App(smart_ehr, auth="client_secret_basic", secret="s3cret-" + "x" * 20).launch(patient=chart["patient"])
    assert token["patient"] == chart["patient"]
    assert smart_ehr.token_requests[-1]["client_auth"] == "client_secret_basic"
    wrong = App(smart_ehr, client_id="app2", auth="client_secret_basic", secret="right-" + "x" * 20)
    wrong.session.client_secret = "wrong-" + "x" * 20
    with pytest.raises(OAuthError) as refused:
        wrong.launch(patient=chart["patient"])
    assert refused.value.error == "invalid_client"


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_confidential_client_with_private_key_jwt(smart_ehr, chart, alg):
    make = (lambda kid: ECKey.generate_key("P-384", parameters={"kid": kid})) if alg == "ES384" else (
        lambda kid: RSAKey.generate_key(2048, parameters={"kid": kid}))
    key = make("k1")
    token = App(smart_ehr, auth="private_key_jwt", key=key, alg=alg).launch(patient=chart["patient"])
    assert token["patient"] == chart["patient"]
    assert smart_ehr.token_requests[-1]["client_auth"] == "private_key_jwt"
    impostor = App(smart_ehr, client_id="app2", auth="private_key_jwt", key=make("k1"), alg=alg)
    impostor.ehr.clients["app2"].jwks = {"keys": [key.as_dict(private=False)]}       # registered: another key
    with pytest.raises(OAuthError) as refused:
        impostor.launch(patient=chart["patient"])
    assert refused.value.error == "invalid_client"


def test_a_standalone_launch_with_launch_patient_gets_the_default_patient_and_no_refresh_unless_asked(smart_ehr):
    scopes = "openid fhirUser launch/patient patient/Patient.rs"
    app = App(smart_ehr, scopes=scopes, allowed=scopes)
    token = app.token(app.authorize()["code"])
    assert token["patient"] == smart_ehr.default_patient and token["need_patient_banner"] is True
    assert "refresh_token" not in token and "id_token" in token


def test_scopes_granted_are_those_asked_and_allowed_with_the_permissions_both_name(smart_ehr, chart):
    app = App(smart_ehr, scopes="launch patient/Goal.cruds patient/Condition.rs user/Patient.rs",
              allowed="launch patient/Goal.rs patient/Observation.cruds")
    assert app.launch(patient=chart["patient"])["scope"] == "launch patient/Goal.rs"
    assert smart_scopes.grant("patient/Goal.write patient/Goal.read", ["patient/Goal.*"]) == (
        "patient/Goal.write patient/Goal.read")
    assert smart_scopes.grant("patient/Goal.cud", ["patient/Goal.write"]) == ""      # v1 and v2 do not mix


# -- refused at authorize ----------------------------------------------------------------------------
def test_a_wrong_or_missing_redirect_uri_is_refused_without_redirecting(smart_ehr, chart):
    app = App(smart_ehr)
    for uri in ("https://app.example/smart/callback/", "https://evil.example/smart/callback", None):
        answer = app.authorize(launch=smart_ehr.launch(chart["patient"]), redirect_uri=uri)
        assert answer["status"] == 400 and answer["error"] == "invalid_request", answer


@pytest.mark.parametrize("pkce, error", [({}, "invalid_request"),
                                         ({"code_challenge_method": "plain"}, "invalid_request")])
def test_pkce_s256_is_required(smart_ehr, chart, pkce, error):
    app = App(smart_ehr)
    app.session.code_challenge_method = None                      # no challenge from the client
    extra = {"code_challenge": app.verifier, **pkce} if pkce else {}
    answer = app.authorize(launch=smart_ehr.launch(chart["patient"]), **extra)
    assert answer["error"] == error and "code" not in answer and answer["state"] == app.state


def test_an_unknown_or_used_launch_and_a_wrong_aud_are_refused(smart_ehr, chart):
    app = App(smart_ehr)
    assert app.authorize(launch="no-such-launch")["error"] == "invalid_request"
    launch = smart_ehr.launch(chart["patient"])
    assert "code" in app.authorize(launch=launch)
    assert app.authorize(launch=launch)["error"] == "invalid_request"            # used
    assert app.authorize(launch=smart_ehr.launch(chart["patient"]), aud="https://other.example/fhir")[
        "error"] == "invalid_request"
    assert app.authorize()["error"] == "invalid_request"                            # the launch scope, no launch


def test_a_denied_approval_is_access_denied(smart_ehr, chart):
    smart_ehr.deny = True
    assert App(smart_ehr).authorize(launch=smart_ehr.launch(chart["patient"]))["error"] == "access_denied"


# -- refused at the token endpoint ----------------------------------------------------------------
def test_a_wrong_or_missing_verifier_is_refused(smart_ehr, chart):
    app = App(smart_ehr)
    code = app.authorize(launch=smart_ehr.launch(chart["patient"]))["code"]
    with pytest.raises(OAuthError) as wrong:
        app.token(code, verifier=generate_token(48))
    assert wrong.value.error == "invalid_grant"
    code = app.authorize(launch=smart_ehr.launch(chart["patient"]))["code"]
    with pytest.raises(OAuthError) as missing:
        app.token(code, verifier="")
    assert missing.value.error == "invalid_request"
    assert smart_ehr.token_requests[-1]["code_verifier"] is False


def test_a_replayed_code_is_invalid_grant_and_revokes_what_it_gave(smart_ehr, chart):
    app = App(smart_ehr)
    code = app.authorize(launch=smart_ehr.launch(chart["patient"]))["code"]
    token = app.token(code)
    with pytest.raises(OAuthError) as replay:
        app.token(code)
    assert replay.value.error == "invalid_grant" and smart_ehr.replayed_codes == 1
    assert fhir(smart_ehr, token["access_token"], "GET", f"Patient/{chart['patient']}").status_code == 401


# -- the FHIR proxy ------------------------------------------------------------------------------------
def test_a_patient_token_reads_and_writes_only_its_patients_compartment(smart_ehr, chart):
    access = App(smart_ehr).launch(patient=chart["patient"])["access_token"]
    p, other = chart["patient"], chart["other"]
    goal = {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"},
            "subject": {"reference": f"Patient/{p}"}}
    allowed = [("GET", f"Patient/{p}", {}), ("GET", f"DocumentReference/{chart['note']}", {}),
               ("GET", "Observation", {"params": {"subject": f"Patient/{p}"}}),
               ("GET", "Goal", {"params": {"patient": p}}), ("POST", "Goal", {"json": goal})]
    for method, path, kwargs in allowed:
        assert fhir(smart_ehr, access, method, path, **kwargs).status_code in (200, 201), (method, path)
    refused = [("GET", f"Patient/{other}", {}), ("GET", f"DocumentReference/{chart['other_note']}", {}),
               ("GET", "Observation", {}), ("GET", "Goal", {"params": {"patient": other}}),
               ("GET", "Patient", {"params": {"name": "Other"}}),
               ("POST", "Goal", {"json": {**goal, "subject": {"reference": f"Patient/{other}"}}}),
               ("PATCH", f"DocumentReference/{chart['other_note']}",
                {"json": [{"op": "add", "path": "/meta/tag", "value": []}],
                 "headers": {"Content-Type": "application/json-patch+json"}}),
               ("POST", "Practitioner", {"json": {"resourceType": "Practitioner"}}),    # no scope for it
               ("GET", f"Encounter/{chart['encounter']}/$everything", {}), ("POST", "", {"json": {}})]
    for method, path, kwargs in refused:
        r = fhir(smart_ehr, access, method, path, **kwargs)
        assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome", (method, path, r.text)
    hidden = base64.b64encode(NOTE_TEXT.encode()).decode()
    assert hidden not in fhir(smart_ehr, access, "GET", f"DocumentReference/{chart['other_note']}").text
    assert fhir(smart_ehr, access, "GET", smart_ehr.user).status_code == 200        # canonical: any valid token
    log = smart_ehr.requests_for(p)
    assert len(log) == len(allowed) + len(refused) + 2 and {e["client_id"] for e in log} == {"app"}


def test_write_permissions_follow_the_v2_letters_and_the_v1_words(smart_ehr, chart):
    p = chart["patient"]
    goal = {"resourceType": "Goal", "lifecycleStatus": "active", "subject": {"reference": f"Patient/{p}"}}
    for scopes, status in (("launch patient/Goal.rs", 403), ("launch patient/Goal.c", 201),
                           ("launch patient/Goal.read", 403), ("launch patient/Goal.write", 201)):
        app = App(smart_ehr, client_id=scopes, scopes=scopes, allowed=scopes)
        assert fhir(smart_ehr, app.launch(patient=p)["access_token"], "POST", "Goal", json=goal).status_code == status


def test_patch_meta_add_and_conditional_headers_pass_through(smart_ehr, chart):
    access = App(smart_ehr, scopes=SCOPES.replace("DocumentReference.rs", "DocumentReference.rus"),
                 allowed=SCOPES.replace("DocumentReference.rs", "DocumentReference.rus")).launch(
        patient=chart["patient"])["access_token"]
    note = f"DocumentReference/{chart['note']}"
    tag = {"system": "urn:test", "code": "small-shift"}
    r = fhir(smart_ehr, access, "POST", f"{note}/$meta-add",
             json={"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]})
    assert r.status_code == 404                                          # Medplum has no $meta-add
    r = fhir(smart_ehr, access, "PATCH", note, data=json.dumps([{"op": "add", "path": "/meta/tag", "value": [tag]}]),
             headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["meta"]["tag"] == [tag]
    goal = {"resourceType": "Goal", "lifecycleStatus": "active", "subject": {"reference": f"Patient/{chart['patient']}"},
            "identifier": [{"system": "urn:test", "value": generate_token(10)}]}
    ident = f"identifier=urn:test|{goal['identifier'][0]['value']}"
    first = fhir(smart_ehr, access, "POST", "Goal", json=goal, headers={"If-None-Exist": ident})
    again = fhir(smart_ehr, access, "POST", "Goal", json=goal, headers={"If-None-Exist": ident})
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    assert first.headers["Location"].startswith(smart_ehr.fhir_base + "/Goal/")


def test_missing_expired_and_revoked_tokens_are_401_and_a_refresh_gives_a_working_one(smart_ehr, chart):
    app = App(smart_ehr)
    token = app.launch(patient=chart["patient"])
    path = f"Patient/{chart['patient']}"
    assert fhir(smart_ehr, None, "GET", path).status_code == 401
    assert fhir(smart_ehr, "not-a-token", "GET", path).status_code == 401
    smart_ehr.expire_tokens()
    r = fhir(smart_ehr, token["access_token"], "GET", path)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome" and "WWW-Authenticate" in r.headers
    fresh = app.session.refresh_token(smart_ehr.token_endpoint, refresh_token=token["refresh_token"])
    assert fhir(smart_ehr, fresh["access_token"], "GET", path).status_code == 200
    smart_ehr.revoke_all()
    assert fhir(smart_ehr, fresh["access_token"], "GET", path).status_code == 401
    with pytest.raises(OAuthError):
        app.session.refresh_token(smart_ehr.token_endpoint, refresh_token=fresh["refresh_token"])


def test_nothing_issued_reaches_a_log(smart_ehr, chart, caplog):
    caplog.set_level(logging.DEBUG)
    app = App(smart_ehr)
    launch = smart_ehr.launch(chart["patient"], document_reference=chart["note"])
    token = app.token(app.authorize(launch=launch, nonce="n")["code"])
    fhir(smart_ehr, token["access_token"], "GET", f"DocumentReference/{chart['note']}")
    app.session.refresh_token(smart_ehr.token_endpoint, refresh_token=token["refresh_token"])
    issued = smart_ehr.issued_tokens()
    assert len(issued) == 6                            # a code, 2 access, 2 refresh and an id token
    assert token["access_token"] in issued and token["id_token"] in issued
    assert not [t for t in issued if t in caplog.text] and NOTE_TEXT not in caplog.text


# -- the knobs the app's tests turn ----------------------------------------------------------------
def test_overrides_tamper_with_the_answers_and_refresh_can_be_withheld(smart_ehr, chart):
    smart_ehr.config_overrides = {"code_challenge_methods_supported": ["plain"], "jwks_uri": None}
    config = requests.get(smart_ehr.fhir_base + "/.well-known/smart-configuration", timeout=10).json()
    assert config["code_challenge_methods_supported"] == ["plain"] and "jwks_uri" not in config
    assert config["token_endpoint"] == smart_ehr.token_endpoint
    smart_ehr.token_overrides = {"patient": chart["other"], "encounter": None}
    smart_ehr.refresh = False
    app = App(smart_ehr, auth="client_secret_basic", secret="s3cret-" + "x" * 20)
    token = app.launch(patient=chart["patient"], encounter=chart["encounter"])
    assert token["patient"] == chart["other"] and "encounter" not in token       # the answer is tampered with
    assert "refresh_token" not in token and "offline_access" in token["scope"].split()
    # the token itself keeps the launch's patient: the other's record stays closed to it
    assert fhir(smart_ehr, token["access_token"], "GET", f"Patient/{chart['patient']}").status_code == 200
    assert fhir(smart_ehr, token["access_token"], "GET", f"Patient/{chart['other']}").status_code == 403
    sent = smart_ehr.token_posts[-1]
    assert sent["authorization"] == "Basic " + base64.b64encode(b"app:s3cret-" + b"x" * 20).decode()
    assert sent["form"]["grant_type"] == "authorization_code" and sent["form"]["code_verifier"] == app.verifier
    assert len(smart_ehr.token_posts) == len(smart_ehr.token_requests)

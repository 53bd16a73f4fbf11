"""The EHR's JWT on CDS Hooks calls: ES384/RS384 only, allowlisted iss and jku, exact aud,
exp/iat/jti required, a replay cache in the store. Keys come from a real JWKS server on
127.0.0.1; every refusal is a 401 and never a 5xx."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from progress_plugin.web import cds
from progress_plugin.service import settings
from progress_plugin.web.app import create_app
from progress_plugin.web.cds_jwt import KeySets, ReplayCache, TokenRefused, Verifier
from progress_plugin.store import Store

ISS = "https://ehr.example.org"
PUBLIC = "https://progress.example.org"
PATH = "/cds-services/progress-defined-together"
AUD = PUBLIC + PATH
LINK_SECRET = "link-secret-" + "k" * 40


# -- a JWKS server on 127.0.0.1 ---------------------------------------------------------------
def public_jwk(private_key, kid: str, alg: str) -> dict:
    if alg.startswith("ES"):
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class KeyServer:
    """Serves JWK Sets by path and counts the requests per path.

    ``/jwks.json`` holds the EHR's keys, ``/other.json`` an attacker's key under the same
    kid, ``/redirect.json`` redirects to ``/other.json``.
    """

    def __init__(self):
        self.es = ec.generate_private_key(ec.SECP384R1())
        self.rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.es256 = ec.generate_private_key(ec.SECP256R1())
        self.attacker = ec.generate_private_key(ec.SECP384R1())
        self.sets = {
            "/jwks.json": [public_jwk(self.es, "es-1", "ES384"), public_jwk(self.rs, "rs-1", "RS384"),
                           public_jwk(self.es256, "es256-1", "ES256")],
            "/other.json": [public_jwk(self.attacker, "es-1", "ES384")],
        }
        self.hits: Counter = Counter()
        self.down = False
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def app(self, environ, start_response):
        request = Request(environ)
        self.hits[request.path] += 1
        if self.down:
            response = Response("unavailable", status=503)
        elif request.path == "/redirect.json":
            response = Response("", status=302, headers={"Location": self.url + "/other.json"})
        elif request.path == "/huge.json":
            response = Response(json.dumps({"keys": [], "pad": "x" * 100_000}), mimetype="application/json")
        elif request.path in self.sets:
            response = Response(json.dumps({"keys": self.sets[request.path]}), mimetype="application/json")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def fetches(self) -> int:
        return sum(self.hits.values())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def keyserver():
    server = KeyServer()
    yield server
    server.stop()


@pytest.fixture
def keys(keyserver):
    keyserver.hits.clear()
    keyserver.down = False
    return keyserver


# -- configuration, app and tokens ------------------------------------------------------------
def cds_section(keyserver, **overrides) -> dict:
    section = {"public_url": PUBLIC, "link_secret": LINK_SECRET,
               "issuers": [{"iss": ISS, "jku": [keyserver.url + "/jwks.json", keyserver.url + "/redirect.json"],
                            "clinic": "clinic-a"}]}
    section.update(overrides)
    return section


@pytest.fixture
def cds_config(sqlite_url, keys):
    return settings.load({"store": {"url": sqlite_url}, "cds": cds_section(keys)}, env={})


_UNSET = object()


def make_token(keyserver, *, alg="ES384", kid="es-1", jku=_UNSET, iss=ISS, aud=AUD, exp_in=240, iat_in=0,
               jti=None, omit=(), key=None, claims=None) -> str:
    now = int(time.time())
    payload = {"iss": iss, "sub": "ehr-client-1", "aud": aud, "exp": now + exp_in, "iat": now + iat_in,
               "jti": jti or str(uuid.uuid4())}
    payload.update(claims or {})
    for name in omit:
        payload.pop(name, None)
    headers = {"typ": "JWT"}
    if kid is not None:
        headers["kid"] = kid
    if jku is _UNSET:
        jku = keyserver.url + "/jwks.json"
    if jku is not None:
        headers["jku"] = jku
    if key is None:
        key = {"ES384": keyserver.es, "RS384": keyserver.rs, "ES256": keyserver.es256}[alg]
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, payload: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def valid_claims(**overrides) -> dict:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "exp": now + 240, "iat": now, "jti": str(uuid.uuid4()), **overrides}


def request_body(patient="c1") -> dict:
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/pr-1", "patientId": patient},
            "prefetch": {"patient": {"resourceType": "Patient", "id": patient},
                         "goals": {"resourceType": "Bundle", "type": "searchset", "entry": []}}}


@pytest.fixture
def service(cds_config, now):
    store = Store.open(cds_config.store_url)
    app = create_app(store, config=cds_config, clock=lambda: now, blueprints=[cds.blueprint])
    yield app.test_client()
    store.close()


def call(client, token, body=None):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post(PATH, json=body or request_body(), headers=headers)


# -- the endpoint: one good token, every bad one a 401 ---------------------------------------
def test_a_valid_es384_token_is_accepted(service, keys):
    r = call(service, make_token(keys))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"cards": []}          # no intake for c1: a valid call without a card
    assert keys.hits["/jwks.json"] == 1


def test_a_valid_rs384_token_is_accepted(service, keys):
    assert call(service, make_token(keys, alg="RS384", kid="rs-1")).status_code == 200


def test_without_jku_the_issuers_allowlisted_sets_are_used(service, keys):
    assert call(service, make_token(keys, jku=None)).status_code == 200
    assert keys.hits["/other.json"] == 0


def _bad_tokens(keys):
    other = keys.url + "/other.json"
    now = int(time.time())
    rs_pem = keys.rs.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    hs384_header = {"alg": "HS384", "typ": "JWT", "kid": "rs-1", "jku": keys.url + "/jwks.json"}
    signing_input = f"{b64(json.dumps(hs384_header).encode())}.{b64(json.dumps(valid_claims()).encode())}"
    confused = signing_input + "." + b64(hmac.new(rs_pem, signing_input.encode(), hashlib.sha384).digest())
    good = make_token(keys)
    head, body, sig = good.split(".")
    tampered = ".".join([head, b64(json.dumps(valid_claims(sub="someone-else")).encode()), sig])
    return {
        "wrong aud": (make_token(keys, aud=PUBLIC + "/cds-services/other"), "audience"),
        "aud with a trailing slash": (make_token(keys, aud=AUD + "/"), "audience"),
        "aud as a list": (make_token(keys, aud=[AUD, "https://elsewhere.example"]), "audience"),
        "expired": (make_token(keys, exp_in=-120, iat_in=-400), "expired"),
        "HS256": (jwt.encode(valid_claims(), "s" * 64, algorithm="HS256",
                             headers={"kid": "es-1", "jku": keys.url + "/jwks.json"}), "algorithm"),
        "alg none": (hand_made({"alg": "none", "typ": "JWT", "kid": "es-1"}, valid_claims()), "algorithm"),
        "alg None": (hand_made({"alg": "None", "kid": "es-1"}, valid_claims()), "algorithm"),
        "HS384 keyed with the RSA public key": (confused, "algorithm"),
        "ES256": (make_token(keys, alg="ES256", kid="es256-1"), "algorithm"),
        "unlisted iss": (make_token(keys, iss="https://evil.example.org"), "issuer-not-allowed"),
        "no iss": (make_token(keys, omit=("iss",)), "issuer-not-allowed"),
        "unlisted jku": (make_token(keys, jku=other, key=keys.attacker), "jku-not-allowed"),
        "missing kid": (make_token(keys, kid=None), "kid-missing"),
        "unknown kid": (make_token(keys, kid="nope"), "unknown-kid"),
        "RS384 header on the EC key": (hand_made({"alg": "RS384", "kid": "es-1"}, valid_claims(), b"x" * 256),
                                       "unknown-kid"),
        "signed by another key under a listed kid": (make_token(keys, key=keys.attacker), "signature"),
        "tampered payload": (tampered, "signature"),
        "no exp": (make_token(keys, omit=("exp",)), "missing-exp"),
        "no iat": (make_token(keys, omit=("iat",)), "missing-iat"),
        "no jti": (make_token(keys, omit=("jti",)), "missing-jti"),
        "iat in the future": (make_token(keys, iat_in=600, exp_in=650), "issued-at"),
        "lives longer than the replay cache": (make_token(keys, exp_in=3600), "lifetime"),
        "jti not a string": (make_token(keys, claims={"jti": 12345}), "invalid"),
        "not a JWT": ("not-a-jwt", "malformed"),
        "empty": ("", "missing"),
        "exp not a number": (make_token(keys, claims={"exp": "tomorrow"}), "invalid"),
        "exp as a numeric string": (make_token(keys, claims={"exp": str(now + 60)}), "invalid"),
        "two parts": (f"{b64(b'{}')}.{b64(b'{}')}", "malformed"),
        "iat as a string": (make_token(keys, claims={"iat": str(now)}), "invalid"),
    }


BAD = ["wrong aud", "aud with a trailing slash", "aud as a list", "expired", "HS256", "alg none", "alg None",
       "HS384 keyed with the RSA public key", "ES256", "unlisted iss", "no iss", "unlisted jku", "missing kid",
       "unknown kid", "RS384 header on the EC key", "signed by another key under a listed kid",
       "tampered payload", "no exp", "no iat", "no jti", "iat in the future",
       "lives longer than the replay cache", "jti not a string", "not a JWT", "empty", "exp not a number",
       "exp as a numeric string", "two parts", "iat as a string"]


@pytest.mark.parametrize("case", BAD)
def test_each_bad_token_is_refused_with_401(service, keys, case):
    token, reason = _bad_tokens(keys)[case]
    keys.hits.clear()
    r = call(service, token)
    assert r.status_code == 401, (case, r.status_code, r.get_data(as_text=True))
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json()["message"] == f"JWT refused: {reason}"
    if reason in ("algorithm", "issuer-not-allowed", "jku-not-allowed", "kid-missing", "malformed", "missing"):
        assert keys.fetches() == 0, "refused before any key was looked up"
    assert keys.hits["/other.json"] == 0, "keys are fetched only from allowlisted sets"


def test_the_list_of_cases_is_complete(keys):
    assert sorted(BAD) == sorted(_bad_tokens(keys))


def test_no_authorization_header_and_other_schemes_are_401(service, keys):
    assert call(service, None).status_code == 401
    r = service.post(PATH, json=request_body(), headers={"Authorization": "Basic " + make_token(keys)})
    assert r.status_code == 401


def test_a_replayed_jti_is_refused(service, keys):
    token = make_token(keys)
    assert call(service, token).status_code == 200
    again = call(service, token)
    assert again.status_code == 401 and again.get_json()["message"] == "JWT refused: replayed"
    other = make_token(keys, jti="fixed-jti")
    assert call(service, other).status_code == 200
    assert call(service, make_token(keys, jti="fixed-jti")).status_code == 401   # a fresh token, same jti


def test_the_jti_is_remembered_across_worker_processes(cds_config, keys, now):
    """Two apps on two Store objects over one database, as two gunicorn workers have."""
    token = make_token(keys)
    first = [Store.open(cds_config.store_url) for _ in range(2)]
    try:
        apps = [create_app(s, config=cds_config, clock=lambda: now, blueprints=[cds.blueprint]).test_client()
                for s in first]
        assert call(apps[0], token).status_code == 200
        r = call(apps[1], token)
        assert r.status_code == 401 and r.get_json()["message"] == "JWT refused: replayed"
    finally:
        for s in first:
            s.close()


def test_a_key_server_that_is_down_means_401_not_5xx(service, keys):
    keys.down = True
    r = call(service, make_token(keys))
    assert r.status_code == 401 and r.get_json()["message"] == "JWT refused: unknown-kid"


def test_a_redirect_from_an_allowlisted_url_is_not_followed(cds_config, sqlite_store, keys):
    verifier = Verifier(cds_config.cds, sqlite_store)
    token = make_token(keys, jku=keys.url + "/redirect.json", key=keys.attacker)
    with pytest.raises(TokenRefused) as err:
        verifier.verify(f"Bearer {token}", AUD)
    assert err.value.reason == "unknown-kid"
    assert keys.hits["/redirect.json"] == 1 and keys.hits["/other.json"] == 0


def test_arbitrary_authorization_values_never_give_a_5xx(service, keys):
    valid = make_token(keys)
    printable = st.characters(min_codepoint=32, max_codepoint=126)

    @hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(
        st.text(printable, max_size=200),
        st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(printable, max_size=40),
                  st.text(printable, max_size=40), st.text(printable, max_size=40)),
        st.builds(lambda i, ch: valid[:i] + ch + valid[i + 1:],
                  st.integers(min_value=0, max_value=len(valid) - 1), st.sampled_from(list("AZaz09-_.=")))))
    def check(value):
        r = service.post(PATH, json=request_body(), headers={"Authorization": "Bearer " + value})
        assert r.status_code in (200, 401), r.status_code
        # only the valid token itself (or one whose signature segment decodes to the same
        # bytes) can pass, and only once
        assert r.status_code == 401 or value.split(".")[:2] == valid.split(".")[:2]

    check()


# -- the key cache ------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_keys_are_cached_for_the_ttl_and_refetched_after(keys):
    clock = Clock()
    sets = KeySets(ttl=300, timeout=2, clock=clock)
    url = keys.url + "/jwks.json"
    assert sets.key(url, "es-1", "ES384") is not None
    assert sets.key(url, "rs-1", "RS384") is not None
    assert keys.hits["/jwks.json"] == 1
    clock.t += 301
    assert sets.key(url, "es-1", "ES384") is not None
    assert keys.hits["/jwks.json"] == 2


def test_an_unknown_kid_refetches_at_most_every_30_seconds(keys):
    clock = Clock()
    sets = KeySets(ttl=300, timeout=2, clock=clock)
    url = keys.url + "/jwks.json"
    assert sets.key(url, "es-1", "ES384") is not None
    for _ in range(5):
        assert sets.key(url, "rotated", "ES384") is None
    assert keys.hits["/jwks.json"] == 1
    rotated = ec.generate_private_key(ec.SECP384R1())
    keys.sets["/jwks.json"].append(public_jwk(rotated, "rotated", "ES384"))
    try:
        clock.t += 31
        assert sets.key(url, "rotated", "ES384") is not None       # the EHR rotated its key
        assert keys.hits["/jwks.json"] == 2
    finally:
        keys.sets["/jwks.json"].pop()


def test_a_key_is_only_used_for_its_own_algorithm(keys):
    sets = KeySets(ttl=300, timeout=2)
    url = keys.url + "/jwks.json"
    assert sets.key(url, "es-1", "RS384") is None            # its jwk says ES384
    assert sets.key(url, "rs-1", "ES384") is None
    assert sets.key(url, "es-1", "ES384") is not None


def test_an_oversized_or_missing_set_gives_no_key(keys):
    sets = KeySets(ttl=300, timeout=2)
    assert sets.key(keys.url + "/huge.json", "es-1", "ES384") is None
    assert sets.key(keys.url + "/missing.json", "es-1", "ES384") is None


def test_a_failed_fetch_keeps_the_keys_it_had(keys):
    clock = Clock()
    sets = KeySets(ttl=300, timeout=2, clock=clock)
    url = keys.url + "/jwks.json"
    assert sets.key(url, "es-1", "ES384") is not None
    keys.down = True
    clock.t += 301
    assert sets.key(url, "es-1", "ES384") is not None
    assert keys.hits["/jwks.json"] == 2
    assert sets.key(url, "es-1", "ES384") is not None          # the retry waits a few seconds
    assert keys.hits["/jwks.json"] == 2


# -- the replay cache ---------------------------------------------------------------------------
def test_the_replay_cache_in_each_store(store):
    cache = ReplayCache(store)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert cache.remember(ISS, "a", now + timedelta(minutes=5), now)
    assert not cache.remember(ISS, "a", now + timedelta(minutes=5), now)
    assert cache.remember("https://other.example", "a", now + timedelta(minutes=5), now)   # per issuer
    later = now + timedelta(minutes=6)
    assert cache.remember(ISS, "b", later + timedelta(minutes=5), later)    # purges expired rows
    assert cache.remember(ISS, "a", later + timedelta(minutes=5), later)    # "a" was forgotten
    assert not cache.remember(ISS, "b", later + timedelta(minutes=5), later)
    from progress_plugin.store import tables
    with store.begin() as conn:
        rows = conn.execute(tables.cds_jtis.select()).fetchall()
    assert len(rows) == 2 and all(len(r.key) == 64 for r in rows)       # hashed: no raw ids stored


# -- configuration ----------------------------------------------------------------------------
def test_the_cds_section_is_validated(sqlite_url, keys):
    def load(**overrides):
        return settings.load({"store": {"url": sqlite_url}, "cds": cds_section(keys, **overrides)}, env={})

    config = load()
    assert config.cds.issuers[ISS].clinic == "clinic-a"
    assert config.cds.link_secret == LINK_SECRET
    with pytest.raises(settings.ConfigError, match="https"):
        load(issuers=[{"iss": ISS, "jku": ["http://keys.example.org/jwks.json"], "clinic": "clinic-a"}])
    with pytest.raises(settings.ConfigError, match="listed twice"):
        load(issuers=[{"iss": ISS, "jku": [keys.url + "/jwks.json"], "clinic": "a"}] * 2)
    with pytest.raises(settings.ConfigError, match="32 bytes"):
        load(link_secret="short")
    with pytest.raises(settings.ConfigError, match="public_url"):
        settings.load({"store": {"url": sqlite_url}, "cds": {"issuers": []}}, env={})
    no_link = settings.load({"store": {"url": sqlite_url},
                             "cds": {"public_url": PUBLIC, "link_secret_env": "CDS_LINK"}}, env={})
    assert no_link.cds.link_secret is None
    from_env = settings.load({"store": {"url": sqlite_url},
                              "cds": {"public_url": PUBLIC, "link_secret_env": "CDS_LINK"}},
                             env={"CDS_LINK": "e" * 32})
    assert from_env.cds.link_secret == "e" * 32
    assert settings.load({"store": {"url": sqlite_url}}, env={}).cds is None

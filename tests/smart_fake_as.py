"""A small SMART EHR for the launch tests: an OAuth 2 authorization server built on Authlib's server
classes (AuthorizationCodeGrant with CodeChallenge(required=True), RefreshTokenGrant, client auth
``none`` / ``client_secret_basic`` / ``private_key_jwt`` through JWTBearerClientAssertion), run as a
real HTTP server on 127.0.0.1, with the FHIR reads the launch makes (a DocumentReference's subject,
a Patient) behind its bearer tokens.

Test API (plain Python): :meth:`FakeEHR.client` registers a client, :meth:`FakeEHR.launch` makes a
launch context, ``issued`` holds every code and token it gave out (to grep logs for),
``token_requests`` what its token endpoint received, ``discovery = False`` turns the
smart-configuration off (the CapabilityStatement's oauth-uris remain), ``deny = True`` makes the
next authorization answer ``error=access_denied``, :meth:`revoke` makes the FHIR API answer 401.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from werkzeug.serving import make_server

SCOPES = ("launch launch/patient openid fhirUser online_access offline_access patient/Patient.rs "
          "patient/Goal.crus patient/Observation.crus patient/QuestionnaireResponse.crus "
          "patient/DocumentReference.rus user/Questionnaire.rs").split()


@dataclass
class Client(ClientMixin):
    client_id: str
    redirect_uri: str
    auth_method: str = "none"
    secret: str | None = None
    public_jwk: dict | None = None
    scopes: tuple = tuple(SCOPES)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uri

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret):
        return self.secret is not None and secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce


@dataclass
class Token:
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    user: dict
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client):
        return client.client_id == self.client_id

    def get_scope(self):
        return self.scope

    def is_expired(self):
        return False

    def is_revoked(self):
        return self.revoked


@dataclass
class FakeEHR:
    base: str = ""                      # the FHIR base (iss), set when the server starts
    clients: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    launches: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)           # DocumentReference id -> patient id
    issued: list = field(default_factory=list)
    token_requests: list = field(default_factory=list)
    authorize_requests: list = field(default_factory=list)
    discovery: bool = True
    overrides: dict = field(default_factory=dict)     # smart-configuration fields changed (None: left out)
    deny: bool = False
    expires_in: int = 3600
    refresh: bool = True                # issue refresh tokens (when online/offline_access is asked)
    standalone_patient: str = "p1"
    user: str = "Practitioner/9"
    jti_seen: set = field(default_factory=set)
    signing_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", parameters={"kid": "as-1"}))

    def client(self, client_id: str, redirect_uri: str, auth_method: str = "none", secret=None, public_jwk=None,
               scopes=None) -> Client:
        c = Client(client_id, redirect_uri, auth_method, secret, public_jwk, tuple(scopes or SCOPES))
        self.clients[client_id] = c
        return c

    def launch(self, patient="p1", encounter="e1", document_reference="d1", note_patient=None) -> str:
        launch_id = "launch-" + secrets.token_urlsafe(12)
        self.launches[launch_id] = {"patient": patient, "encounter": encounter,
                                    "document_reference": document_reference, "used": False}
        if document_reference:
            self.notes[document_reference] = note_patient or patient
        return launch_id

    def revoke(self) -> None:
        for t in self.tokens.values():
            t.revoked = True

    @property
    def issuer(self) -> str:
        return self.base.rsplit("/fhir", 1)[0]


def _grants(ehr: FakeEHR):
    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]

        def save_authorization_code(self, code, req):
            data = req.payload.data
            user = dict(req.user)
            ehr.codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri, req.scope, user,
                                   data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"))
            ehr.issued.append(code)

        def query_authorization_code(self, code, client):
            found = ehr.codes.get(code)
            return found if found and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code):
            ehr.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.user

        def generate_token(self, user, scope, **kw):
            token = super().generate_token(user=user, scope=scope, **kw)
            return _context(ehr, self.request, token, user, scope)

    class Refresh(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token):
            return next((t for t in ehr.tokens.values() if t.refresh_token == refresh_token and not t.revoked), None)

        def authenticate_user(self, credential):
            return credential.user

        def revoke_old_credential(self, credential):
            credential.revoked = True

        def generate_token(self, user, scope, **kw):
            token = super().generate_token(user=user, scope=scope, **kw)
            return _context(ehr, self.request, token, user, scope)

    class Assertion(JWTBearerClientAssertion):
        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self):
            return [ehr.issuer + "/token"]

        def resolve_client_public_key(self, client):
            return client.public_jwk

        def process_assertion_claims(self, assertion, resolve_key):
            from authlib.oauth2.rfc6749 import InvalidClientError
            from joserfc.errors import JoseError
            try:                                   # SMART's algorithms (joserfc's default list leaves them out)
                token = jwt.decode(assertion, resolve_key, algorithms=["ES384", "RS384"])
            except JoseError as exc:
                raise InvalidClientError(description=exc.description) from exc
            self.verify_claims(token.claims)
            return token.claims

        def validate_jti(self, claims, jti):
            if jti in ehr.jti_seen:
                return False
            ehr.jti_seen.add(jti)
            return True

    return CodeGrant, Refresh, Assertion


def _context(ehr: FakeEHR, req, token: dict, user: dict, scope: str) -> dict:
    """The SMART launch context and id_token added to a token response."""
    if "offline_access" not in scope.split() and "online_access" not in scope.split() or not ehr.refresh:
        token.pop("refresh_token", None)
    token["expires_in"] = ehr.expires_in
    token["scope"] = scope
    for key in ("patient", "encounter", "need_patient_banner", "intent", "tenant"):
        if user.get(key) is not None:
            token[key] = user[key]
    if user.get("document_reference"):
        token["fhirContext"] = [{"reference": f"DocumentReference/{user['document_reference']}"}]
    if "openid" in scope.split() and "fhirUser" in scope.split():
        now = int(time.time())
        claims = {"iss": ehr.issuer, "sub": user["user"].replace("/", "-"), "aud": req.client.client_id,
                  "iat": now, "exp": now + 300, "fhirUser": f"{ehr.base}/{user['user']}"}
        if user.get("nonce"):
            claims["nonce"] = user["nonce"]
        token["id_token"] = jwt.encode({"alg": "ES256", "kid": "as-1"}, claims, ehr.signing_key)
    return token


def make_app(ehr: FakeEHR) -> Flask:
    app = Flask("fake_ehr")
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True

    def save_token(token, req):
        t = Token(req.client.client_id, token["access_token"], token.get("refresh_token"), token.get("scope", ""),
                  req.user, time.time(), token.get("expires_in", 0))
        ehr.tokens[t.access_token] = t
        ehr.issued.extend(v for v in (token["access_token"], token.get("refresh_token"), token.get("id_token")) if v)

    server = AuthorizationServer(app, query_client=ehr.clients.get, save_token=save_token)
    code_grant, refresh_grant, assertion = _grants(ehr)
    server.register_grant(code_grant, [CodeChallenge(required=True)])
    server.register_grant(refresh_grant)
    server.register_client_auth_method("private_key_jwt", assertion())

    @app.get("/fhir/.well-known/smart-configuration")
    def smart_configuration():
        if not ehr.discovery:
            return jsonify(error="not found"), 404
        return jsonify({k: v for k, v in {**_configuration(ehr), **ehr.overrides}.items() if v is not None})

    def _configuration(ehr):
        return dict(issuer=ehr.issuer, jwks_uri=ehr.issuer + "/jwks",
                       authorization_endpoint=ehr.issuer + "/authorize", token_endpoint=ehr.issuer + "/token",
                       token_endpoint_auth_methods_supported=["client_secret_basic", "private_key_jwt"],
                       token_endpoint_auth_signing_alg_values_supported=["ES384", "RS384"],
                       grant_types_supported=["authorization_code", "refresh_token"],
                       scopes_supported=SCOPES, response_types_supported=["code"],
                       capabilities=["launch-ehr", "launch-standalone", "client-public",
                                     "client-confidential-symmetric", "client-confidential-asymmetric",
                                     "context-ehr-patient", "context-standalone-patient", "sso-openid-connect",
                                     "permission-v2", "permission-v1"],
                       code_challenge_methods_supported=["S256"])

    @app.get("/fhir/metadata")
    def metadata():
        uris = {"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "authorize", "valueUri": ehr.issuer + "/authorize"},
                              {"url": "token", "valueUri": ehr.issuer + "/token"}]}
        return jsonify(resourceType="CapabilityStatement", fhirVersion="4.0.1", status="active",
                       rest=[{"mode": "server", "security": {"extension": [uris]}}])

    @app.get("/jwks")
    def jwks():
        return jsonify(KeySet([ehr.signing_key]).as_dict(private=False))

    @app.get("/authorize")
    def authorize():
        ehr.authorize_requests.append(dict(request.args))
        args = request.args
        user = {"user": ehr.user, "nonce": args.get("nonce"), "need_patient_banner": True}
        if args.get("aud") != ehr.base:
            return jsonify(error="invalid_request", error_description="aud"), 400
        if "launch" in args:
            found = ehr.launches.get(args["launch"])
            if found is None or found["used"]:
                return jsonify(error="invalid_request", error_description="launch"), 400
            found["used"] = True
            user.update(patient=found["patient"], encounter=found["encounter"],
                        document_reference=found["document_reference"])
        elif "launch/patient" in (args.get("scope") or "").split():
            user["patient"] = ehr.standalone_patient
        grant = server.get_consent_grant(end_user=user)
        grant.request.user = user
        if ehr.deny:
            return server.create_authorization_response(grant_user=None, grant=grant)
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token():
        ehr.token_requests.append({"form": dict(request.form), "authorization": request.headers.get("Authorization")})
        return server.create_token_response()

    def bearer():
        found = ehr.tokens.get((request.headers.get("Authorization") or "")[len("Bearer "):])
        if found is None or found.revoked or time.time() > found.issued_at + found.expires_in:
            return None
        return found

    @app.get("/fhir/DocumentReference/<id>")
    def document_reference(id):
        found = bearer()
        if found is None:
            return jsonify(resourceType="OperationOutcome"), 401
        if id not in ehr.notes:
            return jsonify(resourceType="OperationOutcome"), 404
        return jsonify(resourceType="DocumentReference", id=id, subject={"reference": f"Patient/{ehr.notes[id]}"})

    @app.get("/fhir/Patient/<id>")
    def patient(id):
        found = bearer()
        if found is None:
            return jsonify(resourceType="OperationOutcome"), 401
        return jsonify(resourceType="Patient", id=id)

    return app


class Running:
    """The fake EHR served on 127.0.0.1 (a thread); ``ehr.base`` is its FHIR base."""

    def __init__(self, ehr: FakeEHR | None = None):
        self.ehr = ehr or FakeEHR()
        self.server = make_server("127.0.0.1", 0, make_app(self.ehr), threaded=True)
        self.ehr.base = f"http://127.0.0.1:{self.server.server_port}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


# -- fixtures and helpers for the launch tests (the integrator may point these at tests/smart_ehr.py) --
REDIRECT = "https://app.example/smart/callback"


@pytest.fixture
def fake_ehr():
    running = Running()
    yield running.ehr
    running.stop()


def smart_section(ehr: FakeEHR, **overrides) -> dict:
    """A ``[smart]`` section with one EHR ``fake`` (public client) for ``ehr``; ``overrides`` go to the EHR."""
    entry = {"id": "fake", "clinic": "clinic-a", "iss": [ehr.base], "client_id": "progress-app",
             "frame_ancestors": ["https://ehr.example"], "standalone": True}
    entry.update(overrides)
    return {"public_url": "https://app.example", "ehrs": [entry]}

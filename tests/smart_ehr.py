"""An EHR stand-in for SMART App Launch tests: an OAuth 2 authorization server built on Authlib's
server classes, in front of the Medplum test host (tests/fhir_server.py).

    def test_x(smart_ehr):                         # fixture below; one server per test
        smart_ehr.register_client("app", auth="none", redirect_uris=[...], scopes=[...])
        launch = smart_ehr.launch(patient, document_reference=note)
        smart_ehr.fhir_base                        # http://127.0.0.1:PORT/fhir/R4 (the iss and the aud)

A real HTTP server on 127.0.0.1 (werkzeug, in a thread). It serves:

- ``/fhir/R4/.well-known/smart-configuration`` (SMART 2.x; ``discovery(False)`` makes it 404) and
  ``/fhir/R4/metadata``, a CapabilityStatement with the ``oauth-uris`` extension;
- ``/oauth/authorize`` (GET or POST) with Authlib's ``AuthorizationCodeGrant`` and ``CodeChallenge``
  (PKCE S256 required for every client; ``plain`` refused). It also checks ``aud`` (this FHIR base)
  and the ``launch`` (known, unused, with the ``launch`` scope), grants the requested scopes the
  client is allowed (tests/smart_scopes.py) and approves at once for the launch's user (or
  :attr:`SmartEHR.user`; ``deny = True`` answers ``access_denied``). A standalone launch asking
  ``launch/patient`` gets :attr:`SmartEHR.default_patient`;
- ``/oauth/token``: the code grant (single use: a replayed code is ``invalid_grant`` and revokes what
  that code gave) and ``RefreshTokenGrant`` (rotating by default), for public clients (``none``),
  ``client_secret_basic`` and ``private_key_jwt`` (RFC 7523, ES384 or RS384 against the client's
  JWKS). A refresh token comes only with ``offline_access``/``online_access`` or for a client
  registered with ``always_refresh``. The response carries the launch context (``patient``,
  ``encounter``, ``fhirContext``, ``need_patient_banner``, ``intent``, ``appContext``) and, with
  ``openid`` plus ``fhirUser``, an ``id_token`` signed RS256 with the key at ``/oauth/jwks``
  (``fhirUser`` there is an absolute URL, as SMART says; the response itself has no ``fhirUser``);
- ``/fhir/R4/...``: a proxy to Medplum behind Authlib's ``ResourceProtector``: 401 with an
  OperationOutcome for a missing, unknown, expired or revoked token; 403 for an interaction no
  granted scope allows or a resource outside a ``patient/`` token's patient (tests/smart_scopes.py
  says which; a search must name the patient). It reads the resource first where it must know
  whose it is (PATCH, DELETE, ``$meta-add``, PUT by id), so Medplum counts those reads too.

Test API besides the endpoints: ``register_client``, ``launch``, ``expire_tokens``, ``revoke_all``,
``discovery(False)``, ``issued_tokens()`` (every code and token given out, to grep for), ``deny``,
``refresh = False`` (no refresh token at all), ``access_seconds``, ``config_overrides`` (fields of the
smart-configuration changed, None: left out), ``token_overrides`` (fields of the token response
changed, None: left out; the token itself keeps the launch's context, as a tampered answer would),
and what was received: ``authorize_requests``, ``token_requests`` (grant, client authentication,
whether a ``code_verifier`` came, status, error), ``token_posts`` (each token request's form and
``Authorization`` header as sent) and ``fhir_log``.

The OAuth models and Authlib's grants are in tests/smart_oauth.py, the FHIR side in
tests/smart_proxy.py, the scope rules in tests/smart_scopes.py.

Nothing here logs a token, a code or a secret: werkzeug's request lines are off, and Authlib's
loggers (which log issued tokens at DEBUG) are held at WARNING while a server runs.
"""
from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import threading
import time
import uuid

import pytest
import requests
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.smart_oauth import (ASSERTION_ALGS, AUTH_METHODS, Client, Code, CodeGrant, Launch, PrivateKeyJWTAuth,
                               RefreshGrant, S256Only, Server, Token)
from tests.smart_proxy import proxy_blueprint

NOTE_TEXT = "CANARY-SMART-NOTE The client spoke about her brother's illness."
CODE_SECONDS = 600
_SERVER_KEY: list[RSAKey] = []


def server_key() -> RSAKey:
    """The stand-in's own signing key (id_tokens), made once per test process."""
    if not _SERVER_KEY:
        _SERVER_KEY.append(RSAKey.generate_key(2048, parameters={"kid": "ehr-1", "use": "sig", "alg": "RS256"}))
    return _SERVER_KEY[0]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):        # request lines carry codes and states
        pass


# -- the stand-in -------------------------------------------------------------------------------
class SmartEHR:
    def __init__(self, medplum_url: str):
        self.medplum_url = medplum_url.rstrip("/")
        self.base = ""
        self.clients: dict[str, Client] = {}
        self.launches: dict[str, Launch] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.by_refresh: dict[str, Token] = {}
        self.id_tokens: list[str] = []
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.token_posts: list[dict] = []       # each token request as sent: its form and Authorization header
        self.fhir_log: list[dict] = []
        self.replayed_codes = 0
        self.discovery_enabled = True
        self.deny = False
        self.refresh = True             # False: no refresh token, whatever was asked
        self.rotate_refresh = True
        self.config_overrides: dict = {}        # smart-configuration fields changed (None: left out)
        self.token_overrides: dict = {}         # token response fields changed (None: left out)
        self.access_seconds = 3600
        self.user = ""                  # "Practitioner/<id>": who approves a standalone launch
        self.default_patient = ""       # the patient a standalone launch with launch/patient gets
        self.http = requests.Session()
        self.app = self._app()
        self._server = None
        self._thread = None

    # -- endpoints --------------------------------------------------------------------------
    @property
    def fhir_base(self) -> str:
        return self.base + "/fhir/R4"

    @property
    def authorize_endpoint(self) -> str:
        return self.base + "/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.base + "/oauth/token"

    @property
    def jwks_uri(self) -> str:
        return self.base + "/oauth/jwks"

    def _app(self) -> Flask:
        app = Flask(__name__)
        server = Server(app, query_client=self.clients.get, save_token=self.save_token)
        server.ehr = self
        server.register_token_generator("default", self._generate_token)
        server.register_grant(CodeGrant, [S256Only(required=True)])
        server.register_grant(RefreshGrant)
        server.register_client_auth_method("private_key_jwt", PrivateKeyJWTAuth(self))
        self.server = server

        @app.route("/oauth/authorize", methods=["GET", "POST"])
        def authorize():
            self.authorize_requests.append(request.values.to_dict())
            req = server.create_oauth2_request(None)
            try:
                grant = server.get_authorization_grant(req)
            except OAuth2Error as error:
                error.state = req.payload.state
                return server.handle_error_response(req, error)
            return server.create_authorization_response(req, grant_user=None if self.deny else "approved",
                                                        grant=grant)

        @app.post("/oauth/token")
        def token():
            form = request.form
            auth = ("client_secret_basic" if request.authorization else
                    "private_key_jwt" if form.get("client_assertion") else "none")
            self.token_posts.append({"form": form.to_dict(), "authorization": request.headers.get("Authorization")})
            response = server.create_token_response()
            self.token_requests.append({"grant_type": form.get("grant_type"), "client_auth": auth,
                                        "client_id": form.get("client_id"), "status": response.status_code,
                                        "code_verifier": bool(form.get("code_verifier")),
                                        "error": (response.get_json(silent=True) or {}).get("error")})
            return response

        @app.get("/oauth/jwks")
        def jwks():
            return jsonify(KeySet([server_key()]).as_dict(private=False))

        @app.get("/.well-known/openid-configuration")
        def openid_configuration():
            return jsonify({"issuer": self.base, "jwks_uri": self.jwks_uri, "authorization_endpoint":
                            self.authorize_endpoint, "token_endpoint": self.token_endpoint,
                            "response_types_supported": ["code"], "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"]})

        app.register_blueprint(proxy_blueprint(self))
        return app

    def smart_configuration(self) -> dict:
        """What ``.well-known/smart-configuration`` says, with :attr:`config_overrides` applied."""
        return {k: v for k, v in {**self._smart_configuration(), **self.config_overrides}.items() if v is not None}

    def _smart_configuration(self) -> dict:
        return {
            "issuer": self.base, "jwks_uri": self.jwks_uri,
            "authorization_endpoint": self.authorize_endpoint, "token_endpoint": self.token_endpoint,
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
                                 "patient/*.cruds", "user/*.cruds", "patient/*.read", "patient/*.write"],
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "capabilities": ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                             "client-confidential-asymmetric", "context-ehr-patient", "context-ehr-encounter",
                             "context-standalone-patient", "sso-openid-connect", "permission-v2", "permission-v1",
                             "permission-offline", "permission-online", "authorize-post"],
        }

    # -- the authorization code grant's storage ------------------------------------------------
    def check_authorize(self, req) -> None:
        data = req.payload.data
        if (data.get("aud") or "").rstrip("/") != self.fhir_base:
            raise InvalidRequestError("'aud' must be this server's FHIR base URL")
        asked = (req.payload.scope or "").split()
        launch = data.get("launch")
        if launch is not None:
            found = self.launches.get(launch)
            if found is None or found.used:
                raise InvalidRequestError("unknown or already used 'launch'")
            if "launch" not in asked:
                raise InvalidScopeError("a 'launch' parameter needs the 'launch' scope")
        elif "launch" in asked:
            raise InvalidRequestError("the 'launch' scope needs a 'launch' parameter")
        if not req.scope:
            raise InvalidScopeError("none of the requested scopes is allowed for this client")

    def save_code(self, code: str, req) -> None:
        data, granted = req.payload.data, req.scope.split()
        launch = self.launches.get(data.get("launch") or "")
        if launch is not None:
            launch.used = True
            user = launch.user
            context = {"patient": launch.patient, "encounter": launch.encounter,
                       "fhirContext": [{"reference": launch.document_reference}] if launch.document_reference
                       else None, "need_patient_banner": launch.need_patient_banner, "intent": launch.intent,
                       "appContext": launch.app_context}
        else:
            user = self.user
            context = ({"patient": self.default_patient, "need_patient_banner": True}
                       if "launch/patient" in granted and self.default_patient else {})
        self.codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri, req.scope, user,
                                data["code_challenge"], data["code_challenge_method"], data.get("nonce"),
                                {k: v for k, v in context.items() if v is not None})

    def query_code(self, code: str, client: Client) -> Code | None:
        found = self.codes.get(code)
        if found is None or found.client_id != client.client_id:
            return None
        if found.used:                                  # a replay: revoke what the code gave (RFC 6749 4.1.2)
            self.replayed_codes += 1
            for t in found.tokens:
                t.revoked = t.refresh_revoked = True
            return None
        return found if time.time() < found.issued_at + CODE_SECONDS else None

    def _generate_token(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
        asked = set((scope or "").split())
        include = include_refresh_token and self.refresh and bool(asked & {"offline_access", "online_access"}
                                                                  or client.always_refresh)
        bearer = BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32), lambda **_: secrets.token_urlsafe(32),
                                      self.access_seconds)
        return bearer(grant_type, client, user, scope, expires_in, include)

    def save_token(self, token: dict, req) -> None:
        """Keep the token, and add the launch context (and id_token) to the response it came in."""
        old = getattr(req, "refresh_token", None)
        code = getattr(req, "authorization_code", None)
        context = code.context if code is not None else old.context
        stored = Token(token["access_token"], token.get("refresh_token"), req.client.client_id, token.get("scope", ""),
                       req.user, context, token["expires_in"])
        self.tokens[stored.access_token] = stored
        if stored.refresh_token:
            self.by_refresh[stored.refresh_token] = stored
        elif old is not None and not self.rotate_refresh:
            stored.refresh_token = old.refresh_token
            self.by_refresh[old.refresh_token] = stored
        if code is not None:
            code.tokens.append(stored)
        token.update(context)
        scopes = stored.scope.split()
        if code is not None and "openid" in scopes and ("fhirUser" in scopes or "profile" in scopes):
            token["id_token"] = self._id_token(req.client.client_id, req.user, code.nonce)
        for key, value in self.token_overrides.items():     # a tampered answer; the stored token is as issued
            if value is None:
                token.pop(key, None)
            else:
                token[key] = value

    def _id_token(self, client_id: str, user: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.base, "sub": user.rsplit("/", 1)[-1], "aud": client_id, "iat": now, "exp": now + 3600,
                  "fhirUser": f"{self.fhir_base}/{user}"}
        if nonce:
            claims["nonce"] = nonce
        value = jwt.encode({"alg": "RS256", "kid": server_key().kid, "typ": "JWT"}, claims, server_key())
        self.id_tokens.append(value)
        return value

    # -- the test API ---------------------------------------------------------------------------
    def register_client(self, client_id: str, auth: str = "none", redirect_uris=(), scopes=(), secret=None,
                        jwks=None, always_refresh=False) -> Client:
        if auth not in AUTH_METHODS:
            raise ValueError(f"auth must be one of {AUTH_METHODS}")
        if scopes and isinstance(scopes, str):
            scopes = scopes.split()
        client = Client(client_id, auth, list(redirect_uris), list(scopes), secret, jwks, always_refresh)
        self.clients[client_id] = client
        return client

    def launch(self, patient: str, encounter=None, document_reference=None, user=None, need_patient_banner=False,
               intent=None, app_context=None) -> str:
        """A new EHR launch id for ``patient`` (ids, or ``DocumentReference/<id>`` for the note)."""
        ref = document_reference
        if ref and "/" not in ref:
            ref = f"DocumentReference/{ref}"
        launch = Launch(secrets.token_urlsafe(12), patient, encounter, ref, user or self.user, need_patient_banner,
                        intent, app_context)
        self.launches[launch.id] = launch
        return launch.id

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens still work)."""
        for t in self.tokens.values():
            t.expired = True

    def revoke_all(self) -> None:
        """Every access and refresh token issued so far is now revoked."""
        for t in self.tokens.values():
            t.revoked = t.refresh_revoked = True

    def discovery(self, enabled: bool) -> None:
        """Serve ``.well-known/smart-configuration``, or answer 404 there (the metadata stays)."""
        self.discovery_enabled = enabled

    def issued_tokens(self) -> list[str]:
        """Every code, access, refresh and id token issued (to grep logs, cookies and URLs for)."""
        out = list(self.codes) + list(self.tokens) + list(self.by_refresh) + self.id_tokens
        return [v for v in dict.fromkeys(out) if v]

    def requests_for(self, patient: str) -> list[dict]:
        """The FHIR proxy's log of requests made with a token for ``patient``."""
        return [r for r in self.fhir_log if r.get("patient") == patient]

    # -- seeding Medplum --------------------------------------------------------------------------
    def create(self, resource: dict) -> str:
        r = self.http.post(f"{self.medplum_url}/{resource['resourceType']}", json=resource, timeout=10)
        r.raise_for_status()
        return r.json()["id"]

    def seed_patient(self, family="Test", given="Asha") -> str:
        return self.create({"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
                            "identifier": [{"system": "urn:test:smart", "value": uuid.uuid4().hex}]})

    def seed_practitioner(self) -> str:
        return self.create({"resourceType": "Practitioner", "name": [{"family": "Therapist", "given": ["Test"]}]})

    def seed_encounter(self, patient: str) -> str:
        return self.create({"resourceType": "Encounter", "status": "in-progress",
                            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                            "subject": {"reference": f"Patient/{patient}"}})

    def seed_note(self, patient: str, encounter=None, protected=False, text=NOTE_TEXT) -> str:
        """A signed note; ``protected`` makes it a psychotherapy note. ``text`` must never reach a log."""
        kind = ({"coding": [{"system": "http://loinc.org", "code": "34748-4"}], "text": "Psychotherapy note"}
                if protected else {"coding": [{"system": "http://loinc.org", "code": "11506-3"}],
                                   "text": "Progress note"})
        doc = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final", "type": kind,
               "subject": {"reference": f"Patient/{patient}"},
               "content": [{"attachment": {"contentType": "text/plain",
                                           "data": base64.b64encode(text.encode()).decode()}}]}
        if encounter:
            doc["context"] = {"encounter": [{"reference": f"Encounter/{encounter}"}]}
        return self.create(doc)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SmartEHR:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="smart-ehr", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self.http.close()


@contextlib.contextmanager
def running(medplum_url: str):
    """A started stand-in with a test user and a default patient in Medplum."""
    authlib_log = logging.getLogger("authlib")
    level = authlib_log.level
    authlib_log.setLevel(logging.WARNING)          # Authlib logs issued tokens at DEBUG
    ehr = SmartEHR(medplum_url).start()
    try:
        ehr.user = "Practitioner/" + ehr.seed_practitioner()
        ehr.default_patient = ehr.seed_patient(family="Standalone")
        yield ehr
    finally:
        ehr.stop()
        authlib_log.setLevel(level)


@pytest.fixture
def smart_ehr(medplum):
    """A SMART EHR stand-in in front of the session's Medplum server (one per test)."""
    with running(medplum.base_url) as ehr:
        yield ehr


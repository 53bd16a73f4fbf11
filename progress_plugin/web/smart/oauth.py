"""The OAuth 2 side of a SMART launch, with Authlib's client (``OAuth2Session``): the authorization
URL (code flow, PKCE S256, ``state``, ``aud``, ``launch``), the code exchange, the refresh, the
client's authentication at the token endpoint, and the token response read into ids.

Client authentication (``[[smart.ehrs]] client_auth``):

- ``public``: no secret; PKCE alone binds the code to this app (``client_id`` in the body);
- ``client_secret_basic``: HTTP Basic with the client id and secret;
- ``private_key_jwt``: a JWT signed with the app's key (ES384 or RS384, ``kid`` = ``key_id``),
  Authlib's :class:`~authlib.oauth2.rfc7523.PrivateKeyJWT`; each assertion is new (its own ``jti``)
  and lives five minutes, as SMART's asymmetric client authentication asks.

The ``id_token``, when the EHR sends one, is verified (signature against the EHR's ``jwks_uri``
with joserfc, the JOSE library Authlib itself uses; then Authlib's OpenID Connect claim rules:
``iss``, ``aud``, ``exp``, ``nonce``, ``azp``, ``at_hash``) before its ``fhirUser`` is believed.
"""
from __future__ import annotations

import logging
import re
import time

import marshmallow as ma
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from marshmallow import fields, validate

from progress_plugin.errors import ConfigError, HostUnavailable, ProgressPluginError
from progress_plugin.fhir.smart_discovery import TIMEOUT, SmartConfiguration
from progress_plugin.service.smart_settings import SmartEhr

log = logging.getLogger(__name__)

ASSERTION_SECONDS = 300
ID_TOKEN_ALGS = ("RS256", "ES256", "RS384", "ES384", "RS512", "ES512", "PS256", "PS384")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


class TokenRefused(ProgressPluginError):
    """The EHR's token endpoint said no (``error`` is its OAuth error code, e.g. ``invalid_grant``)."""

    status = 400

    def __init__(self, error: str):
        super().__init__(f"the EHR refused the token request: {error}", error=error)
        self.error = error


class BadToken(ProgressPluginError):
    """The token response, or its id_token, is not one the app can trust (``reason`` says which part)."""

    status = 502

    def __init__(self, reason: str):
        super().__init__(f"the EHR's token response is not usable: {reason}", reason=reason)
        self.reason = reason


# -- the client ------------------------------------------------------------------------------
class _Assertion(PrivateKeyJWT):
    """Authlib's private_key_jwt, with a fresh ``jti`` and a five-minute ``exp`` on every assertion."""

    def sign(self, auth, token_endpoint):
        self.claims = {"exp": int(time.time()) + ASSERTION_SECONDS}
        return super().sign(auth, token_endpoint)


def signing_key(ehr: SmartEhr):
    """The EHR's private key as a JOSE key of the kind its ``signing_alg`` needs. Raises ConfigError."""
    where = f"configuration: smart.ehrs.{ehr.id}.private_key_file"
    if not ehr.private_key_pem:
        raise ConfigError(f"{where}: private_key_jwt needs a PEM private key")
    try:
        if ehr.signing_alg == "ES384":
            key = ECKey.import_key(ehr.private_key_pem)
            if key.curve_name != "P-384":
                raise ConfigError(f"{where}: ES384 needs an EC P-384 key, not {key.curve_name}")
        else:
            key = RSAKey.import_key(ehr.private_key_pem)
            if key.raw_value.key_size < 2048:
                raise ConfigError(f"{where}: RS384 needs an RSA key of 2048 bits or more")
    except (ValueError, TypeError, JoseError) as exc:
        raise ConfigError(f"{where}: not a {ehr.signing_alg} private key ({exc.__class__.__name__})") from None
    if not key.is_private:
        raise ConfigError(f"{where}: the file holds a public key; the private key is needed")
    return key


def client(ehr: SmartEhr, conf: SmartConfiguration, redirect_uri: str) -> OAuth2Session:
    """An Authlib OAuth 2 client for ``ehr``, authenticating as configured, with PKCE S256."""
    common = dict(code_challenge_method="S256", redirect_uri=redirect_uri, default_timeout=TIMEOUT)
    if ehr.client_auth == "client_secret_basic":
        return OAuth2Session(ehr.client_id, ehr.client_secret, token_endpoint_auth_method="client_secret_basic",
                             **common)
    if ehr.client_auth == "private_key_jwt":
        session = OAuth2Session(ehr.client_id, signing_key(ehr), token_endpoint_auth_method="private_key_jwt",
                                **common)
        headers = {"kid": ehr.key_id} if ehr.key_id else None
        session.register_client_auth_method(_Assertion(conf.token_endpoint, headers=headers, alg=ehr.signing_alg))
        return session
    return OAuth2Session(ehr.client_id, token_endpoint_auth_method="none", **common)


def authorize_url(ehr: SmartEhr, conf: SmartConfiguration, redirect_uri: str, *, iss: str, state: str,
                  verifier: str, scopes: list[str], launch: str | None, nonce: str | None) -> str:
    """Where to send the browser: the EHR's authorize endpoint with the whole request in its query."""
    extra = {"aud": iss, "scope": " ".join(scopes)}
    if launch:
        extra["launch"] = launch
    if nonce:
        extra["nonce"] = nonce
    with client(ehr, conf, redirect_uri) as oauth:
        url, _ = oauth.create_authorization_url(conf.authorization_endpoint, state=state, code_verifier=verifier,
                                                **extra)
    return url


def _call(what: str, call):
    try:
        return dict(call())
    except OAuthError as exc:
        raise TokenRefused(str(exc.error or "error")[:60]) from None
    except requests.RequestException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise HostUnavailable(f"{what}: {exc.__class__.__name__}", status_code=status) from None
    except ValueError:                         # not a JSON object
        raise BadToken("not-json") from None


def exchange(ehr: SmartEhr, conf: SmartConfiguration, redirect_uri: str, code: str, verifier: str) -> dict:
    """The code's token response (raw: read it with :func:`read_token`)."""
    with client(ehr, conf, redirect_uri) as oauth:
        return _call("token", lambda: oauth.fetch_token(conf.token_endpoint, grant_type="authorization_code",
                                                        code=code, code_verifier=verifier))


def refresh(ehr: SmartEhr, conf: SmartConfiguration, redirect_uri: str, refresh_token: str) -> dict:
    """A refreshed token response (Authlib's ``refresh_token``; it keeps the refresh token when
    the EHR sends no new one)."""
    with client(ehr, conf, redirect_uri) as oauth:
        oauth.token = {"access_token": "", "token_type": "bearer", "refresh_token": refresh_token}
        return _call("refresh", lambda: oauth.refresh_token(conf.token_endpoint, refresh_token=refresh_token))


# -- the token response ----------------------------------------------------------------------
def reference(value) -> str | None:
    """``Type/id`` from a reference, relative or absolute (``https://ehr/fhir/Practitioner/9``); else None."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    m = _REF.search(value)
    return m.group(1) if m else None


def _bearer(value: str) -> None:
    if value.lower() != "bearer":
        raise ma.ValidationError("must be Bearer")


class _ContextItem(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    reference = fields.String(validate=validate.Length(max=2000))


class TokenResponseSchema(ma.Schema):
    """A SMART token response; unknown fields (``smart_style_url`` and the like) pass unread."""

    class Meta:
        unknown = ma.EXCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    token_type = fields.String(required=True, validate=_bearer)
    expires_in = fields.Integer(validate=validate.Range(min=0, max=10 ** 8))
    scope = fields.String(load_default="", validate=validate.Length(max=10000))
    refresh_token = fields.String(validate=validate.Length(min=1, max=20000))
    id_token = fields.String(validate=validate.Length(min=1, max=50000))
    patient = fields.String(validate=validate.Regexp(_ID))
    encounter = fields.String(validate=validate.Regexp(_ID))
    fhirUser = fields.String(validate=validate.Length(max=2000))
    fhirContext = fields.List(fields.Nested(_ContextItem), load_default=list, validate=validate.Length(max=50))
    need_patient_banner = fields.Boolean(load_default=True)
    intent = fields.String(validate=validate.Length(max=200))
    tenant = fields.String(validate=validate.Length(max=200))


_TOKEN = TokenResponseSchema()


def read_token(raw: dict) -> dict:
    """The token response validated. Raises BadToken naming the first field that is wrong."""
    try:
        return _TOKEN.load(raw)
    except ma.ValidationError as exc:
        raise BadToken(sorted(exc.messages)[0] if isinstance(exc.messages, dict) else "invalid") from None


def id_token_claims(id_token: str, conf: SmartConfiguration, client_id: str, nonce: str | None,
                    access_token: str) -> dict:
    """The verified claims of ``id_token``. Raises BadToken (``id_token``) when it cannot be verified."""
    if not conf.jwks_uri:
        raise BadToken("id_token: the EHR publishes no jwks_uri to verify it with")
    try:
        with requests.get(conf.jwks_uri, timeout=TIMEOUT, headers={"Accept": "application/json"},
                          allow_redirects=False) as response:
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        token = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGS))
        claims = CodeIDToken(token.claims, token.header,
                             options={"iss": {"essential": True, "value": conf.issuer or conf.iss},
                                      "aud": {"essential": True, "value": client_id}},
                             params={"nonce": nonce, "client_id": client_id, "access_token": access_token})
        claims.validate(now=int(time.time()), leeway=60)
    except requests.RequestException as exc:
        raise BadToken(f"id_token: jwks_uri {exc.__class__.__name__}") from None
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise BadToken(f"id_token: {exc.__class__.__name__}") from None
    return dict(claims)


"""The EHR stand-in's OAuth side (tests/smart_ehr.py): in-memory models for Authlib's mixins, and
Authlib's grants and client authentication bound to the stand-in (``server.ehr``)."""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (AuthorizationCodeMixin, ClientMixin, InvalidClientError, InvalidRequestError,
                                    TokenMixin, grants)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.smart_scopes import grant

ASSERTION_ALGS = ["ES384", "RS384"]


# -- models (in memory) ------------------------------------------------------------------------
@dataclass
class Client(ClientMixin):
    client_id: str
    auth: str
    redirect_uris: list[str]
    scopes: list[str]
    secret: str | None = None
    jwks: dict | None = None
    always_refresh: bool = False

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None                                    # redirect_uri is required

    def get_allowed_scope(self, scope):
        return grant(scope, self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris      # exact match

    def check_client_secret(self, client_secret):
        return self.secret is not None and hmac.compare_digest(self.secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    context: dict
    issued_at: float = field(default_factory=time.time)
    used: bool = False
    tokens: list = field(default_factory=list)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


@dataclass
class Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    user: str
    context: dict
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    expired: bool = False
    revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client):
        return client.client_id == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return self.expired or time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user


@dataclass
class Launch:
    id: str
    patient: str
    encounter: str | None
    document_reference: str | None
    user: str
    need_patient_banner: bool
    intent: str | None
    app_context: str | None
    used: bool = False


# -- Authlib's grants and client authentication, bound to the stand-in ---------------------------
AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]


class S256Only(CodeChallenge):
    """PKCE is required of every client, with S256 only."""
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        try:
            self.server.ehr.check_authorize(self.request)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def save_authorization_code(self, code, request):
        self.server.ehr.save_code(code, request)

    def query_authorization_code(self, code, client):
        return self.server.ehr.query_code(code, client)

    def delete_authorization_code(self, authorization_code):
        authorization_code.used = True

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def issue_token(self, user, refresh_token):
        return self.generate_token(user=user, scope=refresh_token.get_scope(),
                                   include_refresh_token=self.server.ehr.rotate_refresh)

    def authenticate_refresh_token(self, refresh_token):
        found = self.server.ehr.by_refresh.get(refresh_token)
        return found if found is not None and not found.refresh_revoked else None

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        if self.server.ehr.rotate_refresh:
            refresh_token.refresh_revoked = True


class PrivateKeyJWTAuth(JWTBearerClientAssertion):
    """``private_key_jwt``: the client's assertion, ES384 or RS384, checked against its JWKS."""
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, ehr):
        super().__init__(validate_jti=True)
        self.ehr = ehr
        self.seen: set[tuple[str, str]] = set()

    def get_audiences(self):
        return [self.ehr.token_endpoint]

    def validate_jti(self, claims, jti):
        key = (claims["sub"], jti)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def resolve_client_public_key(self, client):
        jwks = client.jwks or {"keys": []}
        return KeySet.import_key_set(jwks if "keys" in jwks else {"keys": [jwks]})

    def process_assertion_claims(self, assertion, resolve_key):
        try:                                        # joserfc allows only "recommended" algs unless told
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims


class Server(AuthorizationServer):
    ehr: object          # the SmartEHR (tests/smart_ehr.py) this server belongs to

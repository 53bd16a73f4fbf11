"""Verification of the JWT that a CDS Client (an EHR) sends with every CDS Hooks call.

CDS Hooks 2.0 ("Trusting CDS Clients"): the EHR signs a short-lived JWT with its private
key and names the public key by ``kid`` (and optionally its JWK Set by ``jku``). The checks,
in this order; any failure is :class:`~progress_plugin.errors.Unauthorized` (401):

1. ``Authorization: Bearer <jwt>`` is present and parses as a JWS;
2. the header's ``alg`` is ES384 or RS384 (HS256, ``none`` and everything else are refused
   before any key is looked up) and it names a ``kid``;
3. ``iss`` is an allowlisted issuer, and ``jku``, when given, is one of that issuer's
   allowlisted JWK Set URLs. Keys are fetched only from those URLs (no redirects, with a
   timeout, size-capped, cached for ``jwks_ttl_seconds``);
4. the signature verifies with the key ``kid`` (its type and curve must fit ``alg``);
5. ``aud`` is one string equal to the exact endpoint URL (public base + path); ``exp``,
   ``iat`` and ``jti`` are present; ``exp`` and ``iat`` hold within ``leeway_seconds``, and
   ``exp`` lies no further ahead than the replay cache remembers (``jti_ttl_seconds``);
6. ``jti`` has not been seen from this issuer before. The replay cache is a store table,
   so it holds across worker processes.

Reasons are short codes, safe to log; a token is never logged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import jwt
import requests
import sqlalchemy as sa

from progress_plugin.store import tables
from progress_plugin.errors import Unauthorized
from progress_plugin.service.clock import epoch_seconds
from progress_plugin.service.settings import CdsConfig, CdsIssuer
from progress_plugin.store import Store

log = logging.getLogger(__name__)

ALGORITHMS = ("ES384", "RS384")
MAX_TOKEN_BYTES = 16 * 1024
MAX_JWKS_BYTES = 64 * 1024
#: An unknown ``kid`` refetches a cached JWK Set at most this often (key rotation).
KID_MISS_REFETCH_SECONDS = 30.0
#: After a failed fetch, the next try waits this long.
FAILED_FETCH_RETRY_SECONDS = 5.0


class TokenRefused(Unauthorized):
    """The CDS Client's JWT did not verify; ``reason`` is a short code."""

    def __init__(self, reason: str):
        super().__init__(f"JWT refused: {reason}", reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """A verified CDS Client."""

    iss: str
    clinic: str
    sub: str | None
    jti: str


class KeySets:
    """JWK Sets fetched from allowlisted URLs only, cached per URL.

    :param ttl: seconds a fetched set is used before it is fetched again.
    :param timeout: seconds for the connection and for the read.
    """

    def __init__(self, ttl: float = 300, timeout: float = 5.0, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.timeout = (min(3.05, timeout), timeout)
        self.session = session or requests.Session()
        self.clock = clock
        self._cache: dict[str, tuple[float, float, dict[str, dict]]] = {}   # url -> (fetched, expires, keys)
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, url: str, kid: str, alg: str) -> jwt.PyJWK | None:
        """The key ``kid`` of the set at ``url``, usable for ``alg``; None when there is none."""
        with self._lock:
            now = self.clock()
            entry = self._cache.get(url)
            if entry is None or now >= entry[1]:
                entry = self._refresh(url, now, entry)
            elif kid not in entry[2] and now - entry[0] >= KID_MISS_REFETCH_SECONDS:
                entry = self._refresh(url, now, entry)
        found = entry[2].get(kid)
        if found is None:
            return None
        if found.get("use", "sig") != "sig" or found.get("alg", alg) != alg:
            return None
        try:
            return jwt.PyJWK(found, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            return None

    def _refresh(self, url: str, now: float, old):
        keys = self._fetch(url)
        if keys is None:            # keep what we had, try again soon
            entry = (now, now + FAILED_FETCH_RETRY_SECONDS, old[2] if old else {})
        else:
            entry = (now, now + self.ttl, keys)
        self._cache[url] = entry
        return entry

    def _fetch(self, url: str) -> dict[str, dict] | None:
        self.fetches += 1
        try:
            with self.session.get(url, timeout=self.timeout, allow_redirects=False, stream=True,
                                  headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    log.warning("jwks fetch failed url=%s status=%s", url, response.status_code)
                    return None
                body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                log.warning("jwks fetch failed url=%s reason=too-large", url)
                return None
            document = json.loads(body)
            keys = document["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
        except (requests.RequestException, ValueError, TypeError, KeyError) as exc:
            log.warning("jwks fetch failed url=%s reason=%s", url, exc.__class__.__name__)
            return None
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class ReplayCache:
    """``jti`` values already seen, per issuer, in the store (shared by every worker)."""

    def __init__(self, store: Store):
        self.store = store

    def remember(self, iss: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``jti``; False when it was already recorded and has not expired."""
        key = hashlib.sha256(f"{iss}\n{jti}".encode()).hexdigest()
        table = tables.cds_jtis
        try:
            with self.store.begin() as conn:
                conn.execute(table.delete().where(table.c.expires_at < now))
                conn.execute(table.insert().values(key=key, expires_at=expires_at))
        except sa.exc.IntegrityError:
            return False
        return True


class Verifier:
    """Verifies CDS Clients' JWTs against the ``[cds]`` configuration."""

    def __init__(self, config: CdsConfig, store: Store, keys: KeySets | None = None,
                 clock: Callable[[], float] = epoch_seconds):
        self.config = config
        self.keys = keys or KeySets(config.jwks_ttl_seconds, config.timeout_seconds)
        self.replays = ReplayCache(store)
        self.clock = clock

    def verify(self, authorization: str | None, audience: str) -> Caller:
        """The verified caller of a request whose ``Authorization`` header is ``authorization``
        and whose exact URL is ``audience``. Raises :class:`TokenRefused`."""
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("malformed") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:                    # before any key lookup
            raise TokenRefused("algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("kid-missing")
        issuer = self._issuer(token)
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku:
            raise TokenRefused("jku-not-allowed")
        key = self._key(issuer, jku, kid, alg)
        leeway = self.config.leeway_seconds
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=audience, issuer=issuer.iss, leeway=leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "strict_aud": True,
                         "enforce_minimum_key_length": True})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired") from None
        except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError, jwt.InvalidIssuedAtError,
                jwt.ImmatureSignatureError, jwt.InvalidSignatureError) as exc:
            raise TokenRefused(_reason(exc)) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenRefused("invalid") from None
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
            raise TokenRefused("invalid")          # NumericDate is a JSON number (RFC 7519)
        now = self.clock()
        if exp - now > self.config.jti_ttl_seconds - leeway:
            raise TokenRefused("lifetime")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > 255:
            raise TokenRefused("jti")
        expires_at = datetime.fromtimestamp(exp + leeway, timezone.utc)
        if not self.replays.remember(issuer.iss, jti, expires_at, datetime.fromtimestamp(now, timezone.utc)):
            raise TokenRefused("replayed")
        sub = claims.get("sub")
        return Caller(issuer.iss, issuer.clinic, sub if isinstance(sub, str) else None, jti)

    def _issuer(self, token: str) -> CdsIssuer:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused("malformed") from None
        iss = claims.get("iss")
        issuer = self.config.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenRefused("issuer-not-allowed")
        return issuer

    def _key(self, issuer: CdsIssuer, jku: str | None, kid: str, alg: str) -> jwt.PyJWK:
        for url in ([jku] if jku else issuer.jku):
            key = self.keys.key(url, kid, alg)
            if key is not None:
                return key
        raise TokenRefused("unknown-kid")


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRefused("missing")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRefused("too-large")
    return token


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.InvalidAudienceError):
        return "audience"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing-{exc.claim}"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "signature"
    return "issued-at"

"""Where a SMART on FHIR EHR signs apps in: its ``.well-known/smart-configuration`` (SMART App Launch
2.x), or, from an older EHR, the ``oauth-uris`` extension of its CapabilityStatement.

:func:`discover` reads ``{iss}/.well-known/smart-configuration``; when that answers anything but a
usable JSON document it reads ``{iss}/metadata`` and takes the authorize and token URIs from
``rest.security``'s ``oauth-uris`` extension (nothing else is known then: ``capabilities`` and the
other lists are empty and :attr:`SmartConfiguration.source` says ``"metadata"``). Both answers are
validated (marshmallow); an endpoint that is neither https nor on this machine's loopback is
refused, so no code, verifier or secret is ever sent in clear over a network.

Every request has a timeout and TLS verification on. A result is kept per ``iss`` for
:data:`CACHE_SECONDS` (a launch does discovery, the callback uses it again a minute later).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import marshmallow as ma
import requests
from marshmallow import fields, validate

from progress_plugin import __version__
from progress_plugin.errors import HostUnavailable, summarize

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/smart-configuration"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
TIMEOUT = (3.05, 10.0)
CACHE_SECONDS = 300
MAX_BYTES = 1024 * 1024


class DiscoveryFailed(HostUnavailable):
    """The EHR's SMART configuration could not be read, or is not usable (the message names the field)."""


@dataclass(frozen=True)
class SmartConfiguration:
    """What an EHR publishes for SMART apps (the parts the app uses)."""

    iss: str
    authorization_endpoint: str
    token_endpoint: str
    source: str = "smart-configuration"          # or "metadata" (the CapabilityStatement's oauth-uris)
    issuer: str | None = None                    # the OpenID Connect issuer (id_token ``iss``)
    jwks_uri: str | None = None
    revocation_endpoint: str | None = None
    capabilities: frozenset[str] = frozenset()
    code_challenge_methods_supported: frozenset[str] = frozenset()
    token_endpoint_auth_methods_supported: frozenset[str] = frozenset()
    token_endpoint_auth_signing_alg_values_supported: frozenset[str] = frozenset()
    scopes_supported: frozenset[str] | None = None          # None: the EHR does not list them
    grant_types_supported: frozenset[str] = frozenset()


def safe_endpoint(url: str) -> bool:
    """https, or http to this machine's loopback (a test EHR, or one behind a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _safe(url: str) -> None:
    if not safe_endpoint(url):
        raise ma.ValidationError("must be https (or http to this machine's loopback)")


def _endpoint(**kw):
    return fields.String(validate=[validate.Length(max=2000),
                                   validate.URL(schemes={"http", "https"}, require_tld=False), _safe], **kw)


def _names(**kw):
    return fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                       validate=validate.Length(max=500), **kw)


class SmartConfigurationSchema(ma.Schema):
    """``.well-known/smart-configuration``; fields the app does not use are let through unread."""

    class Meta:
        unknown = ma.EXCLUDE

    issuer = fields.String(validate=validate.Length(max=2000))
    jwks_uri = _endpoint()
    authorization_endpoint = _endpoint(required=True)
    token_endpoint = _endpoint(required=True)
    revocation_endpoint = _endpoint()
    capabilities = _names(load_default=list)
    code_challenge_methods_supported = _names(load_default=list)
    token_endpoint_auth_methods_supported = _names(load_default=list)
    token_endpoint_auth_signing_alg_values_supported = _names(load_default=list)
    scopes_supported = _names(load_default=None)
    grant_types_supported = _names(load_default=list)


class OAuthUrisSchema(ma.Schema):
    """The ``oauth-uris`` extension's values, gathered into one mapping."""

    class Meta:
        unknown = ma.EXCLUDE

    authorize = _endpoint(required=True)
    token = _endpoint(required=True)
    revoke = _endpoint()


_SMART = SmartConfigurationSchema()
_OAUTH_URIS = OAuthUrisSchema()
_cache: dict[str, tuple[float, SmartConfiguration]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def discover(iss: str, *, timeout=TIMEOUT, fresh: bool = False, session: requests.Session | None = None
             ) -> SmartConfiguration:
    """The SMART configuration of the EHR whose FHIR base is ``iss``. Raises :class:`DiscoveryFailed`."""
    iss = iss.rstrip("/")
    if not fresh:
        with _lock:
            hit = _cache.get(iss)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    with _session(session) as http:
        try:
            found = from_well_known(iss, timeout=timeout, session=http)
        except DiscoveryFailed as first:
            log.info("smart discovery: no usable smart-configuration (%s); trying the CapabilityStatement",
                     first.context.get("reason", "unreadable"))
            try:
                found = from_metadata(iss, timeout=timeout, session=http)
            except DiscoveryFailed as second:
                raise DiscoveryFailed(f"{first}; and {second}", reason=second.context.get("reason")) from None
    with _lock:
        _cache[iss] = (time.monotonic() + CACHE_SECONDS, found)
    return found


@contextmanager
def _session(given: requests.Session | None):
    if given is not None:
        yield given
        return
    with requests.Session() as http:
        yield http


def _get_json(http: requests.Session, url: str, timeout, what: str) -> dict:
    headers = {"Accept": "application/json" if what != "metadata" else "application/fhir+json",
               "User-Agent": f"progress-plugin/{__version__}"}
    try:
        with http.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise DiscoveryFailed(f"{what}: the EHR answered {response.status_code}",
                                      status_code=response.status_code, reason=f"status-{response.status_code}")
            body = response.raw.read(MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise DiscoveryFailed(f"{what}: {exc.__class__.__name__}", reason=exc.__class__.__name__) from None
    if len(body) > MAX_BYTES:
        raise DiscoveryFailed(f"{what}: the answer is larger than {MAX_BYTES} bytes", reason="too-large")
    try:
        data = json.loads(body)
    except ValueError:
        raise DiscoveryFailed(f"{what}: the answer is not JSON", reason="not-json") from None
    if not isinstance(data, dict):
        raise DiscoveryFailed(f"{what}: the answer is not a JSON object", reason="not-object")
    return data


def _invalid(what: str, exc: ma.ValidationError) -> DiscoveryFailed:
    return DiscoveryFailed(f"{what}: {summarize(exc.messages)}", reason="invalid", fields=exc.messages)


def from_well_known(iss: str, *, timeout=TIMEOUT, session: requests.Session | None = None) -> SmartConfiguration:
    """``{iss}/.well-known/smart-configuration`` alone (no fallback, no cache). Raises DiscoveryFailed."""
    with _session(session) as http:
        data = _get_json(http, iss.rstrip("/") + WELL_KNOWN, timeout, "smart-configuration")
    try:
        d = _SMART.load(data)
    except ma.ValidationError as exc:
        raise _invalid("smart-configuration", exc) from None
    return SmartConfiguration(
        iss.rstrip("/"), d["authorization_endpoint"], d["token_endpoint"], "smart-configuration", d.get("issuer"),
        d.get("jwks_uri"), d.get("revocation_endpoint"), frozenset(d["capabilities"]),
        frozenset(d["code_challenge_methods_supported"]), frozenset(d["token_endpoint_auth_methods_supported"]),
        frozenset(d["token_endpoint_auth_signing_alg_values_supported"]),
        None if d["scopes_supported"] is None else frozenset(d["scopes_supported"]),
        frozenset(d["grant_types_supported"]))


def oauth_uris(statement: dict) -> dict[str, str]:
    """``{name: uri}`` from a CapabilityStatement's ``rest[].security`` ``oauth-uris`` extension."""
    found: dict[str, str] = {}
    for rest in statement.get("rest") or []:
        security = rest.get("security") if isinstance(rest, dict) else None
        for ext in (security.get("extension") or []) if isinstance(security, dict) else []:
            if not isinstance(ext, dict) or ext.get("url") != OAUTH_URIS:
                continue
            for part in ext.get("extension") or []:
                if isinstance(part, dict) and isinstance(part.get("url"), str) and isinstance(part.get("valueUri"), str):
                    found.setdefault(part["url"], part["valueUri"])
    return found


def from_metadata(iss: str, *, timeout=TIMEOUT, session: requests.Session | None = None) -> SmartConfiguration:
    """The CapabilityStatement's ``oauth-uris`` alone (no cache). Raises DiscoveryFailed."""
    with _session(session) as http:
        data = _get_json(http, iss.rstrip("/") + "/metadata", timeout, "metadata")
    if data.get("resourceType") != "CapabilityStatement":
        raise DiscoveryFailed("metadata: not a CapabilityStatement", reason="not-capabilitystatement")
    try:
        uris = _OAUTH_URIS.load(oauth_uris(data))
    except ma.ValidationError as exc:
        raise _invalid("metadata: oauth-uris", exc) from None
    return SmartConfiguration(iss.rstrip("/"), uris["authorize"], uris["token"], "metadata",
                              revocation_endpoint=uris.get("revoke"))

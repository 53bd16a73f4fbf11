"""A FHIR R4 client for the host's API.

One ``requests.Session`` with a (connect, read) timeout on every call, TLS verification
always on, and the retry policy of :mod:`progress_plugin.retry` mounted on it. Failures are
mapped onto :class:`progress_plugin.errors.HostAPIError` subclasses.

Note content is never logged and never kept: the note tagging path keeps only ``id`` and
``meta`` of what the host returns.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from progress_plugin import __version__
from progress_plugin.errors import (
    HostAPIError,
    HostAuthError,
    HostConflict,
    HostNotFound,
    HostRejected,
    HostUnavailable,
    ValidationError,
)
from progress_plugin.retry import IDEMPOTENCY_HEADER, Retry, RetryAdapter, policy

log = logging.getLogger("progress_plugin.fhir")

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
DEFAULT_TIMEOUT = (3.05, 30.0)
REQUEST_ID_HEADERS = ("X-Request-Id", "X-Correlation-Id", "Request-Id")
#: Statuses that mean "this server has no $meta-add", after which the client patches.
META_ADD_UNSUPPORTED = frozenset({404, 405, 501})
#: Statuses a guarded JSON Patch fails with when the ``test`` op lost a race.
PATCH_RACE = frozenset({400, 409, 412})

_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Fields that a server manages itself and that do not count when comparing content.
_SERVER_FIELDS = ("id", "meta", "text")


@dataclass(frozen=True)
class WriteResult:
    """What a write call did.

    ``action`` is one of ``created``, ``updated``, ``exists`` (conditional create found
    the resource), ``unchanged`` (nothing to write, no write sent), ``meta-add`` or
    ``patched`` (tags added). ``wrote`` is True when the host changed something.
    ``resource`` is the host's copy (for note tagging only ``id`` and ``meta``), or None when
    the host answered without a body. ``added`` lists the tag codings sent by
    :meth:`FHIRClient.add_note_tags`.
    """

    action: str
    resource: dict | None
    status_code: int | None
    added: tuple = field(default=())

    @property
    def wrote(self) -> bool:
        return self.action in ("created", "updated", "meta-add", "patched")

    @property
    def created(self) -> bool:
        return self.action == "created"


def idempotency_key(*parts: Any) -> str:
    """A stable key for a write: the same inputs always give the same key."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:48]


def error_for(response: requests.Response, message: str = "") -> HostAPIError:
    """The :class:`HostAPIError` subclass for a non-2xx response."""
    status = response.status_code
    if status in (401, 403):
        cls = HostAuthError
    elif status in (404, 410):
        cls = HostNotFound
    elif status in (409, 412):
        cls = HostConflict
    elif status == 429 or status >= 500:
        cls = HostUnavailable
    else:
        cls = HostRejected
    context = {}
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        context["retry_after"] = retry_after
    return cls(message or f"host answered {status}", status_code=status,
               body=_text(response), request_id=request_id(response), **context)


def request_id(response: requests.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value[:200]
    return None


def _text(response: requests.Response) -> str:
    try:
        return response.content[:4000].decode(response.encoding or "utf-8", "replace")
    except Exception:  # a body we cannot decode carries no useful detail
        return ""


def _same(codings_a: dict, codings_b: dict) -> bool:
    return (codings_a.get("system"), codings_a.get("code")) == (
        codings_b.get("system"), codings_b.get("code"))


def _from_etag(resource_type: str, id: str, response: requests.Response) -> dict:
    """``id`` and ``meta.versionId`` from a body-less answer's ETag (``W/"3"``)."""
    resource = {"resourceType": resource_type, "id": id}
    match = re.fullmatch(r'(?:W/)?"([^"]+)"', response.headers.get("ETag", "").strip())
    if match:
        resource["meta"] = {"versionId": match.group(1)}
    return resource


def _strip(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in _SERVER_FIELDS}


def _only_meta(resource: dict | None) -> dict | None:
    if resource is None:
        return None
    return {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}


class FHIRClient:
    """A client for a host's FHIR R4 REST API.

    :param base_url: the FHIR base, e.g. ``https://ehr.example/fhir/R4``.
    :param token: a bearer token, or None for no ``Authorization`` header.
    :param timeout: ``(connect, read)`` seconds, applied to every call.
    :param retries: how many times a retryable failure is retried within one call.
    :param backoff_factor: urllib3 backoff factor (sleeps 0, 2f, 4f, ...).
    :param retry_after_max: longest ``Retry-After`` honoured, in seconds.
    :param ca_bundle: path to a CA bundle for hosts with a private CA. Verification is
        never turned off.
    :param retry: a ready :class:`~progress_plugin.retry.Retry`, overriding the three above.
    """

    def __init__(self, base_url: str, token: str | None = None, *,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, retries: int = 3,
                 backoff_factor: float = 0.5, retry_after_max: int = 30,
                 ca_bundle: str | None = None, retry: Retry | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError({"base_url": ["must be an http(s) URL"]})
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._origin = (parts.scheme, parts.netloc)
        self._meta_add_supported: bool | None = None
        session = requests.Session()
        session.verify = ca_bundle if ca_bundle else True
        session.headers.update({
            "User-Agent": f"progress-plugin/{__version__}",
            "Accept": FHIR_JSON,
        })
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        adapter = RetryAdapter(retry or policy(retries, backoff_factor, retry_after_max))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.session = session

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "FHIRClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def meta_add_supported(self) -> bool | None:
        """None until tried; False once the host showed it has no ``$meta-add``."""
        return self._meta_add_supported

    def url(self, *segments: str) -> str:
        return "/".join([self.base_url, *segments])

    def _send(self, method: str, url: str, *, params=None, json_body=None, body=None,
              headers: dict | None = None) -> requests.Response:
        """Send one request; return a 2xx response or raise the mapped HostAPIError."""
        response = self._raw(method, url, params=params, json_body=json_body, body=body,
                             headers=headers)
        if not response.ok:
            raise error_for(response)
        return response

    def _raw(self, method: str, url: str, *, params=None, json_body=None, body=None,
             headers: dict | None = None) -> requests.Response:
        """Send one request and return any response; transport failures raise."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            headers.setdefault("Content-Type", FHIR_JSON)
        started = time.monotonic()
        try:
            response = self.session.request(method, url, params=params, data=body,
                                            headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("fhir %s %s failed: %s", method, urlsplit(url).path,
                        exc.__class__.__name__)
            raise HostUnavailable(f"{method} {urlsplit(url).path}: "
                                  f"{exc.__class__.__name__}") from exc
        log.debug("fhir %s %s -> %s in %.0f ms request_id=%s", method, urlsplit(url).path,
                  response.status_code, (time.monotonic() - started) * 1000,
                  request_id(response))
        return response

    @staticmethod
    def _json(response: requests.Response) -> dict | None:
        if not response.content:
            return None
        try:
            data = response.json()
        except ValueError as exc:
            raise HostUnavailable("host answered with a body that is not JSON",
                                  status_code=response.status_code,
                                  request_id=request_id(response)) from exc
        if not isinstance(data, dict):
            raise HostUnavailable("host answered with JSON that is not a resource",
                                  status_code=response.status_code,
                                  request_id=request_id(response))
        return data

    @staticmethod
    def _check_type(resource_type: str) -> str:
        if not isinstance(resource_type, str) or not _TYPE_RE.match(resource_type):
            raise ValidationError({"resource_type": ["not a FHIR resource type"]})
        return resource_type

    @staticmethod
    def _check_id(resource_id: str) -> str:
        if not isinstance(resource_id, str) or not _ID_RE.match(resource_id):
            raise ValidationError({"id": ["not a FHIR id"]})
        return resource_id

    # -- reads ------------------------------------------------------------------------

    def metadata(self) -> dict:
        """The host's CapabilityStatement (``GET [base]/metadata``)."""
        response = self._send("GET", self.url("metadata"))
        data = self._json(response)
        if not data or data.get("resourceType") != "CapabilityStatement":
            raise HostRejected("metadata did not return a CapabilityStatement",
                               status_code=response.status_code, body=_text(response),
                               request_id=request_id(response))
        return data

    def read(self, resource_type: str, id: str, elements: Iterable[str] | None = None) -> dict:
        """``GET [base]/{type}/{id}``, optionally asking for ``_elements`` only.

        Servers may ignore ``_elements`` and return the whole resource.
        """
        params = {"_elements": ",".join(elements)} if elements else None
        url = self.url(self._check_type(resource_type), self._check_id(id))
        return self._json(self._send("GET", url, params=params)) or {}

    def pages(self, resource_type: str | None = None, params: dict | None = None, *,
              next_url: str | None = None) -> Iterator[tuple[dict, str | None]]:
        """Yield ``(bundle, next_url)`` for each page of a search.

        Start from ``resource_type`` and ``params``, or resume from a ``next_url`` saved
        from an earlier page. ``next_url`` is None on the last page. One page is held
        at a time.
        """
        if next_url is None:
            if resource_type is None:
                raise ValidationError({"resource_type": ["needed unless next_url is given"]})
            url, query = self.url(self._check_type(resource_type)), params
        else:
            url, query = self._own_url(next_url), None
        while url:
            bundle = self._json(self._send("GET", url, params=query)) or {}
            if bundle.get("resourceType") != "Bundle":
                raise HostRejected("search did not return a Bundle")
            following = next((link.get("url") for link in bundle.get("link") or []
                              if link.get("relation") == "next"), None)
            following = self._own_url(following) if following else None
            yield bundle, following
            url, query = following, None

    def search(self, resource_type: str, params: dict | None = None) -> Iterator[dict]:
        """Yield each matching resource of a search, following ``next`` links page by page.

        Entries the server marks as ``include`` or ``outcome`` are left out; use
        :meth:`pages` to see whole Bundles.
        """
        for bundle, _ in self.pages(resource_type, params):
            for entry in bundle.get("entry") or []:
                mode = (entry.get("search") or {}).get("mode", "match")
                if mode == "match" and "resource" in entry:
                    yield entry["resource"]

    def _own_url(self, url: str) -> str:
        """Accept a paging link only on the host's own origin: the token goes with it."""
        parts = urlsplit(url)
        if not parts.scheme:
            url = urljoin(self.base_url + "/", url)
            parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise HostRejected("paging link points to another origin",
                               context_origin=parts.netloc)
        return url

    # -- writes -----------------------------------------------------------------------

    def ensure_questionnaire(self, resource: dict) -> WriteResult:
        """Publish a Questionnaire once per ``url`` + ``version`` (conditional create).

        Returns action ``created`` (201) or ``exists`` (the host already had it).
        """
        if resource.get("resourceType") != "Questionnaire":
            raise ValidationError({"resourceType": ["must be Questionnaire"]})
        url, version = resource.get("url"), resource.get("version")
        if not url or not version:
            raise ValidationError({"url": ["url and version are both required"]})
        condition = urlencode({"url": url, "version": version})
        headers = {"If-None-Exist": condition, "Prefer": "return=representation",
                   IDEMPOTENCY_HEADER: idempotency_key("Questionnaire", url, version,
                                                       _strip(resource))}
        response = self._send("POST", self.url("Questionnaire"), json_body=resource,
                              headers=headers)
        action = "created" if response.status_code == 201 else "exists"
        return WriteResult(action, self._json(response), response.status_code)

    def upsert_by_identifier(self, resource: dict) -> WriteResult:
        """Create or update a resource keyed by its first identifier (Goal, Observation).

        Looks the resource up by identifier first: if the host's copy already has the
        same content, nothing is written (action ``unchanged``). Otherwise a conditional
        update ``PUT [base]/{type}?identifier=system|value`` creates it (``created``) or
        replaces it (``updated``). Several matches raise :class:`HostConflict`.
        """
        resource_type = self._check_type(resource.get("resourceType", ""))
        identifiers = resource.get("identifier") or []
        if isinstance(identifiers, dict):          # QuestionnaireResponse has a single Identifier
            identifiers = [identifiers]
        if not identifiers or not identifiers[0].get("system") or not identifiers[0].get("value"):
            raise ValidationError({"identifier": ["an identifier with system and value is required"]})
        system, value = identifiers[0]["system"], identifiers[0]["value"]
        token = f"{system}|{value}"
        matches = []
        for found in self.search(resource_type, {"identifier": token, "_count": 2}):
            matches.append(found)
            if len(matches) > 1:
                raise HostConflict(f"several {resource_type} share one identifier")
        body = dict(resource)
        if matches:
            current = matches[0]
            if _strip(current) == _strip(resource):
                return WriteResult("unchanged", current, None)
            body["id"] = current["id"]
        else:
            body.pop("id", None)
        headers = {"Prefer": "return=representation",
                   IDEMPOTENCY_HEADER: idempotency_key(resource_type, system, value,
                                                       _strip(resource))}
        response = self._send("PUT", self.url(resource_type),
                              params={"identifier": token}, json_body=body, headers=headers)
        action = "created" if response.status_code == 201 else "updated"
        return WriteResult(action, self._json(response), response.status_code)

    def add_note_tags(self, resource_type: str, id: str, codings: list[dict]) -> WriteResult:
        """Add ``meta.tag`` codings to a note (DocumentReference or Composition).

        Tries ``$meta-add`` first. A host without it (404/405/501) is remembered, and
        the tags go through a JSON Patch guarded by a ``test`` on ``/meta/versionId``,
        sending only the tags not already there. A lost race is re-read and re-patched
        once, then raises :class:`HostConflict`. The note is never sent back whole.
        The result's ``resource`` holds only ``id`` and ``meta``.
        """
        self._check_type(resource_type)
        self._check_id(id)
        wanted: list[dict] = []
        for coding in codings:
            if not coding.get("code"):
                raise ValidationError({"codings": ["every tag needs a code"]})
            tag = {k: coding[k] for k in ("system", "version", "code", "display") if k in coding}
            if not any(_same(tag, seen) for seen in wanted):
                wanted.append(tag)
        if not wanted:
            return WriteResult("unchanged", None, None)
        if self._meta_add_supported is not False:
            result = self._meta_add(resource_type, id, wanted)
            if result is not None:
                return result
        return self._patch_tags(resource_type, id, wanted)

    def _meta_add(self, resource_type: str, id: str, tags: list[dict]) -> WriteResult | None:
        parameters = {"resourceType": "Parameters",
                      "parameter": [{"name": "meta", "valueMeta": {"tag": tags}}]}
        headers = {IDEMPOTENCY_HEADER: idempotency_key(resource_type, id, "$meta-add", tags)}
        response = self._raw("POST", self.url(resource_type, id, "$meta-add"),
                             json_body=parameters, headers=headers)
        if response.status_code in META_ADD_UNSUPPORTED and self._meta_add_supported is None:
            return None
        if not response.ok:
            raise error_for(response)
        self._meta_add_supported = True
        data = self._json(response) or {}
        meta = next((p.get("valueMeta") for p in data.get("parameter") or []
                     if p.get("name") == "return"), None)
        resource = {"resourceType": resource_type, "id": id}
        if meta is not None:
            resource["meta"] = meta
        return WriteResult("meta-add", resource, response.status_code, tuple(tags))

    def _read_meta(self, resource_type: str, id: str) -> dict:
        """The note's ``id`` and ``meta`` only; anything else the host sends is dropped."""
        return _only_meta(self.read(resource_type, id, elements=["meta"])) or {}

    def _patch_tags(self, resource_type: str, id: str, wanted: list[dict]) -> WriteResult:
        for attempt in (1, 2):
            current = self._read_meta(resource_type, id)
            if self._meta_add_supported is None:
                # The note exists, so the earlier 404/405/501 was about the operation.
                self._meta_add_supported = False
            meta = current.get("meta") or {}
            present = meta.get("tag") or []
            missing = [t for t in wanted if not any(_same(t, p) for p in present)]
            if not missing:
                return WriteResult("unchanged", current, None)
            patch = tag_patch(meta, missing)
            # return=minimal: the host need not send the note back at all.
            headers = {"Content-Type": JSON_PATCH, "Prefer": "return=minimal",
                       IDEMPOTENCY_HEADER: idempotency_key(resource_type, id,
                                                           meta.get("versionId"), patch)}
            if meta.get("versionId"):
                headers["If-Match"] = f'W/"{meta["versionId"]}"'
            body = json.dumps(patch, separators=(",", ":")).encode("utf-8")
            response = self._raw("PATCH", self.url(resource_type, id), body=body,
                                 headers=headers)
            if response.ok:
                resource = _only_meta(self._json(response)) or _from_etag(
                    resource_type, id, response)
                return WriteResult("patched", resource, response.status_code, tuple(missing))
            if response.status_code not in PATCH_RACE:
                raise error_for(response)
            log.info("fhir tag patch on %s/%s lost a race (attempt %d, status %d)",
                     resource_type, id, attempt, response.status_code)
            last = response
        raise HostConflict(f"tag patch on {resource_type}/{id} lost the race twice",
                           status_code=last.status_code, body=_text(last),
                           request_id=request_id(last))


def tag_patch(meta: dict, tags: list[dict]) -> list[dict]:
    """The JSON Patch that adds ``tags`` to a resource whose current meta is ``meta``."""
    ops: list[dict] = []
    if meta.get("versionId"):
        ops.append({"op": "test", "path": "/meta/versionId", "value": meta["versionId"]})
    if not meta:
        ops.append({"op": "add", "path": "/meta", "value": {"tag": list(tags)}})
    elif "tag" not in meta:
        ops.append({"op": "add", "path": "/meta/tag", "value": list(tags)})
    else:
        ops.extend({"op": "add", "path": "/meta/tag/-", "value": tag} for tag in tags)
    return ops

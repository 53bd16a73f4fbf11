"""The read side of the FHIR R4 client: its session, requests, reads and search paging.

One ``requests.Session`` with a (connect, read) timeout on every call, TLS verification
always on, and the retry policy of :mod:`progress_plugin.fhir.retry` mounted on it. Failures are
mapped by :mod:`progress_plugin.fhir.host_errors`. :class:`~progress_plugin.fhir.client.FHIRClient`
adds the writes.
"""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import requests

from progress_plugin import __version__
from progress_plugin.errors import HostRejected, HostUnavailable, ValidationError
from progress_plugin.fhir.host_errors import body_text, error_for, request_id
from progress_plugin.fhir.retry import Retry, RetryAdapter, policy
from progress_plugin.fhir.session import Session

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
DEFAULT_TIMEOUT = (3.05, 30.0)

_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class FHIRReader:
    """Reads from a host's FHIR R4 REST API.

    :param base_url: the FHIR base, e.g. ``https://ehr.example/fhir/R4``.
    :param token: a bearer token, or None for no ``Authorization`` header.
    :param timeout: ``(connect, read)`` seconds, applied to every call.
    :param retries: how many times a retryable failure is retried within one call.
    :param backoff_factor: urllib3 backoff factor (sleeps 0, 2f, 4f, ...).
    :param retry_after_max: longest ``Retry-After`` honoured, in seconds.
    :param ca_bundle: path to a CA bundle for hosts with a private CA. Verification is
        never turned off.
    :param retry: a ready :class:`~progress_plugin.fhir.retry.Retry`, overriding the three above.
    :param adapter: a ready, shared :class:`~progress_plugin.fhir.retry.RetryAdapter` (its pool and policy), overriding the four above.
    :param environ_proxies: the proxy-environment memo to share (:class:`~progress_plugin.fhir.session.Session`).
    """

    def __init__(self, base_url: str, token: str | None = None, *,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, retries: int = 3,
                 backoff_factor: float = 0.5, retry_after_max: int = 30,
                 ca_bundle: str | None = None, retry: Retry | None = None,
                 adapter: RetryAdapter | None = None, environ_proxies: dict | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError({"base_url": ["must be an http(s) URL"]})
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._origin = (parts.scheme, parts.netloc)
        session = Session(environ_proxies)   # the proxy environment read once per host
        session.verify = ca_bundle if ca_bundle else True
        session.headers.update({
            "User-Agent": f"progress-plugin/{__version__}",
            "Accept": FHIR_JSON,
        })
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        if adapter is None:                  # else a shared one (its pool and its policy), the caller's
            adapter = RetryAdapter(retry or policy(retries, backoff_factor, retry_after_max))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.session = session

    # -- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
                               status_code=response.status_code, body=body_text(response),
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

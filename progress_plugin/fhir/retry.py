"""The retry policy for calls to a host, in one place.

Short retries within one request only: 429/502/503/504 and connection failures, with a
small exponential backoff, honouring ``Retry-After`` up to :data:`RETRY_AFTER_MAX` seconds.
Longer waits belong to the outbox, which reschedules a row instead of sleeping a thread.

GET, HEAD, OPTIONS and DELETE are retried freely. POST, PUT and PATCH are retried only when
the request carries an ``Idempotency-Key`` header: urllib3 cannot see request headers, so
:class:`RetryAdapter` picks the policy per request before handing it to urllib3.
"""
from __future__ import annotations

import threading

from requests.adapters import HTTPAdapter
from urllib3.util import Retry as _Retry

#: Longest ``Retry-After`` we sleep for inside one call (urllib3 defaults to 6 hours).
RETRY_AFTER_MAX = 30

RETRY_STATUSES = frozenset({429, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Retry(_Retry):
    """urllib3's Retry with the plugin's defaults.

    ``Retry-After`` is honoured on 429 and 503 only (urllib3 also sleeps on 413, which is
    permanent) and capped at :data:`RETRY_AFTER_MAX`. The final response is returned rather
    than raised once retries run out, so the caller can map its status and body.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, total=3, *, backoff_factor: float = 0.5, backoff_max: float = 8,
                 retry_after_max: int = RETRY_AFTER_MAX, status_forcelist=RETRY_STATUSES,
                 allowed_methods=SAFE_METHODS, raise_on_status: bool = False,
                 **kwargs):
        super().__init__(total=total, backoff_factor=backoff_factor, backoff_max=backoff_max,
                         retry_after_max=retry_after_max, status_forcelist=status_forcelist,
                         allowed_methods=allowed_methods, raise_on_status=raise_on_status,
                         **kwargs)

    def for_request(self, method: str, headers) -> "Retry":
        """The policy for one request: writes become retryable only with an idempotency key."""
        if method.upper() in WRITE_METHODS and headers.get(IDEMPOTENCY_HEADER):
            return self.new(allowed_methods=frozenset(self.allowed_methods or ()) | WRITE_METHODS)
        return self


def policy(retries: int = 3, backoff_factor: float = 0.5,
           retry_after_max: int = RETRY_AFTER_MAX) -> Retry:
    """The retry policy used for host calls. ``retries=0`` turns retrying off."""
    return Retry(total=retries, backoff_factor=backoff_factor, retry_after_max=retry_after_max)


class RetryAdapter(HTTPAdapter):
    """An HTTPAdapter that applies :meth:`Retry.for_request` to each request it sends.

    requests hands ``self.max_retries`` to urllib3; the property returns the policy chosen
    for the request being sent on this thread, so one adapter is safe to share.
    """

    def __init__(self, retry: Retry | None = None, **kwargs):
        self._local = threading.local()
        super().__init__(max_retries=retry if retry is not None else policy(), **kwargs)

    @property
    def max_retries(self) -> _Retry:
        chosen = getattr(self._local, "retry", None)
        return chosen if chosen is not None else self._base_retry

    @max_retries.setter
    def max_retries(self, value) -> None:
        self._base_retry = value

    def send(self, request, **kwargs):
        base = self._base_retry
        self._local.retry = (base.for_request(request.method or "GET", request.headers)
                             if isinstance(base, Retry) else base)
        try:
            return super().send(request, **kwargs)
        finally:
            self._local.retry = None

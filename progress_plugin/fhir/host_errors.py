"""How a host's FHIR answers map onto :class:`progress_plugin.errors.HostAPIError` subclasses.

401/403 is :class:`HostAuthError`, 404/410 :class:`HostNotFound`, 409/412 :class:`HostConflict`,
429 and 5xx :class:`HostUnavailable` (retried later), any other non-2xx :class:`HostRejected`.
Each error carries the status, the start of the body and the host's request id.
"""
from __future__ import annotations

import requests

from progress_plugin.errors import (HostAPIError, HostAuthError, HostConflict, HostNotFound, HostRejected,
                                    HostUnavailable)

REQUEST_ID_HEADERS = ("X-Request-Id", "X-Correlation-Id", "Request-Id")


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
               body=body_text(response), request_id=request_id(response), **context)


def request_id(response: requests.Response) -> str | None:
    """The host's id for the request, from the first of :data:`REQUEST_ID_HEADERS` it sent."""
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value[:200]
    return None


def body_text(response: requests.Response) -> str:
    """The first 4000 bytes of the body as text, for an error's ``body``."""
    try:
        return response.content[:4000].decode(response.encoding or "utf-8", "replace")
    except Exception:  # a body we cannot decode carries no useful detail
        return ""

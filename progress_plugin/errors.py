"""The one error hierarchy of progress-plugin.

Every error the package raises on purpose derives from :class:`ProgressPluginError`,
so a host can catch one class. Errors carry ids and codes, never client words.
"""
from __future__ import annotations


class ProgressPluginError(Exception):
    """Root of every error raised by progress-plugin."""

    #: HTTP status an adapter answers with when this error reaches a boundary.
    status = 500

    def __init__(self, message: str = "", **context):
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message or self.__class__.__name__


class ValidationError(ProgressPluginError):
    """Input failed validation.

    ``messages`` has marshmallow's shape: a field path mapping to a list of messages,
    nested for nested fields, e.g. ``{"goals": {"3": ["..."]}}``.
    """

    status = 422

    def __init__(self, messages: dict | list | str, message: str | None = None):
        if isinstance(messages, str):
            messages = {"_schema": [messages]}
        self.messages = messages
        super().__init__(message or "invalid input: " + summarize(messages))

    def paths(self) -> dict[str, list[str]]:
        """The messages flattened to dotted field paths, e.g. ``goals.3.baseline``."""
        return flatten(self.messages)


class ConfigError(ProgressPluginError):
    """The configuration is missing something or holds a bad value."""


class NotFound(ProgressPluginError):
    status = 404


class Conflict(ProgressPluginError):
    """A write raced another one (stale version, duplicate)."""

    status = 409


class PreconditionFailed(Conflict):
    """An ``If-Match`` named a version that is no longer current."""

    status = 412


class PreconditionRequired(ProgressPluginError):
    """A write came without the ``If-Match`` version it must name."""

    status = 428


class Unauthorized(ProgressPluginError):
    status = 401


class Forbidden(ProgressPluginError):
    status = 403


class PrivacyRefusal(ProgressPluginError):
    """An event concerns a note category the plugin must not read (45 CFR 164.501)."""

    status = 403


class WebhookVerificationError(Unauthorized):
    """A webhook's signature, id or timestamp did not verify."""


class HostAPIError(ProgressPluginError):
    """A call to the host's API failed.

    Carries the HTTP ``status_code`` (None when no response came), the response ``body``
    (as text, truncated) and the host's ``request_id`` when it sent one.
    """

    status = 502
    retryable = False

    def __init__(self, message: str = "", *, status_code: int | None = None,
                 body: str | None = None, request_id: str | None = None, **context):
        super().__init__(message, **context)
        self.status_code = status_code
        self.body = (body or "")[:2000]
        self.request_id = request_id

    def __str__(self) -> str:
        bits = [self.message or self.__class__.__name__]
        if self.status_code is not None:
            bits.append(f"status={self.status_code}")
        if self.request_id:
            bits.append(f"request_id={self.request_id}")
        return " ".join(bits)


class HostUnavailable(HostAPIError):
    """No usable answer: connection refused or reset, timeout, or 5xx/429 after retries."""

    retryable = True


class HostAuthError(HostAPIError):
    """The host refused our credentials (401/403)."""


class HostNotFound(HostAPIError):
    """The host has no such resource (404/410)."""


class HostConflict(HostAPIError):
    """409 or 412: re-read and reapply once; never blindly retried."""


class HostRejected(HostAPIError):
    """Any other 4xx: permanent, goes to the dead-letter state."""


def flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def summarize(messages) -> str:
    return "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in flatten(messages).items())

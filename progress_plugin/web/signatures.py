"""Verification of one incoming webhook request.

One scheme per host configuration:

* ``standard-webhooks``: the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
  headers of Standard Webhooks, checked by the ``standardwebhooks`` library plus stricter
  rules of our own (integer timestamp within 5 minutes, id of 1-255 visible ASCII
  characters, secret of at least 24 bytes).
* ``x-signature``: Medplum-style ``X-Signature``, the hex HMAC-SHA256 of the raw body keyed
  with the raw bytes of the secret.
* ``fhir-subscription``: a FHIR Subscription rest-hook that carries the header the
  subscriber set through ``Subscription.channel.header``: ``Authorization: Bearer <secret>``.

Each scheme takes one or two secrets, so a secret can be rotated: the new one first, the
old one second, and a request passes if either verifies. The scheme names and what a secret
must be are the configuration's (:func:`progress_plugin.service.settings.check_secrets`).

Everything wrong with a request raises :class:`WebhookVerificationError` (401) with a
``reason`` code in its ``context``. Messages never carry the body or a secret. Pure: no
web framework, no store, no logging.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

from progress_plugin.core.dates import utc
from progress_plugin.errors import ConfigError, WebhookVerificationError
from progress_plugin.service.clock import epoch_seconds
from progress_plugin.service.settings import FHIR_SUBSCRIPTION, SCHEMES, STANDARD_WEBHOOKS, X_SIGNATURE, check_secrets

#: Every header a scheme reads: a caller may pass only these (see :func:`verify`).
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "x-signature", "authorization")
TOLERANCE = 300  #: seconds a ``webhook-timestamp`` may be away from now, either side

_ID = re.compile(r"[\x21-\x7e]{1,255}")
_TIMESTAMP = re.compile(r"[1-9][0-9]{0,11}")  # canonical digits only: no sign, fraction, 0s
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_BEARER = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class VerifiedWebhook:
    """A request that passed verification.

    ``event_id`` is the ``webhook-id`` for Standard Webhooks. The other schemes sign no
    id, so it is None there and the caller takes the event id from the parsed body: for
    ``x-signature`` the resource's ``Type/id`` plus ``meta.versionId``; for
    ``fhir-subscription`` the subscription id plus the notification's event number.
    ``timestamp`` (epoch seconds) is only signed by Standard Webhooks. ``secret_index``
    says which configured secret matched: 0 the current one, 1 the previous one.
    """

    scheme: str
    event_id: str | None
    timestamp: int | None
    secret_index: int = 0


class _Verifier(Webhook):
    # The library checks the timestamp against the wall clock. verify() has already
    # checked it against the caller's ``now``, so only the conversion is kept here.
    def _Webhook__verify_timestamp(self, header: str) -> datetime:
        return datetime.fromtimestamp(int(header), tz=timezone.utc)


@functools.lru_cache(maxsize=32)
def _verifier(key) -> _Verifier:
    """The library's verifier of one secret, made once (it decodes the secret when made)."""
    return _Verifier(key)


def verify(scheme: str, secrets, headers: Mapping, body: bytes,
           now: float | None = None) -> VerifiedWebhook:
    """Verify one request: ``headers`` (any case) and the raw ``body`` bytes.

    Raises :class:`WebhookVerificationError` for anything wrong with the request, or with
    the secrets (a secret that fails :func:`check_secrets` is never used). Raises
    :class:`ConfigError` only for an unknown scheme name. ``now`` is epoch seconds, by
    default the package's clock (:func:`~progress_plugin.service.clock.epoch_seconds`).
    Parse JSON only after this returns.
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown webhook scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be the raw request bytes")
    try:
        keys = check_secrets(scheme, secrets)
    except ConfigError:
        raise _fail("bad-secret", "the configured webhook secret is not usable") from None
    try:
        return _SCHEMES[scheme](keys, _by_name(headers), bytes(body), epoch_seconds() if now is None else now)
    except WebhookVerificationError:
        raise
    except Exception:  # whatever a malformed request trips, it is a 401, never a 500
        raise _fail("malformed", "malformed webhook request") from None


def sign_standard(secret: str, msg_id: str, timestamp: int | datetime, body: bytes) -> dict:
    """Standard Webhooks headers for ``body``, as a sender makes them (tests, examples)."""
    key = check_secrets(STANDARD_WEBHOOKS, secret)[0]
    if not isinstance(timestamp, datetime):
        timestamp = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    timestamp = utc(timestamp)  # a naive one taken as UTC, as the library does
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": Webhook(key).sign(msg_id, timestamp, text),
    }


def sign_hex(secret: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body``: hex HMAC-SHA256 keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest()


def _standard(keys, headers, body, now) -> VerifiedWebhook:
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signature = _header(headers, "webhook-signature")
    if not (msg_id and stamp and signature):
        raise _fail("missing-header",
                    "webhook-id, webhook-timestamp and webhook-signature are required")
    if not _ID.fullmatch(msg_id):
        raise _fail("bad-id", "webhook-id must be 1-255 visible ASCII characters")
    if not _TIMESTAMP.fullmatch(stamp):
        raise _fail("bad-timestamp", "webhook-timestamp must be whole epoch seconds")
    if abs(now - int(stamp)) > TOLERANCE:
        raise _fail("stale-timestamp", "webhook-timestamp is more than 5 minutes away from now")
    plain = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    for index, key in enumerate(keys):
        try:
            _verifier(key).verify(body, plain, json_parse=False)
        except Exception:  # the library raises plain ValueError, binascii.Error, ...
            continue
        return VerifiedWebhook(STANDARD_WEBHOOKS, msg_id, int(stamp), index)
    raise _fail("bad-signature", "no webhook-signature matched")


def _x_signature(keys, headers, body, now) -> VerifiedWebhook:
    signature = _header(headers, "x-signature")
    if signature is None:
        raise _fail("missing-header", "X-Signature is required")
    if not _HEX.fullmatch(signature):
        raise _fail("bad-signature", "X-Signature must be 64 hex digits")
    given = bytes.fromhex(signature)
    matched = [hmac.compare_digest(given, hmac.new(k, body, hashlib.sha256).digest()) for k in keys]
    return _matched(X_SIGNATURE, matched, "X-Signature did not match")


def _fhir_subscription(keys, headers, body, now) -> VerifiedWebhook:
    value = _header(headers, "authorization")
    if value is None:
        raise _fail("missing-header", "Authorization is required")
    bearer = _BEARER.fullmatch(value)
    if bearer is None:
        raise _fail("bad-signature", "Authorization must be 'Bearer <token>'")
    given = bearer.group(1).encode("ascii")
    return _matched(FHIR_SUBSCRIPTION, [hmac.compare_digest(given, k) for k in keys],
                    "Authorization did not match")


_SCHEMES = {STANDARD_WEBHOOKS: _standard, X_SIGNATURE: _x_signature,
            FHIR_SUBSCRIPTION: _fhir_subscription}


def _matched(scheme: str, matched: list[bool], message: str) -> VerifiedWebhook:
    if True not in matched:
        raise _fail("bad-signature", message)
    return VerifiedWebhook(scheme, None, None, matched.index(True))


def _by_name(headers: Mapping) -> dict[str, list]:
    """Every header value under its lower-cased name, read once (a WSGI header view is slow to walk)."""
    index: dict[str, list] = {}
    for k, v in headers.items():
        if isinstance(k, str):
            index.setdefault(k.lower(), []).append(v)
    return index


def _header(headers: dict[str, list], name: str) -> str | None:
    """The one value of header ``name`` (any case); None when absent; 401 when repeated."""
    values = headers.get(name, [])
    if len(values) > 1:
        raise _fail("duplicate-header", f"{name} is repeated")
    if values and not isinstance(values[0], str):
        raise _fail("malformed", f"{name} is not text")
    return values[0] if values else None


def _fail(reason: str, message: str) -> WebhookVerificationError:
    return WebhookVerificationError(message, reason=reason)

"""Config file fields that several sections share."""
from __future__ import annotations

from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields


def https_or_loopback(value: str) -> bool:
    """A URL the service sends to or is reached at: https, or plain http on a loopback address."""
    parts = urlsplit(value)
    if parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return True
    raise ma.ValidationError("Must be https (plain http only on a loopback address).")


def url(**kwargs):
    """A URL field checked by :func:`https_or_loopback`."""
    return fields.Url(schemes={"http", "https"}, require_tld=False, validate=https_or_loopback, **kwargs)

"""The ``[console]`` section of the config file: the admin console at ``/admin/`` (all optional).

```toml
[console]
idle_minutes = 480                 # a signed-in browser is signed out after this long unused (8 h)
max_hours = 12                     # and this long after signing in, whatever happens
sign_in_limit = "10 per minute; 50 per hour"    # failed sign-ins allowed per client address
rate_limit_storage = "memory://"   # where those failures are counted (Flask-Limiter storage URI)
https_only = false                 # true: the console's cookies are always Secure
```

``rate_limit_storage``: ``memory://`` counts in each process, so with several gunicorn workers an
address gets up to that many times the limit (a token's secret is 256 random bits: the limit
keeps noise down, it is not what stops guessing). A shared count needs a shared storage, e.g.
``redis://host:6379`` (with the ``redis`` package installed).

``https_only = false`` marks the cookies Secure when the request came over https, as the server
tells it: gunicorn believes a proxy's ``X-Forwarded-Proto`` only from ``--forwarded-allow-ips``
(the local machine by default). Behind a TLS proxy elsewhere, set that, or ``https_only = true``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import marshmallow as ma
from marshmallow import fields, validate

DEFAULT_SIGN_IN_LIMIT = "10 per minute; 50 per hour"


@dataclass(frozen=True)
class ConsoleConfig:
    idle_minutes: int = 480
    max_hours: int = 12
    sign_in_limit: str = DEFAULT_SIGN_IN_LIMIT
    rate_limit_storage: str = "memory://"
    https_only: bool = False


def rate_limit(value: str) -> bool:
    """A rate limit string as Flask-Limiter reads it (checked when it is installed); the console and the
    check-in pages both take their limits through it."""
    if importlib.util.find_spec("limits") is None:
        return True
    from limits import parse_many
    try:
        parse_many(value)
    except ValueError:
        raise ma.ValidationError("Not a rate limit, e.g. '10 per minute; 50 per hour'.") from None
    return True


class ConsoleSection(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    idle_minutes = fields.Integer(load_default=480, validate=validate.Range(min=5, max=7 * 24 * 60))
    max_hours = fields.Integer(load_default=12, validate=validate.Range(min=1, max=7 * 24))
    sign_in_limit = fields.String(load_default=DEFAULT_SIGN_IN_LIMIT, validate=rate_limit)
    rate_limit_storage = fields.String(load_default="memory://", validate=validate.Length(min=1, max=500))
    https_only = fields.Boolean(load_default=False)

    @ma.post_load
    def _config(self, data, **kwargs) -> ConsoleConfig:
        return ConsoleConfig(**data)

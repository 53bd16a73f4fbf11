"""The ``[checkin]`` section of the config file: the client's check-in links (all optional).

```toml
[checkin]
public_url = "https://progress.example.org"   # where clients reach /c/<token>; else the request's host
link_days = 7                      # a new link expires after this many days, unless told otherwise
session_minutes = 120              # a browser that opened a link may check in for this long
open_limit = "20 per minute; 100 per hour"     # opening links (/c/<token>) per client address
form_limit = "30 per hour"         # check-in forms sent per client address
rate_limit_storage = "memory://"   # where those are counted (Flask-Limiter storage URI)
https_only = false                 # true: the check-in cookie is always Secure
```

``public_url`` is what a link printed by ``progress-plugin checkin link`` or the ``checkin_link``
hook starts with (they have no request to take a host from); without it they give the path alone
(``/c/<token>``) for the host to put its own address before. The HTTP API uses the request's
host when ``public_url`` is unset.
"""
from __future__ import annotations

from dataclasses import dataclass

import marshmallow as ma
from marshmallow import fields, validate

from progress_plugin.service.console_settings import rate_limit

#: The longest a link may live, in days.
MAX_LINK_DAYS = 90


@dataclass(frozen=True)
class CheckinConfig:
    public_url: str | None = None
    link_days: int = 7
    session_minutes: int = 120
    open_limit: str = "20 per minute; 100 per hour"
    form_limit: str = "30 per hour"
    rate_limit_storage: str = "memory://"
    https_only: bool = False


class CheckinSection(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    public_url = fields.Url(load_default=None, schemes={"http", "https"}, require_tld=False)
    link_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=MAX_LINK_DAYS))
    session_minutes = fields.Integer(load_default=120, validate=validate.Range(min=5, max=24 * 60))
    open_limit = fields.String(load_default=CheckinConfig.open_limit, validate=rate_limit)
    form_limit = fields.String(load_default=CheckinConfig.form_limit, validate=rate_limit)
    rate_limit_storage = fields.String(load_default="memory://", validate=validate.Length(min=1, max=500))
    https_only = fields.Boolean(load_default=False)

    @ma.post_load
    def _config(self, data, **kwargs) -> CheckinConfig:
        if data.get("public_url"):
            data["public_url"] = data["public_url"].rstrip("/")
        return CheckinConfig(**data)


def from_raw(raw: dict) -> CheckinConfig:
    """The ``[checkin]`` section of a parsed config file (defaults when absent). Raises
    marshmallow's ValidationError naming the field."""
    section = raw.get("checkin")
    return CheckinSection().load(section) if section else CheckinConfig()

"""The ``[cds]`` section of the config file: CDS Hooks 2.0 (optional; see :mod:`settings` for the keys)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import marshmallow as ma
from marshmallow import RAISE, fields, validate

from progress_plugin.errors import ConfigError
from progress_plugin.service.config_fields import url


class _Strict(ma.Schema):
    class Meta:
        unknown = RAISE


class CdsIssuerSection(_Strict):
    iss = fields.String(required=True, validate=validate.Length(min=1, max=400))
    jku = fields.List(url(), required=True, validate=validate.Length(min=1, max=10))
    clinic = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    fhir_servers = fields.List(url(), load_default=list)


class CdsSection(_Strict):
    public_url = url(required=True)
    issuers = fields.List(fields.Nested(CdsIssuerSection), load_default=list)
    leeway_seconds = fields.Integer(load_default=30, validate=validate.Range(min=0, max=300))
    jti_ttl_seconds = fields.Integer(load_default=600, validate=validate.Range(min=60, max=86400))
    jwks_ttl_seconds = fields.Integer(load_default=300, validate=validate.Range(min=10, max=86400))
    timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(min=0.5, max=60))
    link_secret = fields.String()
    link_secret_env = fields.String(load_default="PROGRESS_PLUGIN_CDS_LINK_SECRET")
    link_ttl_seconds = fields.Integer(load_default=900, validate=validate.Range(min=60, max=3600))
    session_ttl_seconds = fields.Integer(load_default=600, validate=validate.Range(min=60, max=3600))


@dataclass(frozen=True)
class CdsIssuer:
    iss: str
    jku: tuple[str, ...]
    clinic: str
    fhir_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CdsConfig:
    public_url: str
    issuers: dict[str, CdsIssuer] = field(default_factory=dict)
    leeway_seconds: int = 30
    jti_ttl_seconds: int = 600
    jwks_ttl_seconds: int = 300
    timeout_seconds: float = 5.0
    link_secret: str | None = None
    link_ttl_seconds: int = 900
    session_ttl_seconds: int = 600


def cds_config(section: dict | None, env) -> CdsConfig | None:
    if section is None:
        return None
    if importlib.util.find_spec("jwt") is None:
        raise ConfigError("configuration: cds: needs PyJWT: pip install 'progress-plugin[cds]'")
    issuers = {}
    for i, s in enumerate(section["issuers"]):
        if s["iss"] in issuers:
            raise ConfigError(f"configuration: cds.issuers.{i}.iss: issuer {s['iss']!r} is listed twice")
        issuers[s["iss"]] = CdsIssuer(s["iss"], tuple(s["jku"]), s["clinic"], tuple(s["fhir_servers"]))
    secret = section.get("link_secret") or env.get(section["link_secret_env"]) or None
    if secret is not None and len(secret.encode()) < 32:
        raise ConfigError("configuration: cds.link_secret: must be at least 32 bytes")
    return CdsConfig(section["public_url"].rstrip("/"), issuers, section["leeway_seconds"],
                     section["jti_ttl_seconds"], section["jwks_ttl_seconds"], section["timeout_seconds"],
                     secret, section["link_ttl_seconds"], section["session_ttl_seconds"])

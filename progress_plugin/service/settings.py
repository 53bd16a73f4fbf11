"""Service configuration: a TOML file plus environment variables, validated at start.

A setting comes from its command-line flag, else the environment, else the config file (``--config``,
else ``$PROGRESS_PLUGIN_CONFIG``, else ``./progress-plugin.toml``), else its default.

```toml
[store]
url = "sqlite:///progress.db"

[host]
base_url = "https://ehr.example.org/fhir"    # FHIR R4 base
token_env = "PROGRESS_PLUGIN_HOST_TOKEN"     # the bearer token is read from the environment
meta_add = true                              # try $meta-add before the JSON Patch fallback

[[clinics]]
id = "clinic-a"
scheme = "standard-webhooks"                 # or x-signature, fhir-subscription
secrets_env = "PROGRESS_PLUGIN_SECRETS_CLINIC_A"   # comma-separated: new first, old second
readable_note_types = ["progress-note", "11506-3"]  # optional: the only note types the plugin may read
language = "hi"                              # optional: the clinic's default language (en, hi); else en
client_view_shows_strain = false             # optional: the client's views show strain tags (default: hidden)

[worker]
batch = 20
lease_seconds = 60
poll_seconds = 0.5
max_attempts = 12                            # a write-back is dead after this many failed sends
inbox_max_attempts = 5                       # an event the worker cannot apply fails after this many tries

[cds]                                        # CDS Hooks 2.0 (optional; without it /cds-services is 404)
public_url = "https://progress.example.org"  # the service's public base: a JWT's aud must be this + the path
leeway_seconds = 30                          # clock skew allowed on exp and iat
jti_ttl_seconds = 600                        # how long a jti is remembered; a longer-lived JWT is refused
jwks_ttl_seconds = 300                       # how long fetched keys are cached
link_secret_env = "PROGRESS_PLUGIN_CDS_LINK_SECRET"   # keys the stored digests of the card's one-time links
link_ttl_seconds = 900                       # how long a card's link may be opened (once)
session_ttl_seconds = 600                    # how long the panel it opens stays readable in that browser

[[cds.issuers]]
iss = "https://ehr.example.org"              # an EHR allowed to call
jku = ["https://ehr.example.org/.well-known/jwks.json"]   # the only places its keys are fetched from
clinic = "clinic-a"                          # the clinic whose data its patients map to
fhir_servers = ["https://ehr.example.org/fhir"]           # optional: fhirServer values we may read from

[console]                                    # the admin console at /admin/ (optional; all have defaults)
idle_minutes = 480                           # a signed-in browser is signed out after this long unused
max_hours = 12                               # and this long after signing in
sign_in_limit = "10 per minute; 50 per hour" # failed sign-ins per client address (see console_settings)
rate_limit_storage = "memory://"             # per process; redis://... shares the count between workers
https_only = false                           # true: cookies always Secure (else when the request is https)
[checkin]                                    # the client's check-in links (optional; see checkin_settings)
public_url = "https://progress.example.org"  # where clients reach /c/<token>; else the request's host
[retention]                                  # pruning the inbox, outbox and audit log (see retention_settings)
days = 30                                    # done inbox and outbox rows are kept this long
```

``readable_note_types``, when set, lists the note types the plugin may read for that clinic
(any case and separators: "Progress Note" is "progress-note"); a note of any other type, or
of no type, is refused unread and audited as ``refused-not-readable``. Without it every type
is read except psychotherapy and SUD counselling notes, which are always refused
(``refused-protected``) and may not be listed.

Secrets may also be given inline as ``secrets = ["whsec_..."]`` (fine for tests, not for
production). ``PROGRESS_PLUGIN_HOST_URL`` overrides ``[host] base_url``.

In ``[cds]``, ``jku``, ``fhir_servers`` and ``public_url`` must be https (plain http only on
a loopback address). The link secret, when set, must be at least 32 bytes; without one the
card carries no link. ``link_secret`` may be given inline, as for clinic secrets. A card's link
carries a random one-time code; the store keeps only its HMAC under the link secret.
Webhook secrets must pass :func:`check_secrets` (here at start, and on every request).
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

import marshmallow as ma
from marshmallow import RAISE, fields, validate

from progress_plugin.errors import ConfigError, summarize
from progress_plugin.core.notes import classify_note_type, normalise_note_type
from progress_plugin.lang import LANGUAGES
# The config file's place, its TOML and the store URL it names (re-exported: callers use settings.*).
from progress_plugin.service.config_file import (DEFAULT_CONFIG, ENV_CONFIG, ENV_STORE,  # noqa: F401
                                                 config_path, read_file, store_url)
from progress_plugin.service.checkin_settings import CheckinConfig, CheckinSection
from progress_plugin.service.smart_settings import SmartConfig, SmartSection, smart_config
from progress_plugin.service.console_settings import ConsoleConfig, ConsoleSection
from progress_plugin.service.cds_settings import CdsConfig, CdsIssuer, CdsSection, cds_config  # noqa: F401
from progress_plugin.service.retention_settings import RetentionConfig, RetentionSection

ENV_HOST_URL = "PROGRESS_PLUGIN_HOST_URL"
DEFAULT_TOKEN_ENV = "PROGRESS_PLUGIN_HOST_TOKEN"

# -- webhook secrets: the schemes and what a secret must be ---------------------------------
STANDARD_WEBHOOKS = "standard-webhooks"
X_SIGNATURE = "x-signature"
FHIR_SUBSCRIPTION = "fhir-subscription"
SCHEMES = (STANDARD_WEBHOOKS, X_SIGNATURE, FHIR_SUBSCRIPTION)
MIN_SECRET_BYTES = 24
MAX_SECRETS = 2  #: the current secret and, while rotating, the previous one
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token


def check_secrets(scheme: str, secrets) -> list[bytes]:
    """Check a host configuration: the key bytes of each secret, else :class:`ConfigError` naming what is wrong.

    ``secrets`` is one secret, or two while rotating. Standard Webhooks secrets are ``whsec_<base64>`` (the
    prefix is optional) decoding to 24 bytes or more. The other schemes use the secret's UTF-8 bytes, 24 or
    more; a bearer secret must also be a valid RFC 6750 token."""
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown webhook scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    secrets = [secrets] if isinstance(secrets, str) else secrets
    if not isinstance(secrets, (list, tuple)) or not 1 <= len(secrets) <= MAX_SECRETS:
        raise ConfigError(f"{scheme}: give one secret, or two while rotating")
    keys = []
    for n, secret in enumerate(secrets, 1):
        if not isinstance(secret, str):
            raise ConfigError(f"{scheme}: secret {n} is not text")
        if scheme == STANDARD_WEBHOOKS:
            text = secret.removeprefix("whsec_")
            try:
                key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"{scheme}: secret {n} is not whsec_<base64>") from None
        else:
            if scheme == FHIR_SUBSCRIPTION and not _TOKEN.fullmatch(secret):
                raise ConfigError(f"{scheme}: secret {n} is not a bearer token (letters, digits and -._~+/ only)")
            key = secret.encode("utf-8", "surrogatepass")
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigError(f"{scheme}: secret {n} is {len(key)} bytes; {MIN_SECRET_BYTES} or more are required")
        keys.append(key)
    return keys


# -- the service configuration ---------------------------------------------------------------
class _Strict(ma.Schema):
    class Meta:
        unknown = RAISE


class StoreSection(_Strict):
    url = fields.String()


class HostSection(_Strict):
    base_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    token_env = fields.String(load_default=DEFAULT_TOKEN_ENV)
    timeout_seconds = fields.Float(load_default=30.0, validate=validate.Range(min=0.5, max=300))
    meta_add = fields.Boolean(load_default=True)
    ca_bundle = fields.String()


class ClinicSection(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    name = fields.String()
    scheme = fields.String(required=True, validate=validate.OneOf(SCHEMES))
    secrets = fields.List(fields.String(), validate=validate.Length(min=1, max=MAX_SECRETS))
    secrets_env = fields.String()
    readable_note_types = fields.List(fields.String(validate=validate.Length(min=1, max=128)),
                                      validate=validate.Length(min=1, max=200))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    client_view_shows_strain = fields.Boolean(load_default=False)

    @ma.validates("readable_note_types")
    def _check_readable(self, value, **kwargs):
        problems = {}
        for i, raw in enumerate(value):
            kind = classify_note_type(raw)
            if kind.kind is None:
                problems[i] = ["Give a note type, not only separators."]
            elif kind.refused:
                problems[i] = [f"{raw!r} is a protected note type ({kind.kind}): it is never read; leave it out."]
        if problems:
            raise ma.ValidationError(problems)


class WorkerSection(_Strict):
    batch = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))
    lease_seconds = fields.Float(load_default=60, validate=validate.Range(min=1, max=3600))
    poll_seconds = fields.Float(load_default=0.5, validate=validate.Range(min=0.01, max=60))
    max_attempts = fields.Integer(load_default=12, validate=validate.Range(min=1, max=100))
    inbox_max_attempts = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))
    embedded = fields.Boolean(load_default=True)


class ServiceSchema(_Strict):
    store = fields.Nested(StoreSection)
    host = fields.Nested(HostSection)
    clinics = fields.List(fields.Nested(ClinicSection), load_default=list)
    worker = fields.Nested(WorkerSection)
    cds = fields.Nested(CdsSection)
    console = fields.Nested(ConsoleSection)
    checkin = fields.Nested(CheckinSection)
    smart = fields.Nested(SmartSection)
    retention = fields.Nested(RetentionSection)
    max_body_bytes = fields.Integer(load_default=256 * 1024, validate=validate.Range(min=1024, max=10 * 1024 * 1024))


@dataclass(frozen=True)
class Clinic:
    id: str
    scheme: str
    secrets: tuple[str, ...]
    name: str = ""
    #: The note types (in normal form) the plugin may read for this clinic; None: any unprotected type.
    readable_note_types: frozenset[str] | None = None
    language: str | None = None      # the clinic's default language; None: English
    client_view_shows_strain: bool = False   # the client's views show tags with the strain role


@dataclass(frozen=True)
class ServiceConfig:
    store_url: str
    host_url: str | None = None
    host_token: str | None = None
    host_timeout: float = 30.0
    meta_add: bool = True
    ca_bundle: str | None = None
    clinics: dict[str, Clinic] = field(default_factory=dict)
    batch: int = 20
    lease_seconds: float = 60
    poll_seconds: float = 0.5
    max_attempts: int = 12
    inbox_max_attempts: int = 5
    embedded_worker: bool = True
    max_body_bytes: int = 256 * 1024
    cds: CdsConfig | None = None
    console: ConsoleConfig = ConsoleConfig()
    checkin: CheckinConfig = CheckinConfig()
    smart: SmartConfig | None = None
    retention: RetentionConfig = RetentionConfig()

    def readable_note_types(self, clinic_id: str) -> frozenset[str] | None:
        """The note types ``clinic_id`` lets the plugin read; None when it does not limit them."""
        clinic = self.clinics.get(clinic_id)
        return clinic.readable_note_types if clinic is not None else None


def load(raw: dict, store_flag: str | None = None, env=None) -> ServiceConfig:
    """Validate ``raw`` (a parsed TOML document) with the environment applied. Raises ConfigError."""
    env = os.environ if env is None else env
    try:
        data = ServiceSchema().load({"store": {}, "host": {}, "worker": {}, **raw})
    except ma.ValidationError as exc:
        raise ConfigError("configuration: " + summarize(exc.messages)) from None
    host = data["host"]
    clinics = {}
    for i, c in enumerate(data["clinics"]):
        if c["id"] in clinics:
            raise ConfigError(f"configuration: clinics.{i}.id: clinic {c['id']!r} is listed twice")
        secrets = list(c.get("secrets") or [])
        if c.get("secrets_env"):
            value = env.get(c["secrets_env"], "")
            if not value:
                raise ConfigError(f"configuration: clinics.{i}.secrets_env: ${c['secrets_env']} is not set")
            secrets = [s.strip() for s in value.split(",") if s.strip()]
        if not secrets:
            raise ConfigError(f"configuration: clinics.{i}: give secrets or secrets_env")
        try:
            check_secrets(c["scheme"], secrets)
        except ConfigError as exc:
            raise ConfigError(f"configuration: clinics.{i}.secrets: {exc}") from None
        clinics[c["id"]] = Clinic(c["id"], c["scheme"], tuple(secrets), c.get("name", ""),
                                  _readable(c.get("readable_note_types")), c.get("language"), c["client_view_shows_strain"])
    w = data["worker"]
    return ServiceConfig(
        store_url=store_url(store_flag, raw),
        host_url=env.get(ENV_HOST_URL) or host.get("base_url"), host_token=env.get(host["token_env"]) or None,
        host_timeout=host["timeout_seconds"], meta_add=host["meta_add"], ca_bundle=host.get("ca_bundle"),
        clinics=clinics, batch=w["batch"], lease_seconds=w["lease_seconds"],
        poll_seconds=w["poll_seconds"], max_attempts=w["max_attempts"],
        inbox_max_attempts=w["inbox_max_attempts"], embedded_worker=w["embedded"],
        max_body_bytes=data["max_body_bytes"], cds=cds_config(data.get("cds"), env),
        console=data.get("console") or ConsoleConfig(), checkin=data.get("checkin") or CheckinConfig(),
        smart=smart_config(data.get("smart"), env), retention=data.get("retention") or RetentionConfig())


def _readable(listed) -> frozenset[str] | None:
    return None if listed is None else frozenset(normalise_note_type(t) for t in listed)


class _ReadableOnly(ma.Schema):
    """A clinic's ``readable_note_types`` alone, for a host that runs the hooks without the service."""

    class Meta:
        unknown = ma.EXCLUDE

    id = ClinicSection._declared_fields["id"]
    readable_note_types = ClinicSection._declared_fields["readable_note_types"]
    _check_readable = ClinicSection._check_readable


def note_policy(raw: dict) -> dict[str, frozenset[str]]:
    """Clinic id -> ``readable_note_types``, from the ``[[clinics]]`` of a parsed config file, for the
    in-process hooks. Only ids and note types are read (no secrets are needed). Raises ConfigError."""
    clinics = raw.get("clinics") or []
    if not isinstance(clinics, list):
        raise ConfigError("configuration: clinics: must be a list of tables")
    try:
        loaded = _ReadableOnly(many=True).load(clinics)
    except ma.ValidationError as exc:
        raise ConfigError("configuration: clinics: " + summarize(exc.messages)) from None
    return {c["id"]: _readable(c["readable_note_types"]) for c in loaded
            if c.get("id") and c.get("readable_note_types") is not None}


class _ListedClinic(ma.Schema):
    """A clinic's id, name and language alone: what ``migrate`` needs to create it (no secrets)."""

    class Meta:
        unknown = ma.EXCLUDE

    id = ClinicSection._declared_fields["id"]
    name = fields.String(load_default="", validate=validate.Length(max=200))
    language = ClinicSection._declared_fields["language"]


def listed_clinics(raw: dict) -> list[dict]:
    """The ``[[clinics]]`` of a parsed config file as ``{"id", "name", "language"}``, in file order,
    validated without reading a secret (``migrate`` creates them before the service has its
    secrets). Raises ConfigError."""
    clinics = raw.get("clinics") or []
    if not isinstance(clinics, list):
        raise ConfigError("configuration: clinics: must be a list of tables")
    try:
        loaded = _ListedClinic(many=True).load(clinics)
    except ma.ValidationError as exc:
        raise ConfigError("configuration: clinics: " + summarize(exc.messages)) from None
    return [{"id": c["id"], "name": c["name"], "language": c.get("language")} for c in loaded]


def from_files(config_flag: str | None = None, store_flag: str | None = None) -> ServiceConfig:
    """The configuration from the config file (see :func:`config_path`) and the environment."""
    return load(read_file(config_path(config_flag)), store_flag)

"""The ``[smart]`` section of the config file: the plugin as a SMART on FHIR app (optional).

```toml
[smart]
public_url = "https://progress.example.org"   # the app's address: the EHR is told {public_url}/smart/launch
                                              # and {public_url}/smart/callback
token_key_env = "PROGRESS_PLUGIN_SMART_KEY"   # Fernet key(s), comma separated (newest first): tokens at rest
session_minutes = 480                          # a launch's browser session lasts at most this long
request_minutes = 10                           # an authorization must come back within this long

[[smart.ehrs]]
id = "medplum"                                 # your name for this EHR (letters, digits, . _ -)
clinic = "delhi"                               # the clinic its launches act for
iss = ["https://api.medplum.com/fhir/R4"]      # the FHIR bases (issuers) allowed to launch; exact match
client_id = "..."                              # as registered with the EHR
client_auth = "public"                         # public | client_secret_basic | private_key_jwt
client_secret_env = "MEDPLUM_SMART_SECRET"     # client_secret_basic: where the secret is
private_key_file = "/etc/progress/smart.pem"   # private_key_jwt: a PEM key (EC P-384 for ES384, RSA for RS384)
key_id = "progress-1"                          # private_key_jwt: the key's kid in your published JWKS
signing_alg = "ES384"                          # private_key_jwt: ES384 | RS384
scopes = ["launch", "openid", "fhirUser", "patient/Patient.rs", ...]   # granted at registration
scope_version = "v2"                           # v2 (patient/Goal.cruds) or v1 (patient/Goal.write)
frame_ancestors = ["https://ehr.example"]      # who may show the app in a frame (CSP frame-ancestors)
embedded = true                                # the app runs in the EHR's frame (another site): its cookie is
                                               # SameSite=None; Secure; Partitioned, else SameSite=Lax
standalone = false                             # also allow a standalone launch at /smart/login?ehr=<id>
cds_link = true                                # the CDS Hooks card links here with type "smart"
```
"""
from __future__ import annotations

from dataclasses import dataclass, field

import marshmallow as ma
from marshmallow import fields, validate

from progress_plugin.errors import ConfigError
from progress_plugin.service.config_fields import url

CLIENT_AUTH = ("public", "client_secret_basic", "private_key_jwt")
SIGNING_ALGS = ("ES384", "RS384")
ID_RE = r"^[A-Za-z0-9._-]{1,64}$"


@dataclass(frozen=True)
class SmartEhr:
    id: str
    clinic: str
    iss: tuple[str, ...]
    client_id: str
    client_auth: str = "public"
    client_secret: str | None = None          # client_secret_basic, read from the environment
    private_key_pem: str | None = None        # private_key_jwt, read from private_key_file
    key_id: str | None = None
    signing_alg: str = "ES384"
    scopes: tuple[str, ...] = ()
    scope_version: str = "v2"
    frame_ancestors: tuple[str, ...] = ()
    embedded: bool = True
    standalone: bool = False
    cds_link: bool = True


@dataclass(frozen=True)
class SmartConfig:
    public_url: str
    token_keys: tuple[str, ...]               # Fernet keys, newest first
    ehrs: dict[str, SmartEhr] = field(default_factory=dict)
    session_minutes: int = 480
    request_minutes: int = 10

    def ehr_for(self, iss: str) -> SmartEhr | None:
        """The configured EHR whose allowlist holds ``iss`` exactly (trailing slash ignored)."""
        wanted = iss.rstrip("/")
        return next((e for e in self.ehrs.values() if wanted in e.iss), None)

    def ehr_of_clinic(self, clinic_id: str) -> SmartEhr | None:
        """The EHR that launches for ``clinic_id`` and wants the CDS card to link to it, if any."""
        return next((e for e in self.ehrs.values() if e.clinic == clinic_id and e.cds_link), None)


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class SmartEhrSection(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_RE))
    clinic = fields.String(required=True, validate=validate.Regexp(ID_RE))
    iss = fields.List(url(), required=True, validate=validate.Length(min=1, max=10))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=400))
    client_auth = fields.String(load_default="public", validate=validate.OneOf(CLIENT_AUTH))
    client_secret_env = fields.String(validate=validate.Length(min=1, max=200))
    private_key_file = fields.String(validate=validate.Length(min=1, max=1000))
    key_id = fields.String(validate=validate.Length(min=1, max=200))
    signing_alg = fields.String(load_default="ES384", validate=validate.OneOf(SIGNING_ALGS))
    scopes = fields.List(fields.String(validate=validate.Regexp(r"^[\x21\x23-\x5B\x5D-\x7E]{1,200}$")),
                         load_default=list, validate=validate.Length(max=100))
    scope_version = fields.String(load_default="v2", validate=validate.OneOf(("v1", "v2")))
    frame_ancestors = fields.List(url(), load_default=list, validate=validate.Length(max=20))
    embedded = fields.Boolean(load_default=True)
    standalone = fields.Boolean(load_default=False)
    cds_link = fields.Boolean(load_default=True)


class SmartSection(_Strict):
    public_url = url(required=True)
    token_key_env = fields.String(load_default="PROGRESS_PLUGIN_SMART_KEY")
    session_minutes = fields.Integer(load_default=480, validate=validate.Range(min=5, max=24 * 60))
    request_minutes = fields.Integer(load_default=10, validate=validate.Range(min=1, max=60))
    ehrs = fields.List(fields.Nested(SmartEhrSection), load_default=list, validate=validate.Length(max=50))


def smart_config(section: dict | None, env) -> SmartConfig | None:
    """The loaded ``[smart]`` section with its secrets read, or None without one. Raises ConfigError."""
    if section is None:
        return None
    where = "configuration: smart"
    keys = tuple(k.strip() for k in env.get(section["token_key_env"], "").split(",") if k.strip())
    if not keys:
        raise ConfigError(f"{where}.token_key_env: ${section['token_key_env']} is not set; make a key with "
                          "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`")
    ehrs: dict[str, SmartEhr] = {}
    for i, e in enumerate(section["ehrs"]):
        at = f"{where}.ehrs.{i}"
        if e["id"] in ehrs:
            raise ConfigError(f"{at}.id: EHR {e['id']!r} is listed twice")
        secret = pem = None
        if e["client_auth"] == "client_secret_basic":
            if not e.get("client_secret_env") or not env.get(e["client_secret_env"]):
                raise ConfigError(f"{at}.client_secret_env: client_secret_basic needs a secret in the environment")
            secret = env[e["client_secret_env"]]
        if e["client_auth"] == "private_key_jwt":
            if not e.get("private_key_file"):
                raise ConfigError(f"{at}.private_key_file: private_key_jwt needs a PEM private key file")
            try:
                with open(e["private_key_file"], encoding="ascii") as f:
                    pem = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{at}.private_key_file: cannot read it ({exc.__class__.__name__})") from None
            problem = _key_problem(pem, e["signing_alg"])
            if problem:
                raise ConfigError(f"{at}.private_key_file: {problem}")
        iss = tuple(u.rstrip("/") for u in e["iss"])
        taken = [u for u in iss for other in ehrs.values() if u in other.iss]
        if taken:
            raise ConfigError(f"{at}.iss: {taken[0]!r} is already allowed for another EHR")
        ehrs[e["id"]] = SmartEhr(
            e["id"], e["clinic"], iss, e["client_id"], e["client_auth"], secret, pem, e.get("key_id"),
            e["signing_alg"], tuple(e["scopes"]), e["scope_version"],
            tuple(u.rstrip("/") for u in e["frame_ancestors"]), e["embedded"], e["standalone"], e["cds_link"])
    return SmartConfig(section["public_url"].rstrip("/"), keys, ehrs, section["session_minutes"],
                       section["request_minutes"])


def _key_problem(pem: str, alg: str) -> str | None:
    """Why ``pem`` cannot sign ``alg`` (ES384: an EC P-384 key; RS384: an RSA key of 2048 bits or
    more), or None. Checked when the configuration loads, so a launch never meets a bad key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    try:
        key = load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError):
        return "not an unencrypted PEM private key"
    if alg == "ES384" and not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"):
        return "signing_alg ES384 needs an EC P-384 private key"
    if alg == "RS384" and not (isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048):
        return "signing_alg RS384 needs an RSA private key of 2048 bits or more"
    return None

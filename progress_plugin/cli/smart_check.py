"""The SMART part of ``progress-plugin check``: the token keys, each EHR's key, and each allowed
``iss``'s smart-configuration against what is configured for it. One ``ok``/``FAIL``/``WARN``
line per point; a FAIL makes ``check`` exit 1 (a WARN is said, and leaves the exit status alone:
``check``'s 3 means rows wait for you).

For each ``iss``: the smart-configuration is read (a FAIL when it cannot be; a WARN when only the
CapabilityStatement's ``oauth-uris`` answer, since nothing more can be checked then), and:

- the authorize and token endpoints are present and https (or loopback);
- ``code_challenge_methods_supported`` holds ``S256``;
- the configured ``client_auth`` is in ``token_endpoint_auth_methods_supported`` (and, for
  ``private_key_jwt``, ``signing_alg`` in ``token_endpoint_auth_signing_alg_values_supported``);
- ``capabilities`` cover what is configured: ``launch-ehr``, ``launch-standalone`` (standalone),
  the client kind (``client-public``, ``client-confidential-symmetric`` or
  ``client-confidential-asymmetric``), ``context-ehr-patient``, ``sso-openid-connect`` (when
  ``openid`` is asked) and ``permission-v1``/``permission-v2`` (a WARN: many EHRs leave it out);
- the configured scopes are within ``scopes_supported`` when the EHR lists them.
"""
from __future__ import annotations

from typing import Callable

from progress_plugin.errors import ConfigError
from progress_plugin.fhir.smart_discovery import DiscoveryFailed, SmartConfiguration, from_metadata, from_well_known
from progress_plugin.fhir.smart_scopes import requested, uncovered
from progress_plugin.service.smart_settings import SmartConfig, SmartEhr
from progress_plugin.service.smart_vault import key_problems
from progress_plugin.web.smart.oauth import signing_key

CLIENT_CAPABILITY = {"public": "client-public", "client_secret_basic": "client-confidential-symmetric",
                     "private_key_jwt": "client-confidential-asymmetric"}


class Lines:
    """Counts and prints the lines."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo, self.failures, self.warnings = echo, 0, 0

    def ok(self, what: str) -> None:
        self.echo(f"ok   {what}")

    def fail(self, what: str) -> None:
        self.failures += 1
        self.echo(f"FAIL {what}")

    def warn(self, what: str) -> None:
        self.warnings += 1
        self.echo(f"WARN {what}")

    def check(self, good: bool, what: str, why: str) -> None:
        self.ok(what) if good else self.fail(f"{what}: {why}")


def check_smart(smart: SmartConfig | None, echo: Callable[[str], None], timeout=(3.05, 10.0)) -> tuple[int, int]:
    """Check the ``[smart]`` section; returns (failures, warnings)."""
    lines = Lines(echo)
    if smart is None:
        return 0, 0
    problems = key_problems(smart.token_keys)
    lines.check(not problems, f"smart token keys: {len(smart.token_keys)} Fernet key(s)", "; ".join(problems))
    if not smart.ehrs:
        lines.warn("smart: no [[smart.ehrs]] configured; no EHR can launch the app")
    for ehr in smart.ehrs.values():
        _ehr(lines, ehr, timeout)
    return lines.failures, lines.warnings


def _ehr(lines: Lines, ehr: SmartEhr, timeout) -> None:
    name = f"smart {ehr.id}"
    if ehr.client_auth == "private_key_jwt":
        try:
            signing_key(ehr)
            lines.ok(f"{name}: private key fits {ehr.signing_alg}")
        except ConfigError as exc:
            lines.fail(f"{name}: {exc}")
    if not ehr.scopes:
        lines.warn(f"{name}: no scopes configured; the app asks for its own list "
                   f"({' '.join(requested((), ehr.scope_version))})")
    for iss in ehr.iss:
        _iss(lines, ehr, iss, timeout)


def _iss(lines: Lines, ehr: SmartEhr, iss: str, timeout) -> None:
    name = f"smart {ehr.id} {iss}"
    try:
        conf = from_well_known(iss, timeout=timeout)
    except DiscoveryFailed as exc:
        if exc.context.get("reason") == "invalid":          # there, but wrong: the message names the field
            lines.fail(f"{name}: {exc}")
            return
        try:
            from_metadata(iss, timeout=timeout)
        except DiscoveryFailed:
            lines.fail(f"{name}: {exc}")
            return
        lines.warn(f"{name}: {exc}; only the CapabilityStatement's oauth-uris answer (SMART 1), so nothing "
                   "else can be checked")
        return
    lines.ok(f"{name}: smart-configuration read; authorize and token endpoints are https or loopback")
    lines.check("S256" in conf.code_challenge_methods_supported, f"{name}: PKCE S256",
                "code_challenge_methods_supported does not list S256")
    _client_auth(lines, name, ehr, conf)
    _capabilities(lines, name, ehr, conf)
    if conf.scopes_supported is None:
        lines.ok(f"{name}: scopes (the EHR lists no scopes_supported)")
    else:
        missing = uncovered(ehr.scopes, conf.scopes_supported)
        lines.check(not missing, f"{name}: configured scopes within scopes_supported",
                    "not supported: " + " ".join(missing))


def _client_auth(lines: Lines, name: str, ehr: SmartEhr, conf: SmartConfiguration) -> None:
    if ehr.client_auth == "public":
        return                                   # a public client sends no authentication: its capability says it
    methods = conf.token_endpoint_auth_methods_supported
    lines.check(ehr.client_auth in methods, f"{name}: client_auth {ehr.client_auth}",
                "token_endpoint_auth_methods_supported lists " + (" ".join(sorted(methods)) or "nothing"))
    if ehr.client_auth == "private_key_jwt":
        algs = conf.token_endpoint_auth_signing_alg_values_supported
        lines.check(ehr.signing_alg in algs, f"{name}: signing_alg {ehr.signing_alg}",
                    "token_endpoint_auth_signing_alg_values_supported lists " + (" ".join(sorted(algs)) or "nothing"))


def _capabilities(lines: Lines, name: str, ehr: SmartEhr, conf: SmartConfiguration) -> None:
    needed = ["launch-ehr", CLIENT_CAPABILITY[ehr.client_auth], "context-ehr-patient"]
    if ehr.standalone:
        needed += ["launch-standalone", "context-standalone-patient"]
    if "openid" in requested(ehr.scopes, ehr.scope_version):
        needed.append("sso-openid-connect")
    missing = [c for c in needed if c not in conf.capabilities]
    lines.check(not missing, f"{name}: capabilities {' '.join(needed)}", "missing " + " ".join(missing))
    permission = f"permission-{ehr.scope_version}"
    if permission not in conf.capabilities:
        lines.warn(f"{name}: capabilities do not list {permission} (scope_version = {ehr.scope_version!r})")
    else:
        lines.ok(f"{name}: {permission}")

"""`progress-plugin check` on a [smart] section: each EHR's smart-configuration against its configuration."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from progress_plugin.cli.main import main
from progress_plugin.cli.smart_check import check_smart
from progress_plugin.errors import ConfigError
from progress_plugin.service import settings
from progress_plugin.service.smart_vault import Vault

from tests.pg import free_port
from tests.smart_setup import smart_section, write_config

KEY = Fernet.generate_key().decode()


def smart(ehr, key=KEY, env=None, **overrides):
    return settings.load({"smart": smart_section(ehr, **overrides)},
                         env={"PROGRESS_PLUGIN_SMART_KEY": key, **(env or {})}).smart


def run(config):
    lines = []
    failures, warnings = check_smart(config, lines.append)
    return failures, warnings, lines


def test_a_matching_ehr_is_all_ok(smart_ehr):
    failures, warnings, lines = run(smart(smart_ehr, scopes=["launch", "openid", "fhirUser", "patient/Goal.crus"]))
    assert failures == warnings == 0, lines
    assert all(line.startswith("ok   ") for line in lines)
    text = "\n".join(lines)
    for point in ("token keys: 1 Fernet key(s)", "PKCE S256", "capabilities launch-ehr client-public",
                  "configured scopes within scopes_supported", "permission-v2"):
        assert point in text


@pytest.mark.parametrize("overrides,config,expected", [
    ({"code_challenge_methods_supported": ["plain"]}, {}, "PKCE S256: code_challenge_methods_supported does not "
                                                          "list S256"),
    ({"token_endpoint_auth_methods_supported": ["private_key_jwt"]}, {"client_auth": "client_secret_basic",
                                                                      "client_secret_env": "S"},
     "client_auth client_secret_basic: token_endpoint_auth_methods_supported lists private_key_jwt"),
    ({"capabilities": ["launch-ehr", "client-public", "context-ehr-patient", "sso-openid-connect"]}, {},
     "missing launch-standalone context-standalone-patient"),
    ({"scopes_supported": ["launch", "openid"]}, {"scopes": ["launch", "openid", "patient/Goal.crus"]},
     "configured scopes within scopes_supported: not supported: patient/Goal.crus"),
    ({"token_endpoint": "http://ehr.example/token"}, {}, "token_endpoint: must be https"),
    ({"authorization_endpoint": None}, {}, "authorization_endpoint: Missing data"),
])
def test_each_mismatch_is_a_failure_line_naming_it(smart_ehr, overrides, config, expected):
    smart_ehr.config_overrides = overrides
    failures, _, lines = run(smart(smart_ehr, env={"S": "a-secret"}, **config))
    assert failures >= 1, lines
    assert any(line.startswith("FAIL ") and expected in line for line in lines), lines


def test_private_key_jwt_checks_the_key_and_the_algorithm(smart_ehr, tmp_path):
    from joserfc.jwk import ECKey
    pem = tmp_path / "k.pem"
    pem.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    with pytest.raises(ConfigError, match=r"smart\.ehrs\.0\.private_key_file: signing_alg ES384 needs an EC P-384 "
                                          r"private key"):
        smart(smart_ehr, client_auth="private_key_jwt", private_key_file=str(pem))     # the config never loads
    pem.write_bytes(ECKey.generate_key("P-384").as_pem(private=True))
    smart_ehr.config_overrides = {"token_endpoint_auth_signing_alg_values_supported": ["RS384"]}
    failures, _, lines = run(smart(smart_ehr, client_auth="private_key_jwt", private_key_file=str(pem)))
    assert failures == 1
    assert any("FAIL" in x and "signing_alg ES384: token_endpoint_auth_signing_alg_values_supported lists RS384" in x
               for x in lines)


def test_only_a_capability_statement_is_a_warning_and_nothing_there_a_failure(smart_ehr):
    smart_ehr.discovery(False)
    failures, warnings, lines = run(smart(smart_ehr, scopes=["launch"]))
    assert failures == 0 and warnings == 1 and "oauth-uris answer (SMART 1)" in "\n".join(lines)
    dead = f"http://127.0.0.1:{free_port()}/fhir"
    failures, _, lines = run(smart(smart_ehr, iss=[dead]))
    assert failures == 1 and any(x.startswith(f"FAIL smart ehr {dead}: smart-configuration: ConnectionError")
                                 for x in lines)


def test_a_token_key_that_is_not_a_fernet_key_fails(smart_ehr):
    failures, _, lines = run(smart(smart_ehr, key=f"{KEY},not-a-key"))
    assert failures == 1 and "FAIL smart token keys: 2 Fernet key(s): key 2 is not a Fernet key" in lines[0]
    with pytest.raises(ConfigError, match="smart.token_key_env: key 1 is not a Fernet key"):
        Vault(["nope"])


def test_a_public_key_file_names_the_field(smart_ehr, tmp_path):
    from joserfc.jwk import RSAKey
    pem = tmp_path / "pub.pem"
    pem.write_bytes(RSAKey.generate_key(2048).as_pem(private=False))
    with pytest.raises(ConfigError, match=r"smart\.ehrs\.0\.private_key_file: not an unencrypted PEM private key"):
        smart(smart_ehr, client_auth="private_key_jwt", private_key_file=str(pem), signing_alg="RS384")


def test_the_check_command_exits_1_on_a_smart_failure(smart_ehr, tmp_path, monkeypatch):
    config = write_config(tmp_path, smart_ehr.fhir_base)
    monkeypatch.setenv("PROGRESS_PLUGIN_SMART_KEY", KEY)
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert f"ok   smart ehr {smart_ehr.fhir_base}: PKCE S256" in result.output
    smart_ehr.config_overrides = {"code_challenge_methods_supported": []}
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and f"FAIL smart ehr {smart_ehr.fhir_base}: PKCE S256" in result.output

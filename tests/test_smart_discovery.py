"""Discovery of a SMART EHR: its smart-configuration, the CapabilityStatement's oauth-uris when that is
missing, validation that names the field, timeouts, and the short cache."""
from __future__ import annotations

import json

import pytest
import responses

from progress_plugin.fhir import smart_discovery as sd

BASE = "https://ehr.example/fhir"
GOOD = {"authorization_endpoint": "https://ehr.example/authorize", "token_endpoint": "https://ehr.example/token",
        "capabilities": ["launch-ehr"], "code_challenge_methods_supported": ["S256"], "extra": {"any": "thing"}}
STATEMENT = {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "security": {"extension": [
    {"url": sd.OAUTH_URIS, "extension": [{"url": "authorize", "valueUri": "https://ehr.example/auth2"},
                                         {"url": "token", "valueUri": "https://ehr.example/token2"}]}]}}]}


@pytest.fixture(autouse=True)
def _fresh():
    sd.clear_cache()
    yield
    sd.clear_cache()


def test_discovery_reads_the_ehrs_smart_configuration(smart_ehr):
    conf = sd.discover(smart_ehr.fhir_base)
    assert conf.source == "smart-configuration" and conf.iss == smart_ehr.fhir_base
    assert conf.token_endpoint == smart_ehr.token_endpoint and "S256" in conf.code_challenge_methods_supported
    assert conf.authorization_endpoint == smart_ehr.authorize_endpoint
    assert "launch-ehr" in conf.capabilities and conf.jwks_uri == smart_ehr.jwks_uri


def test_discovery_falls_back_to_the_capability_statement(smart_ehr):
    smart_ehr.discovery(False)
    conf = sd.discover(smart_ehr.fhir_base + "/")
    assert conf.source == "metadata"
    assert conf.authorization_endpoint == smart_ehr.authorize_endpoint
    assert conf.token_endpoint == smart_ehr.token_endpoint
    assert conf.capabilities == frozenset() and conf.scopes_supported is None


@responses.activate
def test_every_request_has_a_timeout_and_the_answer_is_cached():
    responses.get(BASE + sd.WELL_KNOWN, json=GOOD)
    assert sd.discover(BASE).authorization_endpoint == GOOD["authorization_endpoint"]
    assert sd.discover(BASE).token_endpoint == GOOD["token_endpoint"]
    assert len(responses.calls) == 1
    assert responses.calls[0].request.req_kwargs["timeout"] == sd.TIMEOUT
    sd.discover(BASE, fresh=True)
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize("field,value", [("token_endpoint", "http://ehr.example/token"),
                                         ("authorization_endpoint", None), ("token_endpoint", "not a url")])
def test_a_bad_smart_configuration_names_the_field(field, value):
    body = {**GOOD, field: value} if value else {k: v for k, v in GOOD.items() if k != field}
    responses.get(BASE + sd.WELL_KNOWN, json=body)
    responses.get(BASE + "/metadata", status=404)
    with pytest.raises(sd.DiscoveryFailed) as caught:
        sd.discover(BASE)
    assert f"smart-configuration: {field}:" in str(caught.value)
    assert "metadata: the EHR answered 404" in str(caught.value)


@responses.activate
def test_a_good_capability_statement_answers_when_the_smart_configuration_is_not_json():
    responses.get(BASE + sd.WELL_KNOWN, body="<html>", content_type="text/html")
    responses.get(BASE + "/metadata", json=STATEMENT)
    conf = sd.discover(BASE)
    assert conf.source == "metadata" and conf.authorization_endpoint == "https://ehr.example/auth2"


@responses.activate
def test_a_capability_statement_without_oauth_uris_fails_naming_them():
    responses.get(BASE + sd.WELL_KNOWN, status=404)
    responses.get(BASE + "/metadata", json={"resourceType": "CapabilityStatement", "rest": [{"security": {}}]})
    with pytest.raises(sd.DiscoveryFailed, match="metadata: oauth-uris: authorize"):
        sd.discover(BASE)


@responses.activate
def test_an_oversized_answer_is_refused():
    responses.get(BASE + sd.WELL_KNOWN, body=json.dumps({**GOOD, "pad": "x" * sd.MAX_BYTES}))
    responses.get(BASE + "/metadata", status=500)
    with pytest.raises(sd.DiscoveryFailed, match="larger than"):
        sd.discover(BASE)


def test_nothing_listening_is_a_discovery_failure():
    from tests.pg import free_port
    with pytest.raises(sd.DiscoveryFailed, match="ConnectionError"):
        sd.discover(f"http://127.0.0.1:{free_port()}/fhir")


@pytest.mark.parametrize("url,safe", [("https://a.example/t", True), ("http://127.0.0.1:9/t", True),
                                      ("http://localhost/t", True), ("http://[::1]/t", True),
                                      ("http://a.example/t", False), ("http://10.0.0.1/t", False),
                                      ("ftp://a.example/t", False)])
def test_only_https_or_loopback_endpoints_are_used(url, safe):
    assert sd.safe_endpoint(url) is safe

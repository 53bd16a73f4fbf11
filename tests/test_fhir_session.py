"""The FHIR client's Session: the proxy environment is honoured as requests honours it, and read
once per scheme, host and port."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from progress_plugin.fhir import session as session_mod
from progress_plugin.fhir.reads import FHIRReader
from progress_plugin.fhir.session import Session

from tests.serving import send_json

URLS = ("https://ehr.example/fhir/Goal?identifier=x", "https://ehr.example:8443/fhir/Goal",
        "http://ehr.example/fhir/metadata", "https://inside.clinic.local/fhir/Goal", "http://127.0.0.1:9/fhir")


@pytest.fixture
def proxied(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.clinic.local:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.clinic.local:3128")
    monkeypatch.setenv("NO_PROXY", ".clinic.local,127.0.0.1")


@pytest.mark.parametrize("trust_env", [True, False])
def test_settings_are_those_requests_makes(proxied, monkeypatch, trust_env):
    ours, theirs = Session(), requests.Session()
    ours.trust_env = theirs.trust_env = trust_env
    for verify in (None, True, "/etc/clinic-ca.pem"):
        for url in URLS * 2:                            # the second time from what was kept
            for per_request in ({}, {"no_proxy": "ehr.example"}):
                assert (ours.merge_environment_settings(url, dict(per_request), None, verify, None)
                        == theirs.merge_environment_settings(url, dict(per_request), None, verify, None)), (url, verify)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/bundle.pem")      # still read per request
    assert (ours.merge_environment_settings(URLS[0], {}, None, True, None)["verify"]
            == theirs.merge_environment_settings(URLS[0], {}, None, True, None)["verify"])


def test_the_environment_is_read_once_per_host(proxied, monkeypatch):
    calls = []
    real = session_mod.get_environ_proxies
    monkeypatch.setattr(session_mod, "get_environ_proxies", lambda url, no_proxy=None: calls.append(url) or
                        real(url, no_proxy=no_proxy))
    s = Session()
    for _ in range(5):
        s.merge_environment_settings("https://ehr.example/fhir/Goal?x=1", {}, None, None, None)
        s.merge_environment_settings("https://ehr.example/fhir/Observation", {}, None, None, None)
    assert len(calls) == 1
    s.merge_environment_settings("https://ehr.example:8443/fhir/Goal", {}, None, None, None)
    s.merge_environment_settings("http://ehr.example/fhir/Goal", {}, None, None, None)
    assert len(calls) == 3
    assert Session().merge_environment_settings(URLS[0], {}, None, None, None)["proxies"]["https"] \
        == "http://proxy.clinic.local:3128"
    assert len(calls) == 4                              # a new session reads it again


class _Proxy(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):                                   # a forward proxy sees the absolute URL
        type(self).seen.append(self.path)
        send_json(self, {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})

    def log_message(self, *args):
        pass


def test_a_request_goes_through_the_proxy_of_the_environment(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        reader = FHIRReader("http://ehr.invalid/fhir", retries=0)
        for _ in range(2):
            assert reader.metadata()["resourceType"] == "CapabilityStatement"
        assert _Proxy.seen == ["http://ehr.invalid/fhir/metadata"] * 2
        reader.close()
    finally:
        server.shutdown()
        server.server_close()

"""The SMART pages' connection pool per EHR (progress_plugin.web.smart.ehr_pool): pages reuse the
process's connections to the EHR, each with its own launch's token."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from progress_plugin.web.smart import ehr_pool

from tests.serving import send_json


class _EHR(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set = set()
    tokens: list = []

    def do_GET(self):
        type(self).connections.add(self.client_address)
        type(self).tokens.append(self.headers.get("Authorization"))
        send_json(self, {"resourceType": "Patient", "id": self.path.rsplit("/", 1)[1]})

    def log_message(self, *args):
        pass


@pytest.fixture
def ehr():
    _EHR.connections, _EHR.tokens = set(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EHR)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_pages_reuse_the_processs_connection_each_with_its_own_token(ehr):
    for i in range(5):                                  # five page loads, two launches
        with ehr_pool.client(ehr, f"token-{i % 2}") as fhir:
            assert fhir.read("Patient", f"p{i}")["id"] == f"p{i}"
    assert len(_EHR.connections) == 1                   # one connection, kept between pages
    assert _EHR.tokens == [f"Bearer token-{i % 2}" for i in range(5)]


def test_a_client_made_for_one_page_only_shares_the_pool_of_its_own_ehr(ehr):
    one, other = ehr_pool.client(ehr, "a"), ehr_pool.client("http://127.0.0.1:9/fhir", "b")
    again = ehr_pool.client(ehr, "c")
    assert one.session.get_adapter(ehr) is again.session.get_adapter(ehr)
    assert other.session.get_adapter("http://127.0.0.1:9/fhir") is not one.session.get_adapter(ehr)
    assert one.session.headers["Authorization"] == "Bearer a" and again.session.headers["Authorization"] == "Bearer c"
    for c in (one, other, again):
        c.close()


def test_pages_read_the_proxy_environment_once_per_ehr_and_honour_it(monkeypatch):
    from progress_plugin.fhir import session as fhir_session
    read = []
    real = fhir_session.get_environ_proxies
    monkeypatch.setattr(fhir_session, "get_environ_proxies", lambda url, no_proxy=None: read.append(url) or real(url, no_proxy=no_proxy))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setattr(ehr_pool, "_environ_proxies", {})
    for _ in range(3):
        page = ehr_pool.client("https://ehr-proxied.example/fhir", "t")
        settings = page.session.merge_environment_settings("https://ehr-proxied.example/fhir/Patient/1", {}, None, None, None)
        assert settings["proxies"]["https"] == "http://proxy.example:3128"
        page.close()
    assert len(read) == 1

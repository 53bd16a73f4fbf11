"""End to end with real processes: gunicorn, a worker process, a FHIR host, signed webhooks."""
import pytest
import requests

from tests import e2e, fhir_server
from tests.conftest import SECRET


@pytest.fixture
def medplum():
    """A Medplum of this test's own, not the session's. Medplum's identifier search scans
    every stored resource of the type (about 0.7 ms each), so on the shared server each
    write cost more the more earlier tests had stored, and any request another test left
    in flight landed in this test's counters and took its injected faults."""
    with fhir_server.running() as server:
        yield server


@pytest.fixture
def run(tmp_path, medplum):
    started = []

    def start(workers=1):
        store_url = f"sqlite:///{tmp_path / 'progress.db'}"
        config = e2e.write_config(tmp_path, store_url, medplum.base_url, SECRET)
        service = e2e.Service(config)
        started.append(service)
        procs = [e2e.WorkerProcess(config, f"worker{i}") for i in range(workers)]
        started.extend(procs)
        return store_url, config, service, procs
    yield start
    for thing in started:
        thing.stop()


def make_doc_factory(base):
    http = requests.Session()

    def make():
        doc = {"resourceType": "DocumentReference", "status": "current",
               "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}
        return http.post(f"{base}/DocumentReference", json=doc, timeout=5).json()["id"]
    return make


def assert_exactly_once(host, expected):
    """Writes the host answered with 2xx: each expected write once, no more (faulted attempts do not count)."""
    statuses = host.stats()["statuses"]

    def ok(pattern):
        return sum(n for status, n in statuses.get(pattern, {}).items() if status.startswith("2"))
    assert ok("POST Questionnaire") == 1
    assert ok("PUT QuestionnaireResponse") == expected["QuestionnaireResponse"]
    assert ok("PUT Goal") == expected["Goal"]
    assert ok("PUT Observation") == expected["Observation"], statuses.get("PUT Observation")
    assert ok("PATCH DocumentReference/:id") == expected["tags"]


def test_200_events_with_duplicates_and_reorderings_are_written_exactly_once(run, medplum):
    events, expected = e2e.scenario(make_doc_factory(medplum.base_url), clients=20, notes_per_client=8)
    medplum.reset()
    store_url, config, service, workers = run(workers=1)
    outcome = e2e.send(f"{service.url}/webhooks/clinic-a", SECRET, events)
    assert outcome["sent"] >= 200 and outcome["accepted"] == len(events) == 180
    result = e2e.wait_drained(store_url)
    assert result["inbox"] == {"done": 180} and result["outbox"].get("dead") is None
    assert_exactly_once(medplum, expected)


def test_host_down_then_recovering_loses_nothing(run, medplum):
    events, expected = e2e.scenario(make_doc_factory(medplum.base_url), clients=5, notes_per_client=4, seed=11)
    medplum.reset()
    medplum.fault(count=40, status=503)
    store_url, config, service, workers = run(workers=1)
    e2e.send(f"{service.url}/webhooks/clinic-a", SECRET, events)
    result = e2e.wait_drained(store_url, timeout=120)
    assert result["outbox"].get("dead") is None
    assert_exactly_once(medplum, expected)

"""The example FHIR host (examples/fhir_host.py) and the sample webhook sender.

The host is what the end-to-end, fault and benchmark runs lean on, so its own behaviour is
pinned here: FHIR semantics, the write ledger, faults, synthetic notes at scale, webhook
sending, and the real FHIRClient against it.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest
import requests
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from examples import fhir_host, webhook_sender
from examples.fhir_host import SeedSet, apply_patch, matches, parse_filters
from progress_plugin.fhir import resources as plugin_fhir
from progress_plugin import schemas
from progress_plugin.web import signatures
from progress_plugin.errors import HostConflict, WebhookVerificationError
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.core.intake import Goal
from progress_plugin.core.notes import Rating
from progress_plugin.core.vocabulary import DEFAULT_TAGS, SYSTEM as TAG_SYSTEM

FHIR = "application/fhir+json"
GOAL_SYSTEM = "https://progress-plugin.example/goal"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   # 24 bytes once decoded


@pytest.fixture(scope="module")
def server():
    with fhir_host.running() as handle:
        yield handle


@pytest.fixture
def host(server):
    server.reset(data=True)
    server.configure(meta_add=True, idempotency=False, validate=False)
    yield server


@pytest.fixture
def raw():
    with requests.Session() as session:
        session.headers.update({"Content-Type": FHIR, "Accept": FHIR})
        yield session


@pytest.fixture
def client(host):
    with FHIRClient(host.base_url, backoff_factor=0.01, timeout=(2, 10)) as c:
        yield c


def goal(value: str, text: str = "feel at ease with friends", status: str = "active") -> dict:
    return {"resourceType": "Goal", "identifier": [{"system": GOAL_SYSTEM, "value": value}],
            "lifecycleStatus": status, "description": {"text": text},
            "subject": {"reference": "Patient/p1"}}


def note(note_id: str, client_id: str = "p1") -> dict:
    return {"resourceType": "DocumentReference", "id": note_id, "status": "current",
            "subject": {"reference": f"Patient/{client_id}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}


def ledger(host, rtype: str, key: str) -> dict:
    return host.stats()["writes"][rtype][key]


# -- FHIR semantics -------------------------------------------------------------------------
def test_metadata_is_a_capability_statement_naming_meta_add_only_when_on(host, raw):
    body = raw.get(f"{host.base_url}/metadata").json()
    assert body["resourceType"] == "CapabilityStatement"
    ops = {o["name"] for r in body["rest"][0]["resource"] for o in r["operation"]}
    assert ops == {"meta-add"}
    host.configure(meta_add=False)
    body = raw.get(f"{host.base_url}/metadata").json()
    assert not any(r["operation"] for r in body["rest"][0]["resource"])


def test_conditional_create_twice_keeps_one_resource(host, raw):
    questionnaire = plugin_fhir.questionnaire()
    condition = f"url={questionnaire['url']}&version={questionnaire['version']}"
    first = raw.post(f"{host.base_url}/Questionnaire", json=questionnaire,
                     headers={"If-None-Exist": condition})
    second = raw.post(f"{host.base_url}/Questionnaire", json=questionnaire,
                      headers={"If-None-Exist": condition})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.headers["ETag"] == 'W/"1"'
    assert first.headers["Location"].endswith(f"/Questionnaire/{first.json()['id']}/_history/1")
    found = raw.get(f"{host.base_url}/Questionnaire", params={"url": questionnaire["url"]}).json()
    assert found["total"] == 1
    record = ledger(host, "Questionnaire", f"{questionnaire['url']}|{questionnaire['version']}")
    assert (record["writes"], record["noops"], record["ids"]) == (1, 1, [first.json()["id"]])


def test_conditional_create_with_several_matches_is_412(host, raw):
    for _ in range(2):
        assert raw.post(f"{host.base_url}/Goal", json=goal("dup")).status_code == 201
    response = raw.post(f"{host.base_url}/Goal", json=goal("dup"),
                        headers={"If-None-Exist": f"identifier={GOAL_SYSTEM}|dup"})
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    duplicates = host.stats()["duplicates"]
    assert [d["reasons"] for d in duplicates] == [["several-ids"]]


def test_conditional_put_twice_with_same_content_is_one_write(host, raw):
    url = f"{host.base_url}/Goal"
    params = {"identifier": f"{GOAL_SYSTEM}|g1"}
    first = raw.put(url, params=params, json=goal("g1"))
    second = raw.put(url, params=params, json=goal("g1"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["meta"]["versionId"] == second.json()["meta"]["versionId"] == "1"
    record = ledger(host, "Goal", f"{GOAL_SYSTEM}|g1")
    assert (record["writes"], record["noops"], record["repeats"]) == (1, 1, 0)

    changed = raw.put(url, params=params, json=goal("g1", status="completed"))
    back = raw.put(url, params=params, json=goal("g1"))
    assert (changed.json()["meta"]["versionId"], back.json()["meta"]["versionId"]) == ("2", "3")
    record = ledger(host, "Goal", f"{GOAL_SYSTEM}|g1")
    assert (record["writes"], record["noops"], record["repeats"]) == (3, 1, 1)
    assert {d["key"]: d["reasons"] for d in host.stats()["duplicates"]} == {
        f"{GOAL_SYSTEM}|g1": ["noop", "repeat"]}
    assert raw.get(url, params=params).json()["total"] == 1


def test_put_with_a_stale_if_match_is_412(host, raw):
    raw.put(f"{host.base_url}/Goal/g-a", json={**goal("a"), "id": "g-a"})
    raw.put(f"{host.base_url}/Goal/g-a", json={**goal("a", status="completed"), "id": "g-a"})
    stale = raw.put(f"{host.base_url}/Goal/g-a", json={**goal("a"), "id": "g-a"},
                    headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert raw.get(f"{host.base_url}/Goal/g-a").json()["lifecycleStatus"] == "completed"


def test_json_patch_with_a_failing_test_op_is_400_and_changes_nothing(host, raw):
    assert raw.put(f"{host.base_url}/DocumentReference/n1", json=note("n1")).status_code == 201
    patch_headers = {"Content-Type": "application/json-patch+json"}
    tag = {"system": TAG_SYSTEM, "code": "setback"}
    lost = raw.patch(f"{host.base_url}/DocumentReference/n1", headers=patch_headers, json=[
        {"op": "test", "path": "/meta/versionId", "value": "7"},
        {"op": "add", "path": "/meta/tag", "value": [tag]}])
    assert lost.status_code == 400
    assert lost.json()["issue"][0]["code"] == "conflict"
    assert "tag" not in raw.get(f"{host.base_url}/DocumentReference/n1").json()["meta"]

    won = raw.patch(f"{host.base_url}/DocumentReference/n1", headers=patch_headers, json=[
        {"op": "test", "path": "/meta/versionId", "value": "1"},
        {"op": "add", "path": "/meta/tag", "value": [tag]}])
    assert won.status_code == 200
    assert won.json()["meta"]["versionId"] == "2" and won.json()["meta"]["tag"] == [tag]
    stale = raw.patch(f"{host.base_url}/DocumentReference/n1",
                      headers={**patch_headers, "If-Match": 'W/"1"'},
                      json=[{"op": "add", "path": "/meta/tag/-", "value": tag}])
    assert stale.status_code == 412
    wrong_type = raw.patch(f"{host.base_url}/DocumentReference/n1", json=[])
    assert wrong_type.status_code == 415
    assert host.stats()["tags"]["DocumentReference/n1"] == {"codes": ["setback"],
                                                           "adds": {"setback": 1}}


def test_apply_patch_follows_rfc_6902():
    doc = {"a": {"b": [1, 2]}, "c": True}
    assert apply_patch(doc, [{"op": "add", "path": "/a/b/1", "value": 9}])["a"]["b"] == [1, 9, 2]
    assert apply_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3}])["a"]["b"] == [1, 2, 3]
    assert apply_patch(doc, [{"op": "remove", "path": "/a/b/0"}])["a"]["b"] == [2]
    assert apply_patch(doc, [{"op": "replace", "path": "/c", "value": False}])["c"] is False
    assert apply_patch(doc, [{"op": "move", "from": "/c", "path": "/d"}]) == {"a": {"b": [1, 2]},
                                                                              "d": True}
    assert apply_patch(doc, [{"op": "copy", "from": "/a/b", "path": "/e"}])["e"] == [1, 2]
    assert apply_patch(doc, [{"op": "add", "path": "/x~1y", "value": 1}])["x/y"] == 1
    assert doc == {"a": {"b": [1, 2]}, "c": True}          # the input is never changed
    with pytest.raises(fhir_host.PatchTestFailed):
        apply_patch(doc, [{"op": "test", "path": "/c", "value": 1}])   # true is not 1
    with pytest.raises(fhir_host.PatchTestFailed):
        apply_patch(doc, [{"op": "test", "path": "/missing", "value": None}])
    for bad in ([{"op": "remove", "path": "/nope"}], [{"op": "add", "path": "/a/b/5", "value": 0}],
                [{"op": "replace", "path": "/z", "value": 0}], [{"op": "jump", "path": "/a"}],
                [{"op": "move", "from": "/a", "path": "/a/b/c"}], {"op": "add"}):
        with pytest.raises(fhir_host.PatchError):
            apply_patch(doc, bad)


def test_read_honours_elements_and_answers_404_then_410(host, raw):
    raw.put(f"{host.base_url}/DocumentReference/n2", json=note("n2"))
    only_meta = raw.get(f"{host.base_url}/DocumentReference/n2", params={"_elements": "meta"})
    assert set(only_meta.json()) == {"resourceType", "id", "meta"}
    missing = raw.get(f"{host.base_url}/DocumentReference/nope")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert raw.delete(f"{host.base_url}/DocumentReference/n2").status_code == 200
    assert raw.get(f"{host.base_url}/DocumentReference/n2").status_code == 410
    assert ledger(host, "DocumentReference", "n2")["deletes"] == 1


def test_search_filters_and_follows_next_links(host, raw):
    for n in range(25):
        obs = {"resourceType": "Observation", "status": "final", "code": {"text": "rating"},
               "identifier": [{"system": "urn:r", "value": f"r{n}"}],
               "subject": {"reference": f"Patient/p{n % 2}"},
               "meta": {"tag": [{"system": TAG_SYSTEM, "code": "setback" if n % 5 == 0 else "repair"}]}}
        assert raw.post(f"{host.base_url}/Observation", json=obs).status_code == 201
    seen, url, params = [], f"{host.base_url}/Observation", {"_count": 10}
    while url:
        bundle = raw.get(url, params=params).json()
        assert bundle["total"] == 25
        seen += [e["resource"]["identifier"][0]["value"] for e in bundle.get("entry", [])]
        url = next((l["url"] for l in bundle["link"] if l["relation"] == "next"), None)
        params = None
    assert seen == [f"r{n}" for n in range(25)]

    def total(**params):
        return raw.get(f"{host.base_url}/Observation", params=params).json()["total"]

    assert total(identifier="urn:r|r7") == 1
    assert total(identifier="r7") == 1
    assert total(subject="Patient/p1") == 12
    assert total(_tag=f"{TAG_SYSTEM}|setback") == 5
    assert total(_tag="setback", patient="p0") == 3
    assert total(_lastUpdated="gt2000-01-01T00:00:00Z") == 25
    assert total(_lastUpdated="lt2000-01-01") == 0
    unknown = raw.get(f"{host.base_url}/Observation", params={"colour": "blue"})
    assert unknown.status_code == 400 and "colour" in unknown.text


def test_meta_add_adds_once_and_can_be_switched_off(host, raw):
    raw.put(f"{host.base_url}/DocumentReference/n3", json=note("n3"))
    params = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
        "tag": [{"system": TAG_SYSTEM, "code": "step-forward"}]}}]}
    url = f"{host.base_url}/DocumentReference/n3/$meta-add"
    first, second = raw.post(url, json=params), raw.post(url, json=params)
    assert first.status_code == second.status_code == 200
    assert [t["code"] for t in second.json()["parameter"][0]["valueMeta"]["tag"]] == ["step-forward"]
    record = ledger(host, "DocumentReference", "n3")
    assert (record["writes"], record["noops"], record["version"]) == (2, 1, "1")
    host.configure(meta_add=False)
    assert raw.post(url, json=params).status_code == 404


def test_validation_when_on_rejects_invalid_resources(host, raw):
    host.configure(validate=True)
    bad = goal("v1")
    del bad["lifecycleStatus"]
    response = raw.put(f"{host.base_url}/Goal", params={"identifier": f"{GOAL_SYSTEM}|v1"}, json=bad)
    assert response.status_code == 422
    assert "lifecycleStatus" in response.text and "feel at ease" not in response.text
    assert raw.put(f"{host.base_url}/Goal", params={"identifier": f"{GOAL_SYSTEM}|v1"},
                   json=goal("v1")).status_code == 201
    assert host.stats()["totals"]["Goal"]["writes"] == 1


# -- synthetic notes ------------------------------------------------------------------------
SEED_QUERIES = [
    [],
    [("subject", "Patient/s1-p3")],
    [("patient", "s1-p5"), ("_tag", "setback")],
    [("_tag", f"{TAG_SYSTEM}|stirring-up,{TAG_SYSTEM}|repair")],
    [("type", "http://loinc.org|34746-8")],
    [("_lastUpdated", "ge2024-01-08T09:00:00Z"), ("_lastUpdated", "lt2024-01-20")],
    [("date", "gt2024-01-05T00:00:00Z"), ("subject", "Patient/s1-p0"), ("_tag", "holding-steady")],
    [("_id", "s1-n4,s1-n17,s1-n999")],
    [("subject", "Patient/s1-p1,Patient/s1-p2"), ("_tag", "step-forward")],
    [("subject", "Patient/other")],
]


@pytest.mark.parametrize("query", SEED_QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q) or "all")
def test_seeded_search_equals_brute_force_over_every_note(host, raw, query):
    host.seed("s1", 300, patients=7, protected_every=4)
    seed = SeedSet("s1", 300, 7, protected_every=4)
    expected = [seed.note_id(i) for i in range(300) if matches(seed.note(i), parse_filters(query))]
    got, url, params = [], f"{host.base_url}/DocumentReference", [*query, ("_count", "13")]
    while url:
        bundle = raw.get(url, params=params).json()
        assert bundle["total"] == len(expected)
        got += [e["resource"]["id"] for e in bundle.get("entry", [])]
        url = next((l["url"] for l in bundle["link"] if l["relation"] == "next"), None)
        params = None
    assert got == expected


def test_seeded_notes_carry_every_default_tag_and_no_note_text(host, raw):
    seed = SeedSet("s2", 100, 3)
    codes = {t["code"] for i in range(100) for t in seed.note(i)["meta"].get("tag", [])}
    assert codes == {t.code for t in DEFAULT_TAGS}
    assert any("tag" not in seed.note(i)["meta"] for i in range(100))
    text_fields = {k for i in range(100) for k in seed.note(i)} - {
        "resourceType", "id", "meta", "status", "docStatus", "type", "category", "subject",
        "date", "author", "context", "content"}
    assert text_fields == set()
    assert seed.note(5)["content"] == fhir_host.NOTE_CONTENT


def test_writes_to_seeded_notes_show_in_reads_pages_and_tag_search(host, raw):
    host.seed("s3", 50, patients=5)
    url = f"{host.base_url}/DocumentReference"
    before = raw.get(url, params={"_tag": "let-go-of-fixing"}).json()["total"]
    params = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
        "tag": [{"system": TAG_SYSTEM, "code": "let-go-of-fixing"}]}}]}
    assert "let-go-of-fixing" not in [t["code"] for t in raw.get(f"{url}/s3-n8").json()["meta"].get("tag", [])]
    assert raw.post(f"{url}/s3-n8/$meta-add", json=params).status_code == 200
    assert "let-go-of-fixing" in [t["code"] for t in raw.get(f"{url}/s3-n8").json()["meta"]["tag"]]
    tagged = raw.get(url, params={"_tag": "let-go-of-fixing", "_count": 100}).json()
    assert tagged["total"] == before + 1
    assert "s3-n8" in [e["resource"]["id"] for e in tagged["entry"]]
    page = raw.get(url, params={"_offset": 8, "_count": 1}).json()
    assert page["entry"][0]["resource"]["id"] == "s3-n8"
    assert "let-go-of-fixing" in [t["code"] for t in page["entry"][0]["resource"]["meta"]["tag"]]

    assert raw.delete(f"{url}/s3-n9").status_code == 200
    assert raw.get(f"{url}/s3-n9").status_code == 410
    everything = raw.get(url, params={"_count": 100}).json()
    assert everything["total"] == 49
    assert "s3-n9" not in [e["resource"]["id"] for e in everything["entry"]]
    assert host.stats()["tags"]["DocumentReference/s3-n8"]["adds"] == {"let-go-of-fixing": 1}


def test_a_million_seeded_notes_page_from_a_child_process_with_flat_memory():
    host = fhir_host.start_process()      # also proves "listening 127.0.0.1:PORT" comes first
    try:
        rss_before = host.stats()["rss_bytes"]
        host.seed("big", 1_000_000, patients=1000)
        rss_seeded = host.stats()["rss_bytes"]
        with requests.Session() as s:
            url = f"{host.base_url}/DocumentReference"
            first = s.get(url, params={"_count": 1000}).json()
            assert first["total"] == 1_000_000 and len(first["entry"]) == 1000
            assert first["entry"][0]["resource"]["id"] == "big-n0"
            following = next(l["url"] for l in first["link"] if l["relation"] == "next")
            second = s.get(following).json()
            assert second["entry"][0]["resource"]["id"] == "big-n1000"
            last = s.get(url, params={"_count": 1000, "_offset": 999_000}).json()
            assert len(last["entry"]) == 1000
            assert last["entry"][-1]["resource"]["id"] == "big-n999999"
            assert [l["relation"] for l in last["link"]] == ["self"]
            one = s.get(f"{url}/big-n123456").json()
            assert one["subject"]["reference"] == "Patient/big-p456"
            for offset in range(0, 1_000_000, 50_000):
                page = s.get(url, params={"_count": 1000, "_offset": offset}).json()
                assert page["entry"][0]["resource"]["id"] == f"big-n{offset}"
        rss_after = host.stats()["rss_bytes"]
        # One stored dict per note would cost hundreds of MB.
        assert rss_seeded - rss_before < 2 * 2**20
        assert rss_after - rss_before < 32 * 2**20
    finally:
        host.stop()


# -- faults ---------------------------------------------------------------------------------
def test_503_for_a_while_then_recovery(host, raw):
    host.fault(count=2, status=503)
    statuses = [raw.get(f"{host.base_url}/Goal").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    stats = host.stats()
    assert stats["statuses"]["GET Goal"] == {"503": 2, "200": 1}
    assert [e["fault"] for e in stats["log"]] == [True, True, False]
    assert host.pending_faults() == []


def test_429_with_retry_after_is_honoured_by_the_client(host, client):
    host.fault(count=1, status=429, retry_after=1, path="Goal")
    assert list(client.search("Goal")) == []
    assert host.stats()["statuses"]["GET Goal"] == {"429": 1, "200": 1}
    raw_429 = host.stats()["log"][0]
    assert raw_429["fault"] is True


@pytest.mark.parametrize("server_kind", ["keep-alive", "werkzeug"])
def test_reset_drops_the_connection_without_an_answer(server_kind):
    app = fhir_host.make_app()
    if server_kind == "werkzeug":
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
    else:
        httpd = fhir_host.serve(app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    try:
        app.add_faults({"reset": True, "count": 1})
        with requests.Session() as s:
            with pytest.raises(requests.ConnectionError):
                s.get(f"{base}/Goal", timeout=5)
            assert s.get(f"{base}/Goal", timeout=5).status_code == 200
        assert app.stats()["statuses"]["GET Goal"] == {"reset": 1, "200": 1}
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_409_with_method_and_path_filters(host, raw, client):
    host.fault(count=1, status=409, method="PUT", path="Goal")
    assert raw.get(f"{host.base_url}/Goal").status_code == 200          # not a PUT
    assert raw.put(f"{host.base_url}/Observation/o1", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "x"}}).status_code == 201
    with pytest.raises(HostConflict):
        client.upsert_by_identifier(goal("c409"))
    assert client.upsert_by_identifier(goal("c409")).action == "created"
    assert host.stats()["statuses"]["PUT Goal"] == {"409": 1, "201": 1}


def test_a_write_whose_answer_is_lost_is_retried_and_seen_as_a_noop(host, client):
    host.fault(count=1, reset=True, after=True, method="PUT")
    assert client.upsert_by_identifier(goal("lost")).action == "updated"   # the retry's view
    record = ledger(host, "Goal", f"{GOAL_SYSTEM}|lost")
    assert (record["writes"], record["noops"]) == (1, 1)
    assert host.stats()["statuses"]["PUT Goal"] == {"reset": 1, "200": 1}


def test_idempotency_key_replays_the_first_answer_when_on(host, client):
    host.configure(idempotency=True)
    host.fault(count=1, reset=True, after=True, method="PUT")
    assert client.upsert_by_identifier(goal("replayed")).action == "created"
    record = ledger(host, "Goal", f"{GOAL_SYSTEM}|replayed")
    assert (record["writes"], record["noops"]) == (1, 0)
    assert [e.get("replayed", False) for e in host.stats()["log"] if e["method"] == "PUT"] == [False, True]


def test_faults_by_time_listing_clearing_and_validation(host, raw):
    host.fault(count=None, status=503, seconds=30, path="Flag")
    for _ in range(3):
        assert raw.get(f"{host.base_url}/Flag").status_code == 503
    pending = host.pending_faults()
    assert len(pending) == 1 and pending[0]["count"] is None and pending[0]["remaining_seconds"] > 0
    assert requests.delete(f"{host.url}/__faults").json() == {"faults": []}
    assert raw.get(f"{host.base_url}/Flag").status_code == 200
    for bad in ({"count": 1}, {"status": 503, "reset": True}, {"status": 503, "colour": 1}):
        assert requests.post(f"{host.url}/__faults", json=bad).status_code == 400
    host.fault(count=1, status=503, seconds=0)
    assert raw.get(f"{host.base_url}/Flag").status_code == 200       # already expired


def test_reset_clears_counters_and_keeps_data_unless_asked(host, raw):
    raw.put(f"{host.base_url}/Goal/k1", json={**goal("k1"), "id": "k1"})
    host.fault(count=5, status=503)
    host.reset()
    stats = host.stats()
    assert (stats["total"], stats["writes"], host.pending_faults()) == (0, {}, [])
    assert raw.get(f"{host.base_url}/Goal/k1").status_code == 200
    host.reset(data=True)
    assert raw.get(f"{host.base_url}/Goal/k1").status_code == 404


# -- webhooks -------------------------------------------------------------------------------
class Receiver:
    """A webhook endpoint that verifies with the plugin's own verifier and records each call."""

    def __init__(self, fail_first: set[str] = frozenset(), always: int | None = None):
        self.calls: list[tuple[str, bytes, int]] = []
        self.fail_first, self.always, self.failed = set(fail_first), always, set()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        try:
            verified = signatures.verify("standard-webhooks", SECRET, dict(request.headers), body)
        except WebhookVerificationError:
            return Response(status=401)(environ, start_response)
        with self.lock:
            status = self.always or 202
            if verified.event_id in self.fail_first and verified.event_id not in self.failed:
                self.failed.add(verified.event_id)
                status = 503
            self.calls.append((verified.event_id, body, status))
        return Response(status=status)(environ, start_response)


@pytest.fixture
def receiver():
    rec = Receiver()
    httpd = fhir_host.serve(rec)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{httpd.server_address[1]}/webhooks/clinic-1"
    yield rec
    httpd.shutdown()
    httpd.server_close()


def test_deliver_duplicates_reorders_and_retries_with_the_same_id(receiver):
    events = webhook_sender.client_story("client-7")
    ids = [webhook_sender.event_id(e) for e in events]
    receiver.fail_first = {ids[2]}
    reports = webhook_sender.deliver(receiver.url, SECRET, events, duplicate_every=3,
                                     shuffle_seed=7, backoff=0.01)
    assert len(reports) == len(events) + len(events) // 3
    assert all(r["ok"] for r in reports)
    assert [r["index"] for r in reports] != sorted(r["index"] for r in reports)   # re-ordered
    retried = [r for r in reports if r["id"] == ids[2] and r["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["statuses"] == [503, 202]
    bodies: dict[str, set[bytes]] = {}
    for event_id, body, _ in receiver.calls:
        bodies.setdefault(event_id, set()).add(body)
    assert sorted(bodies) == sorted(ids)                          # every event arrived
    assert all(len(b) == 1 for b in bodies.values())              # duplicates are identical
    assert {json.loads(next(iter(bodies[i])))["type"] for i in ids} == {
        "intake.submitted", "note.saved", "note.signed"}
    assert len(receiver.calls) == len(reports) + 1                # plus the one 503


def test_send_endpoint_registers_the_notes_and_reports_each_delivery(host, raw, receiver):
    events = webhook_sender.client_story("client-8")
    result = host.send(receiver.url, SECRET, events, duplicate_every=2, shuffle_seed=1)
    assert (result["deliveries"], result["ok"], result["failed"], result["events"]) == (12, 12, 0, 8)
    note_ids = {e["data"]["note_id"] for e in events if "note_id" in e["data"]}
    for note_id in note_ids:
        doc = raw.get(f"{host.base_url}/DocumentReference/{note_id}").json()
        assert doc["subject"]["reference"] == "Patient/client-8"
    assert raw.get(f"{host.base_url}/Patient/client-8").status_code == 200
    assert host.stats()["writes"] == {}          # the platform's own data is not a plugin write
    started = requests.post(f"{host.url}/__send", json={
        "url": receiver.url, "secret": SECRET, "events": events[:2], "wait": False}, timeout=10)
    assert started.status_code == 202
    job = started.json()["job"]
    for _ in range(200):
        status = requests.get(f"{host.url}/__send/{job}", timeout=10).json()
        if status["done"]:
            break
        threading.Event().wait(0.02)
    assert status["done"] and status["ok"] == 2
    bad = requests.post(f"{host.url}/__send", json={"url": receiver.url, "secret": "short",
                                                     "events": events}, timeout=10)
    assert bad.status_code == 400


def test_deliver_gives_up_after_max_attempts(receiver):
    receiver.always = 500
    events = webhook_sender.client_story("client-9")[:2]
    reports = webhook_sender.deliver(receiver.url, SECRET, events, max_attempts=3, backoff=0.01)
    assert [(r["ok"], r["attempts"], r["statuses"]) for r in reports] == [(False, 3, [500] * 3)] * 2
    receiver.always = 422
    reports = webhook_sender.deliver(receiver.url, SECRET, events, max_attempts=3, backoff=0.01)
    assert [r["attempts"] for r in reports] == [1, 1]          # a 4xx is final


def test_sender_dry_run_prints_requests_that_verify_and_validate():
    result = CliRunner().invoke(webhook_sender.main, [
        "http://127.0.0.1:9/webhooks/clinic-1", "--secret", SECRET, "--client-id", "client-1",
        "--dry-run"])
    assert result.exit_code == 0, result.output
    blocks = [b for b in result.output.split("POST http://127.0.0.1:9/webhooks/clinic-1\n") if b]
    assert len(blocks) == 8
    kinds = []
    for block in blocks:
        head, body = block.strip("\n").split("\n\n", 1)
        headers = dict(line.split(": ", 1) for line in head.splitlines())
        assert headers["Content-Type"] == "application/json"
        signatures.verify("standard-webhooks", SECRET, headers, body.encode("utf-8"))
        envelope = schemas.load(schemas.envelope_schema, json.loads(body))
        data = {**envelope["data"], "clinic_id": "clinic-1"}
        if envelope["type"] == "intake.submitted":
            schemas.load(schemas.intake_submitted_schema, data)
            kinds.append("intake.submitted")
        else:
            event = schemas.load(schemas.note_schema, {**data, "signed": envelope["type"] == "note.signed"})
            kinds.append((envelope["type"], [t.code for t in event.tags],
                          [r.value for t in event.tags for r in t.ratings]))
    assert kinds[0] == "intake.submitted"
    codes = {c for k in kinds[1:] for c in k[1]}
    assert {"setback", "stirring-up"} <= codes
    assert [k[0] for k in kinds[1:]].count("note.signed") == 1
    assert sum(len(k[2]) for k in kinds[1:]) >= 6


def test_sender_new_secret_is_usable():
    secret = CliRunner().invoke(webhook_sender.main, ["--new-secret"]).output.strip()
    signatures.check_secrets("standard-webhooks", secret)
    assert secret != CliRunner().invoke(webhook_sender.main, ["--new-secret"]).output.strip()


# -- the plugin's FHIR client end to end ----------------------------------------------------
@pytest.mark.parametrize("meta_add", [True, False], ids=["meta-add", "json-patch"])
def test_fhir_client_end_to_end(host, client, meta_add):
    host.configure(meta_add=meta_add)
    host.register_notes([{"note_id": "note-1", "client_id": "client-1"}])
    assert client.metadata()["fhirVersion"] == "4.0.1"
    questionnaire = plugin_fhir.questionnaire()
    assert client.ensure_questionnaire(questionnaire).action == "created"
    assert client.ensure_questionnaire(questionnaire).action == "exists"

    goal_res = plugin_fhir.goal_resource("clinic-1", "client-1", Goal("g1", "sleep better", "client", 3, 1))
    assert client.upsert_by_identifier(goal_res).action == "created"
    assert client.upsert_by_identifier(goal_res).action == "unchanged"
    done = plugin_fhir.goal_resource("clinic-1", "client-1", Goal("g1", "sleep better", "client", 3, 1),
                                     achievement="improving")
    assert client.upsert_by_identifier(done).action == "updated"
    rating = plugin_fhir.observation_resource("clinic-1", "client-1", Rating(
        "g1", 6, note_id="note-1", at=datetime(2026, 3, 2, tzinfo=timezone.utc)))
    assert client.upsert_by_identifier(rating).action == "created"

    tags = [{"system": TAG_SYSTEM, "code": "setback"}, {"system": TAG_SYSTEM, "code": "repair"}]
    first = client.add_note_tags("DocumentReference", "note-1", tags)
    assert first.action == ("meta-add" if meta_add else "patched")
    again = client.add_note_tags("DocumentReference", "note-1", tags)
    assert again.action == ("meta-add" if meta_add else "unchanged")

    stats = host.stats()
    goal_key = "https://progress-plugin.org/fhir/goal|clinic-1/client-1/g1"
    assert {k: stats["writes"]["Goal"][goal_key][k] for k in ("writes", "noops", "repeats")} == {
        "writes": 2, "noops": 0, "repeats": 0}
    assert stats["totals"]["Questionnaire"]["writes"] == 1
    assert stats["totals"]["Observation"] == {"resources": 1, "writes": 1, "noops": 0,
                                              "repeats": 0, "deletes": 0}
    assert stats["tags"]["DocumentReference/note-1"] == {"codes": ["setback", "repair"],
                                                         "adds": {"setback": 1, "repair": 1}}
    doc = stats["writes"]["DocumentReference"]["note-1"]
    if meta_add:
        assert stats["counts"]["POST DocumentReference/:id/$meta-add"] == 2
        assert (doc["writes"], doc["noops"]) == (1, 1)   # the repeat is visible as a no-op
    else:
        assert stats["statuses"]["POST DocumentReference/:id/$meta-add"] == {"404": 1}
        assert stats["counts"]["PATCH DocumentReference/:id"] == 1
        assert (doc["writes"], doc["noops"]) == (1, 0)


def test_fhir_client_patch_fallback_survives_one_lost_race(host, client):
    host.configure(meta_add=False)
    host.register_notes([{"note_id": "note-r", "client_id": "client-1"}])
    host.fault(count=1, status=412, method="PATCH")
    result = client.add_note_tags("DocumentReference", "note-r", [{"system": TAG_SYSTEM, "code": "repair"}])
    assert result.action == "patched"
    assert host.stats()["statuses"]["PATCH DocumentReference/:id"] == {"412": 1, "200": 1}
    assert host.stats()["tags"]["DocumentReference/note-r"]["adds"] == {"repair": 1}


@pytest.mark.parametrize("meta_add", [False, True], ids=["json-patch", "meta-add"])
def test_sample_story_through_the_real_receiver_and_worker_writes_each_resource_once(tmp_path, meta_add):
    """The sender's output is what the receiver accepts, and the host's ledger shows each
    write-back exactly once despite duplicates and re-ordering."""
    from progress_plugin.service import settings as settings_mod
    from progress_plugin.web.app import create_app
    from progress_plugin.store import Store
    from progress_plugin.service.worker import Worker

    with fhir_host.running(meta_add=meta_add) as host:
        cfg = settings_mod.load({"store": {"url": f"sqlite:///{tmp_path / 'p.db'}"},
                                 "host": {"base_url": host.base_url},
                                 "clinics": [{"id": "clinic-a", "scheme": "standard-webhooks",
                                              "secrets": [SECRET]}]}, env={})
        store = Store.open(cfg.store_url)
        service = fhir_host.serve(create_app(store, config=cfg))
        threading.Thread(target=service.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{service.server_address[1]}/webhooks/clinic-a"
            events = webhook_sender.client_story("client-42")
            sent = host.send(url, SECRET, events, duplicate_every=2, shuffle_seed=3)
            assert (sent["ok"], sent["failed"]) == (12, 0)
            assert sorted(r["status"] for r in sent["reports"]).count(200) == 4   # duplicates
            worker = Worker(store, cfg)
            for _ in range(20):
                if not worker.run_once():
                    break
        finally:
            service.shutdown()
            service.server_close()
            store.close()
        stats = host.stats()
    assert stats["duplicates"] == []
    assert stats["totals"]["Goal"]["writes"] == 2 and stats["totals"]["Observation"]["writes"] >= 8
    assert {k: v["adds"] for k, v in stats["tags"].items()}["DocumentReference/client-42-note-3"] == {
        "setback": 1, "strain-noticed": 1}
    assert all(count == 1 for tags in stats["tags"].values() for count in tags["adds"].values())
    assert len(stats["tags"]) == 6

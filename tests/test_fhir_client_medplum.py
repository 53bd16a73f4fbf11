"""The FHIR client against Medplum's in-memory FHIR server (tests/medplum/server.mjs)."""
from __future__ import annotations

import time
import uuid

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from tests.fhir_server import medplum, medplum_server  # noqa: F401  (pytest fixtures)
from progress_plugin.errors import HostConflict, HostNotFound, HostUnavailable
from progress_plugin.fhir.client import FHIRClient

TAG_SYSTEM = "https://progress-plugin.example/CodeSystem/progress-tags"
GOAL_SYSTEM = "https://progress-plugin.example/goal"
RATING_SYSTEM = "https://progress-plugin.example/rating"


def valid(resource: dict) -> dict:
    """Validate a resource we send with fhir.resources, then hand it back unchanged."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def tag(code: str) -> dict:
    return {"system": TAG_SYSTEM, "code": code}


@pytest.fixture
def client(medplum):
    with FHIRClient(medplum.base_url, token="test-token", backoff_factor=0.01,
                    timeout=(2, 5)) as c:
        yield c


@pytest.fixture
def raw(medplum):
    """A plain session for setting up data and making concurrent changes."""
    with requests.Session() as session:
        session.headers["Content-Type"] = "application/fhir+json"
        yield session


def create(raw, base, resource) -> dict:
    response = raw.post(f"{base}/{resource['resourceType']}", json=valid(resource), timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def goal(value: str, text: str = "feel at ease with friends") -> dict:
    return valid({
        "resourceType": "Goal",
        "identifier": [{"system": GOAL_SYSTEM, "value": value}],
        "lifecycleStatus": "active",
        "achievementStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
            "code": "in-progress"}]},
        "description": {"text": text},
        "subject": {"reference": "Patient/p1"},
        "expressedBy": {"reference": "Patient/p1"},
    })


def note(tags=None) -> dict:
    resource = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "c2Vzc2lvbiBub3Rl"}}],
    }
    if tags:
        resource["meta"] = {"tag": tags}
    return valid(resource)


def tags_of(raw, base, resource_id) -> list[dict]:
    meta = raw.get(f"{base}/DocumentReference/{resource_id}", timeout=5).json()["meta"]
    return [{"system": t.get("system"), "code": t["code"]} for t in meta.get("tag", [])]


# -- reads ----------------------------------------------------------------------------


def test_metadata_is_a_valid_capability_statement(client, medplum):
    statement = client.metadata()
    get_fhir_model_class("CapabilityStatement").model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert medplum.count("GET metadata", 200) == 1


def test_missing_resource_is_not_found_with_request_id(client):
    with pytest.raises(HostNotFound) as info:
        client.read("Goal", str(uuid.uuid4()))
    assert info.value.status_code == 404
    assert info.value.request_id  # the server's X-Request-Id came through


def test_paging_through_25_resources(client, medplum, raw):
    run = uuid.uuid4().hex
    created = {create(raw, medplum.base_url,
                      goal(f"page-{run}-{i}") | {"meta": {"tag": [tag(f"run-{run}")]}})["id"]
               for i in range(25)}
    medplum.reset()
    params = {"_tag": f"{TAG_SYSTEM}|run-{run}", "_count": 10}
    found = [r["id"] for r in client.search("Goal", params)]
    assert len(found) == 25 and set(found) == created
    assert medplum.count("GET Goal", 200) == 3

    pages = client.pages("Goal", params)
    first, checkpoint = next(pages)
    pages.close()
    assert len(first["entry"]) == 10 and checkpoint
    rest = list(client.pages(next_url=checkpoint))
    assert [len(b["entry"]) for b, _ in rest] == [10, 5]
    assert rest[-1][1] is None and rest[0][1]
    resumed = {e["resource"]["id"] for b, _ in rest for e in b["entry"]}
    assert resumed | {e["resource"]["id"] for e in first["entry"]} == created


# -- idempotent writes ------------------------------------------------------------------


def test_questionnaire_conditional_create_twice_makes_one(client, medplum):
    url = f"https://progress-plugin.example/Questionnaire/defining-progress-{uuid.uuid4().hex}"
    q = valid({"resourceType": "Questionnaire", "url": url, "version": "1", "status": "active",
               "item": [{"linkId": "goal-1", "text": "Goal 1", "type": "string",
                         "required": True}]})
    first = client.ensure_questionnaire(q)
    second = client.ensure_questionnaire(q)
    assert (first.action, second.action) == ("created", "exists")
    assert first.resource["id"] == second.resource["id"]
    assert len(list(client.search("Questionnaire", {"url": url}))) == 1
    assert medplum.count("POST Questionnaire", 201) == 1
    assert medplum.count("POST Questionnaire", 200) == 1

    v2 = client.ensure_questionnaire(q | {"version": "2"})
    assert v2.action == "created" and v2.resource["id"] != first.resource["id"]
    assert len(list(client.search("Questionnaire", {"url": url}))) == 2


def test_goal_upsert_twice_makes_one_goal(client, medplum):
    value = f"goal-{uuid.uuid4().hex}"
    first = client.upsert_by_identifier(goal(value))
    second = client.upsert_by_identifier(goal(value))
    assert (first.action, second.action) == ("created", "unchanged")
    assert first.wrote and not second.wrote
    assert medplum.count("PUT Goal") == 1

    third = client.upsert_by_identifier(goal(value, "see friends twice a week"))
    assert third.action == "updated" and third.resource["id"] == first.resource["id"]
    matches = list(client.search("Goal", {"identifier": f"{GOAL_SYSTEM}|{value}"}))
    assert len(matches) == 1
    assert matches[0]["description"]["text"] == "see friends twice a week"
    assert medplum.count("PUT Goal") == 2
    keys = [e["idempotency_key"] for e in medplum.stats()["log"] if e["pattern"] == "PUT Goal"]
    assert len(keys) == 2 and all(keys) and keys[0] != keys[1]


def test_observation_upsert_twice_makes_one(client, medplum):
    g = client.upsert_by_identifier(goal(f"goal-{uuid.uuid4().hex}")).resource
    value = f"rating-{uuid.uuid4().hex}"
    obs = valid({
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": RATING_SYSTEM, "value": value}],
        "code": {"coding": [{"system": "https://progress-plugin.example/CodeSystem/ratings",
                             "code": "goal-rating"}]},
        "subject": {"reference": "Patient/p1"},
        "focus": [{"reference": f"Goal/{g['id']}"}],
        "derivedFrom": [{"reference": "DocumentReference/n1"}],
        "valueInteger": 6,
    })
    results = [client.upsert_by_identifier(obs).action for _ in range(2)]
    assert results == ["created", "unchanged"]
    assert client.upsert_by_identifier(obs | {"valueInteger": 7}).action == "updated"
    found = list(client.search("Observation", {"identifier": f"{RATING_SYSTEM}|{value}"}))
    assert [o["valueInteger"] for o in found] == [7]
    assert medplum.count("PUT Observation") == 2


# -- note tags through the JSON Patch fallback -----------------------------------------------


def test_note_tags_fall_back_to_patch_and_repeat_is_a_no_op(client, medplum, raw):
    doc = create(raw, medplum.base_url, note())
    medplum.reset()
    result = client.add_note_tags("DocumentReference", doc["id"],
                                  [tag("step-forward"), tag("repair")])
    assert result.action == "patched"
    assert client.meta_add_supported is False
    assert set(result.resource) == {"resourceType", "id", "meta"}
    assert tags_of(raw, medplum.base_url, doc["id"]) == [tag("step-forward"), tag("repair")]

    again = client.add_note_tags("DocumentReference", doc["id"],
                                 [tag("repair"), tag("step-forward")])
    assert again.action == "unchanged" and not again.wrote
    more = client.add_note_tags("DocumentReference", doc["id"],
                                [tag("repair"), tag("holding-steady")])
    assert more.added == (tag("holding-steady"),)
    assert tags_of(raw, medplum.base_url, doc["id"]) == [
        tag("step-forward"), tag("repair"), tag("holding-steady")]

    stats = medplum.stats()["counts"]
    assert stats["POST DocumentReference/:id/$meta-add"] == 1  # tried once, then remembered
    assert stats["PATCH DocumentReference/:id"] == 2
    assert "PUT DocumentReference/:id" not in stats  # never a full update of the note
    after = raw.get(f"{medplum.base_url}/DocumentReference/{doc['id']}", timeout=5).json()
    assert after["content"] == doc["content"]


def test_note_tags_lost_race_rereads_and_repatches_once(client, medplum, raw, monkeypatch):
    doc = create(raw, medplum.base_url, note([tag("stirring-up")]))
    real_read = client._read_meta
    reads = []

    def read_then_someone_else_writes(resource_type, id):
        current = real_read(resource_type, id)
        reads.append(current["meta"]["versionId"])
        if len(reads) == 1:
            response = raw.patch(
                f"{medplum.base_url}/DocumentReference/{id}",
                json=[{"op": "add", "path": "/meta/tag/-", "value": tag("strain-noticed")}],
                headers={"Content-Type": "application/json-patch+json"}, timeout=5)
            assert response.status_code == 200, response.text
        return current

    monkeypatch.setattr(client, "_read_meta", read_then_someone_else_writes)
    medplum.reset()
    result = client.add_note_tags("DocumentReference", doc["id"],
                                  [tag("strain-noticed"), tag("repair")])
    assert result.action == "patched"
    assert len(reads) == 2 and reads[0] != reads[1]
    # the retry only adds what is still missing: strain-noticed came from the other writer
    assert result.added == (tag("repair"),)
    assert tags_of(raw, medplum.base_url, doc["id"]) == [
        tag("stirring-up"), tag("strain-noticed"), tag("repair")]
    statuses = medplum.stats()["statuses"]["PATCH DocumentReference/:id"]
    assert statuses == {"200": 2, "400": 1}  # the other writer, our lost try, our retry


def test_note_tags_losing_twice_raises_conflict(client, medplum, raw, monkeypatch):
    doc = create(raw, medplum.base_url, note([tag("stirring-up")]))
    real_read = client._read_meta

    def read_then_someone_else_writes(resource_type, id):
        current = real_read(resource_type, id)
        raw.patch(f"{medplum.base_url}/DocumentReference/{id}",
                  json=[{"op": "add", "path": "/meta/tag/-", "value": tag(uuid.uuid4().hex)}],
                  headers={"Content-Type": "application/json-patch+json"}, timeout=5)
        return current

    monkeypatch.setattr(client, "_read_meta", read_then_someone_else_writes)
    with pytest.raises(HostConflict) as info:
        client.add_note_tags("DocumentReference", doc["id"], [tag("repair")])
    assert info.value.status_code == 400
    assert tag("repair") not in tags_of(raw, medplum.base_url, doc["id"])
    assert medplum.count("PATCH DocumentReference/:id", 400) == 2


# -- faults ---------------------------------------------------------------------------------


def test_two_503_then_success(client, medplum, raw):
    doc = create(raw, medplum.base_url, goal(f"g-{uuid.uuid4().hex}"))
    medplum.reset()
    medplum.fault(status=503, count=2)
    assert client.read("Goal", doc["id"])["id"] == doc["id"]
    assert medplum.stats()["statuses"]["GET Goal/:id"] == {"503": 2, "200": 1}


def test_503_past_the_retries_is_unavailable(client, medplum):
    medplum.fault(status=503, count=10)
    with pytest.raises(HostUnavailable) as info:
        client.metadata()
    assert info.value.status_code == 503 and info.value.request_id
    assert medplum.count("GET metadata") == 4


def test_429_retry_after_is_honoured(client, medplum):
    medplum.fault(status=429, retry_after=1, count=1)
    started = time.monotonic()
    client.metadata()
    waited = time.monotonic() - started
    assert medplum.stats()["statuses"]["GET metadata"] == {"429": 1, "200": 1}
    assert waited >= 0.9  # behaviour check: the client slept for Retry-After


def test_write_retried_after_reset_lands_once(client, medplum):
    url = f"https://progress-plugin.example/Questionnaire/q-{uuid.uuid4().hex}"
    q = valid({"resourceType": "Questionnaire", "url": url, "version": "1", "status": "active"})
    medplum.fault(reset=True, count=1, method="POST")
    assert client.ensure_questionnaire(q).action == "created"
    assert medplum.stats()["statuses"]["POST Questionnaire"] == {"reset": 1, "201": 1}
    assert len(list(client.search("Questionnaire", {"url": url}))) == 1


def test_write_without_idempotency_key_is_not_retried(client, medplum):
    medplum.fault(status=503, count=1, method="POST")
    response = client._raw("POST", client.url("Goal"), json_body=goal("no-key"))
    assert response.status_code == 503
    assert medplum.count("POST Goal") == 1


def test_read_timeout_is_retried(medplum):
    medplum.fault(delay_ms=800, count=1)
    with FHIRClient(medplum.base_url, timeout=(2, 0.3), backoff_factor=0.01) as c:
        assert c.metadata()["resourceType"] == "CapabilityStatement"
    assert medplum.count("GET metadata") == 2

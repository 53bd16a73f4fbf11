"""Unit tests of the FHIR client against mocked HTTP (responses)."""
from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from fhir.resources.R4B import get_fhir_model_class
from responses import matchers
from responses.registries import OrderedRegistry

from progress_plugin import __version__
from progress_plugin.errors import (
    HostAuthError,
    HostConflict,
    HostNotFound,
    HostRejected,
    HostUnavailable,
    ValidationError,
)
from progress_plugin.fhir.client import FHIRClient, WriteResult, idempotency_key, tag_patch

BASE = "https://ehr.example/fhir/R4"
TAG_SYSTEM = "https://progress-plugin.example/CodeSystem/progress-tags"
CANARY = "CANARY-client-said-something-private"


def valid(resource: dict) -> dict:
    """Validate a resource we send with fhir.resources, then hand it back unchanged."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


@pytest.fixture
def client():
    with FHIRClient(BASE, token="s3cret", backoff_factor=0) as c:
        yield c


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def ordered():
    # Some tests register an answer that must NOT be reached (a retry that should not happen).
    with responses.RequestsMock(registry=OrderedRegistry,
                                assert_all_requests_are_fired=False) as rsps:
        yield rsps


def questionnaire(version="1"):
    return valid({
        "resourceType": "Questionnaire",
        "url": "https://progress-plugin.example/Questionnaire/defining-progress",
        "version": version,
        "status": "active",
        "item": [{"linkId": "goal-1", "text": "Goal 1", "type": "string"}],
    })


def goal(value="goal-1", text="sleep through the night"):
    return valid({
        "resourceType": "Goal",
        "identifier": [{"system": "https://progress-plugin.example/goal", "value": value}],
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": "Patient/p1"},
    })


def tag(code):
    return {"system": TAG_SYSTEM, "code": code}


def note(version="v1", tags=None):
    meta = {"versionId": version, "lastUpdated": "2024-05-01T10:00:00Z"}
    if tags is not None:
        meta["tag"] = tags
    return {"resourceType": "DocumentReference", "id": "n1", "meta": meta, "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": "Q0FOQVJZ",
                                        "title": CANARY}}],
            "description": CANARY}


def sent_json(call):
    return json.loads(call.request.body)


# -- session basics -------------------------------------------------------------------


def test_every_call_carries_user_agent_token_timeout_and_verification(client, mocked):
    mocked.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert client.read("Patient", "p1") == {"resourceType": "Patient", "id": "p1"}
    request = mocked.calls[0].request
    assert request.headers["User-Agent"] == f"progress-plugin/{__version__}"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.req_kwargs["timeout"] == (3.05, 30.0)
    assert client.session.verify is True
    assert request.req_kwargs["verify"] not in (False, None)  # True or a CA bundle path


def test_no_token_sends_no_authorization(mocked):
    mocked.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    with FHIRClient(BASE, timeout=(1, 2)) as c:
        c.read("Patient", "p1")
    request = mocked.calls[0].request
    assert "Authorization" not in request.headers
    assert request.req_kwargs["timeout"] == (1, 2)


def test_ca_bundle_replaces_but_never_disables_verification():
    with FHIRClient(BASE, ca_bundle="/etc/clinic-ca.pem") as c:
        assert c.session.verify == "/etc/clinic-ca.pem"
    assert FHIRClient(BASE, ca_bundle="").session.verify is True


@pytest.mark.parametrize("base", ["ftp://ehr.example/fhir", "ehr.example/fhir", ""])
def test_base_url_must_be_http(base):
    with pytest.raises(ValidationError) as info:
        FHIRClient(base)
    assert "base_url" in info.value.messages


@pytest.mark.parametrize("rtype,rid", [("Patient", "../metadata"), ("patient", "p1"),
                                        ("Patient", "a/b"), ("Pat ient", "p1")])
def test_bad_type_or_id_never_reaches_the_host(client, mocked, rtype, rid):
    with pytest.raises(ValidationError):
        client.read(rtype, rid)
    assert len(mocked.calls) == 0


# -- reads ----------------------------------------------------------------------------


def test_metadata_returns_capability_statement(client, mocked):
    cs = {"resourceType": "CapabilityStatement", "status": "active", "fhirVersion": "4.0.1"}
    mocked.get(f"{BASE}/metadata", json=cs)
    assert client.metadata() == cs


def test_metadata_that_is_not_a_capability_statement_is_rejected(client, mocked):
    mocked.get(f"{BASE}/metadata", json={"resourceType": "Bundle", "type": "searchset"})
    with pytest.raises(HostRejected, match="CapabilityStatement"):
        client.metadata()


def test_read_asks_for_elements(client, mocked):
    mocked.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal", "id": "g1"},
               match=[matchers.query_param_matcher({"_elements": "id,meta"})])
    assert client.read("Goal", "g1", elements=["id", "meta"])["id"] == "g1"


def test_non_json_success_is_unavailable(client, mocked):
    mocked.get(f"{BASE}/Goal/g1", body="<html>gateway</html>", status=200)
    with pytest.raises(HostUnavailable, match="not JSON"):
        client.read("Goal", "g1")


def page(ids, next_url=None, extra=()):
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Goal", "id": i},
                         "search": {"mode": "match"}} for i in ids] + list(extra)}
    bundle["link"] = [{"relation": "self", "url": "ignored"}]
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


def test_search_follows_next_links_across_pages(client, mocked):
    p2, p3 = f"{BASE}/Goal?_count=2&_offset=2", f"{BASE}/Goal?_count=2&_offset=4"
    mocked.get(f"{BASE}/Goal", json=page(["a", "b"], p2),
               match=[matchers.query_param_matcher({"patient": "p1", "_count": "2"})])
    mocked.get(f"{BASE}/Goal", json=page(["c", "d"], p3),
               match=[matchers.query_param_matcher({"_count": "2", "_offset": "2"})])
    mocked.get(f"{BASE}/Goal", json=page(["e"]),
               match=[matchers.query_param_matcher({"_count": "2", "_offset": "4"})])
    found = client.search("Goal", {"patient": "p1", "_count": 2})
    assert next(found)["id"] == "a"
    assert len(mocked.calls) == 1  # lazy: one page at a time
    assert [r["id"] for r in found] == ["b", "c", "d", "e"]
    assert len(mocked.calls) == 3


def test_search_leaves_out_included_resources(client, mocked):
    include = {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}}
    mocked.get(f"{BASE}/Goal", json=page(["a"], extra=[include]))
    assert [r["id"] for r in client.search("Goal", {"_include": "Goal:subject"})] == ["a"]


def test_pages_yield_next_url_and_resume_from_it(client, mocked):
    p2 = f"{BASE}/Goal?_count=1&_offset=1"
    mocked.get(f"{BASE}/Goal", json=page(["a"], p2),
               match=[matchers.query_param_matcher({"_count": "1"})])
    mocked.get(f"{BASE}/Goal", json=page(["b"]),
               match=[matchers.query_param_matcher({"_count": "1", "_offset": "1"})])
    first_bundle, checkpoint = next(client.pages("Goal", {"_count": 1}))
    assert first_bundle["entry"][0]["resource"]["id"] == "a"
    assert checkpoint == p2
    resumed = list(client.pages(next_url=checkpoint))
    assert [(b["entry"][0]["resource"]["id"], n) for b, n in resumed] == [("b", None)]
    assert mocked.calls[-1].request.url == p2


def test_relative_next_link_resolves_against_base(client, mocked):
    mocked.get(f"{BASE}/Goal", json=page(["a"], "Goal?_offset=1"),
               match=[matchers.query_param_matcher({})])
    mocked.get(f"{BASE}/Goal", json=page(["b"]),
               match=[matchers.query_param_matcher({"_offset": "1"})])
    assert [r["id"] for r in client.search("Goal")] == ["a", "b"]


def test_next_link_to_another_origin_is_refused(client, mocked):
    mocked.get(f"{BASE}/Goal", json=page(["a"], "https://elsewhere.example/Goal?page=2"))
    with pytest.raises(HostRejected, match="another origin"):
        list(client.search("Goal"))
    assert len(mocked.calls) == 1


def test_pages_need_a_type_or_a_next_url(client):
    with pytest.raises(ValidationError):
        next(client.pages())


# -- retries (attempt counts; responses does not sleep) -------------------------------


def test_503_503_200_is_three_attempts(client, ordered):
    for status in (503, 503):
        ordered.get(f"{BASE}/Goal/g1", status=status, json={"resourceType": "OperationOutcome"})
    ordered.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal", "id": "g1"})
    assert client.read("Goal", "g1")["id"] == "g1"
    assert len(ordered.calls) == 3


def test_502_and_504_are_retried(client, ordered):
    ordered.get(f"{BASE}/Goal/g1", status=502)
    ordered.get(f"{BASE}/Goal/g1", status=504)
    ordered.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal", "id": "g1"})
    assert client.read("Goal", "g1")["id"] == "g1"
    assert len(ordered.calls) == 3


def test_retries_run_out_then_unavailable_with_last_answer(client, ordered):
    for n in range(4):
        ordered.get(f"{BASE}/Goal/g1", status=503, body=f"down {n}",
                    headers={"X-Request-Id": f"req-{n}"})
    with pytest.raises(HostUnavailable) as info:
        client.read("Goal", "g1")
    assert len(ordered.calls) == 4  # one try + three retries
    assert info.value.status_code == 503
    assert info.value.body == "down 3"
    assert info.value.request_id == "req-3"


def test_429_with_retry_after_is_retried(client, ordered):
    ordered.get(f"{BASE}/Goal/g1", status=429, headers={"Retry-After": "1"})
    ordered.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal", "id": "g1"})
    assert client.read("Goal", "g1")["id"] == "g1"
    assert len(ordered.calls) == 2


def test_413_with_retry_after_is_not_retried(client, ordered):
    ordered.get(f"{BASE}/Goal/g1", status=413, headers={"Retry-After": "1"})
    ordered.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal", "id": "g1"})
    with pytest.raises(HostRejected):
        client.read("Goal", "g1")
    assert len(ordered.calls) == 1


def test_post_without_idempotency_key_is_not_retried(client, ordered):
    ordered.post(f"{BASE}/DocumentReference/n1/$meta-add", status=503)
    ordered.post(f"{BASE}/DocumentReference/n1/$meta-add", status=200, json={})
    # a raw POST: no Idempotency-Key header
    response = client._raw("POST", client.url("DocumentReference", "n1", "$meta-add"),
                           json_body={"resourceType": "Parameters"})
    assert response.status_code == 503
    assert len(ordered.calls) == 1


def test_post_with_idempotency_key_is_retried(client, ordered):
    ordered.post(f"{BASE}/Questionnaire", status=503)
    ordered.post(f"{BASE}/Questionnaire", status=201, json=questionnaire() | {"id": "q1"})
    assert client.ensure_questionnaire(questionnaire()).action == "created"
    assert len(ordered.calls) == 2
    keys = {c.request.headers["Idempotency-Key"] for c in ordered.calls}
    assert len(keys) == 1  # the retry reuses the key


def test_put_and_patch_with_idempotency_key_are_retried(client, ordered):
    ordered.get(f"{BASE}/Goal", json=page([]))
    ordered.put(f"{BASE}/Goal", status=502)
    ordered.put(f"{BASE}/Goal", status=201, json=goal() | {"id": "g1"})
    assert client.upsert_by_identifier(goal()).action == "created"
    assert [c.request.method for c in ordered.calls] == ["GET", "PUT", "PUT"]


def test_put_without_idempotency_key_is_not_retried(client, ordered):
    ordered.put(f"{BASE}/Goal/g1", status=503)
    ordered.put(f"{BASE}/Goal/g1", status=200, json={})
    assert client._raw("PUT", client.url("Goal", "g1"), json_body=goal()).status_code == 503
    assert len(ordered.calls) == 1


def test_retries_zero_means_one_attempt(ordered):
    ordered.get(f"{BASE}/Goal/g1", status=503)
    ordered.get(f"{BASE}/Goal/g1", json={"resourceType": "Goal"})
    with FHIRClient(BASE, retries=0) as c, pytest.raises(HostUnavailable):
        c.read("Goal", "g1")
    assert len(ordered.calls) == 1


# -- error mapping --------------------------------------------------------------------


@pytest.mark.parametrize("status,error", [
    (400, HostRejected), (401, HostAuthError), (403, HostAuthError), (404, HostNotFound),
    (405, HostRejected), (409, HostConflict), (410, HostNotFound), (412, HostConflict),
    (422, HostRejected), (429, HostUnavailable), (500, HostUnavailable),
    (502, HostUnavailable), (503, HostUnavailable), (504, HostUnavailable),
])
def test_status_maps_to_error_with_body_and_request_id(mocked, status, error):
    body = json.dumps({"resourceType": "OperationOutcome", "issue": [{"code": f"c{status}"}]})
    mocked.get(f"{BASE}/Goal/g1", status=status, body=body,
               headers={"X-Request-Id": f"rid-{status}"})
    with FHIRClient(BASE, retries=0) as c, pytest.raises(error) as info:
        c.read("Goal", "g1")
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.body == body
    assert info.value.request_id == f"rid-{status}"


def test_request_id_from_correlation_header(client, mocked):
    mocked.get(f"{BASE}/Goal/g1", status=404, headers={"X-Correlation-Id": "corr-9"})
    with pytest.raises(HostNotFound) as info:
        client.read("Goal", "g1")
    assert info.value.request_id == "corr-9"


def test_error_body_is_truncated(client, mocked):
    mocked.get(f"{BASE}/Goal/g1", status=400, body="x" * 10000)
    with pytest.raises(HostRejected) as info:
        client.read("Goal", "g1")
    assert info.value.body == "x" * 2000


def test_retry_after_is_kept_on_the_error(mocked):
    mocked.get(f"{BASE}/Goal/g1", status=429, headers={"Retry-After": "120"})
    with FHIRClient(BASE, retries=0) as c, pytest.raises(HostUnavailable) as info:
        c.read("Goal", "g1")
    assert info.value.context["retry_after"] == "120"


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"),
                                     requests.ConnectTimeout("slow"),
                                     requests.ReadTimeout("slow")])
def test_transport_failures_are_unavailable(client, mocked, failure):
    mocked.get(f"{BASE}/Goal/g1", body=failure)
    with pytest.raises(HostUnavailable) as info:
        client.read("Goal", "g1")
    assert info.value.status_code is None
    assert info.value.retryable is True


# -- conditional create of the Questionnaire --------------------------------------------


def test_ensure_questionnaire_creates_with_if_none_exist(client, mocked):
    q = questionnaire()
    mocked.post(f"{BASE}/Questionnaire", status=201, json=q | {"id": "q1"})
    result = client.ensure_questionnaire(q)
    assert result == WriteResult("created", q | {"id": "q1"}, 201)
    assert result.wrote and result.created
    request = mocked.calls[0].request
    assert request.headers["If-None-Exist"] == (
        "url=https%3A%2F%2Fprogress-plugin.example%2FQuestionnaire%2Fdefining-progress"
        "&version=1")
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert sent_json(mocked.calls[0]) == q


def test_ensure_questionnaire_reports_existing(client, mocked):
    mocked.post(f"{BASE}/Questionnaire", status=200, json=questionnaire() | {"id": "q1"})
    result = client.ensure_questionnaire(questionnaire())
    assert result.action == "exists"
    assert not result.wrote


def test_ensure_questionnaire_key_is_stable_per_url_version_and_content(client, mocked):
    mocked.post(f"{BASE}/Questionnaire", status=200, json={})
    client.ensure_questionnaire(questionnaire())
    client.ensure_questionnaire(questionnaire())
    client.ensure_questionnaire(questionnaire("2"))
    keys = [c.request.headers["Idempotency-Key"] for c in mocked.calls]
    assert keys[0] == keys[1] != keys[2]


def test_ensure_questionnaire_needs_url_and_version(client, mocked):
    with pytest.raises(ValidationError):
        client.ensure_questionnaire({"resourceType": "Questionnaire", "status": "active",
                                     "url": "https://x.example/q"})
    assert len(mocked.calls) == 0


# -- upsert by identifier ---------------------------------------------------------------

IDENT = {"identifier": "https://progress-plugin.example/goal|goal-1", "subject": "Patient/p1", "_count": "2"}


def test_upsert_creates_by_conditional_put(client, mocked):
    mocked.get(f"{BASE}/Goal", json=page([]), match=[matchers.query_param_matcher(IDENT)])
    mocked.put(f"{BASE}/Goal", status=201, json=goal() | {"id": "g1"},
               match=[matchers.query_param_matcher(
                   {"identifier": "https://progress-plugin.example/goal|goal-1", "subject": "Patient/p1"})])
    result = client.upsert_by_identifier(goal())     # the search and the PUT are kept to the goal's patient
    assert result.action == "created" and result.wrote
    assert result.resource["id"] == "g1"
    assert sent_json(mocked.calls[1]) == goal()
    assert mocked.calls[1].request.headers["Idempotency-Key"] == idempotency_key(
        "Goal", "https://progress-plugin.example/goal", "goal-1",
        {k: v for k, v in goal().items() if k not in ("id", "meta", "text")})


def test_upsert_same_content_writes_nothing(client, mocked):
    existing = goal() | {"id": "g1", "meta": {"versionId": "3"}}
    mocked.get(f"{BASE}/Goal", json={"resourceType": "Bundle", "type": "searchset",
                                     "entry": [{"resource": existing}]})
    result = client.upsert_by_identifier(goal())
    assert result == WriteResult("unchanged", existing, None)
    assert not result.wrote
    assert [c.request.method for c in mocked.calls] == ["GET"]


def test_upsert_changed_content_updates_the_match(client, mocked):
    existing = goal() | {"id": "g1", "meta": {"versionId": "3"}}
    mocked.get(f"{BASE}/Goal", json={"resourceType": "Bundle", "type": "searchset",
                                     "entry": [{"resource": existing}]})
    changed = goal(text="sleep most nights")
    mocked.put(f"{BASE}/Goal", status=200, json=changed | {"id": "g1"})
    result = client.upsert_by_identifier(changed)
    assert result.action == "updated" and result.wrote
    assert sent_json(mocked.calls[1]) == changed | {"id": "g1"}


def test_upsert_with_two_matches_is_a_conflict(client, mocked):
    both = {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": goal() | {"id": "g1"}}, {"resource": goal() | {"id": "g2"}}]}
    mocked.get(f"{BASE}/Goal", json=both)
    with pytest.raises(HostConflict):
        client.upsert_by_identifier(goal())
    assert [c.request.method for c in mocked.calls] == ["GET"]


def test_upsert_observation(client, mocked):
    obs = valid({"resourceType": "Observation", "status": "final",
                 "identifier": [{"system": "https://progress-plugin.example/rating",
                                 "value": "n1-goal-1"}],
                 "code": {"text": "goal rating"}, "valueInteger": 6,
                 "focus": [{"reference": "Goal/g1"}]})
    mocked.get(f"{BASE}/Observation", json=page([]))
    mocked.put(f"{BASE}/Observation", status=201, json=obs | {"id": "o1"})
    assert client.upsert_by_identifier(obs).action == "created"


def test_upsert_needs_an_identifier(client, mocked):
    with pytest.raises(ValidationError):
        client.upsert_by_identifier({"resourceType": "Goal", "identifier": [{"value": "x"}]})
    assert len(mocked.calls) == 0


def test_upsert_server_conflict_is_not_retried(client, ordered):
    ordered.get(f"{BASE}/Goal", json=page([]))
    ordered.put(f"{BASE}/Goal", status=412, body="several matches")
    with pytest.raises(HostConflict):
        client.upsert_by_identifier(goal())
    assert len(ordered.calls) == 2


# -- note tags ----------------------------------------------------------------------------

META_ADD = f"{BASE}/DocumentReference/n1/$meta-add"
NOTE = f"{BASE}/DocumentReference/n1"


def test_meta_add_sends_parameters(client, mocked):
    returned = {"resourceType": "Parameters", "parameter": [
        {"name": "return", "valueMeta": {"versionId": "v2", "tag": [tag("step-forward")]}}]}
    mocked.post(META_ADD, json=returned)
    result = client.add_note_tags("DocumentReference", "n1", [tag("step-forward")])
    sent = valid(sent_json(mocked.calls[0]))
    assert sent == {"resourceType": "Parameters", "parameter": [
        {"name": "meta", "valueMeta": {"tag": [tag("step-forward")]}}]}
    assert mocked.calls[0].request.headers["Idempotency-Key"]
    assert result.action == "meta-add" and result.wrote
    assert result.resource == {"resourceType": "DocumentReference", "id": "n1",
                               "meta": {"versionId": "v2", "tag": [tag("step-forward")]}}
    assert result.added == (tag("step-forward"),)
    assert client.meta_add_supported is True


def test_meta_add_dedupes_and_keeps_only_coding_fields(client, mocked):
    mocked.post(META_ADD, json={"resourceType": "Parameters"})
    client.add_note_tags("DocumentReference", "n1", [
        tag("a") | {"display": "A", "userSelected": True}, tag("a"), tag("b")])
    assert sent_json(mocked.calls[0])["parameter"][0]["valueMeta"]["tag"] == [
        tag("a") | {"display": "A"}, tag("b")]


def test_fallback_patch_body_exactly(client, mocked, caplog):
    caplog.set_level(logging.DEBUG)
    mocked.post(META_ADD, status=404, json={"resourceType": "OperationOutcome"})
    mocked.get(NOTE, json=note("v1", [tag("holding-steady")]),
               match=[matchers.query_param_matcher({"_elements": "meta"})])
    mocked.patch(NOTE, json=note("v2", [tag("holding-steady"), tag("step-forward"),
                                        tag("repair")]))
    result = client.add_note_tags("DocumentReference", "n1",
                                  [tag("holding-steady"), tag("step-forward"), tag("repair")])
    patch_call = mocked.calls[2].request
    assert patch_call.method == "PATCH"
    assert patch_call.headers["Content-Type"] == "application/json-patch+json"
    assert patch_call.headers["If-Match"] == 'W/"v1"'
    assert patch_call.headers["Idempotency-Key"]
    assert json.loads(patch_call.body) == [
        {"op": "test", "path": "/meta/versionId", "value": "v1"},
        {"op": "add", "path": "/meta/tag/-", "value": tag("step-forward")},
        {"op": "add", "path": "/meta/tag/-", "value": tag("repair")},
    ]
    assert result.action == "patched" and result.wrote
    assert result.added == (tag("step-forward"), tag("repair"))
    # only id and meta are kept from what the host sent back; nothing is logged of the note
    assert set(result.resource) == {"resourceType", "id", "meta"}
    assert CANARY not in repr(result)
    assert CANARY not in caplog.text
    assert client.meta_add_supported is False


def test_fallback_is_remembered(client, mocked):
    mocked.post(META_ADD, status=405)
    mocked.get(NOTE, json=note("v1", []))
    mocked.patch(NOTE, json=note("v2", [tag("a")]))
    client.add_note_tags("DocumentReference", "n1", [tag("a")])
    client.add_note_tags("DocumentReference", "n1", [tag("b")])
    methods = [c.request.method for c in mocked.calls]
    assert methods == ["POST", "GET", "PATCH", "GET", "PATCH"]


@pytest.mark.parametrize("status", [404, 405, 501])
def test_each_unsupported_status_falls_back(client, mocked, status):
    mocked.post(META_ADD, status=status)
    mocked.get(NOTE, json=note("v1", [tag("a")]))
    assert client.add_note_tags("DocumentReference", "n1", [tag("a")]).action == "unchanged"
    assert client.meta_add_supported is False


def test_fallback_without_tag_list_adds_the_list(client, mocked):
    mocked.post(META_ADD, status=404)
    mocked.get(NOTE, json=note("v1"))
    mocked.patch(NOTE, json=note("v2", [tag("a")]))
    client.add_note_tags("DocumentReference", "n1", [tag("a"), tag("b")])
    assert sent_json(mocked.calls[2]) == [
        {"op": "test", "path": "/meta/versionId", "value": "v1"},
        {"op": "add", "path": "/meta/tag", "value": [tag("a"), tag("b")]},
    ]


def test_fallback_with_nothing_missing_sends_no_patch(client, mocked):
    mocked.post(META_ADD, status=404)
    mocked.get(NOTE, json=note("v1", [tag("a") | {"display": "A"}, tag("b")]))
    result = client.add_note_tags("DocumentReference", "n1", [tag("b"), tag("a")])
    assert result.action == "unchanged" and not result.wrote
    assert [c.request.method for c in mocked.calls] == ["POST", "GET"]


def test_lost_race_rereads_and_repatches_once(client, ordered):
    ordered.post(META_ADD, status=404)
    ordered.get(NOTE, json=note("v1", [tag("a")]))
    ordered.patch(NOTE, status=400, json={"resourceType": "OperationOutcome"})
    ordered.get(NOTE, json=note("v2", [tag("a"), tag("c")]))
    ordered.patch(NOTE, json=note("v3", [tag("a"), tag("c"), tag("b")]))
    result = client.add_note_tags("DocumentReference", "n1", [tag("b"), tag("c")])
    assert result.action == "patched"
    assert [c.request.method for c in ordered.calls] == ["POST", "GET", "PATCH", "GET", "PATCH"]
    assert sent_json(ordered.calls[2]) == [
        {"op": "test", "path": "/meta/versionId", "value": "v1"},
        {"op": "add", "path": "/meta/tag/-", "value": tag("b")},
        {"op": "add", "path": "/meta/tag/-", "value": tag("c")},
    ]
    assert sent_json(ordered.calls[4]) == [
        {"op": "test", "path": "/meta/versionId", "value": "v2"},
        {"op": "add", "path": "/meta/tag/-", "value": tag("b")},
    ]


@pytest.mark.parametrize("status", [400, 409, 412])
def test_losing_twice_is_a_conflict(client, ordered, status):
    ordered.post(META_ADD, status=404)
    for version in ("v1", "v2"):
        ordered.get(NOTE, json=note(version, []))
        ordered.patch(NOTE, status=status, headers={"X-Request-Id": f"r-{version}"})
    with pytest.raises(HostConflict) as info:
        client.add_note_tags("DocumentReference", "n1", [tag("a")])
    assert info.value.status_code == status
    assert info.value.request_id == "r-v2"
    assert [c.request.method for c in ordered.calls].count("PATCH") == 2


def test_patch_failure_other_than_race_is_mapped(client, mocked):
    mocked.post(META_ADD, status=404)
    mocked.get(NOTE, json=note("v1", []))
    mocked.patch(NOTE, status=403)
    with pytest.raises(HostAuthError):
        client.add_note_tags("DocumentReference", "n1", [tag("a")])
    assert [c.request.method for c in mocked.calls] == ["POST", "GET", "PATCH"]


def test_missing_note_is_not_found_and_meta_add_stays_untested(client, mocked):
    mocked.post(META_ADD, status=404)
    mocked.get(NOTE, status=404)
    with pytest.raises(HostNotFound):
        client.add_note_tags("DocumentReference", "n1", [tag("a")])
    assert client.meta_add_supported is None


def test_meta_add_other_errors_are_mapped(client, mocked):
    mocked.post(META_ADD, status=401)
    with pytest.raises(HostAuthError):
        client.add_note_tags("DocumentReference", "n1", [tag("a")])
    assert len(mocked.calls) == 1


def test_tags_need_codes(client, mocked):
    with pytest.raises(ValidationError):
        client.add_note_tags("DocumentReference", "n1", [{"system": TAG_SYSTEM}])
    assert client.add_note_tags("DocumentReference", "n1", []).action == "unchanged"
    assert len(mocked.calls) == 0


def test_tag_patch_for_a_resource_without_meta():
    assert tag_patch({}, [tag("a")]) == [
        {"op": "add", "path": "/meta", "value": {"tag": [tag("a")]}}]


def test_patch_asks_for_minimal_return_and_reads_version_from_etag(client, mocked):
    mocked.post(META_ADD, status=404)
    mocked.get(NOTE, json=note("v1", []))
    mocked.patch(NOTE, status=200, body="", headers={"ETag": 'W/"v2"'})
    result = client.add_note_tags("DocumentReference", "n1", [tag("a")])
    assert mocked.calls[2].request.headers["Prefer"] == "return=minimal"
    assert result.resource == {"resourceType": "DocumentReference", "id": "n1",
                               "meta": {"versionId": "v2"}}

"""The webhook receiver: order of checks, dedupe, unknown types, protected notes."""
import json

import pytest
import sqlalchemy as sa

from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app
from progress_plugin.store import Store

from tests.conftest import SECRET

INTAKE = {"client_id": "c1", "author": "t1", "at": "2026-01-05T10:00:00Z",
          "intake": {"goals": [{"words": "Sleep", "whose": "client", "baseline": 3}],
                     "review_cadence": "monthly", "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True}}
NOTE = {"client_id": "c1", "note_id": "n1", "session_at": "2026-01-12T10:00:00Z", "author": "t1",
        "at": "2026-01-12T11:00:00Z", "tags": [{"code": "setback"}]}


@pytest.fixture
def app(service_config):
    store = Store.open(service_config.store_url)
    return create_app(store, config=service_config)


@pytest.fixture
def client(app):
    return app.test_client()


def inbox_rows(app):
    store = app.extensions["progress_plugin"].store
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(t.inbox))]


def test_verified_event_is_stored_once(client, app, signed):
    headers, body = signed("intake.submitted", INTAKE, event_id="evt_1")
    first = client.post("/webhooks/clinic-a", data=body, headers=headers)
    again = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert (first.status_code, first.json["status"]) == (202, "accepted")
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    rows = inbox_rows(app)
    assert len(rows) == 1 and rows[0]["event_id"] == "evt_1" and rows[0]["payload"]["clinic_id"] == "clinic-a"


def test_size_is_checked_before_the_signature(client, service_config):
    body = b"{" + b" " * (service_config.max_body_bytes + 10) + b"}"
    r = client.post("/webhooks/clinic-a", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_content_type_is_checked_before_the_signature(client):
    r = client.post("/webhooks/clinic-a", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_bad_signature_is_401(client, signed):
    headers, body = signed("note.saved", NOTE, secret="whsec_" + "b3RoZXItb3RoZXItb3RoZXItb3RoZXItMzJi")
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert r.status_code == 401 and "body" not in r.text


def test_missing_headers_are_401_not_500(client):
    r = client.post("/webhooks/clinic-a", data=b'{"type":"x"}', headers={"Content-Type": "application/json",
                                                                          "webhook-id": "x", "webhook-timestamp": "abc"})
    assert r.status_code == 401


def test_signed_non_json_is_400(client):
    from progress_plugin.web.signatures import sign_standard
    import time
    body = b"not json"
    headers = {**sign_standard(SECRET, "evt_x", int(time.time()), body), "Content-Type": "application/json"}
    assert client.post("/webhooks/clinic-a", data=body, headers=headers).status_code == 400


def test_schema_errors_are_422_with_field_paths(client, signed):
    headers, body = signed("note.saved", {**NOTE, "tags": [{"code": "setback", "ratings": [{"value": 11}]}]})
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert r.status_code == 422
    assert r.json["json"]["data"]["tags"]["0"]["ratings"]["0"] == {
        "goal": ["A rating needs a goal link: say which goal it rates."], "value": ["Ratings are 0-10; got 11."]}


def test_note_text_is_refused_as_an_unknown_field(client, signed, app):
    headers, body = signed("note.saved", {**NOTE, "text": "what the client said"})
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert r.status_code == 422 and r.json["json"]["data"]["text"] == ["Unknown field."]
    assert inbox_rows(app) == []


def test_unknown_event_type_is_acknowledged_and_counted(client, signed, app):
    for _ in range(2):
        headers, body = signed("appointment.booked", {"anything": 1})
        assert client.post("/webhooks/clinic-a", data=body, headers=headers).status_code == 202
    store = app.extensions["progress_plugin"].store
    with store.engine.connect() as c:
        value = c.execute(sa.select(t.counters.c.value).where(t.counters.c.name == "unknown-event:appointment.booked")).scalar()
    assert value == 2 and inbox_rows(app) == []


def test_protected_note_is_refused_stored_nowhere_and_audited_once(client, signed, app):
    data = {**NOTE, "note_type": "psychotherapy-note", "text": "must never be read"}
    for _ in range(2):
        headers, body = signed("note.signed", data, event_id="evt_p")
        r = client.post("/webhooks/clinic-a", data=body, headers=headers)
        assert (r.status_code, r.json["status"]) == (202, "refused")
    assert inbox_rows(app) == []
    store = app.extensions["progress_plugin"].store
    refusals = [a for a in store.audit_rows("clinic-a") if a["action"] == "note.refuse"]
    assert len(refusals) == 1 and "must never" not in str(refusals)


@pytest.mark.parametrize("note_type", ["Psychotherapy Note", "psychotherapy_note", "psychotherapy", "sud-counseling"])
def test_every_spelling_of_a_protected_type_is_refused(client, signed, app, note_type):
    headers, body = signed("note.saved", {**NOTE, "note_type": note_type})
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert (r.status_code, r.json["status"], r.json["reason_code"]) == (202, "refused", "refused-protected")
    assert inbox_rows(app) == []


def test_a_type_the_clinic_does_not_list_is_refused_unread_with_its_own_reason(service_config, signed):
    import dataclasses
    clinic = dataclasses.replace(service_config.clinics["clinic-a"], readable_note_types=frozenset({"progress-note"}))
    config = dataclasses.replace(service_config, clinics={"clinic-a": clinic})
    app = create_app(Store.open(config.store_url), config=config)
    http = app.test_client()
    for event_id, data in [("e1", {**NOTE, "note_type": "Therapy session", "text": "must never be read"}),
                           ("e2", NOTE)]:                                   # no type at all: not listed either
        headers, body = signed("note.signed", data, event_id=event_id)
        r = http.post("/webhooks/clinic-a", data=body, headers=headers)
        assert (r.status_code, r.json["status"], r.json["reason_code"]) == (202, "refused", "refused-not-readable")
    headers, body = signed("note.signed", {**NOTE, "note_type": "Progress Note"}, event_id="e3")
    assert http.post("/webhooks/clinic-a", data=body, headers=headers).json["status"] == "accepted"
    assert [r["event_id"] for r in inbox_rows(app)] == ["e3"]
    store = app.extensions["progress_plugin"].store
    refusals = [a for a in store.audit_rows("clinic-a") if a["action"] == "note.refuse"]
    assert [a["outcome"] for a in refusals] == ["refused-not-readable"] * 2 and "must never" not in str(refusals)


def test_clinic_in_data_must_match_the_url(client, signed):
    headers, body = signed("note.saved", {**NOTE, "clinic_id": "clinic-b"})
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert r.status_code == 422 and "clinic_id" in r.json["json"]["data"]


def test_unknown_clinic_is_404(client, signed):
    headers, body = signed("note.saved", NOTE)
    assert client.post("/webhooks/nope", data=body, headers=headers).status_code == 404


def test_x_signature_scheme_keeps_only_type_id_and_version(tmp_path):
    from progress_plugin.service import settings
    from progress_plugin.web.signatures import sign_hex
    secret = "x" * 32
    cfg = settings.load({"store": {"url": f"sqlite:///{tmp_path}/x.db"},
                         "clinics": [{"id": "m", "scheme": "x-signature", "secrets": [secret]}]}, env={})
    app = create_app(Store.open(cfg.store_url), config=cfg)
    doc = {"resourceType": "DocumentReference", "id": "d1", "meta": {"versionId": "7"},
           "content": [{"attachment": {"data": "c2VjcmV0IG5vdGU="}}]}
    body = json.dumps(doc).encode()
    r = app.test_client().post("/webhooks/m", data=body, headers={"Content-Type": "application/fhir+json",
                                                                  "X-Signature": sign_hex(secret, body)})
    assert r.status_code == 202 and r.json["event_id"] == "DocumentReference/d1/_history/7"
    (row,) = inbox_rows(app)
    assert row["payload"] == {"focus": "DocumentReference/d1", "version": "7"}
    bad = app.test_client().post("/webhooks/m", data=body, headers={"Content-Type": "application/json",
                                                                    "X-Signature": "00" * 32})
    assert bad.status_code == 401


def test_readyz_fails_while_the_store_or_the_host_is_unreachable(client, app, service_config):
    import dataclasses

    from tests.pg import free_port
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    svc = app.extensions["progress_plugin"]
    healthy = svc.store.engine
    svc.store.engine = sa.create_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["problems"][0].startswith("store:")
    svc.store.engine = healthy
    svc.config = dataclasses.replace(service_config, host_url=f"http://127.0.0.1:{free_port()}/fhir")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["problems"] == ["host: HostUnavailable status=None"]


# -- hostile input: each of these answered 5xx, or was accepted, before the shared JSON reader --------
def _signed_body(body: bytes, event_id="evt_hostile"):
    import time
    from progress_plugin.web.signatures import sign_standard
    return {**sign_standard(SECRET, event_id, int(time.time()), body), "Content-Type": "application/json"}


@pytest.mark.parametrize("body", ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000])
def test_json_nested_ten_thousand_deep_is_400_not_500(client, body):
    r = client.post("/webhooks/clinic-a", data=body.encode(), headers=_signed_body(body.encode()))
    assert r.status_code == 400, r.text
    assert r.json == {"error": "body is not JSON", "message": "JSON nested more than 64 levels deep."}


@pytest.mark.parametrize("field,value,message", [
    ("client_id", "c\ud800", "lone surrogate"), ("note_id", "n\x001", "NUL character"),
    ("author", "\udfff", "lone surrogate")])
def test_lone_surrogates_and_nul_are_refused_naming_the_field_and_nothing_is_stored(client, signed, app, field,
                                                                                    value, message):
    headers, body = signed("note.saved", {**NOTE, field: value})
    r = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert r.status_code == 422, r.text
    assert message in r.json["json"]["data"][field][0]
    assert inbox_rows(app) == []


def test_bidi_controls_in_an_intake_are_accepted(client, signed, app):
    words = "\u202bمیں سونا چاہتی ہوں\u202c \u2066sleep\u2069"
    intake = {**INTAKE, "intake": {**INTAKE["intake"], "goals": [{"words": words, "whose": "client", "baseline": 3}]}}
    headers, body = signed("intake.submitted", intake)
    assert client.post("/webhooks/clinic-a", data=body, headers=headers).status_code == 202
    (row,) = inbox_rows(app)
    assert row["payload"]["intake"]["goals"][0]["words"] == words


def test_a_huge_integer_is_422_naming_its_field(client):
    body = ('{"type": "note.saved", "timestamp": "2026-01-05T10:00:00Z", "data": {"client_id": "c1", "note_id": '
            '"n1", "session_at": "2026-01-12T10:00:00Z", "author": "t1", "at": "2026-01-12T11:00:00Z", "tags": '
            '[{"code": "setback", "goals": ["g1"], "ratings": [{"goal": "g1", "value": ' + "9" * 5000 + '}]}]}}')
    r = client.post("/webhooks/clinic-a", data=body.encode(), headers=_signed_body(body.encode()))
    assert r.status_code == 422
    assert r.json["json"]["data"]["tags"]["0"]["ratings"]["0"]["value"][0].startswith("Number out of range")


def test_x_signature_resource_with_a_meta_that_is_not_an_object_is_422(tmp_path):
    from progress_plugin.service import settings
    from progress_plugin.web.signatures import sign_hex
    secret = "x" * 32
    cfg = settings.load({"store": {"url": f"sqlite:///{tmp_path}/x.db"},
                         "clinics": [{"id": "m", "scheme": "x-signature", "secrets": [secret]}]}, env={})
    app = create_app(Store.open(cfg.store_url), config=cfg)
    for meta, path in [([1], "meta"), ("7", "meta"), ({"versionId": {"x": 1}}, "meta")]:
        body = json.dumps({"resourceType": "DocumentReference", "id": "d1", "meta": meta}).encode()
        r = app.test_client().post("/webhooks/m", data=body, headers={"Content-Type": "application/json",
                                                                      "X-Signature": sign_hex(secret, body)})
        assert r.status_code == 422 and path in r.json["json"], r.text


def test_a_note_with_goal_ratings_and_no_tags_is_accepted_and_a_bad_rater_named(client, app, signed):
    rated = {**NOTE, "tags": [], "ratings": [{"goal": "g1", "value": 6}, {"goal": "g2", "value": 4,
                                                                         "rated_by": "carer"}]}
    headers, body = signed("note.saved", rated)
    assert client.post("/webhooks/clinic-a", data=body, headers=headers).status_code == 202
    assert inbox_rows(app)[0]["payload"]["ratings"][1] == {"goal": "g2", "value": 4, "rated_by": "carer"}
    headers, body = signed("note.saved", {**rated, "ratings": [{"goal": "g1", "value": 6, "rated_by": "aunt"}]})
    response = client.post("/webhooks/clinic-a", data=body, headers=headers)
    assert response.status_code == 422 and response.json == {"json": {"data": {"ratings": {"0": {
        "rated_by": ["Must be one of: client, therapist, carer."]}}}}}


@pytest.mark.parametrize("event_id", ["evt_1", "Patient/p-1/_history/-", "evt_\u00e9\"\\\u2028\U0001f600"])
@pytest.mark.parametrize("fresh", [True, False])
def test_a_stored_events_answer_is_jsonifys_byte_for_byte(app, event_id, fresh):
    from progress_plugin.web.context import answer
    from progress_plugin.web.webhooks import stored
    with app.test_request_context("/webhooks/clinic-a", method="POST"):
        quick = stored(fresh, event_id)
        slow = answer(202 if fresh else 200, status="accepted" if fresh else "duplicate", event_id=event_id)
        assert (quick.status_code, quick.get_data(), list(quick.headers)) == (
            slow.status_code, slow.get_data(), list(slow.headers))

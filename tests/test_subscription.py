"""FHIR Subscription notifications: both Bundle shapes, gaps, and malformed input."""
from __future__ import annotations

import copy
import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st

from progress_plugin.errors import ValidationError
from progress_plugin.fhir.subscriptions import (
    EVENT_NOTIFICATION, HANDSHAKE, HEARTBEAT, QUERY_EVENT, QUERY_STATUS, Notification,
    NotificationEvent, gap, parse_notification,
)

BASE = "https://ehr.example.org/fhir"
TOPIC = "http://example.org/SubscriptionTopic/note-signed"
STAMP = "2024-03-01T10:00:00.1882432-05:00"
PROFILE = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
           "backport-subscription-status-r4")
CANARY = "CANARY-client-words-7f3a"


def fhir_valid(bundle: dict) -> dict:
    """The sample is a valid FHIR R4B Bundle (fhir.resources), so the tests are honest."""
    get_fhir_model_class("Bundle").model_validate(bundle)
    return bundle


def backport(kind=EVENT_NOTIFICATION, since="7", events=((7, f"{BASE}/DocumentReference/note-42"),),
             extra=(), subscription=f"{BASE}/Subscription/progress-1") -> dict:
    """An R4 backport notification: a ``history`` Bundle opened by a Parameters resource."""
    params = [
        {"name": "subscription", "valueReference": {"reference": subscription}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
    ]
    if since is not None:
        params.append({"name": "events-since-subscription-start", "valueString": since})
    for number, focus in events:
        parts = [{"name": "event-number", "valueString": str(number)},
                 {"name": "timestamp", "valueInstant": STAMP}]
        if focus:
            parts.append({"name": "focus", "valueReference": {"reference": focus}})
        params.append({"name": "notification-event", "part": parts})
    status = {"fullUrl": "urn:uuid:9e41ff6d-5be6-4e6a-8b85-abd4e7f58400",
              "resource": {"resourceType": "Parameters", "id": "9e41ff6d",
                           "meta": {"profile": [PROFILE]}, "parameter": params},
              "request": {"method": "GET", "url": f"{BASE}/Subscription/progress-1/$status"},
              "response": {"status": "200"}}
    return {"resourceType": "Bundle", "id": "n-1", "type": "history",
            "timestamp": "2024-03-01T10:00:01Z", "entry": [status, *extra]}


def r4b(kind=EVENT_NOTIFICATION, since="9", events=((9, "DocumentReference/note-42"),), extra=()) -> dict:
    """An R4B notification: a ``subscription-notification`` Bundle with SubscriptionStatus."""
    status = {"resourceType": "SubscriptionStatus", "status": "active", "type": kind,
              "subscription": {"reference": "Subscription/progress-1"}, "topic": TOPIC}
    if since is not None:
        status["eventsSinceSubscriptionStart"] = since
    if events:
        status["notificationEvent"] = [
            {"eventNumber": str(n), "timestamp": "2024-03-01T10:00:00Z",
             **({"focus": {"reference": focus}} if focus else {})} for n, focus in events]
    return {"resourceType": "Bundle", "type": "subscription-notification",
            "entry": [{"fullUrl": "urn:uuid:1f4e", "resource": status}, *extra]}


def id_only(url=f"{BASE}/DocumentReference/note-42"):
    return {"fullUrl": url, "request": {"method": "PUT", "url": "DocumentReference/note-42"},
            "response": {"status": "200"}}


def full_resource(version="4", url=f"{BASE}/DocumentReference/note-42"):
    note = {"resourceType": "DocumentReference", "id": "note-42", "meta": {"versionId": version},
            "status": "current", "description": CANARY,
            "content": [{"attachment": {"contentType": "text/plain", "title": CANARY}}]}
    return {"fullUrl": url, "resource": note,
            "request": {"method": "PUT", "url": "DocumentReference/note-42"},
            "response": {"status": "200"}}


# Fixtures kept here; candidates for tests/conftest.py: backport_bundle, r4b_bundle.
@pytest.fixture
def backport_bundle():
    return lambda **kw: fhir_valid(backport(**kw))


@pytest.fixture
def r4b_bundle():
    return lambda **kw: fhir_valid(r4b(**kw))


# ---- R4 backport (Parameters) ------------------------------------------------------------

def test_backport_handshake(backport_bundle):
    result = parse_notification(backport_bundle(kind=HANDSHAKE, since="0", events=()))
    assert result == Notification("Subscription/progress-1", TOPIC, HANDSHAKE, "active", 0, [], {})
    assert gap(None, result) is None


def test_backport_heartbeat(backport_bundle):
    result = parse_notification(backport_bundle(kind=HEARTBEAT, since="12", events=()))
    assert (result.type, result.events_since_start, result.events) == (HEARTBEAT, 12, [])
    assert gap(12, result) is None
    assert gap(10, result) == range(11, 13)


def test_backport_event_id_only(backport_bundle):
    bundle = backport_bundle(events=((7, f"{BASE}/DocumentReference/note-42/_history/3"),),
                             extra=(id_only(),))
    result = parse_notification(bundle)
    assert result.type == EVENT_NOTIFICATION and result.events_since_start == 7
    assert result.events == [NotificationEvent(7, "DocumentReference/note-42", STAMP)]
    assert result.versions == {"DocumentReference/note-42": "3"}
    assert gap(6, result) is None and gap(5, result) == range(6, 7)


def test_backport_full_resource_keeps_only_ids(backport_bundle):
    bundle = backport_bundle(extra=(full_resource(version="5"),))
    result = parse_notification(bundle)
    assert result.events[0].focus == "DocumentReference/note-42"
    assert result.versions == {"DocumentReference/note-42": "5"}
    assert CANARY not in repr(result) and CANARY not in repr(result.__dict__)
    assert CANARY in json.dumps(bundle)  # the input did carry content


def test_backport_without_entries_for_resources(backport_bundle):
    result = parse_notification(backport_bundle(events=((7, f"{BASE}/Observation/o-1"),)))
    assert result.events[0].focus == "Observation/o-1" and result.versions == {}


def test_backport_urn_focus_resolves_to_entry(backport_bundle):
    urn = "urn:uuid:5a6b0000-0000-4000-8000-000000000042"
    bundle = backport_bundle(events=((7, urn),), extra=(full_resource(url=urn),))
    result = parse_notification(bundle)
    assert result.events[0].focus == "DocumentReference/note-42"
    assert result.versions == {"DocumentReference/note-42": "4"}


def test_backport_several_events(backport_bundle):
    bundle = backport_bundle(since="10", events=[(8, "DocumentReference/a"), (9, "DocumentReference/b"),
                                                 (10, "Composition/c")])
    result = parse_notification(bundle)
    assert [(e.event_number, e.focus) for e in result.events] == [
        (8, "DocumentReference/a"), (9, "DocumentReference/b"), (10, "Composition/c")]
    assert gap(7, result) is None and gap(5, result) == range(6, 8)


def test_backport_empty_payload_has_no_focus(backport_bundle):
    result = parse_notification(backport_bundle(events=((7, None),)))
    assert result.events == [NotificationEvent(7, None, STAMP)]


@pytest.mark.parametrize("kind", [QUERY_STATUS, QUERY_EVENT])
def test_backport_query_types(backport_bundle, kind):
    assert parse_notification(backport_bundle(kind=kind, since="3", events=())).type == kind


def test_backport_optional_parameters_absent(backport_bundle):
    bundle = backport_bundle(since=None, events=())
    params = bundle["entry"][0]["resource"]["parameter"]
    bundle["entry"][0]["resource"]["parameter"] = [p for p in params if p["name"] not in ("topic", "status")]
    result = parse_notification(fhir_valid(bundle))
    assert (result.topic, result.status, result.events_since_start) == (None, None, None)
    assert gap(None, result) is None


@pytest.mark.parametrize("value", [{"valueUnsignedInt": 7}, {"valueInteger64": "7"}, {"valueInteger64": 7}])
def test_backport_count_value_types(value):
    # valueInteger64 is R5 and unknown to the R4B model, so only the first is checked there.
    bundle = backport()
    bundle["entry"][0]["resource"]["parameter"][4] = {"name": "events-since-subscription-start", **value}
    if "valueUnsignedInt" in value:
        fhir_valid(bundle)
    assert parse_notification(bundle).events_since_start == 7


def test_relative_and_absolute_references():
    for ref in ("DocumentReference/note-42", f"{BASE}/DocumentReference/note-42",
                "http://other.example/R4/DocumentReference/note-42/_history/2"):
        bundle = fhir_valid(backport(events=((7, ref),)))
        assert parse_notification(bundle).events[0].focus == "DocumentReference/note-42"


def test_unknown_elements_are_ignored(backport_bundle):
    bundle = backport_bundle()
    bundle["entry"][0]["resource"]["text"] = {"status": "generated", "div": f"<div>{CANARY}</div>"}
    bundle["entry"][0]["resource"]["parameter"].append({"name": "error", "valueCodeableConcept": {"text": "x"}})
    bundle["extension"] = [{"url": "http://example.org/x", "valueString": CANARY}]
    result = parse_notification(bundle)
    assert result.type == EVENT_NOTIFICATION and CANARY not in repr(result)


# ---- R4B SubscriptionStatus --------------------------------------------------------------

def test_r4b_handshake(r4b_bundle):
    result = parse_notification(r4b_bundle(kind=HANDSHAKE, since="0", events=()))
    assert result == Notification("Subscription/progress-1", TOPIC, HANDSHAKE, "active", 0, [], {})


def test_r4b_heartbeat(r4b_bundle):
    result = parse_notification(r4b_bundle(kind=HEARTBEAT, since="9", events=()))
    assert result.type == HEARTBEAT and gap(9, result) is None and gap(8, result) == range(9, 10)


def test_r4b_event_notification(r4b_bundle):
    result = parse_notification(r4b_bundle(extra=(full_resource(version="11"),)))
    assert result.events == [NotificationEvent(9, "DocumentReference/note-42", "2024-03-01T10:00:00Z")]
    assert result.versions == {"DocumentReference/note-42": "11"}
    assert result.events_since_start == 9 and CANARY not in repr(result)


def test_r4b_integer_counts_accepted():
    # R4B types these as strings; some servers send JSON numbers. Both are counts.
    bundle = r4b()
    bundle["entry"][0]["resource"]["eventsSinceSubscriptionStart"] = 9
    bundle["entry"][0]["resource"]["notificationEvent"][0]["eventNumber"] = 9
    result = parse_notification(bundle)
    assert result.events_since_start == 9 and result.events[0].event_number == 9


def test_shapes_agree():
    """The same notification in both shapes parses to the same result."""
    a = parse_notification(fhir_valid(backport(since="9", events=((9, "DocumentReference/note-42"),))))
    b = parse_notification(fhir_valid(r4b()))
    assert (a.subscription, a.topic, a.type, a.status, a.events_since_start) == \
        (b.subscription, b.topic, b.type, b.status, b.events_since_start)
    assert [e[:2] for e in a.events] == [e[:2] for e in b.events]


# ---- gaps --------------------------------------------------------------------------------

def _status(since, numbers, kind=EVENT_NOTIFICATION):
    events = [NotificationEvent(n, f"DocumentReference/{n}", None) for n in numbers]
    return Notification("Subscription/s", None, kind, "active", since, events)


@pytest.mark.parametrize("last_seen,since,numbers,expected", [
    (None, 0, [], None),                     # handshake on a fresh subscription
    (None, 1, [1], None),                    # first event, nothing before it
    (None, 3, [], range(1, 4)),              # heartbeat says 3 happened; none seen
    (0, 1, [1], None),
    (3, 3, [], None),                        # heartbeat, up to date
    (3, 5, [], range(4, 6)),                 # heartbeat reveals two missed
    (4, 5, [5], None),                       # the next one
    (3, 5, [5], range(4, 5)),                # one missed before this
    (3, 7, [5, 6, 7], range(4, 5)),
    (3, 9, [5, 6, 7], range(4, 10)),         # holes 4 and 8-9: one covering range
    (3, 6, [6, 4], range(5, 6)),             # unordered, a hole inside
    (3, None, [6], range(4, 6)),             # no count given: numbers alone
    (3, None, [], None),
    (9, 5, [5], None),                       # a replay of an old event
    (10, 3, [], None),                       # the counter went back (new subscription)
    (7, 10, [8, 9, 10, 10], None),           # duplicates inside one notification
    (0, 10**18, [], range(1, 10**18 + 1)),   # large counts stay a range, never a list
])
def test_gap(last_seen, since, numbers, expected):
    assert gap(last_seen, _status(since, numbers)) == expected


def test_gap_covers_exactly_the_missing_numbers_when_contiguous():
    status = _status(20, [18, 19, 20])
    missed = gap(11, status)
    assert list(missed) == [n for n in range(12, 21) if n not in (18, 19, 20)]


# ---- malformed input ---------------------------------------------------------------------

def _set(path, value):
    def change(bundle):
        node = bundle
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return bundle
    return change


DELETE = object()
P = ("entry", 0, "resource", "parameter")
R = ("entry", 0, "resource")

BACKPORT_FAULTS = {
    "wrong resourceType": (_set(("resourceType",), "Parameters"), "resourceType"),
    "searchset": (_set(("type",), "searchset"), "type"),
    "no entry": (_set(("entry",), DELETE), "entry"),
    "empty entry": (_set(("entry",), []), "entry"),
    "entry not a list": (_set(("entry",), {"0": {}}), "entry"),
    "first entry without resource": (_set(("entry", 0, "resource"), DELETE), "entry.0.resource"),
    "first resource a Patient": (_set(R + ("resourceType",), "Patient"), "entry.0.resource.resourceType"),
    "parameter missing": (_set(R + ("parameter",), DELETE), "entry.0.resource.parameter"),
    "parameter not a list": (_set(R + ("parameter",), "x"), "entry.0.resource.parameter"),
    "parameter without name": (_set(P + (2, "name"), DELETE), "entry.0.resource.parameter.2.name"),
    "no subscription": (lambda b: _drop(b, "subscription"), "entry.0.resource.parameter"),
    "subscription names a Patient": (_set(P + (0, "valueReference", "reference"), "Patient/p1"),
                                     "entry.0.resource.parameter.0.valueReference.reference"),
    "subscription reference missing": (_set(P + (0, "valueReference"), {"display": "s"}),
                                       "entry.0.resource.parameter.0.valueReference.reference"),
    "no type": (lambda b: _drop(b, "type"), "entry.0.resource.parameter"),
    "unknown type": (_set(P + (3, "valueCode"), CANARY), "entry.0.resource.parameter.3.valueCode"),
    "type as valueString": (_set(P + (3,), {"name": "type", "valueString": "heartbeat"}),
                            "entry.0.resource.parameter.3"),
    "type not a string": (_set(P + (3, "valueCode"), 3), "entry.0.resource.parameter.3.valueCode"),
    "two types": (lambda b: _dup(b, 3), "entry.0.resource.parameter.6.name"),
    "unknown status": (_set(P + (2, "valueCode"), "paused"), "entry.0.resource.parameter.2.valueCode"),
    "count not digits": (_set(P + (4, "valueString"), "seven"), "entry.0.resource.parameter.4.valueString"),
    "count negative": (_set(P + (4, "valueString"), "-1"), "entry.0.resource.parameter.4.valueString"),
    "count too big": (_set(P + (4, "valueString"), "9" * 20), "entry.0.resource.parameter.4.valueString"),
    "count negative int": (_set(P + (4,), {"name": "events-since-subscription-start", "valueUnsignedInt": -1}),
                           "entry.0.resource.parameter.4.valueUnsignedInt"),
    "count boolean": (_set(P + (4,), {"name": "events-since-subscription-start", "valueUnsignedInt": True}),
                      "entry.0.resource.parameter.4.valueUnsignedInt"),
    "two count values": (_set(P + (4, "valueUnsignedInt"), 7), "entry.0.resource.parameter.4"),
    "event without number": (_set(P + (5, "part", 0, "name"), "event-id"), "entry.0.resource.parameter.5.part"),
    "event without parts": (_set(P + (5, "part"), DELETE), "entry.0.resource.parameter.5.part"),
    "event number fraction": (_set(P + (5, "part", 0, "valueString"), "1.5"),
                              "entry.0.resource.parameter.5.part.0.valueString"),
    "event timestamp": (_set(P + (5, "part", 1, "valueInstant"), "yesterday"),
                        "entry.0.resource.parameter.5.part.1.valueInstant"),
    "timestamp without zone": (_set(P + (5, "part", 1, "valueInstant"), "2024-03-01T10:00:00"),
                               "entry.0.resource.parameter.5.part.1.valueInstant"),
    "focus contained": (_set(P + (5, "part", 2, "valueReference", "reference"), "#note"),
                        "entry.0.resource.parameter.5.part.2.valueReference.reference"),
    "focus unresolved urn": (_set(P + (5, "part", 2, "valueReference", "reference"), "urn:uuid:0000"),
                             "entry.0.resource.parameter.5.part.2.valueReference.reference"),
    "focus empty": (_set(P + (5, "part", 2, "valueReference", "reference"), ""),
                    "entry.0.resource.parameter.5.part.2.valueReference.reference"),
    "focus wrong kind": (_set(P + (5, "part", 2), {"name": "focus", "valueString": "x"}),
                         "entry.0.resource.parameter.5.part.2"),
    "later entry not an object": (lambda b: _append(b, "x"), "entry.1._schema"),
    "later resource without type": (lambda b: _append(b, {"resource": {"id": "x"}}),
                                    "entry.1.resource.resourceType"),
}


def _drop(bundle, name):
    params = bundle["entry"][0]["resource"]["parameter"]
    params[:] = [p for p in params if p["name"] != name]
    return bundle


def _dup(bundle, index):
    params = bundle["entry"][0]["resource"]["parameter"]
    params.append(copy.deepcopy(params[index]))
    return bundle


def _append(bundle, entry):
    bundle["entry"].append(entry)
    return bundle


def _assert_fault(bundle, path):
    with pytest.raises(ValidationError) as info:
        parse_notification(bundle)
    exc = info.value
    assert type(exc) is ValidationError and exc.status == 422
    assert path in exc.paths(), exc.paths()
    assert CANARY not in str(exc) and CANARY not in json.dumps(exc.paths())
    return exc


@pytest.mark.parametrize("change,path", BACKPORT_FAULTS.values(), ids=BACKPORT_FAULTS.keys())
def test_backport_malformed(change, path):
    _assert_fault(change(backport()), path)


R4B_FAULTS = {
    "no subscription": (_set(R + ("subscription",), DELETE), "entry.0.resource.subscription"),
    "subscription without reference": (_set(R + ("subscription",), {"display": "x"}),
                                       "entry.0.resource.subscription.reference"),
    "no type": (_set(R + ("type",), DELETE), "entry.0.resource.type"),
    "unknown type": (_set(R + ("type",), CANARY), "entry.0.resource.type"),
    "unknown status": (_set(R + ("status",), "paused"), "entry.0.resource.status"),
    "count not digits": (_set(R + ("eventsSinceSubscriptionStart",), "nine"),
                         "entry.0.resource.eventsSinceSubscriptionStart"),
    "count negative": (_set(R + ("eventsSinceSubscriptionStart",), -9),
                       "entry.0.resource.eventsSinceSubscriptionStart"),
    "count float": (_set(R + ("eventsSinceSubscriptionStart",), 9.0),
                    "entry.0.resource.eventsSinceSubscriptionStart"),
    "events not a list": (_set(R + ("notificationEvent",), {"eventNumber": "9"}),
                          "entry.0.resource.notificationEvent"),
    "event number missing": (_set(R + ("notificationEvent", 0, "eventNumber"), DELETE),
                             "entry.0.resource.notificationEvent.0.eventNumber"),
    "event number bad": (_set(R + ("notificationEvent", 0, "eventNumber"), "9a"),
                         "entry.0.resource.notificationEvent.0.eventNumber"),
    "event timestamp bad": (_set(R + ("notificationEvent", 0, "timestamp"), "noon"),
                            "entry.0.resource.notificationEvent.0.timestamp"),
    "focus unresolvable": (_set(R + ("notificationEvent", 0, "focus", "reference"), "note-42"),
                           "entry.0.resource.notificationEvent.0.focus.reference"),
    "focus not an object": (_set(R + ("notificationEvent", 0, "focus"), "DocumentReference/1"),
                            "entry.0.resource.notificationEvent.0.focus._schema"),
}


@pytest.mark.parametrize("change,path", R4B_FAULTS.values(), ids=R4B_FAULTS.keys())
def test_r4b_malformed(change, path):
    _assert_fault(change(r4b()), path)


@pytest.mark.parametrize("data", [None, [], "Bundle", 7, b"{}"])
def test_not_an_object(data):
    assert "_schema" in _assert_fault(data, "_schema").paths()


def test_error_messages_have_marshmallow_shape():
    exc = _assert_fault(BACKPORT_FAULTS["unknown type"][0](backport()),
                        "entry.0.resource.parameter.3.valueCode")
    assert exc.messages == {"entry": {0: {"resource": {"parameter": {3: {"valueCode": [
        "Must be one of: handshake, heartbeat, event-notification, query-status, query-event."]}}}}}}


# ---- property: any damage gives a Notification or a ValidationError, nothing else --------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=20), st.sampled_from(["7", "-1", "urn:uuid:x", "Subscription/s",
                                                     "Parameters", "SubscriptionStatus", "Bundle"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=12), children, max_size=3)),
    max_leaves=8,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["backport", "r4b"]), st.data())
def test_damaged_bundles_raise_only_validation_error(shape, data):
    bundle = backport(extra=(full_resource(),)) if shape == "backport" else r4b(extra=(id_only(),))
    paths = [p for p in _paths(bundle) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(bundle) if p]
        path = data.draw(st.sampled_from(paths))
        bundle = _set(path, data.draw(json_values))(bundle)
    try:
        result = parse_notification(bundle)
    except ValidationError as exc:
        assert exc.paths() and all(isinstance(m, str) for ms in exc.paths().values() for m in ms)
        return
    assert isinstance(result, Notification)
    assert all(isinstance(e.event_number, int) and e.event_number >= 0 for e in result.events)
    assert result.subscription.startswith("Subscription/")

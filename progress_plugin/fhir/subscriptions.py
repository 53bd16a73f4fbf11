"""FHIR Subscription rest-hook notifications: parsing, and spotting missed events.

Two shapes of notification Bundle are accepted:

* R4 with the Subscriptions R5 Backport IG: a ``history`` Bundle whose first entry is a
  ``Parameters`` resource (profile backport-subscription-status-r4) with the parameters
  ``subscription``, ``topic``, ``status``, ``type``, ``events-since-subscription-start``
  and ``notification-event`` (parts ``event-number``, ``timestamp``, ``focus``);
* R4B: a ``subscription-notification`` Bundle whose first entry is a native
  ``SubscriptionStatus`` resource.

Only ids are read. Entries after the first may hold whole resources (``full-resource``
payloads) or only a ``fullUrl`` (``id-only``, preferred); of a resource only its type, id
and ``meta.versionId`` are read, everything else is dropped on the spot. Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import marshmallow
from marshmallow import EXCLUDE, Schema, fields, validate

from progress_plugin.errors import ValidationError

HANDSHAKE = "handshake"
HEARTBEAT = "heartbeat"
EVENT_NOTIFICATION = "event-notification"
QUERY_STATUS = "query-status"
QUERY_EVENT = "query-event"
TYPES = (HANDSHAKE, HEARTBEAT, EVENT_NOTIFICATION, QUERY_STATUS, QUERY_EVENT)
STATUSES = ("requested", "active", "error", "off", "entered-in-error")
BUNDLE_TYPES = ("history", "subscription-notification")


class NotificationEvent(NamedTuple):
    event_number: int
    focus: str | None  #: "Type/id"; None when the payload is ``empty``
    timestamp: str | None  #: the FHIR instant as sent


@dataclass(frozen=True)
class Notification:
    """What a notification says, ids only.

    ``versions`` maps a "Type/id" named in the Bundle to its ``meta.versionId`` (or the
    ``_history`` version of its URL), where the Bundle gives one.
    """

    subscription: str  #: "Subscription/<id>"
    topic: str | None
    type: str
    status: str | None
    events_since_start: int | None
    events: list[NotificationEvent] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def parse_notification(bundle: dict) -> Notification:
    """Parse a JSON-decoded notification Bundle.

    Raises :class:`~progress_plugin.errors.ValidationError` whose ``messages`` name the
    path of the fault, e.g. ``{"entry": {0: {"resource": {"type": [...]}}}}``.
    """
    data = _load(_BUNDLE, bundle, ())
    entries = data["entry"]
    first = entries[0].get("resource")
    if first is None:
        raise _error(("entry", 0, "resource"), "Missing data for required field.")
    kind = first.get("resourceType")
    parse_status = _SHAPES.get(kind) if isinstance(kind, str) else None
    if parse_status is None:
        raise _error(("entry", 0, "resource", "resourceType"),
                     "Must be one of: Parameters, SubscriptionStatus.")
    urls, versions = _index(entries[1:])
    result = parse_status(first, ("entry", 0, "resource"), urls)
    return replace(result, versions={**result.versions, **versions})


def gap(last_seen: int | None, status: Notification) -> range | None:
    """Event numbers missed between ``last_seen`` and this notification, or None.

    ``last_seen`` is the highest event number already received (None: nothing yet, taken
    as 0). The newest event number is the larger of ``events_since_start`` and the event
    numbers carried. The answer is the smallest range covering every number above
    ``last_seen`` up to the newest that this notification does not carry; a catch-up
    read of that range may meet a few events again, which deduplication absorbs.
    """
    seen = last_seen or 0
    carried = sorted({e.event_number for e in status.events if e.event_number > seen})
    newest = max([status.events_since_start or 0, *carried])
    first = seen + 1
    for number in carried:
        if number != first:
            break
        first += 1
    if first > newest:
        return None
    last = newest
    for number in reversed(carried):
        if number != last:
            break
        last -= 1
    return range(first, last + 1)


# Schemas. FHIR resources are open (extensions, narrative, meta), so unknown elements
# are excluded: dropped, never kept.

_INSTANT = (r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-"
            r"(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
            r"(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))\Z")
_COUNT = re.compile(r"[0-9]{1,19}")
_TYPE_ID = re.compile(r"(?:.*/)?([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})"
                      r"(?:/_history/([A-Za-z0-9\-.]{1,64}))?")
_INT64 = 2**63


class _Count(fields.Field):
    """A count: a JSON integer, or digits in a string (FHIR string and integer64)."""

    default_error_messages = {"invalid": "Not a valid count."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _INT64:
            return value
        if isinstance(value, str) and _COUNT.fullmatch(value) and int(value) < _INT64:
            return int(value)
        raise self.make_error("invalid")


class _Open(Schema):
    class Meta:
        unknown = EXCLUDE


class _Reference(_Open):
    reference = fields.String(required=True, validate=validate.Length(min=1))


class _Meta(_Open):
    versionId = fields.String()


class _Resource(_Open):
    resourceType = fields.String(required=True)
    id = fields.String()
    meta = fields.Nested(_Meta)


class _Entry(_Open):
    fullUrl = fields.String()
    resource = fields.Dict(keys=fields.String())


class _Bundle(_Open):
    resourceType = fields.String(required=True, validate=validate.Equal("Bundle"))
    type = fields.String(required=True, validate=validate.OneOf(BUNDLE_TYPES))
    entry = fields.List(fields.Nested(_Entry), required=True, validate=validate.Length(min=1))


class _Part(_Open):
    name = fields.String(required=True)
    valueReference = fields.Nested(_Reference)
    valueCanonical = fields.String()
    valueCode = fields.String()
    valueString = fields.String()
    valueInstant = fields.String(validate=validate.Regexp(_INSTANT))
    valueUnsignedInt = _Count()
    valueInteger64 = _Count()


class _Parameter(_Part):
    part = fields.List(fields.Nested(_Part))  # one level: notification-event parts


class _Parameters(_Open):
    resourceType = fields.String(required=True, validate=validate.Equal("Parameters"))
    parameter = fields.List(fields.Nested(_Parameter), required=True,
                            validate=validate.Length(min=1))


class _Event(_Open):
    eventNumber = _Count(required=True)
    timestamp = fields.String(validate=validate.Regexp(_INSTANT))
    focus = fields.Nested(_Reference)


class _SubscriptionStatus(_Open):
    resourceType = fields.String(required=True, validate=validate.Equal("SubscriptionStatus"))
    status = fields.String(validate=validate.OneOf(STATUSES))
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    eventsSinceSubscriptionStart = _Count()
    notificationEvent = fields.List(fields.Nested(_Event))
    subscription = fields.Nested(_Reference, required=True)
    topic = fields.String()


_BUNDLE, _RESOURCE = _Bundle(), _Resource()
_PARAMETERS, _STATUS = _Parameters(), _SubscriptionStatus()


def _from_status(resource: dict, path: tuple, urls: dict) -> Notification:
    data = _load(_STATUS, resource, path)
    events, versions = [], {}
    for i, event in enumerate(data.get("notificationEvent", [])):
        focus = None
        if "focus" in event:
            focus, version = _type_id(event["focus"]["reference"],
                                      path + ("notificationEvent", i, "focus", "reference"), urls)
            if version:
                versions[focus] = version
        events.append(NotificationEvent(event["eventNumber"], focus, event.get("timestamp")))
    subscription, _ = _type_id(data["subscription"]["reference"],
                               path + ("subscription", "reference"), urls, "Subscription")
    return Notification(subscription, data.get("topic"), data["type"], data.get("status"),
                        data.get("eventsSinceSubscriptionStart"), events, versions)


def _from_parameters(resource: dict, path: tuple, urls: dict) -> Notification:
    params = _load(_PARAMETERS, resource, path)["parameter"]
    path = path + ("parameter",)

    def one(name, kinds, required=False):
        found = [i for i, p in enumerate(params) if p["name"] == name]
        if len(found) > 1:
            raise _error(path + (found[1], "name"), f"Only one '{name}' parameter is allowed.")
        if not found:
            if required:
                raise _error(path, f"Missing parameter '{name}'.")
            return None
        return _value(params[found[0]], kinds, path + (found[0],))

    reference = one("subscription", ("valueReference",), required=True)
    subscription, _ = _type_id(reference["reference"], path + _where(params, "subscription")
                               + ("valueReference", "reference"), urls, "Subscription")
    kind = one("type", ("valueCode",), required=True)
    if kind not in TYPES:
        raise _error(path + _where(params, "type") + ("valueCode",),
                     f"Must be one of: {', '.join(TYPES)}.")
    status = one("status", ("valueCode",))
    if status is not None and status not in STATUSES:
        raise _error(path + _where(params, "status") + ("valueCode",),
                     f"Must be one of: {', '.join(STATUSES)}.")
    since = one("events-since-subscription-start", _COUNT_KINDS)
    if since is not None:
        since = _count(since, path + _where(params, "events-since-subscription-start"))

    events, versions = [], {}
    for i, param in enumerate(params):
        if param["name"] != "notification-event":
            continue
        where = path + (i, "part")
        parts = param.get("part") or []
        named = {p["name"]: (j, p) for j, p in reversed(list(enumerate(parts)))}
        if "event-number" not in named:
            raise _error(where, "Missing part 'event-number'.")
        j, part = named["event-number"]
        number = _count(_value(part, _COUNT_KINDS, where + (j,)), where + (j,))
        focus = timestamp = None
        if "focus" in named:
            j, part = named["focus"]
            reference = _value(part, ("valueReference",), where + (j,))["reference"]
            focus, version = _type_id(reference, where + (j, "valueReference", "reference"), urls)
            if version:
                versions[focus] = version
        if "timestamp" in named:
            j, part = named["timestamp"]
            timestamp = _value(part, ("valueInstant",), where + (j,))
        events.append(NotificationEvent(number, focus, timestamp))
    topic = one("topic", ("valueCanonical",))
    return Notification(subscription, topic, kind, status, since, events, versions)


_SHAPES = {"Parameters": _from_parameters, "SubscriptionStatus": _from_status}
_COUNT_KINDS = ("valueString", "valueInteger64", "valueUnsignedInt")


def _value(param: dict, kinds: tuple, where: tuple):
    present = [k for k in kinds if k in param]
    if len(present) != 1:
        raise _error(where, f"Expected exactly one of {', '.join(kinds)}.")
    return param[present[0]]


def _where(params: list, name: str) -> tuple:
    return next((i,) for i, p in enumerate(params) if p["name"] == name)


def _count(value, where: tuple) -> int:
    if isinstance(value, int):
        return value
    if _COUNT.fullmatch(value) and int(value) < _INT64:
        return int(value)
    raise _error(where + ("valueString",), "Not a valid count.")


def _type_id(reference: str, where: tuple, urls: dict, expect: str | None = None):
    """Normalize a reference to ("Type/id", version or None)."""
    if reference in urls:
        found = urls[reference]
    else:
        match = _TYPE_ID.fullmatch(reference)
        if match is None:
            raise _error(where, "Not a resolvable reference.")
        found = (f"{match[1]}/{match[2]}", match[3])
    if expect and not found[0].startswith(expect + "/"):
        raise _error(where, f"Must reference a {expect}.")
    return found


def _index(entries: list) -> tuple[dict, dict]:
    """From the entries after the first: fullUrl -> ("Type/id", version), and versions."""
    urls, versions = {}, {}
    for i, entry in enumerate(entries, 1):
        type_id = version = None
        if "resource" in entry:
            resource = _load(_RESOURCE, entry["resource"], ("entry", i, "resource"))
            if "id" in resource:
                type_id = f"{resource['resourceType']}/{resource['id']}"
            version = resource.get("meta", {}).get("versionId")
        url = entry.get("fullUrl")
        if url and type_id is None:
            match = _TYPE_ID.fullmatch(url)
            if match:
                type_id, version = f"{match[1]}/{match[2]}", version or match[3]
        if type_id is None:
            continue
        if url:
            urls[url] = (type_id, version)
        if version:
            versions[type_id] = version
    return urls, versions


def _load(schema: Schema, data, path: tuple) -> dict:
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        raise ValidationError(_nest(path, exc.messages)) from None


def _error(path: tuple, message: str) -> ValidationError:
    return ValidationError(_nest(path, [message]))


def _nest(path: tuple, messages):
    for key in reversed(path):
        messages = {key: messages}
    return messages

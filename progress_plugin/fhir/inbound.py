"""Turn a FHIR resource named by a notification into one of our events (pure).

Only metadata is used: type, subject, dates, status and our own ``meta.tag`` codings for a
note, and the answers of our Questionnaire for an intake. The caller reads the resource
with ``_elements`` and passes what came back through :func:`keep`, which drops everything
else (a server may ignore ``_elements``), so note content is never held.
"""
from __future__ import annotations

from datetime import datetime

import marshmallow as ma
from marshmallow import EXCLUDE, fields

from progress_plugin.core import events as ev
from progress_plugin.core import intake as intake_mod
from progress_plugin import schemas
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.notes import REFUSED_PROTECTED, TagInput, classify_note_type
from progress_plugin.core.vocabulary import SYSTEM
from progress_plugin.core.words import N_
from progress_plugin.errors import ValidationError
from progress_plugin.schemas.field_types import Text

NOTE_ELEMENTS = ("meta", "type", "subject", "date", "docStatus", "status", "author", "context")


def keep(resource: dict, elements=NOTE_ELEMENTS) -> dict:
    return {k: resource[k] for k in ("resourceType", "id", *elements) if k in resource}


def _ref_id(ref: dict | None, kind: str) -> str | None:
    """The id in a reference to a ``kind`` resource: relative (``Patient/p1``), absolute
    (``https://host/fhir/Patient/p1``) or versioned (``.../_history/2``); else None."""
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == kind and parts[-1] and (len(parts) == 2 or "://" in value):
        return parts[-1]
    return None


def patient_of(resource: dict) -> str | None:
    """The id of the patient a resource's ``subject`` names, or None."""
    return _ref_id(resource.get("subject"), "Patient")


def dated(resource: dict, fallback: datetime) -> datetime:
    """A resource's ``date`` (a note's: when the session was), else ``fallback``."""
    return _when(resource.get("date"), fallback)


def _when(value: str | None, fallback: datetime) -> datetime:
    if not value or not isinstance(value, str):
        return fallback
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return as_datetime(parsed)


def note_type(resource: dict) -> str | None:
    """The note's type for our events: a protected category (``psychotherapy-note``) when any
    of the type's codes or its text is one (:func:`~progress_plugin.core.notes.classify_note_type`
    decides, as on every other path); else its first code, else its text, in normal form."""
    return _classified(resource).kind


def _classified(resource: dict):
    kind = resource.get("type")
    kind = kind if isinstance(kind, dict) else {}
    codings = kind.get("coding") if isinstance(kind.get("coding"), list) else []
    codes = sorted({c["code"] for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"]})
    text = kind.get("text")
    return classify_note_type([*codes, text] if isinstance(text, str) else codes)


def document_event(clinic_id: str, doc: dict, now: datetime) -> ev.Event | None:
    """A DocumentReference as NoteSaved / NoteSigned / NoteDeleted. None when it names no patient."""
    client_id = patient_of(doc)
    if client_id is None:
        return None
    classified = _classified(doc)       # a protected type's kind is its category, itself protected
    kind, protected = classified.kind, classified.refused == REFUSED_PROTECTED
    at = _when((doc.get("meta") or {}).get("lastUpdated"), now)
    if doc.get("status") == "entered-in-error":
        return ev.NoteDeleted(clinic_id, at, client_id, doc["id"])
    tags = tuple(TagInput(t["code"]) for t in (doc.get("meta") or {}).get("tag") or []
                 if t.get("system") == SYSTEM and t.get("code"))
    author = next((a.get("reference", "").split("/")[-1] for a in doc.get("author") or [] if a.get("reference")), "host")
    cls = ev.NoteSigned if doc.get("docStatus") == "final" else ev.NoteSaved
    return cls(clinic_id, at, client_id, doc["id"], dated(doc, at), author or "host",
               () if protected else tags, kind)


def intake_event(clinic_id: str, qr: dict, now: datetime) -> ev.IntakeSubmitted | None:
    """A QuestionnaireResponse to our intake Questionnaire as IntakeSubmitted; None for other
    questionnaires and for a response that names no patient.

    Read as SDC form renderers write it: ``meta`` and the items' ``text`` are ignored; the goals
    group repeats as several items with the same linkId (or nests its answers under
    ``answer.item``); a follow-up question's answer may sit under its question's answer; a coding
    counts by its code, with or without ``display``; ``questionnaire`` may carry ``|version``
    (answers to an earlier version are mapped on load); a date may come as a FHIR dateTime. The
    client's words are kept exactly as written. Anything else is a ValidationError naming the
    field (the intake field, or the item's place in the response)."""
    if not isinstance(qr, dict) or not isinstance(qr.get("questionnaire"), str):
        return None
    url, _, version = qr["questionnaire"].partition("|")
    if url != intake_mod.SECTION_URL:
        return None
    data = schemas.load(_response_schema, qr)
    client_id = patient_of(data)
    if client_id is None:
        return None
    payload = _answers(data.get("item") or [])
    payload["intake_id"] = data.get("id") or "fhir"
    if version:                         # answers to an earlier version are mapped on load
        payload["definition_version"] = version
    intake = schemas.load(schemas.intake_schema, payload)
    author = data.get("author") or {}
    by = (author.get("reference") or "").split("/")[-1] or (author.get("identifier") or {}).get("value")
    return ev.IntakeSubmitted(clinic_id, _when(data.get("authored"), now), client_id, intake, by or "host")


# -- reading a QuestionnaireResponse ----------------------------------------------------------
class _Fhir(ma.Schema):
    class Meta:
        unknown = EXCLUDE               # a FHIR resource carries much that the intake does not read


class _Coding(_Fhir):
    system = Text()
    code = Text()
    display = Text()


class _Identifier(_Fhir):
    value = Text()


class _Reference(_Fhir):
    reference = Text()
    identifier = fields.Nested(_Identifier)


class _TooDeep(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        raise ma.ValidationError(N_("Nested deeper than any question of the intake."))


#: The answer types an intake question takes; each is checked by the intake's own schema.
VALUES = ("valueString", "valueInteger", "valueDecimal", "valueBoolean", "valueDate", "valueDateTime")
#: How deep items may nest: our Questionnaire needs 3 (group, question, follow-up); renderers may add one.
MAX_DEPTH = 4


def _item_schema(depth: int) -> type[ma.Schema]:
    inner = fields.List(fields.Nested(_item_schema(depth - 1))) if depth else _TooDeep()
    answer = type("_Answer", (_Fhir,), {**{k: fields.Raw(allow_none=True) for k in VALUES},
                                        "valueCoding": fields.Nested(_Coding), "item": inner})
    return type("_Item", (_Fhir,), {"linkId": Text(required=True), "answer": fields.List(fields.Nested(answer)),
                                    "item": inner})


class _ResponseSchema(_Fhir):
    id = Text()
    subject = fields.Nested(_Reference)
    author = fields.Nested(_Reference)
    authored = Text()
    item = fields.List(fields.Nested(_item_schema(MAX_DEPTH)))


_response_schema = _ResponseSchema()
GOALS = "goals"
NEVER_READ = frozenset(intake_mod.THERAPIST_ONLY)     # the private reflection never leaves the therapist


def _answers(items: list) -> dict:
    """The intake payload from a response's items: answers keyed by field id, goals in order."""
    payload: dict = {}
    goals: list = []
    for link, value in _flat(items, goals):
        if link in payload:
            raise ValidationError({link: [N_("Answered more than once; this question takes one answer.")]})
        payload[link] = value
    payload[GOALS] = goals
    return payload


def _flat(items: list, goals: list | None):
    """``(linkId, value)`` for every answered question in ``items`` and below; each goals group
    instance is read into ``goals`` (None inside a goal: a goal holds no goals)."""
    for item in items:
        link = item["linkId"]
        if link in NEVER_READ:
            continue
        if link == GOALS and goals is not None:
            goal = _goal(item, len(goals))
            if goal:                        # an empty instance of the group is no goal
                goals.append(goal)
            continue
        given = item.get("answer") or []
        if len(given) > 1:
            raise ValidationError({link: [N_("Only one answer is expected.")]})
        for answer in given:
            yield link, _value(link, answer)
            yield from _flat(answer.get("item") or [], goals)
        yield from _flat(item.get("item") or [], goals)


def _goal(item: dict, index: int) -> dict:
    children = [*(item.get("item") or []), *(c for a in item.get("answer") or [] for c in a.get("item") or [])]
    goal: dict = {}
    try:
        for link, value in _flat(children, None):
            key = link.removeprefix(GOALS + ".")
            if key in goal:
                raise ValidationError({key: [N_("Answered more than once; this question takes one answer.")]})
            goal[key] = value
    except ValidationError as exc:
        raise ValidationError({GOALS: {index: exc.messages}}) from None
    return goal


def _value(link: str, answer: dict):
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDate"):
        if key in answer:
            return answer[key]
    if "valueDecimal" in answer:        # a whole number a renderer wrote as a decimal
        value = answer["valueDecimal"]
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if "valueDateTime" in answer:       # a date question answered with a dateTime: its (local) day
        value = answer["valueDateTime"]
        return value[:10] if isinstance(value, str) else value
    if answer.get("valueCoding", {}).get("code") is not None:
        return answer["valueCoding"]["code"]
    raise ValidationError({link: [N_("No answer of a type this question takes (a coding needs its code).")]})

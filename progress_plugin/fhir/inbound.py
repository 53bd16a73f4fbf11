"""Turn a FHIR resource named by a notification into one of our events (pure).

Only metadata is used: type, subject, dates, status and our own ``meta.tag`` codings for a
note, and the answers of our Questionnaire for an intake. The caller reads the resource
with ``_elements`` and passes what came back through :func:`keep`, which drops everything
else (a server may ignore ``_elements``), so note content is never held.
"""
from __future__ import annotations

from datetime import datetime

from progress_plugin.core import events as ev
from progress_plugin.core import intake as intake_mod
from progress_plugin import schemas
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.notes import REFUSED_PROTECTED, TagInput, classify_note_type
from progress_plugin.core.vocabulary import SYSTEM

NOTE_ELEMENTS = ("meta", "type", "subject", "date", "docStatus", "status", "author", "context")


def keep(resource: dict, elements=NOTE_ELEMENTS) -> dict:
    return {k: resource[k] for k in ("resourceType", "id", *elements) if k in resource}


def _ref_id(ref: dict | None, kind: str) -> str | None:
    value = (ref or {}).get("reference") or ""
    return value.split("/", 1)[1] if value.startswith(kind + "/") else None


def _when(value: str | None, fallback: datetime) -> datetime:
    if not value:
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
    kind = resource.get("type")
    kind = kind if isinstance(kind, dict) else {}
    codings = kind.get("coding") if isinstance(kind.get("coding"), list) else []
    codes = sorted({c["code"] for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"]})
    text = kind.get("text")
    return classify_note_type([*codes, text] if isinstance(text, str) else codes).kind


def document_event(clinic_id: str, doc: dict, now: datetime) -> ev.Event | None:
    """A DocumentReference as NoteSaved / NoteSigned / NoteDeleted. None when it names no patient."""
    client_id = _ref_id(doc.get("subject"), "Patient")
    if client_id is None:
        return None
    kind = note_type(doc)
    protected = classify_note_type(kind).refused == REFUSED_PROTECTED
    at = _when((doc.get("meta") or {}).get("lastUpdated"), now)
    if doc.get("status") == "entered-in-error":
        return ev.NoteDeleted(clinic_id, at, client_id, doc["id"])
    tags = tuple(TagInput(t["code"]) for t in (doc.get("meta") or {}).get("tag") or []
                 if t.get("system") == SYSTEM and t.get("code"))
    author = next((a.get("reference", "").split("/")[-1] for a in doc.get("author") or [] if a.get("reference")), "host")
    cls = ev.NoteSigned if doc.get("docStatus") == "final" else ev.NoteSaved
    return cls(clinic_id, at, client_id, doc["id"], _when(doc.get("date"), at), author or "host",
               () if protected else tags, kind)


def intake_event(clinic_id: str, qr: dict, now: datetime) -> ev.IntakeSubmitted | None:
    """A QuestionnaireResponse to our intake Questionnaire as IntakeSubmitted; None for other questionnaires."""
    if not str(qr.get("questionnaire", "")).startswith(intake_mod.SECTION_URL):
        return None
    client_id = _ref_id(qr.get("subject"), "Patient")
    if client_id is None:
        return None
    payload: dict = {"goals": []}
    for item in qr.get("item") or []:
        link = item.get("linkId")
        if link == "goals":
            goal = {}
            for sub in item.get("item") or []:
                goal[sub["linkId"].split(".", 1)[1]] = _answer(sub)
            payload["goals"].append({k: v for k, v in goal.items() if v is not None})
        elif link and link != "private_reflection":
            value = _answer(item)
            if value is not None:
                payload[link] = value
    payload["intake_id"] = qr.get("id") or "fhir"
    version = str(qr["questionnaire"]).partition("|")[2]
    if version:                         # answers to an earlier version are mapped on load
        payload["definition_version"] = version
    intake = schemas.load(schemas.intake_schema, payload)
    author = ((qr.get("author") or {}).get("reference") or "host").split("/")[-1]
    return ev.IntakeSubmitted(clinic_id, _when(qr.get("authored"), now), client_id, intake, author)


def _answer(item: dict):
    answers = item.get("answer") or []
    if not answers:
        return None
    a = answers[0]
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDate"):
        if key in a:
            return a[key]
    if "valueCoding" in a:
        return a["valueCoding"].get("code")
    return None

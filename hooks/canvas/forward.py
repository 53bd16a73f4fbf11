"""Forward one Canvas event to the progress-plugin service; turn its answer into Canvas effects.

This runs in Canvas's plugin sandbox, which has no room for the plugin's core, so the core
stays in the service. What leaves Canvas: ids, codes, dates and, for the plugin's own two
questionnaires, their answers. Never note text, never another questionnaire's answers.

The body is signed like a Medplum-style webhook: ``X-Signature`` is the hex HMAC-SHA256 of
the exact body bytes, keyed with the clinic's secret. ``sent_at`` inside the signed body
lets the service refuse an old request.
"""
import hashlib
import hmac
import json
import time

from canvas_sdk.effects import Effect
from canvas_sdk.effects.launch_modal import LaunchModalEffect
from canvas_sdk.effects.protocol_card import ProtocolCard
from canvas_sdk.utils.http import Http
from canvas_sdk.v1.data.note import Note
from logger import log

WIRE_VERSION = 1
CODE_PREFIX = "pp-"
CODE_SYSTEM = "INTERNAL"
SECRET = "PROGRESS_SIGNING_SECRET"
SERVICE_URL = "PROGRESS_SERVICE_URL"
CLINIC = "PROGRESS_CLINIC_ID"
UNAVAILABLE = "The progress panel cannot be shown right now. Please try again in a moment."


def encode(payload):
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret, body):
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(secrets, payload):
    """POST ``payload`` to the service, signed. The decoded answer, or None if it was not a 200."""
    payload["version"] = WIRE_VERSION
    payload["sent_at"] = int(time.time())
    body = encode(payload)
    headers = {"Content-Type": "application/json", "X-Signature": sign(secrets[SECRET], body)}
    base = secrets[SERVICE_URL].rstrip("/") + "/"
    try:
        response = Http(base_url=base).post("canvas/" + secrets[CLINIC], data=body, headers=headers)
    except Exception as exc:
        log.warning("progress service unreachable event=" + payload["event"] + " error=" + type(exc).__name__)
        return None
    if response.status_code != 200:
        log.warning("progress service refused event=" + payload["event"] + " status=" + str(response.status_code))
        return None
    return response.json()


def forward(secrets, payload):
    """Send the event and map the effects in the answer. No answer, no effects."""
    answer = post(secrets, payload)
    if answer is None:
        return []
    return effects_from(answer)


def effects_from(answer):
    """Canvas effects for the service's answer. Unknown entries are skipped."""
    out = []
    for item in answer.get("effects") or []:
        kind = item.get("type")
        if kind == "note_metadata":
            # The SDK keeps its note metadata class private; this is the payload it builds.
            data = {"note_id": item["note_id"], "key": item["key"], "value": item["value"]}
            out.append(Effect(type="UPSERT_NOTE_METADATA", payload=json.dumps({"data": data})))
        elif kind == "protocol_card":
            card = ProtocolCard(patient_id=item["patient_id"], key=item["key"], title=item["title"],
                                narrative=item["narrative"], status=ProtocolCard.Status(item["status"]))
            out.append(card.apply())
        elif kind == "modal":
            out.append(modal(item["title"], item["html"]))
    return out


def modal(title, html):
    return LaunchModalEffect(content=html, target=LaunchModalEffect.TargetType.NOTE, title=title).apply()


def find_note(ref):
    """The note named by ``ref`` (its id, or its database number), or None."""
    if ref is None or ref == "":
        return None
    query = Note.objects.select_related("patient", "provider", "note_type_version")
    try:
        if isinstance(ref, int) or str(ref).isdigit():
            return query.get(dbid=int(ref))
        return query.get(id=str(ref))
    except Note.DoesNotExist:
        return None


def note_facts(note):
    """What the service may know of a note: ids, date of service, note type codes. Never its text."""
    facts = {"note_id": str(note.id)}
    if note.patient is not None:
        facts["patient_id"] = str(note.patient.id)
    if note.provider is not None:
        facts["author"] = str(note.provider.id)
    if note.datetime_of_service is not None:
        facts["session_at"] = note.datetime_of_service.isoformat()
    kind = note.note_type_version
    if kind is not None:
        facts["note_type"] = {"system": str(kind.system or ""), "code": str(kind.code or ""),
                              "name": str(kind.name or "")}
    return facts


def chosen(value, options):
    """The option codes picked in a SING (an option id) or MULT (a list of choices) answer."""
    if isinstance(value, list):
        return [options[str(c.get("value"))] for c in value
                if isinstance(c, dict) and c.get("selected") and str(c.get("value")) in options]
    if value is None or str(value) not in options:
        return []
    return [options[str(value)]]


def answers(fields):
    """Answers to the plugin's own questions, by question code; empty for any other questionnaire."""
    extra = (fields.get("questionnaire") or {}).get("extra") or {}
    out = {}
    for question in extra.get("questions") or []:
        coding = question.get("coding") or {}
        code = str(coding.get("code") or "")
        if coding.get("system") != CODE_SYSTEM or not code.startswith(CODE_PREFIX):
            continue
        value = fields.get(question.get("name") or "question-" + str(question.get("pk")))
        kind = question.get("type")
        if kind == "TXT":
            if isinstance(value, str) and value.strip():
                out[code] = value.strip()
            continue
        options = {}
        for option in question.get("options") or []:
            options[str(option.get("pk"))] = str(option.get("code"))
        picked = chosen(value, options)
        if kind == "MULT" and picked:
            out[code] = picked
        elif picked:
            out[code] = picked[0]
    return out


def code_of(value):
    """A coded field of a command: either the code itself or ``{"value": code, ...}``."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        return None
    return str(value)[:64]

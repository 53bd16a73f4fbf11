"""The host install bundle in ``hooks/``: generated, never edited by hand.

- ``hooks/webhooks/manifest.json``: for hosts that send Standard Webhooks: the events, the
  URL template, the headers, the secret rules and the answers to expect.
- ``hooks/fhir/``: FHIR R4B SubscriptionTopics and rest-hook Subscriptions (backport IG,
  ``id-only``) for each event the plugin needs, and the intake Questionnaire.
"""
from __future__ import annotations

from progress_plugin.fhir import between_sessions
from progress_plugin.fhir import resources as fhir
from progress_plugin.web import webhooks as receiver
from progress_plugin.service import settings
from progress_plugin.web import signatures
from progress_plugin.core.intake import SECTION_URL

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
ENDPOINT = "https://progress-plugin.example.org/webhooks/CLINIC_ID"
TOPICS = {
    "note-changed": ("DocumentReference", "A session note was created, updated, signed or entered in error.",
                     None),
    "intake-completed": ("QuestionnaireResponse", "The 'Defining progress together' section was completed.",
                         f"QuestionnaireResponse?questionnaire={SECTION_URL}"),
}


def topic(name: str) -> dict:
    resource_type, description, _ = TOPICS[name]
    return {
        "resourceType": "SubscriptionTopic",
        "id": f"progress-{name}",
        "url": f"{fhir.BASE}/SubscriptionTopic/{name}",
        "version": "1",
        "title": f"progress-plugin: {name}",
        "status": "active",
        "description": description,
        "resourceTrigger": [{"description": description, "resource": resource_type,
                             "supportedInteraction": ["create", "update", "delete"]}],
        "canFilterBy": [{"resource": resource_type, "filterParameter": "patient"}],
    }


def subscription(name: str) -> dict:
    resource_type, description, criteria = TOPICS[name]
    sub = {
        "resourceType": "Subscription",
        "id": f"progress-{name}",
        "status": "requested",
        "reason": f"progress-plugin: {description}",
        "criteria": f"{fhir.BASE}/SubscriptionTopic/{name}",
        "channel": {
            "type": "rest-hook",
            "endpoint": ENDPOINT,
            "payload": "application/fhir+json",
            "header": ["Authorization: Bearer WEBHOOK_SECRET"],
            "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": "id-only"}]},
            "extension": [{"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": 3600},
                          {"url": f"{BACKPORT}/backport-timeout", "valueUnsignedInt": 30}],
        },
    }
    if criteria:
        sub["_criteria"] = {"extension": [{"url": f"{BACKPORT}/backport-filter-criteria", "valueString": criteria}]}
    return sub


def manifest() -> dict:
    return {
        "name": "progress-plugin",
        "url": "{service}/webhooks/{clinic}",
        "method": "POST",
        "content_type": "application/json",
        "signature": {
            "scheme": signatures.STANDARD_WEBHOOKS,
            "headers": ["webhook-id", "webhook-timestamp", "webhook-signature"],
            "secret": f"whsec_ followed by base64 of at least {settings.MIN_SECRET_BYTES} random bytes",
            "timestamp_tolerance_seconds": signatures.TOLERANCE,
            "rotation": "configure the new secret first and the old one second; both verify until the old is removed",
        },
        "body": {"type": "one of events", "timestamp": "ISO 8601", "data": "the event's payload",
                 "schema": "schemas/webhook-envelope.schema.json"},
        "events": {name: {"data_schema": f"schemas/{_schema_file(name)}"} for name in sorted(receiver.ENVELOPE_TYPES)},
        "deprecated": {
            "note.saved/note.signed: tags[].ratings": "ratings inside a tag are accepted for one more version and "
            "recorded as the note's ratings; send them as the note's own ratings: [{goal, value, rated_by, "
            "level, source}], which need no tag"},
        "never_send": ["note text", "psychotherapy note content (send only note_type; the event is refused)"],
        "responses": {
            "202": "accepted (stored; applied by the worker)", "200": "duplicate event id: already stored",
            "401": "signature, id or timestamp did not verify", "413": "body too large",
            "415": "content type is not JSON", "400": "body is not JSON", "422": "payload failed validation",
            "404": "unknown clinic",
        },
        "retry": "retry any 5xx or network failure with the same webhook-id; deduplication makes it safe",
        "routes": {
            "tag_labels": {
                "url": "{service}/clinics/{clinic}/tag-labels", "method": "POST",
                "auth": "Authorization: Bearer <a token of the clinic, viewer or above>",
                "request_schema": "schemas/tag-labels-request.schema.json",
                "purpose": "what each (code, vocabulary version) a note recorded meant then: label, description, "
                           "category, direction, audience, status; show these, never the raw code",
                "responses": {"200": "{\"labels\": [one entry per pair; found false for an unknown code or version]}",
                              "401": "no valid token", "404": "another clinic's token, or no such clinic",
                              "422": "a malformed pair, named by its field, or too many pairs"},
            },
        },
    }


def _schema_file(event_type: str) -> str:
    return {"intake.submitted": "event-intake-submitted.schema.json", "note.saved": "note-progress.schema.json",
            "note.signed": "note-progress.schema.json", "note.deleted": "event-note-deleted.schema.json",
            "client.discharged": "event-client-discharged.schema.json"}[event_type]


def artifacts() -> dict[str, dict]:
    out = {"webhooks/manifest.json": manifest(),
           "fhir/Questionnaire-defining-progress-together.json": fhir.questionnaire(),
           "fhir/Questionnaire-between-sessions.json": between_sessions.questionnaire()}
    for name in TOPICS:
        out[f"fhir/SubscriptionTopic-{name}.json"] = topic(name)
        out[f"fhir/Subscription-{name}.json"] = subscription(name)
    return out

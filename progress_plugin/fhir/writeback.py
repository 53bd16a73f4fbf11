"""Host writes: the FHIR operations an effect needs, queued in the outbox, and one queued
row applied through the FHIR host client."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from progress_plugin.core import effects as fx
from progress_plugin.fhir import between_sessions
from progress_plugin.fhir import resources as fhir
from progress_plugin.store import outbox
from progress_plugin.errors import HostConflict
from progress_plugin.fhir.client import FHIRClient, WriteResult


def operations(effect: fx.Effect, vocabularies) -> list[tuple[str, str, dict]]:
    """``(key, kind, payload)`` for each host write an effect needs. Pure."""
    c = effect.clinic_id
    if isinstance(effect, fx.RecordIntake):
        return [(f"questionnaire/{effect.intake.definition_version}", "questionnaire", {"resource": fhir.questionnaire()}),
                (effect.key(), "upsert", {"resource": fhir.questionnaire_response(
                    c, effect.client_id, effect.intake, effect.author, effect.at)})]
    if isinstance(effect, fx.UpsertGoal):
        return [(effect.key(), "upsert", {"resource": fhir.goal_resource(c, effect.client_id, effect.goal, effect.achievement)})]
    if isinstance(effect, fx.RecordRating):
        return [(effect.key(), "upsert", {"resource": fhir.observation_resource(c, effect.client_id, effect.rating)})]
    if isinstance(effect, fx.RecordCheckin):
        k, key = effect.checkin, effect.key()
        return [(f"questionnaire/between-sessions/{between_sessions.VERSION}", "questionnaire",
                 {"resource": between_sessions.questionnaire()}),
                (key + "/response", "upsert", {"resource": between_sessions.response(
                    c, effect.client_id, k, fhir.goal_identifier)}),
                *((f"{key}/rating/{r.goal_id}", "upsert", {"resource": fhir.observation_resource(c, effect.client_id, r)})
                  for r in k.ratings if r.value is not None),
                *((f"{key}/check/{item}", "upsert", {"resource": obs})
                  for item, obs in between_sessions.check_observations(c, effect.client_id, k))]
    if isinstance(effect, fx.TagNote):
        if not effect.note.tags:
            return []
        return [(effect.key(), "tags", {"type": "DocumentReference", "id": effect.note.note_id,
                                        "codings": fhir.tag_codings(vocabularies, effect.note.tags)})]
    if isinstance(effect, fx.FlagReviewDue):
        return [(effect.key(), "upsert", {"resource": fhir.review_flag(c, effect.client_id, effect.last_reviewed,
                                                                        effect.cadence)})]
    if isinstance(effect, fx.PublishVocabulary):
        v = effect.vocabulary
        return [(effect.key() + "/codesystem", "upsert", {"resource": fhir.identified(fhir.codesystem(v), c, "codesystem")}),
                (effect.key() + "/valueset", "upsert", {"resource": fhir.identified(fhir.valueset(v), c, "valueset")})]
    return []


def enqueue(conn: Connection, effects, vocabularies, now: datetime, target: str | None = None,
            skip: frozenset[str] = frozenset()) -> int:
    """Queue the host writes of ``effects`` in the outbox, in the caller's transaction, for
    ``target`` (None: the configured host; see :func:`progress_plugin.store.outbox.put`). Rows of a
    kind in ``skip`` are left out (a SMART launch that may not publish a Questionnaire).
    Returns how many new rows were written."""
    return outbox.put(conn, ((effect.clinic_id,
                              # the clinic's shared rows (an intake's Questionnaire) belong to no client
                              fx.client_of(effect) if kind != "questionnaire" else None,
                              key, kind, payload)
                             for effect in effects if effect.host_bound
                             for key, kind, payload in operations(effect, vocabularies)
                             if kind not in skip), now, target)


def apply(client: FHIRClient, kind: str, payload: dict) -> WriteResult:
    """Send one row. A 409/412 on an upsert is re-read and reapplied once, then raised."""
    if kind == "questionnaire":
        return client.ensure_questionnaire(payload["resource"])
    if kind == "tags":
        return client.add_note_tags(payload["type"], payload["id"], payload["codings"])
    if kind == "upsert":
        try:
            return client.upsert_by_identifier(payload["resource"])
        except HostConflict:
            return client.upsert_by_identifier(payload["resource"])   # re-reads by identifier first
    raise ValueError(f"unknown outbox row kind {kind!r}")

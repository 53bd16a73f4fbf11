"""Applies one outbox row through the FHIR host client."""
from __future__ import annotations

from progress_plugin.fhir_client import FHIRClient, WriteResult
from progress_plugin.errors import HostConflict


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

"""A FHIR R4 client for the host's API: :class:`FHIRClient`, the reads of
:class:`~progress_plugin.fhir.reads.FHIRReader` plus the writes.

Every write is idempotent: a conditional create or update keyed by an identifier, and an
``Idempotency-Key`` header (:func:`idempotency_key`). Note tags go through ``$meta-add``, else a
JSON Patch guarded by a ``test`` on ``/meta/versionId`` (:func:`tag_patch`); a note is never sent
back whole.

Note content is never logged and never kept: the note tagging path keeps only ``id`` and
``meta`` of what the host returns.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from progress_plugin.errors import HostConflict, ValidationError
from progress_plugin.fhir.host_errors import body_text, error_for, request_id
from progress_plugin.fhir.inbound import patient_of
from progress_plugin.fhir.reads import FHIRReader
from progress_plugin.fhir.retry import IDEMPOTENCY_HEADER

log = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"
#: Statuses that mean "this server has no $meta-add", after which the client patches.
META_ADD_UNSUPPORTED = frozenset({404, 405, 501})
#: Statuses a guarded JSON Patch fails with when the ``test`` op lost a race.
PATCH_RACE = frozenset({400, 409, 412})

# Fields that a server manages itself and that do not count when comparing content.
_SERVER_FIELDS = ("id", "meta", "text")


@dataclass(frozen=True)
class WriteResult:
    """What a write call did.

    ``action`` is one of ``created``, ``updated``, ``exists`` (conditional create found
    the resource), ``unchanged`` (nothing to write, no write sent), ``meta-add`` or
    ``patched`` (tags added). ``wrote`` is True when the host changed something.
    ``resource`` is the host's copy (for note tagging only ``id`` and ``meta``), or None when
    the host answered without a body. ``added`` lists the tag codings sent by
    :meth:`FHIRClient.add_note_tags`.
    """

    action: str
    resource: dict | None
    status_code: int | None
    added: tuple = field(default=())

    @property
    def wrote(self) -> bool:
        return self.action in ("created", "updated", "meta-add", "patched")

    @property
    def created(self) -> bool:
        return self.action == "created"


def idempotency_key(*parts: Any) -> str:
    """A stable key for a write: the same inputs always give the same key."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:48]


def _same(codings_a: dict, codings_b: dict) -> bool:
    return (codings_a.get("system"), codings_a.get("code")) == (
        codings_b.get("system"), codings_b.get("code"))


def _from_etag(resource_type: str, id: str, response: requests.Response) -> dict:
    """``id`` and ``meta.versionId`` from a body-less answer's ETag (``W/"3"``)."""
    resource = {"resourceType": resource_type, "id": id}
    match = re.fullmatch(r'(?:W/)?"([^"]+)"', response.headers.get("ETag", "").strip())
    if match:
        resource["meta"] = {"versionId": match.group(1)}
    return resource


def _compartment(resource: dict) -> dict:
    """``{"subject": "Patient/<id>"}`` when the resource is about a patient: its identifier search is
    then also constrained to that patient, as an EHR requires of an app with patient-level scopes."""
    patient = patient_of(resource)
    return {"subject": f"Patient/{patient}"} if patient else {}


def _strip(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in _SERVER_FIELDS}


def _only_meta(resource: dict | None) -> dict | None:
    if resource is None:
        return None
    return {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}


class FHIRClient(FHIRReader):
    """A client for a host's FHIR R4 REST API: the reads of :class:`FHIRReader` (the same
    parameters) and the idempotent writes below."""

    _meta_add_supported: bool | None = None

    @property
    def meta_add_supported(self) -> bool | None:
        """None until tried; False once the host showed it has no ``$meta-add``."""
        return self._meta_add_supported

    # -- writes -----------------------------------------------------------------------

    def ensure_questionnaire(self, resource: dict) -> WriteResult:
        """Publish a Questionnaire once per ``url`` + ``version`` (conditional create).

        Returns action ``created`` (201) or ``exists`` (the host already had it).
        """
        if resource.get("resourceType") != "Questionnaire":
            raise ValidationError({"resourceType": ["must be Questionnaire"]})
        url, version = resource.get("url"), resource.get("version")
        if not url or not version:
            raise ValidationError({"url": ["url and version are both required"]})
        condition = urlencode({"url": url, "version": version})
        headers = {"If-None-Exist": condition, "Prefer": "return=representation",
                   IDEMPOTENCY_HEADER: idempotency_key("Questionnaire", url, version,
                                                       _strip(resource))}
        response = self._send("POST", self.url("Questionnaire"), json_body=resource,
                              headers=headers)
        action = "created" if response.status_code == 201 else "exists"
        return WriteResult(action, self._json(response), response.status_code)

    def upsert_by_identifier(self, resource: dict) -> WriteResult:
        """Create or update a resource keyed by its first identifier (Goal, Observation).

        Looks the resource up by identifier first: if the host's copy already has the
        same content, nothing is written (action ``unchanged``). Otherwise a conditional
        update ``PUT [base]/{type}?identifier=system|value`` creates it (``created``) or
        replaces it (``updated``). Several matches raise :class:`HostConflict`.
        """
        resource_type = self._check_type(resource.get("resourceType", ""))
        identifiers = resource.get("identifier") or []
        if isinstance(identifiers, dict):          # QuestionnaireResponse has a single Identifier
            identifiers = [identifiers]
        if not identifiers or not identifiers[0].get("system") or not identifiers[0].get("value"):
            raise ValidationError({"identifier": ["an identifier with system and value is required"]})
        system, value = identifiers[0]["system"], identifiers[0]["value"]
        token = f"{system}|{value}"
        keyed = {"identifier": token, **_compartment(resource)}
        matches = []
        for found in self.search(resource_type, {**keyed, "_count": 2}):
            matches.append(found)
            if len(matches) > 1:
                raise HostConflict(f"several {resource_type} share one identifier")
        body = dict(resource)
        if matches:
            current = matches[0]
            if _strip(current) == _strip(resource):
                return WriteResult("unchanged", current, None)
            body["id"] = current["id"]
        else:
            body.pop("id", None)
        headers = {"Prefer": "return=representation",
                   IDEMPOTENCY_HEADER: idempotency_key(resource_type, system, value,
                                                       _strip(resource))}
        response = self._send("PUT", self.url(resource_type), params=keyed, json_body=body, headers=headers)
        action = "created" if response.status_code == 201 else "updated"
        return WriteResult(action, self._json(response), response.status_code)

    def add_note_tags(self, resource_type: str, id: str, codings: list[dict]) -> WriteResult:
        """Add ``meta.tag`` codings to a note (DocumentReference or Composition).

        Tries ``$meta-add`` first. A host without it (404/405/501) is remembered, and
        the tags go through a JSON Patch guarded by a ``test`` on ``/meta/versionId``,
        sending only the tags not already there. A lost race is re-read and re-patched
        once, then raises :class:`HostConflict`. The note is never sent back whole.
        The result's ``resource`` holds only ``id`` and ``meta``.
        """
        self._check_type(resource_type)
        self._check_id(id)
        wanted: list[dict] = []
        for coding in codings:
            if not coding.get("code"):
                raise ValidationError({"codings": ["every tag needs a code"]})
            tag = {k: coding[k] for k in ("system", "version", "code", "display") if k in coding}
            if not any(_same(tag, seen) for seen in wanted):
                wanted.append(tag)
        if not wanted:
            return WriteResult("unchanged", None, None)
        if self._meta_add_supported is not False:
            result = self._meta_add(resource_type, id, wanted)
            if result is not None:
                return result
        return self._patch_tags(resource_type, id, wanted)

    def _meta_add(self, resource_type: str, id: str, tags: list[dict]) -> WriteResult | None:
        parameters = {"resourceType": "Parameters",
                      "parameter": [{"name": "meta", "valueMeta": {"tag": tags}}]}
        headers = {IDEMPOTENCY_HEADER: idempotency_key(resource_type, id, "$meta-add", tags)}
        response = self._raw("POST", self.url(resource_type, id, "$meta-add"),
                             json_body=parameters, headers=headers)
        if response.status_code in META_ADD_UNSUPPORTED and self._meta_add_supported is None:
            return None
        if not response.ok:
            raise error_for(response)
        self._meta_add_supported = True
        data = self._json(response) or {}
        meta = next((p.get("valueMeta") for p in data.get("parameter") or []
                     if p.get("name") == "return"), None)
        resource = {"resourceType": resource_type, "id": id}
        if meta is not None:
            resource["meta"] = meta
        return WriteResult("meta-add", resource, response.status_code, tuple(tags))

    def _read_meta(self, resource_type: str, id: str) -> dict:
        """The note's ``id`` and ``meta`` only; anything else the host sends is dropped."""
        return _only_meta(self.read(resource_type, id, elements=["meta"])) or {}

    def _patch_tags(self, resource_type: str, id: str, wanted: list[dict]) -> WriteResult:
        for attempt in (1, 2):
            current = self._read_meta(resource_type, id)
            if self._meta_add_supported is None:
                # The note exists, so the earlier 404/405/501 was about the operation.
                self._meta_add_supported = False
            meta = current.get("meta") or {}
            present = meta.get("tag") or []
            missing = [t for t in wanted if not any(_same(t, p) for p in present)]
            if not missing:
                return WriteResult("unchanged", current, None)
            patch = tag_patch(meta, missing)
            # return=minimal: the host need not send the note back at all.
            headers = {"Content-Type": JSON_PATCH, "Prefer": "return=minimal",
                       IDEMPOTENCY_HEADER: idempotency_key(resource_type, id,
                                                           meta.get("versionId"), patch)}
            if meta.get("versionId"):
                headers["If-Match"] = f'W/"{meta["versionId"]}"'
            body = json.dumps(patch, separators=(",", ":")).encode("utf-8")
            response = self._raw("PATCH", self.url(resource_type, id), body=body,
                                 headers=headers)
            if response.ok:
                resource = _only_meta(self._json(response)) or _from_etag(
                    resource_type, id, response)
                return WriteResult("patched", resource, response.status_code, tuple(missing))
            if response.status_code not in PATCH_RACE:
                raise error_for(response)
            log.info("fhir tag patch on %s/%s lost a race (attempt %d, status %d)",
                     resource_type, id, attempt, response.status_code)
            last = response
        raise HostConflict(f"tag patch on {resource_type}/{id} lost the race twice",
                           status_code=last.status_code, body=body_text(last),
                           request_id=request_id(last))


def tag_patch(meta: dict, tags: list[dict]) -> list[dict]:
    """The JSON Patch that adds ``tags`` to a resource whose current meta is ``meta``."""
    ops: list[dict] = []
    if meta.get("versionId"):
        ops.append({"op": "test", "path": "/meta/versionId", "value": meta["versionId"]})
    if not meta:
        ops.append({"op": "add", "path": "/meta", "value": {"tag": list(tags)}})
    elif "tag" not in meta:
        ops.append({"op": "add", "path": "/meta/tag", "value": list(tags)})
    else:
        ops.extend({"op": "add", "path": "/meta/tag/-", "value": tag} for tag in tags)
    return ops

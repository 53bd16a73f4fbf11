"""``POST /webhooks/<clinic>``: verify, store in the inbox, answer fast.

Checks run in this order: body size (413, before any HMAC work), content type (415),
signature (401), JSON (400) and schema (422). A verified event is stored in the inbox,
deduplicated by its event id, and acknowledged with 2xx. An unknown event type gets 2xx
and is counted. A psychotherapy-note or SUD-counselling-note event, or a note of a type the
clinic's ``readable_note_types`` leaves out, is refused: nothing of it is read beyond its
type, nothing is stored, and one audit row records the refusal and its reason.
"""
from __future__ import annotations

import json
import logging
import re

import sqlalchemy as sa
from flask import Blueprint, Response, request
from marshmallow import fields

from progress_plugin import schemas
from progress_plugin.store import inbox
from progress_plugin.schemas import jsonio, quick
from progress_plugin.web import i18n, signatures
from progress_plugin.fhir import subscriptions as subscription
from progress_plugin.store import tables
from progress_plugin.errors import ValidationError, WebhookVerificationError
from progress_plugin.core.notes import REFUSED_NOT_READABLE, REFUSED_PROTECTED, classify_note_type
from progress_plugin.web.context import JSON_TYPES, answer, services
from progress_plugin.core.words import N_, msg

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
ENVELOPE_TYPES = schemas.EVENT_TYPES


class _ParsedEnvelope(schemas.EnvelopeSchema):
    """The envelope of a body read by :func:`jsonio.loads`, which has refused every bad text, key
    and number anywhere in it: its ``data`` need only be an object (its type's schema comes next)."""

    data = fields.Dict(required=True)


#: Quick checks (:mod:`progress_plugin.schemas.quick`): True only where the schema's load would
#: accept; where they say False the schema itself loads, and refuses with its messages.
_QUICK_ENVELOPE = quick.checker(_ParsedEnvelope())
_QUICK = {schema: quick.checker(schema) for schema in set(ENVELOPE_TYPES.values())}


def read_signed_json(limit: int, content_types: tuple[str, ...], scheme: str, secrets, source: str):
    """The receiver's checks up to a parsed body, in order: size (413, checked before reading
    when the length is declared, so before any HMAC work), content type (415), signature
    (401), JSON object (400: not UTF-8, not JSON, nested too deeply, not an object), then text
    and numbers anywhere in it (422 by path: NUL, lone surrogates, numbers out of range; see
    :mod:`progress_plugin.schemas.jsonio`). Returns ``(verified, document, None)`` or ``(None, None, response)``.
    What a person reads is said in the asked language; in the clinic's own only once the signature verified."""
    if request.content_length is not None and request.content_length > limit:
        return None, None, unverified(413, error="body too large", limit=limit, message=too_large(limit))
    if request.mimetype not in content_types:
        return None, None, unverified(415, error=f"content type must be {' or '.join(content_types)}",
                                      message=msg("Send the body as {types}.", types=" or ".join(content_types)))
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return None, None, unverified(413, error="body too large", limit=limit, message=too_large(limit))
    try:
        verified = signatures.verify(scheme, secrets, _signature_headers(), body)
    except WebhookVerificationError as exc:
        log.info("%s refused clinic=%s reason=%s", source, request.view_args.get("clinic"), exc.context.get("reason"))
        return None, None, unverified(401, error="signature verification failed", message=SIGNATURE_FAILED)
    try:
        document = jsonio.loads(body)
    except jsonio.NotJSON as exc:
        return None, None, i18n.said(400, error="body is not JSON", message=exc.paths()["_schema"][0])
    except ValidationError as exc:
        return None, None, i18n.said(422, json=exc.messages)
    if not isinstance(document, dict):
        return None, None, i18n.said(400, error="body must be a JSON object", message=N_("Send a JSON object."))
    return verified, document, None


def _signature_headers() -> dict:
    """The request's headers that a scheme reads (:data:`signatures.HEADERS`), looked up by name: a
    WSGI environ holds each header once, and walking all of it costs more than the look-ups."""
    headers = request.headers
    return {name: value for name in signatures.HEADERS if (value := headers.get(name)) is not None}


SIGNATURE_FAILED = N_("The signature did not verify: check the secret and the signature headers the sender adds.")
UNKNOWN_CLINIC = N_("No clinic with this id is set up here; check the address.")


def unverified(code: int, /, **body):
    """An answer to a request not (yet) verified: said without the clinic's language."""
    return i18n.said(code, clinic_default=False, **body)


def too_large(limit: int):
    """What a person reads when a body is over the size limit."""
    return msg("The body is larger than {limit} bytes; send less at a time.", limit=limit)


@blueprint.post("/webhooks/<clinic>")
def receive(clinic: str):
    svc = services()
    cfg = svc.config
    clinic_cfg = cfg.clinics.get(clinic) if cfg else None
    if clinic_cfg is None:
        return unverified(404, error="unknown clinic", message=UNKNOWN_CLINIC)
    verified, document, refusal = read_signed_json(cfg.max_body_bytes, JSON_TYPES, clinic_cfg.scheme,
                                                   clinic_cfg.secrets, "webhook")
    if refusal is not None:
        return refusal
    # then the schema
    now = svc.clock()
    try:
        if clinic_cfg.scheme == signatures.STANDARD_WEBHOOKS:
            return _envelope(svc, clinic, verified.event_id, document, now)
        if clinic_cfg.scheme == signatures.FHIR_SUBSCRIPTION:
            return _notification(svc, clinic, document, now)
        return _resource(svc, clinic, document, now)
    except ValidationError as exc:
        return i18n.said(422, json=exc.messages)


def _envelope(svc, clinic, event_id, document, now):
    """Checked in full first; then one write, committed with other requests' writes
    (:meth:`Store.grouped`) before the answer: a 2xx means the event is committed."""
    envelope = document if _QUICK_ENVELOPE(document) else schemas.load(schemas.envelope_schema, document)
    event_type, data = envelope["type"], dict(envelope["data"])
    schema = ENVELOPE_TYPES.get(event_type)
    if schema is None:
        svc.store.grouped(lambda conn: inbox.bump(conn, clinic, f"unknown-event:{event_type}", now))
        log.info("webhook unknown type clinic=%s event=%s type=%s", clinic, event_id, event_type)
        return i18n.said(202, status="ignored", reason=N_("unknown event type"))
    refused = _refusal(svc.config, clinic, event_type, data)
    if refused:
        svc.store.grouped(lambda conn: _refuse(svc, conn, clinic, event_id, data, now, refused))
        log.info("webhook refused note clinic=%s event=%s reason=%s", clinic, event_id, refused)
        return i18n.said(202, status="refused", reason_code=refused, reason=REASONS[refused])
    if data.setdefault("clinic_id", clinic) != clinic:
        raise ValidationError({"data": {"clinic_id": [N_("Does not match the clinic in the URL.")]}})
    if schema is schemas.note_schema:
        if "signed" in data:
            raise ValidationError({"data": {"signed": [N_("Unknown field.")]}})
        data["signed"] = event_type == "note.signed"
    if not _QUICK[schema](data):
        try:
            schemas.load(schema, data)
        except ValidationError as exc:
            raise ValidationError({"data": exc.messages}) from None
    fresh = svc.store.grouped(lambda conn: inbox.put(conn, clinic, event_id, event_type, data, now))
    log.info("webhook %s clinic=%s event=%s type=%s", "accepted" if fresh else "duplicate", clinic, event_id, event_type)
    return stored(fresh, event_id)


_EVENT_ID = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def stored(fresh: bool, event_id: str) -> Response:
    """The answer to a stored event, byte for byte what :func:`answer` (Flask's ``jsonify``, keys
    sorted, compact) makes of ``status`` and ``event_id``, written without it: the receiver's
    one answer per event has a fixed shape and one value to encode."""
    body = '{"event_id":%s,"status":"%s"}\n' % (_EVENT_ID.encode(event_id), "accepted" if fresh else "duplicate")
    return Response(body.encode(), 202 if fresh else 200, content_type="application/json")


REASONS = {REFUSED_PROTECTED: N_("protected note category"),
           REFUSED_NOT_READABLE: N_("note type not readable under this clinic's settings")}


def _refusal(config, clinic: str, event_type: str, data: dict) -> str | None:
    """Why a note event is refused unread, by :func:`~progress_plugin.core.notes.classify_note_type`;
    a deletion is refused only for a protected type (nothing of other notes is read to delete)."""
    if not event_type.startswith("note."):
        return None
    readable = config.readable_note_types(clinic) if event_type != "note.deleted" else None
    return classify_note_type(data.get("note_type"), readable).refused


def _refuse(svc, conn, clinic, event_id, data, now, reason=REFUSED_PROTECTED):
    subject = f"event:{event_id} note:{str(data.get('note_id', ''))[:128]}"[:300]
    audit = tables.audit_log
    seen = conn.execute(sa.select(audit.c.id).where(audit.c.clinic_id == clinic, audit.c.action == "note.refuse",
                                                    audit.c.subject == subject).limit(1)).first()
    if seen is None:
        svc.store.audit(conn, clinic, "webhook", "note.refuse", subject, reason, now)


def _notification(svc, clinic, document, now):
    note = subscription.parse_notification(document)
    name = f"subscription:{note.subscription}"
    accepted = 0
    with svc.store.begin() as conn:
        last = inbox.counter(conn, clinic, name)
        missed = subscription.gap(last, note)
        if missed:
            log.warning("subscription gap clinic=%s subscription=%s missed=%d-%d", clinic, note.subscription,
                        missed.start, missed.stop - 1)
            inbox.bump(conn, clinic, "subscription-gaps", now)
            inbox.put(conn, clinic, f"{note.subscription}#catch-up#{missed.start}-{missed.stop - 1}", "fhir.catch-up",
                      {"subscription": note.subscription, "from": missed.start, "to": missed.stop - 1}, now)
        for event in note.events:
            if event.focus is None:
                continue
            fresh = inbox.put(conn, clinic, f"{note.subscription}#{event.event_number}", "fhir.focus",
                              {"focus": event.focus, "version": note.versions.get(event.focus)}, now)
            accepted += fresh
        newest = max([note.events_since_start or 0] + [e.event_number for e in note.events])
        if last is None or newest > last:
            inbox.set_counter(conn, clinic, name, newest, now)
    return answer(200, status="ok", type=note.type, accepted=accepted)


def _resource(svc, clinic, document, now):
    """Medplum-style: the body is the changed resource. Only its type, id and version are kept."""
    rtype, rid = document.get("resourceType"), document.get("id")
    meta = document.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    problems = {}
    if not isinstance(rtype, str) or not rtype.isascii() or not rtype.isalpha() or len(rtype) > 64:
        problems["resourceType"] = [N_("A FHIR resource type is required.")]
    if not isinstance(rid, str) or not FHIR_ID.fullmatch(rid):
        problems["id"] = [N_("A resource id is required: 1-64 letters, digits, '-' or '.'.")]
    if meta is not None and not isinstance(meta, dict):
        problems["meta"] = [N_("Must be an object.")]
    elif version is not None and (not isinstance(version, str) or not FHIR_ID.fullmatch(version)):
        problems["meta"] = {"versionId": [N_("A version id is 1-64 letters, digits, '-' or '.'.")]}
    if problems:
        raise ValidationError(problems)
    event_id = f"{rtype}/{rid}/_history/{version or '-'}"
    fresh = svc.store.grouped(
        lambda conn: inbox.put(conn, clinic, event_id, "fhir.focus", {"focus": f"{rtype}/{rid}", "version": version}, now))
    return stored(fresh, event_id)

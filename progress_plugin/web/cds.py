"""CDS Hooks 2.0: a ``patient-view`` card in the EHR's chart.

- ``GET /cds-services``: discovery. One service, ``progress-defined-together``, on the
  ``patient-view`` hook, with prefetch templates for the Patient and the active Goals.
  Discovery holds no health information and is open, as CDS Clients expect.
- ``POST /cds-services/progress-defined-together``: one card, e.g. "Progress defined
  together: 2 goals, review due", or no card when the clinic has no intake for the patient.
  Checks, in this order: body size (413), content type (415), the EHR's JWT (401, see
  :mod:`progress_plugin.web.cds_jwt`), JSON (400), the request schema (422). A prefetch key the
  EHR left out is read from ``fhirServer`` with ``fhirAuthorization``; with neither, 412.
- ``GET /cds/progress.html?code=...``: the card's link to the shared view of the progress
  panel (:mod:`progress_plugin.web.cds_link`). The code is random, single use and short-lived; the
  first GET exchanges it for a session cookie and redirects (303) to ``/cds/progress.html``
  without it, which then shows the panel while the session lasts.

What the card shows, and why. The EHR calls only after it has authenticated the user and
decided that this user may see this patient's chart, and the goals are already in that
chart (the service writes each goal back as a FHIR ``Goal`` in the client's words). The
card therefore shows goal words only as the EHR itself sent them (its Goal resources, matched
by our identifier), never from our store; a goal the EHR did not send is "Goal 2". Beside
them it shows the client's own ratings, the reliable-change status and whether the agreed
review is due: all things the client sees in their shared view. It never shows therapist-only
tags, the private reflection, therapist ratings or therapist prompts, because the chart's
viewer need not be the treating therapist. The linked panel is the shared (client) view for
the same reason.

The link is ``type: "smart"``, with ``appContext``, when the clinic has a SMART EHR with
``cds_link = true``: the EHR launches the plugin's SMART app on the progress panel. Otherwise it
is ``type: "absolute"`` and carries a one-time code; both, and how the code becomes a session on
the shared view, are in :mod:`progress_plugin.web.cds_link`.
"""
from __future__ import annotations

import html
import logging
import re
import uuid
from itertools import islice

import marshmallow as ma
from flask import Blueprint, Response, abort, current_app, jsonify, request
from marshmallow import fields

from progress_plugin import lang
from progress_plugin.web import cds_link, i18n
from progress_plugin.schemas import jsonio
from progress_plugin.core.bidi import isolate
from progress_plugin.web.cds_link import PANEL_PATH, actor, card_link
from progress_plugin.core.handle import handle
from progress_plugin.errors import HostAuthError, HostNotFound, HostRejected, ValidationError
from progress_plugin.core.events import PanelRequested
from progress_plugin.fhir.resources import GOAL_ID_SYSTEM
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.core.progress import NOT_ENOUGH, RELIABLE_DETERIORATION
from progress_plugin.schemas.field_types import FreeJSON, Int, Text
from progress_plugin.schemas import load, validate
from progress_plugin.web.context import JSON_TYPES, answer, services
from progress_plugin.web.canvas import cadence_label
from progress_plugin.web.webhooks import too_large, unverified
from progress_plugin.core.words import ENGLISH, N_, Words, msg

try:
    from progress_plugin.web.cds_jwt import TokenRefused, Verifier
except ImportError:     # without the cds extra (PyJWT); settings then refuse a [cds] section
    pass

log = logging.getLogger(__name__)

blueprint = Blueprint("cds", __name__)

SERVICE_ID = "progress-defined-together"
HOOK = "patient-view"
TITLE = N_("Progress defined together")
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "goals": "Goal?patient={{context.patientId}}&lifecycle-status=active",
}
MAX_GOALS = 200
_FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


# -- request schema ---------------------------------------------------------------------------
class FhirAuthorizationSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    access_token = Text(required=True, validate=validate.Length(min=1, max=8192))
    token_type = Text(required=True, validate=validate.Equal("Bearer"))
    expires_in = Int(required=True, validate=validate.Range(min=0, max=2 ** 31 - 1))
    scope = Text(required=True)
    subject = Text(required=True)
    patient = Text()


class ContextSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    userId = Text(required=True, validate=validate.Regexp(
        r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"))
    patientId = Text(required=True, validate=validate.Regexp(_FHIR_ID))
    encounterId = Text(validate=validate.Regexp(_FHIR_ID))


class CdsRequestSchema(ma.Schema):
    """A CDS Hooks 2.0 request for the ``patient-view`` hook."""

    class Meta:
        unknown = ma.EXCLUDE

    hook = Text(required=True, validate=validate.Equal(HOOK))
    hookInstance = Text(required=True, validate=validate.Length(min=1, max=128))
    fhirServer = fields.Url(schemes={"http", "https"}, require_tld=False)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = fields.Nested(ContextSchema, required=True)
    prefetch = fields.Dict(keys=Text(), values=FreeJSON(allow_none=True), load_default=dict)

    @ma.validates_schema
    def _consistent(self, data, **kwargs):
        if data.get("fhirAuthorization") and not data.get("fhirServer"):
            raise ma.ValidationError(N_("Needed with fhirAuthorization."), "fhirServer")
        prefetch = data.get("prefetch") or {}
        patient_id = (data.get("context") or {}).get("patientId")
        patient = prefetch.get("patient")
        if patient is not None and (not isinstance(patient, dict) or patient.get("resourceType") != "Patient"
                                    or patient.get("id") != patient_id):
            raise ma.ValidationError({"patient": [N_("Must be the context's Patient or null.")]}, "prefetch")
        goals = prefetch.get("goals")
        if goals is not None and (not isinstance(goals, dict) or goals.get("resourceType") != "Bundle"):
            raise ma.ValidationError({"goals": [N_("Must be a Bundle or null.")]}, "prefetch")


cds_request = CdsRequestSchema()


# -- discovery --------------------------------------------------------------------------------
def _cds_config():
    config = services().config
    if config is None or config.cds is None:
        abort(404)
    return config.cds


@blueprint.get("/cds-services")
def discovery():
    _cds_config()
    words = i18n.words(clinic_default=False)        # no clinic yet: the asked language, else English
    return i18n.speaks(jsonify(services=[{
        "hook": HOOK,
        "id": SERVICE_ID,
        "title": words(TITLE),
        "description": words(N_("The client's goals in their own words, how their ratings have moved and "
                                "whether the review agreed with them is due.")),
        "prefetch": PREFETCH,
    }]), words)


# -- the service ------------------------------------------------------------------------------
def verifier() -> Verifier:
    """The app's :class:`~progress_plugin.web.cds_jwt.Verifier` (its key cache lives with the app)."""
    found = current_app.extensions.get("progress_plugin.web.cds")
    if found is None:
        svc = services()
        found = current_app.extensions["progress_plugin.web.cds"] = Verifier(svc.config.cds, svc.store)
    return found


@blueprint.post(f"/cds-services/{SERVICE_ID}")
def patient_view():
    response = _patient_view(_cds_config())
    response.headers["Cache-Control"] = "no-store"       # every answer here may hold health information
    return response


def _patient_view(cds) -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        return unverified(413, error="body too large", message=too_large(limit))
    if request.mimetype not in JSON_TYPES:
        return unverified(415, error="content type must be application/json",
                          message=msg("Send the body as {types}.", types="application/json"))
    try:
        caller = verifier().verify(request.headers.get("Authorization"), cds.public_url + request.path)
    except TokenRefused as exc:
        log.info("cds token refused reason=%s", exc.reason)
        response = unverified(401, error="Unauthorized", message=msg("JWT refused: {reason}", reason=exc.reason))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    # from here on the caller is the clinic's EHR: its answers may be in the clinic's language
    try:
        document = jsonio.loads(request.get_data())
    except jsonio.NotJSON as exc:
        return i18n.said(400, clinic_id=caller.clinic, error="body is not JSON", message=exc.paths()["_schema"][0])
    except ValidationError as exc:
        return i18n.said(422, clinic_id=caller.clinic, json=exc.messages)
    if not isinstance(document, dict):
        return i18n.said(400, clinic_id=caller.clinic, error="body must be a JSON object",
                         message=N_("Send a JSON object."))
    try:
        body = load(cds_request, document)
    except ValidationError as exc:
        return i18n.said(422, clinic_id=caller.clinic, json=exc.messages)

    client = body["context"]["patientId"]
    user = body["context"]["userId"]
    svc = services()
    state = svc.runtime.state(caller.clinic, client) if svc.store.clinic_exists(caller.clinic) else None
    if state is None or state.intake is None:       # nothing to show: read nothing from the EHR
        return _shown(svc, caller.clinic, client, user, body["hookInstance"], [])
    prefetch = body["prefetch"]
    missing = [key for key in PREFETCH if key not in prefetch]
    if missing:
        problem = _fhir_problem(body, cds.issuers[caller.iss])
        if problem:
            return i18n.said(412, clinic_id=caller.clinic, error="prefetch missing", missing=missing, message=problem)
        try:
            prefetch = {**prefetch, **_read(body, missing, cds.timeout_seconds)}
        except (HostAuthError, HostNotFound, HostRejected) as exc:
            log.info("cds fhir read failed status=%s", exc.status_code)
            return i18n.said(412, clinic_id=caller.clinic, error="prefetch missing", missing=missing,
                             message=msg("the FHIR server refused the read ({status})", status=exc.status_code))
    cards, words = [], None
    if prefetch.get("patient") is not None:
        (shown,) = handle(PanelRequested(caller.clinic, svc.clock(), client, "client"), state)
        names = chart_goals(prefetch.get("goals"), caller.clinic, client)
        words = lang.words(i18n.clinic_language(caller.clinic))     # the card: the clinic's default language
        cards.append(card(shown.progress, state.intake, names, card_link(svc, cds, caller.clinic, client, user),
                          words))
    return _shown(svc, caller.clinic, client, user, body["hookInstance"], cards, words)



def _shown(svc, clinic: str, client: str, user: str, hook_instance: str, cards: list,
           words: Words | None = None) -> Response:
    """Audit the call (ids only) and answer with ``cards``, said in ``words``."""
    with svc.store.begin() as conn:
        svc.store.audit(conn, clinic, actor(user), "cds.patient-view", f"client:{client} hook:{hook_instance[:64]}",
                        "card" if cards else "no-card", svc.clock())
    response = answer(200, cards=cards)
    if words is not None:                 # the clinic's language, whatever the request asked
        response.headers["Content-Language"] = words.code
    return response


def _fhir_problem(body: dict, issuer) -> str | None:
    server, auth = body.get("fhirServer"), body.get("fhirAuthorization")
    if not server or not auth:
        return N_("prefetch is incomplete and no fhirServer with fhirAuthorization was given")
    allowed = [s.rstrip("/") for s in issuer.fhir_servers]
    if allowed and server.rstrip("/") not in allowed:
        return N_("fhirServer is not one this issuer may name")
    return None


def _read(body: dict, missing: list[str], timeout: float) -> dict:
    """Read what the prefetch lacks from the EHR's FHIR server, with its token."""
    patient_id = body["context"]["patientId"]
    out = {}
    with FHIRClient(body["fhirServer"], body["fhirAuthorization"]["access_token"],
                    timeout=(min(3.05, timeout), timeout), retries=1, retry_after_max=2) as client:
        if "patient" in missing:
            try:
                out["patient"] = client.read("Patient", patient_id)
            except HostNotFound:
                out["patient"] = None
        if "goals" in missing:
            # the typed reference: some servers match a bare id only for the default type
            query = {"patient": f"Patient/{patient_id}", "lifecycle-status": "active"}
            found = islice(client.search("Goal", query), MAX_GOALS)
            out["goals"] = {"resourceType": "Bundle", "type": "searchset",
                            "entry": [{"resource": goal} for goal in found]}
    return out


# -- the card ---------------------------------------------------------------------------------
def chart_goals(bundle: dict | None, clinic: str, client: str) -> dict[str, str]:
    """Our goal id -> the goal's words as the EHR holds them (its ``description.text``)."""
    prefix = f"{clinic}/{client}/"
    words = {}
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        goal = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(goal, dict) or goal.get("resourceType") != "Goal":
            continue
        description = goal.get("description")
        text = description.get("text") if isinstance(description, dict) else None
        if not isinstance(text, str) or not text.strip():
            continue
        identifiers = goal.get("identifier")
        for identifier in identifiers if isinstance(identifiers, list) else []:
            if not isinstance(identifier, dict):
                continue
            value = identifier.get("value")
            if identifier.get("system") == GOAL_ID_SYSTEM and isinstance(value, str) and value.startswith(prefix):
                words[value[len(prefix):]] = text
    return words


def card(progress, intake, names: dict[str, str], link: dict | None, words: Words = ENGLISH) -> dict:
    """The one card, said in ``words``: counts in the summary, the goals and the review in markdown.
    ``names`` are the goals' words as the chart holds them, shown as they are. ``link`` is
    :func:`~progress_plugin.web.cds_link.card_link`'s (``url``, ``type``, maybe ``appContext``)."""
    goals = [g for g in progress.goals if g.replaced_by is None]     # a redefined goal's line has ended
    review = progress.review
    due = review is not None and review.due
    if due:
        summary = words.plural("Progress defined together: {n} goal, review due",
                               "Progress defined together: {n} goals, review due", len(goals))
    else:
        summary = words.plural("Progress defined together: {n} goal", "Progress defined together: {n} goals",
                               len(goals))
    lines = [words(N_("Goals agreed with the client on {date}, with the client's own ratings (0 to 10):"),
                   date=words.date(intake.agreed_on)) if intake.is_agreed
             else words(N_("Goals not yet agreed (a draft), with the client's own ratings (0 to 10):")), ""]
    for g in goals:
        name = _md(names[g.goal_id]) if g.goal_id in names else words(N_("Goal {rank}"), rank=g.rank)
        change = g.change
        if change.status == NOT_ENOUGH:
            rated = words(N_("{start} at the start; {status}"), start=g.baseline, status=words.say(change.status))
        else:
            rated = words(N_("{first} at the start, {last} now: {status}"), first=change.first, last=change.last,
                          status=words.say(change.status))
        lines.append(f"{g.rank}. **{name}**: {rated}")
    if not goals:
        lines.append(words(N_("No goals are recorded yet.")))
    if review is not None:
        cadence = cadence_label(review.cadence, words)
        lines += ["", words(N_("Review (agreed: {cadence}): **due**, {n} session(s) since the last one."),
                            cadence=cadence, n=words.number(review.sessions_since)) if due
                  else words(N_("Review (agreed: {cadence}): next {when}."), cadence=cadence,
                             when=words.say(review.next_due))]
    warn = due or any(g.change.status == RELIABLE_DETERIORATION for g in goals)
    result = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:140],
        "indicator": "warning" if warn else "info",
        "detail": "\n".join(lines),
        "source": {"label": words(TITLE)},
    }
    if link:
        label = N_("Open the progress view") if link["type"] == "smart" else N_("Open the shared progress view")
        result["links"] = [{"label": words(label), **link}]
    return result


def _md(text: str) -> str:
    """``text`` as literal markdown on one line (no markup, links or HTML survive), bidi-isolated."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(isolate(" ".join(text.split())[:300]), quote=False))


# -- the card's link --------------------------------------------------------------------------
@blueprint.get(PANEL_PATH)
def shared_panel():
    """The shared view the card links to (see :mod:`progress_plugin.web.cds_link`)."""
    cds = _cds_config()
    if not cds.link_secret:
        abort(404)
    return cds_link.shared_panel(services(), cds)

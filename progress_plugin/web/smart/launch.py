"""SMART App Launch 2.x, the app's side: the EHR launch, the standalone launch, the callback and
signing out. The OAuth protocol is Authlib's (:mod:`.oauth`); this module holds the flow.

- ``GET /smart/launch?iss=…&launch=…`` (EHR launch): ``iss`` must be on an EHR's allowlist
  exactly. Discovery (:mod:`progress_plugin.fhir.smart_discovery`), then a 302 to the EHR's
  authorize endpoint: code flow, PKCE S256, a random ``state``, ``aud`` = ``iss``, the ``launch``
  passed through, the scopes of :mod:`progress_plugin.fhir.smart_scopes`, and a ``nonce`` with
  ``openid``. The store keeps the state's SHA-256 with the sealed verifier and nonce, good once
  and for ``request_minutes``.
- ``GET /smart/login?ehr=<id>[&page=intake|tags|panel]`` (standalone provider launch), only for
  an EHR with ``standalone = true``: the same, with ``launch/patient`` instead of ``launch``.
- ``GET /smart/callback?code=…&state=…``: the state is taken (once), the code exchanged (the
  configured client authentication and the PKCE verifier), the answer checked: a patient, the
  id_token verified when sent, and the note of ``fhirContext`` read with the token to be sure it
  is that patient's. Then a session, its cookie, and a 303 to the app's page: no code, state or
  token in any URL after this. Every refusal is a page (:mod:`.refusals`), with no session.
- ``POST /smart/logout``: ends the session (with its form token).

Logs and audit rows carry ids and outcome codes only: never a token, code, state or launch value.
"""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import Blueprint, g, redirect, request

from progress_plugin.errors import HostAPIError, HostAuthError
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.fhir.smart_discovery import DiscoveryFailed, discover
from progress_plugin.fhir.smart_scopes import requested
from progress_plugin.service.smart_vault import Unreadable
from progress_plugin.store import smart as rows
from progress_plugin.web.context import services
from progress_plugin.web.smart import oauth, refusals
from progress_plugin.web.smart import session as sessions
from progress_plugin.web.smart.session import smart, vault

log = logging.getLogger(__name__)

blueprint = Blueprint("smart_launch", __name__, template_folder="templates")

PAGES = ("intake", "tags", "panel")
MAX_PARAM = 2000


@blueprint.record_once
def _install(state) -> None:
    app = state.app
    app.before_request(sessions.load)
    app.register_error_handler(HostAuthError, sessions.refused)


@blueprint.after_request
def _headers(response):
    if "Content-Security-Policy" not in response.headers:
        refusals.private(response, g.get("smart_ehr"))
    return response


def _target(page: str | None) -> str | None:
    return page if page in PAGES else None


def _begin(ehr, iss: str, launch: str | None, page: str | None):
    """Start an authorization with ``ehr`` for ``iss``: remember it, send the browser to the EHR."""
    svc = services()
    g.smart_ehr = ehr
    try:
        conf = discover(iss)
    except DiscoveryFailed as exc:
        log.warning("smart discovery failed ehr=%s reason=%s", ehr.id, exc.context.get("reason"))
        return refusals.page(refusals.EHR_DOWN, ehr, ehr.clinic)
    scopes = requested(ehr.scopes, ehr.scope_version, standalone=launch is None)
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    nonce = secrets.token_urlsafe(24) if "openid" in scopes else None
    rows.put_request(svc.store, state, ehr.id, vault().seal({"v": verifier, "n": nonce, "iss": iss}),
                     _target(page), svc.clock(), timedelta(minutes=smart().request_minutes))
    url = oauth.authorize_url(ehr, conf, sessions.redirect_uri(), iss=iss, state=state, verifier=verifier,
                              scopes=scopes, launch=launch, nonce=nonce)
    log.info("smart authorization started ehr=%s kind=%s", ehr.id, "ehr" if launch else "standalone")
    return refusals.private(redirect(url, 302), ehr)


@blueprint.get("/smart/launch")
def ehr_launch():
    if smart() is None:
        return refusals.page(refusals.NOT_SET_UP)
    iss, launch = request.args.get("iss", ""), request.args.get("launch", "")
    if not iss or not launch or len(iss) > MAX_PARAM or len(launch) > MAX_PARAM:
        log.info("smart launch refused reason=bad-launch")
        return refusals.page(refusals.BAD_LAUNCH)
    ehr = smart().ehr_for(iss)
    if ehr is None:
        log.info("smart launch refused reason=iss-not-allowed")
        return refusals.page(refusals.NOT_ALLOWED)
    return _begin(ehr, iss.rstrip("/"), launch, request.args.get("page"))


@blueprint.get("/smart/login")
def standalone_login():
    if smart() is None:
        return refusals.page(refusals.NOT_SET_UP)
    ehr = smart().ehrs.get(request.args.get("ehr", ""))
    if ehr is None or not ehr.standalone:
        log.info("smart login refused reason=no-standalone")
        return refusals.page(refusals.NO_STANDALONE, ehr)
    return _begin(ehr, ehr.iss[0], None, request.args.get("page"))


@blueprint.get("/smart/callback")
def callback():
    if smart() is None:
        return refusals.page(refusals.NOT_SET_UP)
    svc = services()
    now = svc.clock()
    taken, outcome = rows.take_request(svc.store, request.args.get("state"), now)
    ehr = smart().ehrs.get(taken.ehr_id) if taken is not None else None
    if taken is None or ehr is None:
        log.info("smart callback refused reason=state-unknown")
        return refusals.page(refusals.STATE_UNKNOWN)
    g.smart_ehr = ehr

    def refuse(what):
        rows.audit(svc.store, ehr.clinic, f"smart:{ehr.id}", "smart.launch", f"ehr:{ehr.id}",
                   f"refused:{what[1]}", now)
        log.info("smart callback refused ehr=%s reason=%s", ehr.id, what[1])
        return refusals.page(what, ehr, ehr.clinic)

    if outcome != "ok":
        return refuse(refusals.STATE_USED if outcome == "used" else refusals.STATE_EXPIRED)
    if request.args.get("error"):
        return refuse(refusals.DENIED if request.args["error"] == "access_denied" else refusals.TOKEN_REFUSED)
    code = request.args.get("code", "")
    if not code or len(code) > MAX_PARAM:
        return refuse(refusals.BAD_LAUNCH)
    try:
        secret = vault().open(taken.secret)
        conf = discover(secret["iss"])
        token = oauth.read_token(oauth.exchange(ehr, conf, sessions.redirect_uri(), code, secret["v"]))
        claims = (oauth.id_token_claims(token["id_token"], conf, ehr.client_id, secret.get("n"),
                                        token["access_token"]) if token.get("id_token") else {})
    except oauth.TokenRefused as exc:
        log.info("smart token request refused ehr=%s error=%s", ehr.id, exc.error)
        return refuse(refusals.TOKEN_REFUSED)
    except (oauth.BadToken, Unreadable) as exc:
        log.warning("smart token response not usable ehr=%s reason=%s", ehr.id, getattr(exc, "reason", "sealed"))
        return refuse(refusals.BAD_TOKEN)
    except (HostAPIError, DiscoveryFailed):
        return refuse(refusals.EHR_DOWN)
    context = _context(token, claims, secret["iss"])
    if context["patient"] is None:
        return refuse(refusals.NO_PATIENT)
    wrong = _note_of_another_patient(secret["iss"], token["access_token"], context)
    if wrong:
        return refuse(wrong)
    sealed = vault().seal({"access_token": token["access_token"], "refresh_token": token.get("refresh_token"),
                           "id_token": token.get("id_token")})
    minutes = smart().session_minutes
    session_id = rows.start_session(
        svc.store, ehr_id=ehr.id, clinic_id=ehr.clinic, context=context, scopes=token.get("scope") or "",
        sealed=sealed, token_expires_at=sessions.expiry(now, token.get("expires_in")), now=now,
        lifetime=timedelta(minutes=minutes), actor=context["fhirUser"] or f"smart:{ehr.id}",
        subject=f"patient:{context['patient']}")
    log.info("smart launch ok ehr=%s", ehr.id)
    response = refusals.private(redirect((request.script_root or "") + sessions.APP_PREFIX + (taken.target or ""),
                                         303), ehr)
    sessions.set_cookie(response, session_id, ehr, minutes * 60)
    return response


def _context(token: dict, claims: dict, iss: str) -> dict:
    """The launch context kept with the session: ids only."""
    user = oauth.reference(claims.get("fhirUser")) or oauth.reference(token.get("fhirUser"))
    notes = [ref for ref in (oauth.reference(item.get("reference")) for item in token.get("fhirContext") or [])
             if ref]
    return {"patient": token.get("patient"), "encounter": token.get("encounter"), "fhirUser": user,
            "fhirContext": notes, "iss": iss, "need_patient_banner": token.get("need_patient_banner", True),
            "intent": token.get("intent"), "tenant": token.get("tenant")}


def _note_of_another_patient(iss: str, access_token: str, context: dict):
    """The refusal when a note of ``fhirContext`` is not the token's patient's, else None. The note
    is read with the token and only its ``subject`` looked at; an EHR that enforces the patient
    compartment answers 403 (or 404) for another patient's note, which is the same refusal."""
    notes = [ref for ref in context["fhirContext"] if ref.startswith("DocumentReference/")]
    if not notes:
        return None
    try:
        with FHIRClient(iss, token=access_token, retries=1) as fhir:
            for ref in notes:
                note = fhir.read("DocumentReference", ref.split("/", 1)[1], elements=["subject"]) or {}
                if oauth.reference((note.get("subject") or {}).get("reference")) != f"Patient/{context['patient']}":
                    return refusals.WRONG_PATIENT
    except HostAPIError as exc:
        log.info("smart note check failed status=%s", exc.status_code)
        # 403/404: the EHR will not show that note under this patient's token (outside its compartment)
        return refusals.WRONG_PATIENT if exc.status_code in (403, 404) else refusals.BAD_TOKEN
    return None


@blueprint.post("/smart/logout")
def logout():
    if smart() is None:
        return refusals.page(refusals.NOT_SET_UP)
    svc = services()
    found = rows.find_session(svc.store, request.cookies.get(sessions.COOKIE), svc.clock())
    ehr = smart().ehrs.get(found.ehr_id) if found is not None else None
    if found is not None and not sessions.form_token_ok(request.form.get("form_token")):
        return refusals.page(refusals.BAD_FORM, ehr, found.clinic_id)
    if found is not None:
        rows.end_session(svc.store, found.key, svc.clock(), sessions.actor(found), "signed-out")
        log.info("smart signed out ehr=%s", found.ehr_id)
    response = refusals.page(refusals.SIGNED_OUT, ehr, found.clinic_id if found else None)
    sessions.clear_cookie(response, ehr)
    return response

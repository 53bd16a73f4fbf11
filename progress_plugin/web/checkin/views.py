"""The client's check-in: open a link, rate the goals and the session, send it once, see your progress.

- ``GET /c/<token>``: exchanges a live link's token for a session cookie and redirects (303) to
  ``/checkin/``, so the token never stays in the address bar (or in a bookmark, or the history's
  current page). A token that does not work is a 404, an expired or revoked link a 410; each
  refusal counts toward the address's ``open_limit``.
- ``GET /checkin/``: the form. ``POST /checkin/``: the check-in, sent as a
  :class:`~progress_plugin.core.events.CheckinSubmitted` event through the runtime; once per link
  per day (:func:`progress_plugin.store.checkins.checkin_id`). A second one changes nothing and
  the page says it was received.
- ``GET /checkin/thanks``; ``GET /checkin/progress``: the progress panel as the client sees it,
  for the session's client only.
"""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import g, make_response, redirect, render_template, request
from markupsafe import Markup
from marshmallow import fields, validate

from progress_plugin.core.checkin import SCALE_ENDS, SESSION_CHECK, SESSION_CHECK_ITEMS, Checkin, SessionCheck
from progress_plugin.core.events import CheckinSubmitted, PanelRequested
from progress_plugin.core.handle import handle
from progress_plugin.core.notes import Rating
from progress_plugin.core.words import N_
from progress_plugin.fhir import writeback
from progress_plugin.service.panel_cache import panels
from progress_plugin.store import checkins
from progress_plugin.view import panel
from progress_plugin.web import i18n
from progress_plugin.web.checkin.pages import (BAD_FORM, ENDED, NO_SESSION, NOT_A_LINK, TOO_MANY, UNREADABLE,
                                               blueprint, clear_cookie, config, current, form_token,
                                               form_token_ok, limiter, lifetime, link, problem, render,
                                               set_cookie, COOKIE)
from progress_plugin.web.context import services
from progress_plugin.web.html import kept

log = logging.getLogger(__name__)

#: How the page names a goal that is not the client's own.
WHOSE = {"carer": N_("A hope someone close to you holds"), "therapist": N_("A hope your therapist holds")}
SCALE = tuple(range(11))
#: The progress page: the panel's own inline styles and tooltip script, and the page's stylesheet.
PANEL_CSP = (f"default-src 'none'; style-src 'self' 'unsafe-inline'; script-src '{panel.TOOLTIP_JS_HASH}'; "
             "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@blueprint.errorhandler(429)
def _too_many(exc):
    page, status = problem(429, TOO_MANY)
    return page, status, {"Retry-After": "60"}


@blueprint.get("/c/<token>")
def open_link(token):
    """Exchange the link for a session; the token is never echoed, logged or kept."""
    svc = services()
    with limiter().limit(config().open_limit, deduct_when=lambda response: response.status_code >= 400):
        checkins.end_session(svc.store, request.cookies.get(COOKIE))     # one session per browser
        session_id, found, reason = checkins.open_session(svc.store, token, svc.clock(), lifetime())
        if session_id is None:
            log.warning("check-in link refused reason=%s link=%s", reason, found.link_id if found else "-")
            if found is not None:
                g.pp_clinic = found.clinic_id
            response = make_response(*(problem(410, ENDED) if found is not None else problem(404, NOT_A_LINK)))
            clear_cookie(response)
            return response
    log.info("check-in link opened clinic=%s link=%s", found.clinic_id, found.link_id)
    response = redirect(link("checkin.form"), 303)
    seconds = int(min(lifetime().total_seconds(), (found.expires_at - svc.clock()).total_seconds()))
    set_cookie(response, session_id, max(seconds, 1))
    return response


def _state(session):
    return services().runtime.state(session.clinic_id, session.client_id)


def _goals(intake) -> list:
    if intake is None:
        return []
    return sorted((goal for goal in intake.goals if goal.status == "active"), key=lambda goal: goal.rank)


def _session_asked(has_notes: bool) -> bool:
    """The session check is asked once the client has had a session."""
    return has_notes


def _form_schema(goals, asked: bool) -> ma.Schema:
    """The form as sent: one optional 0-10 per goal and per session item, the toggle, the token."""
    scale = {"allow_none": True, "load_default": None, "validate": validate.Range(0, 10)}
    spec: dict = {f"goal-{goal.id}": fields.Integer(**scale) for goal in goals}
    if asked:
        spec.update({f"check-{item}": fields.Integer(**scale) for item in SESSION_CHECK_ITEMS})
    spec["revisit"] = fields.Boolean(load_default=False)
    spec["form_token"] = fields.String(required=True)
    schema = ma.Schema.from_dict(spec, name="CheckinForm")
    return schema(unknown=ma.RAISE)


def _sent(form) -> dict:
    """The form's fields, a skipped scale (an empty value) as None, one value each."""
    out = {}
    for key in form:
        values = form.getlist(key)
        if len(values) != 1:
            raise ma.ValidationError({key: ["Send one value."]})
        out[key] = None if values[0] == "" else values[0]
    return out


@blueprint.get("/checkin/")
def form():
    session = current()
    if session is None:
        return problem(403, NO_SESSION)
    intake, has_notes = services().store.intake_and_notes(session.clinic_id, session.client_id)
    goals, asked, words = _goals(intake), _session_asked(has_notes), i18n.words()
    # the scales are kept by all they are drawn from: the language, each goal's id, words and whose, the asking
    key = (words.code, tuple((goal.id, goal.words, goal.whose) for goal in goals), asked)
    scales = kept("pp_checkin_scales", key, lambda: Markup(render_template(
        "checkin/_form_scales.html", w=words, lang_code=words.code, goals=goals, asked=asked, items=SESSION_CHECK,
        scale=SCALE, ends=SCALE_ENDS, whose=WHOSE)))
    return render("form.html", scales=scales, form_token=form_token())


@blueprint.post("/checkin/")
def submit():
    svc = services()
    with limiter().limit(config().form_limit):
        session = current()
        if session is None:
            return problem(403, NO_SESSION)
        if not form_token_ok(request.form.get("form_token")):
            log.warning("check-in form refused reason=form-token link=%s", session.link_id)
            return problem(400, BAD_FORM)
        state = _state(session)
        goals, asked = _goals(state.intake), _session_asked(bool(state.notes))
        try:
            data = _form_schema(goals, asked).load(_sent(request.form))
        except ma.ValidationError as exc:
            log.warning("check-in form refused reason=invalid fields=%s link=%s",
                        ",".join(sorted(map(str, exc.messages))), session.link_id)
            return problem(422, UNREADABLE)
        now = svc.clock()
        checkin_id = checkins.checkin_id(session.link_id, now)
        with svc.store.begin() as conn:
            again = checkins.was_submitted(conn, session.clinic_id, checkin_id)
            if not again:
                checkins.mark_submitted(svc.store, conn, session, checkin_id, now)
                effects = svc.runtime.dispatch(_event(session, checkin_id, now, goals, asked, data),
                                               actor=f"checkin-link:{session.link_id}", conn=conn)
                if svc.config is not None and svc.config.host_url:   # the write-back, in the same transaction
                    writeback.enqueue(conn, effects, {}, now)
    log.info("check-in %s clinic=%s link=%s", "again" if again else "received", session.clinic_id, session.link_id)
    return redirect(link("checkin.thanks", sent="again" if again else "new"), 303)


def _event(session, checkin_id: str, now, goals, asked: bool, data: dict) -> CheckinSubmitted:
    ratings = tuple(Rating(goal.id, data[f"goal-{goal.id}"], "client", None, checkin_id, now, "self")
                    for goal in goals if data.get(f"goal-{goal.id}") is not None)
    check = SessionCheck(**{item: data.get(f"check-{item}") for item in SESSION_CHECK_ITEMS}) if asked else None
    checkin = Checkin(checkin_id, now, ratings, check if check is not None and check.answered else None,
                      bool(data["revisit"]))
    return CheckinSubmitted(session.clinic_id, now, session.client_id, checkin)


@blueprint.get("/checkin/thanks")
def thanks():
    session = current()
    if session is None:
        return problem(403, NO_SESSION)
    return render("thanks.html", page="checkin.thanks", again=request.args.get("sent") == "again")


@blueprint.get("/checkin/progress")
def progress():
    """The client's progress as the client's view shows it: this session's client, no one else."""
    session = current()
    if session is None:
        return problem(403, NO_SESSION)
    svc = services()
    words = i18n.words(session.clinic_id)
    g.checkin_csp = PANEL_CSP
    key = panels.key(svc.store, session.clinic_id, session.client_id, svc.clock(), "checkin", "client", words.code)

    def draw() -> str:
        state = _state(session)
        (shown,) = handle(PanelRequested(session.clinic_id, svc.clock(), session.client_id, "client"), state)
        return panel.render_html(shown.progress, state.intake, "client", document=False, words=words)

    # kept by the client's state token, the day and the language, as the host's panel is
    return render("progress.html", page="checkin.progress", panel_html=panels.render(key, draw))

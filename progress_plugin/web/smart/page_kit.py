"""The SMART app's blueprint and what its pages share: the launch, the headers, the form tokens,
rendering, the writes not yet in the EHR, and the pages that say no.

- **Launch.** Every page under ``/smart/app/`` runs in a launch the launch side found
  (:func:`progress_plugin.web.smart.context.current`). Its patient, encounter and note come from
  the launch only: no page takes a patient, encounter or note id from its URL or a form.
  Should a request come without one, the page says to open the app from the chart again (401).
- **Headers.** A strict CSP (no script but the panel's own; the one same-origin stylesheet) whose
  ``frame-ancestors`` are the launch's EHR's ``frame_ancestors`` (``'self'`` when none are
  configured), ``nosniff``, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``
  (:func:`progress_plugin.web.html.protect`). No ``X-Frame-Options``: the EHR frames the app.
- **Forms.** Every POST carries a Flask-WTF form token (:mod:`progress_plugin.web.form_tokens`)
  kept in the cookie ``pp_smart_form``, limited to ``/smart/app/``. In an EHR that shows the app
  in its frame (``embedded``, another site) it is ``SameSite=None; Secure; Partitioned``, else
  ``SameSite=Lax`` (Secure on https). A form without its token is a 400 and changes nothing.
- **Writes.** Each page load first sends the launch's EHR the writes still waiting for it
  (:func:`progress_plugin.service.smart_writes.send`); every page lists those the EHR refused, with
  its reason, and a "Try again" button.

The stylesheet is served at ``/smart/static/smart.css``, outside ``/smart/app/``, so the launch
side's pages (which extend ``smart/base.html`` and may have no launch) can use it too.
"""
from __future__ import annotations

import logging

from flask import Blueprint, g, render_template, request
from flask_wtf.csrf import CSRFError

from progress_plugin.core.words import N_
from progress_plugin.service import smart_writes
from progress_plugin.view.panel_assets import TOOLTIP_JS_HASH
from progress_plugin.web import form_tokens, i18n
from progress_plugin.web.context import services
from progress_plugin.web.html import language_switch, link, protect

log = logging.getLogger(__name__)

blueprint = Blueprint("smart_app", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/smart/static")

PREFIX = "/smart/app/"
FORM_COOKIE = "pp_smart_form"
STATIC = "smart_app.static"
#: ``styles``/``script``: the panel's own inline styles and tooltip script; ``ancestors``: who may frame the page.
CSP = ("default-src 'none'; style-src 'self'{styles}; {script}img-src 'self' data:; form-action 'self'; "
       "frame-ancestors {ancestors}; base-uri 'none'")


def launch():
    """The request's launch, or None (the launch side lets no request without one through)."""
    return g.get("smart_launch")


def ehr():
    """The launch's EHR as configured (``[[smart.ehrs]]``), or None."""
    found, config = launch(), services().config
    smart = config.smart if config is not None else None
    return smart.ehrs.get(found.ehr_id) if found is not None and smart is not None else None


def embedded() -> bool:
    found = ehr()
    return bool(found and found.embedded)


def csp(panel: bool = False) -> str:
    found = ehr()
    ancestors = " ".join(found.frame_ancestors) if found is not None and found.frame_ancestors else "'self'"
    return CSP.format(styles=" 'unsafe-inline'" if panel else "",
                      script=f"script-src '{TOOLTIP_JS_HASH}'; " if panel else "", ancestors=ancestors)


@blueprint.record_once
def _install(state) -> None:
    app = state.app
    svc = app.extensions["progress_plugin"]
    smart = svc.config.smart if svc.config is not None else None
    scope = form_tokens.CookieScope(PREFIX, FORM_COOKIE, lambda: "None" if embedded() else "Lax",
                                    lambda: embedded() or request.is_secure, embedded)
    form_tokens.install(app, svc.store, svc.clock(), scope, (smart.session_minutes if smart else 480) * 60)


@blueprint.before_request
def _launched():
    if not request.path.startswith(PREFIX):
        return None                        # the stylesheet
    found = launch()
    if found is None:
        log.warning("smart page without a launch path=%s", request.url_rule.rule if request.url_rule else "-")
        return problem(401, NO_LAUNCH)
    g.pp_clinic = found.clinic_id          # the clinic's default language, after ?lang and Accept-Language
    form_tokens.check()
    return None


@blueprint.after_request
def _headers(response):
    return protect(response, g.get("smart_csp") or csp(), STATIC, deny_framing=False)


@blueprint.errorhandler(CSRFError)
def _bad_form(exc):
    log.warning("smart form refused reason=form-token path=%s", request.url_rule.rule if request.url_rule else "-")
    return problem(400, BAD_FORM)


# -- rendering -----------------------------------------------------------------------------------
def render(template: str, status: int = 200, page: str | None = None, **context):
    """Render ``smart/<template>`` with what every page shows: the language switch (to ``page``, by
    default this page when it was a GET, else home), the words, and the writes still waiting."""
    words = i18n.words()
    endpoint = page or (request.endpoint if request.method == "GET" and request.endpoint else "smart_app.home")
    found = launch()
    if "unsent" not in context:            # a page that says no passes none: nothing to read
        context["unsent"] = smart_writes.unsent(services().store, found.target, found.clinic_id) if found else []
    return render_template(f"smart/{template}", w=words, lang_code=words.code, lang_dir=words.direction,
                           switch=language_switch(endpoint, {}, words), link=link, launch=found,
                           what_names=WHAT, **context), status


def sync(found, *, again: bool = False) -> smart_writes.Sent:
    """Send the launch's EHR what is waiting for it (``again``: the dead rows too)."""
    svc = services()
    if again:
        smart_writes.retry(svc.store, found.target, found.clinic_id, svc.clock())
    max_attempts = svc.config.max_attempts if svc.config is not None else 12
    return smart_writes.send(svc.store, found.client, found.target, svc.clock, max_attempts=max_attempts)


#: How a page names what a waiting write holds, by the resource type it writes.
WHAT = {
    "Questionnaire": N_("The intake form's questions"),
    "QuestionnaireResponse": N_("The intake answers"),
    "Goal": N_("A goal"),
    "Observation": N_("A rating"),
    "DocumentReference": N_("The note's progress tags"),
    "Flag": N_("The reminder to look at progress again"),
}


# -- pages that say no ---------------------------------------------------------------------------
NO_LAUNCH = (N_("Open this app from the chart"), N_("This page opens from a patient's chart in your notes "
                                                     "system. Nothing was changed. Open the chart and start the "
                                                     "app again."))
BAD_FORM = (N_("This form had expired"), N_("Nothing was changed. The page was open too long, or was sent from "
                                            "somewhere else. Go back, reload the page and try again."))


def problem(status: int, what: tuple[str, str]):
    """A short page saying what happened and what to do."""
    title, text = what
    return render("problem.html", status, page="smart_app.home", title=title, text=text, unsent=[])

"""The SMART app's home, its progress panel, and "Try again" for the writes the EHR refused.

- ``GET /smart/app/``: what this launch can do for its patient: the intake, the note's tags and
  ratings (when the launch has a note or an encounter), the panel.
- ``GET /smart/app/panel``: the progress panel for the launch's patient, as the therapist sees it
  (:func:`progress_plugin.view.panel.render_html`, as ``panel_routes`` renders it), kept by the
  process as ``panel_routes`` keeps it (:mod:`progress_plugin.service.panel_cache`: by the
  client's state token, the day and the language), so a reload draws nothing.
- ``POST /smart/app/retry``: sends the launch's EHR every write still waiting for it, the refused
  ones included, then shows the page it came from (``page``: one of the app's pages).
"""
from __future__ import annotations

import logging

from flask import g, request

from progress_plugin.core.events import PanelRequested
from progress_plugin.core.handle import handle
from progress_plugin.core.words import N_
from progress_plugin.service.panel_cache import panels
from progress_plugin.view import panel
from progress_plugin.web import i18n
from progress_plugin.web.context import services
from progress_plugin.web.smart.context import current
from progress_plugin.web.smart.page_kit import blueprint, csp, render, sync

log = logging.getLogger(__name__)

#: The pages "Try again" may come back to (a name, never a URL from the form).
PAGES = {"home": "smart_app.home", "intake": "smart_app.intake", "tags": "smart_app.tags",
         "panel": "smart_app.panel"}


@blueprint.get("/smart/app/")
def home():
    found = current()
    sent = sync(found)
    intake, _ = services().store.intake_and_notes(found.clinic_id, found.patient)
    goals = [g_ for g_ in (intake.goals if intake else ()) if g_.status == "active"]
    return render("home.html", sent=sent, intake=intake, goals=sorted(goals, key=lambda x: x.rank),
                  has_note=found.note is not None or found.encounter is not None)


@blueprint.get("/smart/app/panel", endpoint="panel")
def panel_page():
    found = current()
    sent = sync(found)
    svc = services()
    words = i18n.words(found.clinic_id)
    g.smart_csp = csp(panel=True)
    key = panels.key(svc.store, found.clinic_id, found.patient, svc.clock(), "smart", "therapist", words.code, False)

    def draw() -> tuple[str, bool]:
        state = svc.runtime.state(found.clinic_id, found.patient)
        (shown,) = handle(PanelRequested(found.clinic_id, svc.clock(), found.patient, "therapist"), state)
        html = panel.render_html(shown.progress, state.intake, "therapist", document=False, words=words)
        return html, state.intake is not None or bool(state.notes)

    html, has_data = panels.render(key, draw)      # kept by the client's state token, as the host's panel is
    return render("panel.html", sent=sent, panel_html=html, has_data=has_data)


@blueprint.post("/smart/app/retry")
def retry():
    found = current()
    sent = sync(found, again=True)
    back = PAGES.get(request.form.get("page", ""), "smart_app.home")
    log.info("smart retry clinic=%s target=%s done=%d refused=%d", found.clinic_id, found.target, sent.done,
             len(sent.refused))
    message = N_("Sent to your notes system.") if not sent.refused and not sent.later else None
    return render("retried.html", sent=sent, back=back, message=message)

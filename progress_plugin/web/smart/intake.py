"""The intake section "Defining progress together" for the launch's patient, inside the EHR.

- ``GET /smart/app/intake``: the section as the intake's definition has it
  (:func:`progress_plugin.core.intake.definition`, in the page's language), filled with the
  patient's saved intake when there is one. Each 0-10 is a row of eleven radio buttons (one tap,
  arrow keys), never a free number; the planned review date shows only for "At the planned review".
- ``POST /smart/app/intake``: the answers, checked by the intake's own schema. Errors come back
  on the same form, everything typed kept, with a summary at the top linking to each question,
  and each message beside its question. Valid answers become an
  :class:`~progress_plugin.core.events.IntakeSubmitted` (author: the launch's user), recorded in
  the store and sent to the EHR as the write-back maps it (Questionnaire, QuestionnaireResponse,
  Goals, baseline Observations) with the launch's token
  (:mod:`progress_plugin.service.smart_writes`). The same answers sent twice are one intake.
"""
from __future__ import annotations

import logging

from flask import render_template, request
from markupsafe import Markup

from progress_plugin import schemas
from progress_plugin.core import intake as intake_mod
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.errors import ValidationError
from progress_plugin.service import smart_writes
from progress_plugin.web import i18n
from progress_plugin.web.html import asked_language, kept, link
from progress_plugin.web.context import services
from progress_plugin.web.smart import intake_form
from progress_plugin.web.smart.context import current
from progress_plugin.web.smart.page_kit import blueprint, render, sync

log = logging.getLogger(__name__)

#: A goal's 0-10 and rank, as radio buttons.
SCALE = tuple(range(intake_mod.RATING_MIN, intake_mod.RATING_MAX + 1))
RANKS = tuple(range(1, intake_mod.MAX_GOALS + 1))


#: The form's questions as drawn, by everything they are drawn from: the language (the intake's
#: definition is said in it), the ``?lang=`` its links keep, the app's root and the values shown
#: (a saved intake's or today's date). Only a form without errors is kept (:func:`~progress_plugin.web.html.kept`).


def _fields(words, section: dict, values: dict, errors: dict) -> Markup:
    def draw() -> Markup:
        return Markup(render_template("smart/_intake_fields.html", w=words, lang_code=words.code, link=link,
                                      section=section, values=values, scale=SCALE, ranks=RANKS,
                                      shown_when=intake_form.SHOWN_WHEN, errors=errors))
    if errors:
        return draw()
    return kept("pp_smart_intake_forms", (words.code, asked_language(), request.script_root,
                                          tuple(sorted(values.items()))), draw)


def _page(values: dict, status: int = 200, **context):
    words = i18n.words()
    errors, section = context.pop("errors", {}), intake_mod.definition(words)
    return render("intake.html", status, section=section, values=values, fields=_fields(words, section, values, errors),
                  errors=errors, summary=context.pop("summary", []), **context)


@blueprint.get("/smart/app/intake")
def intake():
    found = current()
    sent = sync(found)
    svc = services()
    saved, _ = svc.store.intake_and_notes(found.clinic_id, found.patient)
    values = intake_form.stored_values(saved) or {"agreed_on": svc.clock().date().isoformat()}
    return _page(values, sent=sent, saved_before=saved is not None)


@blueprint.post("/smart/app/intake")
def submit_intake():
    found = current()
    svc = services()
    given, rows = intake_form.answers(request.form)
    given["intake_id"] = intake_form.intake_id(found.patient, given)
    try:
        intake = schemas.load(schemas.intake_schema, given)
    except ValidationError as exc:
        words = i18n.words()
        by_name, summary = intake_form.errors(exc.messages, rows, words)
        log.info("smart intake refused clinic=%s fields=%s", found.clinic_id, ",".join(sorted(by_name)))
        return _page(intake_form.sent_values(request.form), 422, errors=by_name, summary=summary)
    event = IntakeSubmitted(found.clinic_id, svc.clock(), found.patient, intake, found.fhir_user or "smart")
    smart_writes.record(svc.runtime, event, found.target, found.scopes)
    sent = sync(found)
    log.info("smart intake recorded clinic=%s intake=%s done=%d refused=%d", found.clinic_id, intake.intake_id,
             sent.done, len(sent.refused))
    return _page(intake_form.sent_values(request.form), sent=sent, saved=intake.status, saved_before=True)

"""Progress tags and goal ratings for the launch's session note, inside the EHR.

The note is the launch's ``fhirContext`` DocumentReference. A launch with an encounter and no note
uses that encounter's note for this patient (one found: that one; several: the therapist picks
one, by a link naming one of them; none: the page says to save the note first). Neither: the page
says to open the app from a note.

Before anything is shown or saved, the note is read as the webhook path reads it: only its
metadata (type, patient, date, status, ``meta``; :func:`progress_plugin.fhir.inbound.keep` drops
anything else the EHR sends), never its text. A note of another patient is refused; a protected
type (a psychotherapy or SUD counselling note, :func:`progress_plugin.core.notes.classify_note_type`)
or one the clinic does not let the plugin read is refused unread: the page says why and offers
nothing to save.

- ``GET /smart/app/tags``: the clinic's tag picker (:func:`progress_plugin.view.picker.categories`)
  and a 0-10 per current goal, filled with what the note already has.
- ``POST /smart/app/tags``: the ticked tags and the ratings, checked by the note schema and the
  core's rules, recorded as a :class:`~progress_plugin.core.events.NoteSaved` (or ``NoteSigned``
  for a final note; author: the launch's user), and sent to the EHR: ``meta.tag`` on the note
  (``$meta-add``, else a guarded JSON Patch; never the note back whole) and an Observation per
  rating, with the launch's token.
"""
from __future__ import annotations

import logging

from flask import render_template, request
from markupsafe import Markup

from progress_plugin import schemas
from progress_plugin.core import effects as fx
from progress_plugin.core import notes as notes_mod
from progress_plugin.core.handle import handle
from progress_plugin.core.words import N_, msg
from progress_plugin.errors import HostAPIError, HostNotFound, ValidationError, flatten
from progress_plugin.fhir import inbound
from progress_plugin.service import smart_writes
from progress_plugin.view import picker
from progress_plugin.web import i18n
from progress_plugin.web.context import services
from progress_plugin.web.html import asked_language, kept, link
from progress_plugin.web.smart.context import current
from progress_plugin.web.smart.page_kit import blueprint, render, sync

log = logging.getLogger(__name__)

SCALE = tuple(range(notes_mod.RATING_MIN, notes_mod.RATING_MAX + 1))
#: How the page names each rater.
RATERS = notes_mod.RATER_NAMES
NO_NOTE = (N_("Open this app from a session note"),
           N_("Tags and ratings belong to one session note. Open the patient's note (or the visit) in your notes "
              "system and start the app from there."))
NOTE_NOT_SAVED = (N_("No session note for this visit yet"),
                  N_("Save the session note in your notes system first, then open this app from it."))
OTHER_PATIENT = (N_("This note is not this patient's"),
                 N_("Nothing was read or saved. Open the app again from the patient's own note."))
PROTECTED = (N_("This note is not tagged here"),
             N_("It is a protected kind of note (a psychotherapy or substance use counselling note), so the plugin "
                "does not read it or tag it. Nothing was read or saved."))
NOT_READABLE = (N_("This kind of note is not tagged here"),
                N_("Your clinic has not let the plugin read this kind of note. Nothing was read or saved."))
GONE = (N_("This note was not found"), N_("Your notes system has no such note for this patient now. "
                                          "Nothing was saved."))
UNREAD = (N_("This note could not be read"), N_("Your notes system did not let the app read the note's type, or did "
                                                "not answer. Nothing was saved. Try again in a moment."))


def _notes_of(client, found) -> list[dict]:
    """The launch's note, or its encounter's notes, each read as metadata only."""
    if found.note is not None:
        return [inbound.keep(client.read("DocumentReference", found.note.split("/", 1)[1],
                                         elements=inbound.NOTE_ELEMENTS))]
    if found.encounter is None:
        return []
    params = {"encounter": f"Encounter/{found.encounter}", "patient": f"Patient/{found.patient}", "_count": 20,
              "_elements": ",".join(inbound.NOTE_ELEMENTS)}
    return [inbound.keep(doc) for doc in client.search("DocumentReference", params)
            if doc.get("status") != "entered-in-error"][:20]


def _which(found, client):
    """``(note, problem, choices)``: the note to tag, else why not, else the notes to pick from."""
    try:
        with client:
            docs = _notes_of(client, found)
    except HostNotFound:
        return None, GONE, []
    except HostAPIError as exc:
        if exc.status_code == 401:
            raise                          # the launch side ends the session
        log.warning("smart note unread clinic=%s status=%s request_id=%s", found.clinic_id, exc.status_code,
                    exc.request_id or "-")
        return None, UNREAD, []
    if not docs:
        return None, (NOTE_NOT_SAVED if found.encounter is not None and found.note is None else NO_NOTE), []
    if found.note is None and len(docs) > 1:
        chosen = next((d for d in docs if d.get("id") == request.values.get("note")), None)
        if chosen is None:
            return None, None, docs
        docs = [chosen]
    doc = docs[0]
    if inbound.patient_of(doc) != found.patient:
        log.warning("smart note refused reason=other-patient clinic=%s note=%s", found.clinic_id, doc.get("id"))
        return None, OTHER_PATIENT, []
    readable = services().runtime.readable_note_types(found.clinic_id)
    kind = notes_mod.classify_note_type(inbound.note_type(doc), readable)
    if kind.refused:
        log.info("smart note refused reason=%s clinic=%s note=%s", kind.refused, found.clinic_id, doc.get("id"))
        return None, PROTECTED if kind.refused == notes_mod.REFUSED_PROTECTED else NOT_READABLE, []
    return doc, None, []


def _page(found, doc, status: int = 200, values=None, errors=None, summary=(), state=None, **context):
    svc = services()
    words = i18n.words()
    if state is not None:
        vocabulary, intake, record = state.vocabulary, state.intake, state.notes.get(doc["id"])
    else:                                      # what the page shows of the state, read alone
        vocabulary, intake, record = svc.store.for_tagging(found.clinic_id, found.patient, doc["id"])
    goals = sorted((g for g in (intake.goals if intake else ()) if g.status == "active"), key=lambda g: g.rank)
    if values is None:
        values = _saved_values(record)
    fallback = i18n.clinic_fallback(found.clinic_id)
    return render("tags.html", status, note=doc, kind=inbound.note_type(doc), session_at=inbound.dated(doc, svc.clock()),
                  fields=_fields(found, words, fallback, vocabulary, goals, values, errors or {}),
                  summary=list(summary), **context)


def _fields(found, words, fallback, vocabulary, goals, values: dict, errors: dict) -> Markup:
    """The form's tags and ratings (``smart/_tags_fields.html``). Without errors, kept by everything
    they are drawn from: the language and the clinic's (a tag's words fall back to it), the clinic and
    its vocabulary's version (never changed once written), each goal's id, rank, words and whose,
    the values shown, and the ``?lang=`` and root of the intake's link."""
    def draw() -> Markup:
        return Markup(render_template(
            "smart/_tags_fields.html", w=words, lang_code=words.code, link=link,
            categories=picker.categories(vocabulary, words, fallback), goals=goals, scale=SCALE, raters=RATERS,
            values=values, errors=errors, picked=set(values.get("tag", []))))
    if errors:
        return draw()
    shown = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))
    key = (words.code, fallback, found.clinic_id, vocabulary.version,
           tuple((g.id, g.rank, g.words, g.whose) for g in goals), shown, asked_language(), request.script_root)
    return kept("pp_smart_tag_fields", key, draw)


def _saved_values(record) -> dict:
    if record is None:
        return {"tag": []}
    out: dict = {"tag": list(record.codes())}
    for r in record.ratings:
        if r.value is not None:
            out[f"rating-{r.goal_id}"] = str(r.value)
            out[f"rater-{r.goal_id}"] = r.rater
    return out


@blueprint.get("/smart/app/tags")
def tags():
    found = current()
    sent = sync(found)
    doc, problem, choices = _which(found, found.client())
    if doc is None:
        return render("tags_none.html", 200, problem=problem, choices=choices, sent=sent)
    return _page(found, doc, sent=sent)


@blueprint.post("/smart/app/tags")
def save_tags():
    found = current()
    svc = services()
    doc, problem, choices = _which(found, found.client())
    if doc is None:
        return render("tags_none.html", 409 if choices else 403, problem=problem, choices=choices)
    state = svc.runtime.state(found.clinic_id, found.patient)
    goals = [g for g in (state.intake.goals if state.intake else ()) if g.status == "active"]
    values = {"tag": request.form.getlist("tag"),
              **{k: request.form.get(k, "") for k in request.form if k.startswith(("rating-", "rater-"))}}
    rated = [g for g in goals if (request.form.get(f"rating-{g.id}") or "").strip()]
    now = svc.clock()
    payload = {"clinic_id": found.clinic_id, "client_id": found.patient, "note_id": doc["id"],
               "note_type": inbound.note_type(doc), "session_at": inbound.dated(doc, now).isoformat(),
               "author": found.fhir_user or "smart", "at": now.isoformat(), "signed": doc.get("docStatus") == "final",
               "tags": [{"code": code} for code in dict.fromkeys(values["tag"])],
               "ratings": [{"goal": g.id, "value": _int(request.form.get(f"rating-{g.id}")),
                            "rated_by": request.form.get(f"rater-{g.id}") or "client"} for g in rated]}
    try:
        event = schemas.load(schemas.note_schema, payload)
        rejected = next((e for e in handle(event, state) if isinstance(e, (fx.RejectNote, fx.RefuseNote))), None)
        if isinstance(rejected, fx.RejectNote):
            raise ValidationError(rejected.messages)
    except ValidationError as exc:
        by_name, summary = _errors(exc.messages, rated, state.intake, i18n.words())
        log.info("smart tags refused clinic=%s note=%s fields=%s", found.clinic_id, doc["id"], ",".join(by_name))
        return _page(found, doc, 422, values=values, errors=by_name, summary=summary, state=state)
    smart_writes.record(svc.runtime, event, found.target, found.scopes)
    sent = sync(found)
    log.info("smart tags recorded clinic=%s note=%s tags=%d ratings=%d done=%d refused=%d", found.clinic_id,
             doc["id"], len(event.tags), len(event.ratings), sent.done, len(sent.refused))
    return _page(found, doc, sent=sent, saved=True)


def _int(raw):
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 3 else raw


def _errors(messages: dict, rated, intake, words) -> tuple[dict, list[dict]]:
    """Errors by input name (``tags``, ``rating-<goal>``, ``rater-<goal>``) and the error summary."""
    by_name: dict[str, list[str]] = {}
    labels = {"tags": words(N_("Progress tags"))}
    for path, said in flatten(words.say(messages)).items():
        parts = path.split(".")
        name = "tags"
        if parts[0] == "ratings" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rated):
            goal = rated[int(parts[1])]
            name = f"rater-{goal.id}" if len(parts) > 2 and parts[2] == "rated_by" else f"rating-{goal.id}"
            labels[name] = words.say(msg("Who rated goal {rank}", rank=goal.rank) if name.startswith("rater-")
                                     else msg("Rating for goal {rank}", rank=goal.rank))
        by_name.setdefault(name, []).extend(said)
    summary = [{"name": n, "href": "#" + (f"{n}-0" if n.startswith("rating-") else
                                          f"{n}-client" if n.startswith("rater-") else "tags"),
                "label": labels.get(n, n), "message": m} for n in by_name for m in by_name[n]]
    return by_name, summary

"""The plugin's hook implementations: validate the input, build the event, run the core, return data.

Hosts find this module through the ``progress_plugin.hosts`` entry point
(``pm.load_setuptools_entrypoints``); see :mod:`progress_plugin.hookspecs` for the contract.

The store is opened on the first hook call that needs it, from the URL the host gave in
the ``configure`` hook (``{"progress_plugin": {"store_url": ...}}``), else from the standard
resolution (``$PROGRESS_PLUGIN_STORE``, then ``[store] url`` in the config file, else
``sqlite:///progress.db``). Code in the same process, such as tests, may call :func:`setup`
instead to hand over an open store, a clock or a whole runtime.
"""
from __future__ import annotations

import threading
from typing import Callable

import pluggy

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin import hookspecs, schemas
from progress_plugin.core import intake as intake_mod
from progress_plugin.schemas import jsonio
from progress_plugin.core import notes as notes_mod
from progress_plugin.view import panel, picker
from progress_plugin.service import settings
from progress_plugin.core.handle import ClientState, handle
from progress_plugin.errors import ValidationError
from progress_plugin.service.runtime import Runtime
from progress_plugin.service.panel_cache import panels
from progress_plugin.service.clock import utcnow
from progress_plugin.store import Store
from progress_plugin.core.vocabulary import labels_at
from progress_plugin.hosts.admin_page import page_data, vocabulary_table
from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin import lang
from progress_plugin.hosts.hook_words import hook_words, intake_words, note_words
from progress_plugin.hosts import checkin_hook, ending as ending_hook

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)

SECTION_ID = intake_mod.SECTION_ID
NOTE_FIELDS_ID = "progress-tags"
PANEL_ID = "progress"
ADMIN_PAGE_ID = "progress-vocabulary"
#: The ``reason`` of a refused note, by its ``reason_code``.
REFUSALS = {
    notes_mod.REFUSED_PROTECTED: N_("Psychotherapy notes and SUD counselling notes are not read; "
                                    "no progress tags are recorded."),
    notes_mod.REFUSED_NOT_READABLE: N_("This clinic lets the progress plugin read only some note types, and "
                                       "this note's type is not one of them; no progress tags are recorded."),
}

_lock = threading.RLock()
_runtime: Runtime | None = None
_owned: Store | None = None          # a store this module opened itself; closed when replaced


def setup(store: Store | None = None, *, store_url: str | None = None,
          clock: Callable | None = None, runtime=None, readable_note_types: dict | None = None):
    """Point the hooks at a store: an open ``store``, a ``store_url`` to open, or a ready ``runtime``.

    ``runtime`` is anything with ``Runtime``'s ``dispatch``, ``state``, ``store``, ``clock`` and
    ``readable_note_types``. ``readable_note_types`` maps a clinic id to the note types the
    plugin may read for it; by default each clinic's ``readable_note_types`` in the config
    file's ``[[clinics]]``. A store this module opened before is closed. Returns the runtime in use.
    """
    global _runtime, _owned
    with _lock:
        if _owned is not None:
            _owned.close()
            _owned = None
        if runtime is None:
            raw = settings.read_file(settings.config_path())
            if store is None:
                store = _owned = Store.open(store_url or settings.store_url(None, raw))
            if readable_note_types is None:
                readable_note_types = settings.note_policy(raw)
            policy = {clinic: frozenset(notes_mod.normalise_note_type(t) for t in types)
                      for clinic, types in readable_note_types.items()}
            runtime = Runtime(store, clock=clock or utcnow, readable_note_types=policy.get)
        _runtime = runtime
        return runtime


def reset() -> None:
    """Forget the store (closing it when this module opened it); the next hook call resolves it again."""
    global _runtime, _owned
    with _lock:
        if _owned is not None:
            _owned.close()
        _runtime = _owned = None


def _rt() -> Runtime:
    runtime = _runtime
    if runtime is None:
        with _lock:
            runtime = _runtime or setup()
    return runtime


def _state(rt, clinic_id: str, client_id: str) -> ClientState:
    """The client's state; a clinic seen for the first time gets the default vocabulary."""
    with rt.store.begin() as conn:
        rt.store.ensure_clinic(clinic_id, rt.clock(), conn=conn)
        return rt.state(clinic_id, client_id, conn)


def _words(rt, clinic_id: str | None, locale) -> Words:
    """The words for a hook's result (:func:`~progress_plugin.hosts.hook_words.hook_words`)."""
    return hook_words(rt.store, clinic_id, locale)


def _fallback(rt, clinic_id: str) -> str | None:
    """The clinic's default language, where a tag has no text in the language asked for (None: the base text)."""
    return lang.supported(rt.store.clinic_language(clinic_id))


def _note_words(note_or_clinic, locale) -> Words:
    """:func:`~progress_plugin.hosts.hook_words.note_words`, on this module's store."""
    return note_words(_rt().store, note_or_clinic, locale)


def _intake_words(rt, clinic_id, locale, problems: dict) -> Words:
    return intake_words(rt.store, clinic_id, locale, problems)


# -- configuration -----------------------------------------------------------------------
@hookimpl
def configure(config):
    mine = (config or {}).get(hookspecs.PROJECT) if isinstance(config, dict) else None
    if mine is None:
        return None
    given = schemas.load(schemas.host_config_schema, mine)
    if given.get("store_url"):
        setup(store_url=given["store_url"])
    return None


# -- intake --------------------------------------------------------------------------------
@hookimpl
def intake_sections(clinic_id, client_id, audience, locale):
    req = schemas.load(schemas.client_request_schema,
                       {"clinic_id": clinic_id, "client_id": client_id, "audience": audience})
    rt = _rt()
    section = intake_mod.definition(_words(rt, req["clinic_id"], locale))
    hidden = intake_mod.THERAPIST_ONLY if req["audience"] == "client" else frozenset()
    section["fields"] = [f for f in section["fields"] if f["id"] not in hidden]
    state = _state(rt, req["clinic_id"], req["client_id"])
    section["values"] = _intake_values(state.intake, hidden) if state.intake else None
    return section


@hookimpl
def validate_intake(clinic_id, client_id, section_id, answers, locale):
    if section_id != SECTION_ID:
        return None
    problems: dict = {}
    try:
        schemas.load(schemas.client_request_schema, {"clinic_id": clinic_id, "client_id": client_id})
    except ValidationError as exc:
        problems.update(exc.messages)
    try:
        schemas.load(schemas.intake_schema, answers)
    except ValidationError as exc:
        problems.update(exc.messages)
    words = _intake_words(_rt(), clinic_id, locale, problems)
    return words.say(problems)


@hookimpl
def intake_submitted(clinic_id, client_id, section_id, answers, author, at, locale):
    if section_id != SECTION_ID:
        return None
    problems: dict = {}
    try:
        event = schemas.load(schemas.intake_submitted_schema, {
            "clinic_id": clinic_id, "client_id": client_id, "author": author, "at": at, "intake": answers})
    except ValidationError as exc:
        messages = dict(exc.messages)
        inner = messages.pop("intake", {})
        problems = {**messages, **(inner if isinstance(inner, dict) else {"intake": inner})}
    rt = _rt()
    words = _intake_words(rt, clinic_id, locale, problems)
    if problems:
        return {"status": "rejected", "errors": words.say(problems)}
    rt.dispatch(event)
    return {"status": "recorded", "agreed": event.intake.is_agreed, "intake_id": event.intake.intake_id,
            "goals": [{"id": g.id, "rank": g.rank, "words": g.words, "baseline": g.baseline}
                      for g in event.intake.goals]}


def _intake_values(intake, hidden) -> dict:
    goals = []
    for g in intake.goals:
        if g.status in ("dropped", "replaced"):
            continue
        goal = {"id": g.id, "words": g.words, "whose": g.whose, "baseline": g.baseline, "rank": g.rank}
        if g.replaces:
            goal["replaces"] = g.replaces
        goals.append(goal)
    values = {k: v for k, v in intake.answers.items() if k not in hidden}
    values.update(goals=goals, review_cadence=intake.review_cadence, agreed=intake.agreed,
                  agreed_on=_iso(intake.agreed_on), goals_reviewed=intake.goals_reviewed)
    if intake.review_date is not None:
        values["review_date"] = _iso(intake.review_date)
    return values


# -- notes ---------------------------------------------------------------------------------
@hookimpl
def note_fields(clinic_id, client_id, note_type, locale):
    req = schemas.load(schemas.note_fields_request_schema,
                       {"clinic_id": clinic_id, "client_id": client_id, "note_type": note_type})
    if _kind(req.get("note_type"), req["clinic_id"]).refused:
        return None
    rt = _rt()
    words, fallback = _words(rt, req["clinic_id"], locale), _fallback(rt, req["clinic_id"])
    state = _state(rt, req["clinic_id"], req["client_id"])
    goals = state.intake.goals if state.intake else ()
    return {
        "id": NOTE_FIELDS_ID, "type": "tag-picker", "title": words(N_("Progress tags")), "language": words.code,
        "vocabulary_version": state.vocabulary.version,
        "categories": picker.categories(state.vocabulary, words, fallback),
        "goals": [{"id": g.id, "rank": g.rank, "words": g.words, "whose": g.whose}
                  for g in sorted(goals, key=lambda g: g.rank) if g.status == "active"],
        "rating": {"min": intake_mod.RATING_MIN, "max": intake_mod.RATING_MAX,
                   "raters": list(notes_mod.RATERS)},
    }


@hookimpl
def validate_note(note, locale):
    words = _note_words(note, locale)
    if _refused(note):
        return {}
    try:
        event = _as_saved(schemas.load(schemas.note_schema, note), signed=False)
    except ValidationError as exc:
        return words.say(exc.messages)
    rt = _rt()
    for effect in handle(event, _state(rt, event.clinic_id, event.client_id)):
        if isinstance(effect, fx.RejectNote):
            return words.say(effect.messages)
    return {}


@hookimpl
def note_saved(note, locale):
    return _save(note, signed=False, words=_note_words(note, locale))


@hookimpl
def note_signed(note, locale):
    return _save(note, signed=True, words=_note_words(note, locale))


@hookimpl
def note_deleted(clinic_id, client_id, note_id, at, locale):
    words = _note_words(clinic_id, locale)
    try:
        event = schemas.load(schemas.note_deleted_schema,
                             {"clinic_id": clinic_id, "client_id": client_id, "note_id": note_id, "at": at})
    except ValidationError as exc:
        return {"status": "rejected", "note_id": _given_id(note_id), "errors": words.say(exc.messages)}
    effects = _rt().dispatch(event)
    done = any(isinstance(e, fx.UntagNote) for e in effects)
    return {"status": "deleted" if done else "not-recorded", "note_id": event.note_id}


def _kind(note_type, clinic_id) -> notes_mod.NoteType:
    """The one classification (:func:`~progress_plugin.core.notes.classify_note_type`), with the clinic's list."""
    policy = getattr(_rt(), "readable_note_types", None)
    readable = policy(clinic_id) if policy is not None and isinstance(clinic_id, str) else None
    return notes_mod.classify_note_type(note_type, readable)


def _refused(note) -> str | None:
    """Why ``note`` is not read (a refusal reason), or None; decided on its type and clinic alone."""
    if not isinstance(note, dict):
        return None
    return _kind(note.get("note_type"), note.get("clinic_id")).refused


def _given_id(value):
    """The host's note id, echoed in a rejection only when it is plain, encodable text; else None."""
    return value if isinstance(value, str) and len(value) <= 128 and not jsonio.str_problem(value) else None


def _as_saved(event: ev.NoteSaved, signed: bool) -> ev.NoteSaved:
    """The event the hook stands for: the hook, not a ``signed`` key in the note, says whether it was signed."""
    if isinstance(event, ev.NoteSigned) == signed:
        return event
    cls = ev.NoteSigned if signed else ev.NoteSaved
    return cls(event.clinic_id, event.at, event.client_id, event.note_id, event.session_at, event.author,
               event.tags, event.note_type, event.ratings)


def _save(note, signed: bool, words: Words = ENGLISH) -> dict:
    if _refused(note):
        return _refuse(note, words)
    try:
        event = _as_saved(schemas.load(schemas.note_schema, note), signed)
    except ValidationError as exc:
        return {"status": "rejected", "note_id": _given_id(note.get("note_id") if isinstance(note, dict) else None),
                "errors": words.say(exc.messages)}
    return note_result(_rt().dispatch(event), event.note_id, signed, words)


def _refuse(note, words: Words = ENGLISH) -> dict:
    """Read only the note's ids and type, store nothing, let the core audit the refusal."""
    try:
        ref = schemas.load(schemas.note_ref_schema, note)
    except ValidationError as exc:
        return {"status": "rejected", "note_id": _given_id(note.get("note_id")), "errors": words.say(exc.messages)}
    rt = _rt()
    now = rt.clock()
    effects = rt.dispatch(ev.NoteSaved(ref["clinic_id"], now, ref["client_id"], ref["note_id"], now,
                                       ref.get("author") or "host", (), ref.get("note_type")))
    return note_result(effects, ref["note_id"], False, words)


def note_result(effects, note_id: str, signed: bool, words: Words = ENGLISH) -> dict:
    """The ``note_saved``/``note_signed`` return value for the effects the core produced; what a
    person reads (errors, the reason of a refusal) said in ``words``."""
    tags, ratings, review_due = [], [], None
    for e in effects:
        kind = type(e)              # the effect classes have no subclasses
        if kind is fx.TagNote:
            tags = [{"code": t.code, "vocabulary_version": t.vocabulary_version, "goals": list(t.goal_ids)}
                    for t in e.note.tags]
        elif kind is fx.RecordRating:
            r = e.rating
            ratings.append({"goal": r.goal_id, "value": r.value, "rated_by": r.rater, "level": r.level})
        elif kind is fx.FlagReviewDue:
            review_due = {"last_reviewed": _iso(e.last_reviewed), "cadence": e.cadence}
        elif kind is fx.RejectNote:
            return {"status": "rejected", "note_id": note_id, "errors": words.say(e.messages)}
        elif kind is fx.RefuseNote:
            return {"status": "refused", "note_id": note_id, "reason_code": e.reason, "reason": words(REFUSALS[e.reason])}
    return {"status": "signed" if signed else "saved", "note_id": note_id, "tags": tags, "ratings": ratings,
            "review_due": review_due}


# -- chart and admin -----------------------------------------------------------------------
@hookimpl
def chart_panels(clinic_id, client_id, audience, locale):
    req = schemas.load(schemas.client_request_schema,
                       {"clinic_id": clinic_id, "client_id": client_id, "audience": audience})
    rt = _rt()
    words = _words(rt, req["clinic_id"], locale)
    now = rt.clock()
    key = panels.key(rt.store, req["clinic_id"], req["client_id"], now, "hook", req["audience"], words.code,
                     req["audience"] == "client" and ending_hook.shows_strain(req["clinic_id"]))    # before the state
    state = _state(rt, req["clinic_id"], req["client_id"])
    (shown,) = handle(ev.PanelRequested(req["clinic_id"], now, req["client_id"], req["audience"]), state)
    strain = shown.audience == "client" and ending_hook.shows_strain(req["clinic_id"])
    html = panels.render(key, lambda: panel.render_html(shown.progress, state.intake, shown.audience, document=False,
                                                        words=words, show_strain=strain))
    return {"id": PANEL_ID, "title": words(N_("Progress")), "html": html,
            "data": panel.panel_data(shown.progress, state.intake, shown.audience, words, show_strain=strain)}


@hookimpl
def admin_pages(clinic_id, locale):
    req = schemas.load(schemas.clinic_request_schema, {"clinic_id": clinic_id})
    rt = _rt()
    words, fallback = _words(rt, req["clinic_id"], locale), _fallback(rt, req["clinic_id"])
    with rt.store.begin() as conn:
        rt.store.ensure_clinic(req["clinic_id"], rt.clock(), conn=conn)
        vocabulary = rt.store.vocabulary(req["clinic_id"], conn=conn)
    return {"id": ADMIN_PAGE_ID, "title": words(N_("Progress tags")), "language": words.code,
            "html": vocabulary_table(vocabulary, words, fallback), "data": page_data(vocabulary, req["clinic_id"])}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


@hookimpl
def tag_labels(clinic_id, pairs, locale):
    req = schemas.load(schemas.tag_labels_hook_schema, {"clinic_id": clinic_id, "pairs": pairs})
    rt = _rt()
    words, fallback = _words(rt, req["clinic_id"], locale), _fallback(rt, req["clinic_id"])
    with rt.store.begin() as conn:
        rt.store.ensure_clinic(req["clinic_id"], rt.clock(), conn=conn)
        found = rt.store.vocabularies(req["clinic_id"], {v for _, v in req["pairs"]}, conn=conn)
    return {"labels": labels_at(found, req["pairs"], words, fallback)}


#: Hooks whose bodies live beside this module: the ending summary (:mod:`.ending`), the check-in link.
ending_summary = ending_hook.make_hook(_rt, _words)


@hookimpl
def checkin_link(clinic_id, client_id, expires, locale):
    return checkin_hook.checkin_link(_rt(), clinic_id, client_id, expires, _note_words(clinic_id, locale))

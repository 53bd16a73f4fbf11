"""The console's tag pages: the tags by category, adding and editing a tag, retiring and restoring one,
and a preview of the tag picker as a therapist sees it.

Every change goes through the admin API's schemas and :func:`progress_plugin.service.vocabulary_changes.change`,
and is saved only on the version the form was opened at: each form carries that version. When the
vocabulary changed meanwhile (another admin, the command line, an import), nothing is saved and nothing
typed is lost: the form comes back with the admin's own values, what changed in between, and one button
that applies the same edit to the current version. A viewer reads the tags and the preview; every
page that changes something is an admin's (403 otherwise), and every POST carries a form token.
"""
from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request
from markupsafe import Markup

from progress_plugin import lang
from progress_plugin.core import categories
from progress_plugin.core.vocabulary import BASE_LANGUAGE, CATEGORIES, ROLES, Tag, Vocabulary, category_label
from progress_plugin.core.words import N_
from progress_plugin.errors import PreconditionFailed, ValidationError
from progress_plugin.schemas import MAX_VERSION
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.store import clinics
from progress_plugin.view import picker
from progress_plugin.web import i18n
from progress_plugin.web.console import tag_forms as forms
from progress_plugin.web.console.pages import BAD_FORM, asked_language as i18n_link_language, blueprint, link, problem, render
from progress_plugin.web.console.session import current, signed_in
from progress_plugin.web.console.views import CATEGORY_NAMES, DIRECTION_NAMES, TAG_ROLES
from progress_plugin.web.context import services
from progress_plugin.web.html import kept

log = logging.getLogger(__name__)

TAGS = "/clinics/<clinic>/tags"
#: What each role does, in plain words, beside the role select.
ROLE_HELP = {"none": N_("No role: the tag is only a marker on the chart."),
             "review": N_("Review: a note with this tag means you looked again together at what progress means, so "
                          "the reminder to do that starts counting again."),
             "strain": N_("Strain: the progress view keeps a reminder open until a later note carries a repair tag."),
             "repair": N_("Repair: closes the reminder a strain tag opened.")}
TAG_PAGES = frozenset(f"console.{name}" for name in ("tags", "new_tag", "add_tag", "edit_tag", "save_tag",
                                                      "confirm_retire", "retire_tag", "confirm_restore",
                                                      "restore_tag", "preview"))
ROLE_NAMES = {"none": N_("No role"), "review": N_("Review"), "strain": N_("Strain"), "repair": N_("Repair")}


@blueprint.context_processor
def _tag_pages() -> dict:
    """The pages the console's "Tags" link stands for (it is marked current on each)."""
    return {"tag_pages": TAG_PAGES}


def _clinic_language(clinic: str) -> str:
    """The clinic's default language: what a therapist sees when a tag has no text in theirs."""
    return i18n.clinic_fallback(clinic) or lang.DEFAULT_LANGUAGE


def _labels(tag: Tag, words, fallback: str) -> list[dict]:
    """The tag's label and description in each catalog language; None where it has none (a missing translation)."""
    labels, descriptions = dict(tag.labels), dict(tag.descriptions)
    out = []
    for code in lang.LANGUAGES:
        base = code == BASE_LANGUAGE
        out.append({"code": code, "name": lang.NAMES[code],
                    "label": labels.get(code, tag.label if base else None),
                    "description": descriptions.get(code, tag.description if base else None),
                    "shown": tag.label_in(code, fallback)})
    return out


def _groups(vocabulary: Vocabulary) -> list[tuple[str, list[Tag]]]:
    found: dict[str, list[Tag]] = {}
    for tag in vocabulary.tags:
        found.setdefault(tag.category, []).append(tag)
    order = [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)
    return [(c, found[c]) for c in order]


# -- the list --------------------------------------------------------------------------------
#: The tag list's main block as drawn, by everything it is drawn from: the clinic, its vocabulary
#: version (a version never changes once written), the page's language and the clinic's, whether
#: the reader is an admin, the ``?lang=`` links keep, the app's root, and each tag's note count.
#: A new version or a note tagged or untagged is a new key, so a kept list is never out of date.
#: Kept per app (an app has one store: two stores may each have a clinic's version 2).


@blueprint.get(TAGS)
@signed_in()
def tags(clinic):
    """Every tag, by category: its label in each language (a missing one flagged), what it is, how many
    notes carry it; for an admin, a way to add, edit, retire and restore."""
    store = services().store
    vocabulary, w, fallback = store.vocabulary(clinic), i18n.words(), _clinic_language(clinic)
    counts = clinics.notes_by_code(store, clinic)
    who = current()
    admin = who.principal.may("admin")
    key = (clinic, who.principal.clinic_id, vocabulary.version, w.code, fallback, admin, i18n_link_language(),
           request.script_root, tuple(sorted(counts.items())))
    return render("tag_list.html", main=kept("pp_console_tag_lists", key,
                                           lambda: Markup(_draw_main(vocabulary, w, fallback, counts, who))))


def _draw_main(vocabulary: Vocabulary, w, fallback: str, counts: dict, who) -> str:
    carried = {tag.code: w.plural("{n} note carries it", "{n} notes carry it", counts.get(tag.code, 0))
               for tag in vocabulary.tags}
    labels = {tag.code: _labels(tag, w, fallback) for tag in vocabulary.tags}
    missing = [(lang.NAMES[code], sum(1 for tag in vocabulary.active() if code not in dict(tag.labels)))
               for code in lang.LANGUAGES if code != BASE_LANGUAGE]
    gaps = [w.plural("{n} tag in use has no label in {language} yet.", "{n} tags in use have no label in "
                     "{language} yet.", n, language=name) for name, n in missing if n]
    return render_template("console/_tag_list_main.html", w=w, lang_code=w.code, link=link, who=who,
                           vocabulary=vocabulary, groups=_groups(vocabulary), carried=carried,
                           labels=labels, gaps=gaps, fallback=fallback, fallback_name=lang.NAMES[fallback],
                           category_label=category_label, category_names=CATEGORY_NAMES,
                           direction_names=DIRECTION_NAMES, tag_roles=TAG_ROLES)


# -- add and edit ----------------------------------------------------------------------------
def _opened_version() -> int | None:
    """The vocabulary version the form was opened at, as it sent it; None when it is not one."""
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        return None
    return version if 1 <= version <= MAX_VERSION else None


def _save(clinic: str, new: Vocabulary, change: str, expected: int) -> None:
    svc, actor = services(), current().principal.actor
    now = svc.clock()
    svc.store.save_vocabulary(clinic, new, actor, change, now, expected_version=expected)
    vocab_io.changed(svc.runtime, clinic, new, actor, now, queue=bool(svc.config is not None and svc.config.host_url))
    log.info("console vocabulary change clinic=%s version=%s change=%s by=%s", clinic, new.version,
             change.split(" ")[0], current().principal.token_id)


def _stale(clinic: str, opened: int, now: Vocabulary) -> dict:
    """What a page says when the vocabulary moved from ``opened`` to ``now`` while a form was open."""
    w = i18n.words()
    return {"opened": opened, "lines": forms.what_changed(services().store.vocabulary(clinic, opened), now, w,
                                                          _clinic_language(clinic))}


def _form_page(clinic: str, code: str | None, values: dict, version: int, status: int = 200, *,
               problems: dict | None = None, stale: dict | None = None, conflicts: dict | None = None):
    """The add form (``code`` None) or the edit form of tag ``code``."""
    store, w = services().store, i18n.words()
    vocabulary = store.vocabulary(clinic)
    tag = vocabulary.resolve(code) if code else None
    fallback = _clinic_language(clinic)
    choices = [(c, category_label(c, w)) for c in categories.known(vocabulary)]
    endpoint = ("console.edit_tag", {"clinic": clinic, "code": code}) if code else ("console.new_tag",
                                                                                       {"clinic": clinic})
    label_now = tag.label_in(w.code, fallback) if tag else ""
    heading = w(N_("Edit the tag “{label}”"), label=label_now) if tag else w(N_("Add a tag"))
    shown_conflicts = {name: forms.shown_value(name.split("_")[0], None if value == "none" else value, w)
                       for name, value in (conflicts or {}).items()}
    names = {"code": w(N_("Code")), "category": w(N_("Category")), "new_category": w(N_("Name of the new category")),
             "direction": w(N_("Direction")), "audience": w(N_("Who sees it")), "role": w(N_("Role")),
             **{f"label_{c}": w(N_("Label in {language}"), language=lang.NAMES[c]) for c in lang.LANGUAGES},
             **{f"description_{c}": w(N_("Description in {language}"), language=lang.NAMES[c]) for c in lang.LANGUAGES}}
    return render("tag_form.html", status, page=endpoint, tag=tag, label_now=label_now, heading=heading, names=names,
                  values=values, version=version, problems=problems or {}, order=forms.FIELDS,
                  anchors={"direction": "direction-toward", "audience": "audience-all"}, stale=stale,
                  conflicts=shown_conflicts, choices=choices, new_choice=forms.NEW,
                  languages=[(c, lang.NAMES[c]) for c in lang.LANGUAGES], base_language=BASE_LANGUAGE,
                  clinic_language=fallback, directions=DIRECTION_NAMES, roles=("none",) + ROLES,
                  role_help=ROLE_HELP, role_names=ROLE_NAMES)


@blueprint.get(TAGS + "/new")
@signed_in("admin")
def new_tag(clinic):
    """An empty form for a new tag."""
    values = {name: "" for name in forms.FIELDS}
    values.update(audience="all", role="none")
    return _form_page(clinic, None, values, services().store.current_version(clinic))


@blueprint.post(TAGS + "/new")
@signed_in("admin")
def add_tag(clinic):
    """Add the tag the form describes, on the version it was opened at."""
    values, opened, w = forms.read(request.form), _opened_version(), i18n.words()
    if opened is None:
        return problem(400, BAD_FORM)
    store = services().store
    try:
        tag, new_category = forms.tag_input(values)
        now = store.vocabulary(clinic)
        if opened != now.version:
            return _form_page(clinic, None, values, now.version, 409, stale=_stale(clinic, opened, now))
        new, change = vocab_io.change(now, "add", tag.code, tag=tag, new_category=new_category)
        _save(clinic, new, change, now.version)
    except ValidationError as exc:
        return _form_page(clinic, None, values, opened, 422, problems=forms.field_problems(exc, values, w))
    except PreconditionFailed:
        now = store.vocabulary(clinic)
        return _form_page(clinic, None, values, now.version, 409, stale=_stale(clinic, opened, now))
    flash(w(N_("Added the tag “{label}”. The vocabulary is now at version {version}."),
            label=tag.label_in(w.code, _clinic_language(clinic)), version=w.number(new.version)))
    return redirect(link("console.tags", clinic=clinic) + f"#tag-{tag.code}", 303)


@blueprint.get(TAGS + "/<code>/edit")
@signed_in("admin")
def edit_tag(clinic, code):
    """The form for tag ``code``, filled in with the tag as it is now."""
    vocabulary = services().store.vocabulary(clinic)
    return _form_page(clinic, code, forms.values_of(vocabulary.resolve(code)), vocabulary.version)


@blueprint.post(TAGS + "/<code>/edit")
@signed_in("admin")
def save_tag(clinic, code):
    """Apply the form's changes (only the fields changed since it was opened) to the version it was opened at."""
    values, opened, w = forms.read(request.form), _opened_version(), i18n.words()
    if opened is None:
        return problem(400, BAD_FORM)
    store = services().store
    before = store.vocabulary(clinic, opened).resolve(code)        # the tag as the form showed it
    values["code"] = code
    try:
        changes, new_category = forms.edit_input(values, before)
        now = store.vocabulary(clinic)
        if opened != now.version:
            return _edit_stale(clinic, code, values, before, opened, now)
        new, change = vocab_io.change(now, "edit", code, changes=changes, new_category=new_category)
        _save(clinic, new, change, now.version)
    except ValidationError as exc:
        return _form_page(clinic, code, values, opened, 422, problems=forms.field_problems(exc, values, w))
    except PreconditionFailed:
        return _edit_stale(clinic, code, values, before, opened, store.vocabulary(clinic))
    flash(w(N_("Saved the tag “{label}”. The vocabulary is now at version {version}."),
            label=new.resolve(code).label_in(w.code, _clinic_language(clinic)), version=w.number(new.version)))
    return redirect(link("console.tags", clinic=clinic) + f"#tag-{code}", 303)


def _edit_stale(clinic: str, code: str, values: dict, before: Tag, opened: int, now: Vocabulary):
    shown, conflicts = forms.stale_values(values, before, now.resolve(code))
    return _form_page(clinic, code, shown, now.version, 409, stale=_stale(clinic, opened, now), conflicts=conflicts)


# -- retire and restore ----------------------------------------------------------------------
def _status_page(clinic: str, code: str, op: str, version: int, status: int = 200, stale: dict | None = None):
    store, w = services().store, i18n.words()
    vocabulary = store.vocabulary(clinic)
    tag = vocabulary.resolve(code)
    carried = clinics.notes_by_code(store, clinic).get(code, 0)
    done = tag.active == (op == "restore")                     # already as asked: nothing to do
    endpoint = "console.confirm_retire" if op == "retire" else "console.confirm_restore"
    return render("tag_status.html", status, page=(endpoint, {"clinic": clinic, "code": code}), tag=tag, op=op,
                  label=tag.label_in(w.code, _clinic_language(clinic)), meaning=forms.status_words(carried, op == "retire", w),
                  version=version, stale=stale, done=done, direction_names=DIRECTION_NAMES)


def _change_status(clinic: str, code: str, op: str):
    opened, w = _opened_version(), i18n.words()
    if opened is None:
        return problem(400, BAD_FORM)
    store = services().store
    now = store.vocabulary(clinic)
    now.resolve(code)
    try:
        if opened != now.version:
            return _status_page(clinic, code, op, now.version, 409, _stale(clinic, opened, now))
        new, change = vocab_io.change(now, op, code)
        _save(clinic, new, change, now.version)
    except ValidationError:                                   # already retired (or active): say so, change nothing
        return _status_page(clinic, code, op, now.version, 409)
    except PreconditionFailed:
        now = store.vocabulary(clinic)
        return _status_page(clinic, code, op, now.version, 409, _stale(clinic, opened, now))
    label = new.resolve(code).label_in(w.code, _clinic_language(clinic))
    flash(w(N_("Retired the tag “{label}”. Notes that carry it keep it; it can no longer be applied."), label=label)
          if op == "retire" else w(N_("Restored the tag “{label}”. It can be applied again."), label=label))
    return redirect(link("console.tags", clinic=clinic) + f"#tag-{code}", 303)


@blueprint.get(TAGS + "/<code>/retire")
@signed_in("admin")
def confirm_retire(clinic, code):
    """What retiring the tag means, and the button that does it."""
    return _status_page(clinic, code, "retire", services().store.current_version(clinic))


@blueprint.post(TAGS + "/<code>/retire")
@signed_in("admin")
def retire_tag(clinic, code):
    return _change_status(clinic, code, "retire")


@blueprint.get(TAGS + "/<code>/restore")
@signed_in("admin")
def confirm_restore(clinic, code):
    """What restoring the tag means, and the button that does it."""
    return _status_page(clinic, code, "restore", services().store.current_version(clinic))


@blueprint.post(TAGS + "/<code>/restore")
@signed_in("admin")
def restore_tag(clinic, code):
    return _change_status(clinic, code, "restore")


# -- the picker, as a therapist sees it --------------------------------------------------------
@blueprint.get("/clinics/<clinic>/picker")
@signed_in()
def preview(clinic):
    """The tag picker of the current version in a language chosen here (``?language=``; else the page's)."""
    store, w = services().store, i18n.words()
    vocabulary = store.vocabulary(clinic)
    shown = lang.words(lang.supported(request.args.get("language")) or w.code)
    retired = len(vocabulary.tags) - len(vocabulary.active())
    return render("tag_preview.html", vocabulary=vocabulary, shown=shown, title=shown(N_("Progress tags")),
                  categories=picker.categories(vocabulary, shown, _clinic_language(clinic)),
                  therapist_only=shown(N_("Therapist only")), languages=list(lang.NAMES.items()),
                  retired=w.plural("{n} retired tag is not offered.", "{n} retired tags are not offered.", retired),
                  asked=lang.supported(request.args.get("lang")), direction_names=DIRECTION_NAMES)

"""Vocabulary changes in the service: one admin edit, an import applied to the store, and the news of
a new version told to the core.

Reading and writing vocabulary files is :mod:`progress_plugin.fhir.vocabulary_files`'s. Every path that
stores a new version (the admin API, ``progress-plugin vocab``, an import) then calls :func:`changed`,
which dispatches :class:`~progress_plugin.core.events.VocabularyChanged` through the runtime; the core
answers with what the host should hear (the new CodeSystem and ValueSet).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.fhir import writeback
from progress_plugin.errors import PreconditionFailed, ValidationError
from progress_plugin.fhir.vocabulary_files import Parsed, Problems, fits
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store
from progress_plugin.core import categories
from progress_plugin.core.vocabulary import Tag, Vocabulary, merged
from progress_plugin.core.words import N_, msg


# -- single edits -------------------------------------------------------------------------
def change(current: Vocabulary, op: str, code: str, tag: Tag | None = None,
           changes: dict | None = None, new_category: bool = False) -> tuple[Vocabulary, str]:
    """One admin edit of ``current``: ``(next version, change summary)``. ``op`` is add, edit, retire or restore.

    A tag's category must be one ``current`` knows (:func:`progress_plugin.core.categories.known`)
    unless ``new_category`` (or ``"new_category": True`` among an edit's ``changes``) asks for a new one.
    Problems come back per field (``label``, ``code``, ...), as the admin entered them.
    """
    if op == "add":
        if tag.status != "active":
            raise ValidationError({"status": [N_("A new tag is active; retire it afterwards if needed.")]})
        categories.check(current, tag.category, new_category)
        _labels_free(current, tag)
        return current.add(tag), f"add {tag.code}"
    if op == "edit":
        changes = dict(changes or {})
        new_category = bool(changes.pop("new_category", False)) or new_category
        old = current.resolve(code)
        if "code" in changes and changes["code"] != code:
            raise ValidationError({"code": [N_("Codes are immutable; add a new tag and retire this one instead.")]})
        changes.pop("code", None)
        if "category" in changes and changes["category"] != old.category:
            categories.check(current, changes["category"], new_category)
        _labels_free(current, replace(old, **merged(old, changes)))
        new = current.edit(code, **changes)
        edited = dict.fromkeys(f.split(".")[0] for item in current.diff(new)["edited"] for f in item["fields"])
        return new, f"edit {code} {','.join(edited)}".strip()
    if op in ("retire", "restore"):
        new = current.retire(code) if op == "retire" else current.restore(code)
        return new, f"{op} {code}"
    raise ValueError(f"unknown vocabulary change {op!r}")


def _labels_free(current: Vocabulary, tag: Tag) -> None:
    """``tag``'s labels, the base one and each language's, are not another tag's in its category
    (a retired tag's included: it keeps its label)."""
    category = tag.category.casefold()
    mine = dict(tag.labels)
    for other in current.tags:
        if other.code == tag.code or other.category.casefold() != category:
            continue
        state = "" if other.active else N_(" (retired)")
        if other.label.casefold() == tag.label.casefold():
            raise ValidationError({"label": [msg("Label '{label}' is already used in category '{category}' by tag "
                                                 "'{code}'{state}.", label=tag.label, category=tag.category,
                                                 code=other.code, state=state)]})
        theirs = dict(other.labels)
        for language, label in mine.items():
            if language in theirs and theirs[language].casefold() == label.casefold():
                raise ValidationError({"labels": {language: [msg(
                    "Label '{label}' in '{language}' is already used in category '{category}' by tag "
                    "'{code}'{state}.", label=label, language=language, category=tag.category,
                    code=other.code, state=state)]}})


# -- importing ----------------------------------------------------------------------------
def apply(store: Store, clinic_id: str, parsed: Parsed, actor: str, now: datetime,
          expected_version: int | None = None, new_categories: bool = False) -> tuple[Vocabulary, bool]:
    """Make the file the clinic's vocabulary: ``(vocabulary, changed)``.

    Codes the file does not name stay, retired. The same content again makes no new version.
    A category the vocabulary does not know is refused unless ``new_categories`` allows new ones.
    A stale ``expected_version`` raises :class:`PreconditionFailed` and changes nothing; a clinic that
    does not exist raises :class:`NotFound` naming the commands that create one (never made here).
    """
    current = store.vocabulary(clinic_id)
    if expected_version is not None and expected_version != current.version:
        raise PreconditionFailed(msg("vocabulary is at version {current}, not {expected}; reload and try again",
                                     current=current.version, expected=expected_version), current=current.version)
    problems = Problems()
    fits(list(zip(parsed.paths, parsed.tags)), current, problems, new_categories)
    problems.raise_if_any()
    new = current.replace_all(parsed.tags)
    if current.same_tags(new.tags):
        return current, False
    summary = current.diff(new)
    counts = " ".join(f"{k}={len(v)}" for k, v in summary.items() if v)
    store.save_vocabulary(clinic_id, new, actor, f"import {parsed.kind} {counts}".strip(), now,
                          expected_version=current.version)
    return new, True


def changed(runtime: Runtime, clinic_id: str, vocabulary: Vocabulary, actor: str, now: datetime,
            queue: bool) -> list[fx.Effect]:
    """Tell the core that ``vocabulary`` is the clinic's new stored version; returns the core's effects.

    Call after each change is saved. With ``queue`` (a host is configured), the effects for the host
    (the version's CodeSystem and ValueSet) are queued in the same transaction, for the worker to
    send. Keys are per version, so calling twice queues once; a publish missed by a crash is made
    good by the next change, which sends the whole vocabulary again.
    """
    with runtime.store.begin() as conn:
        effects = runtime.dispatch(ev.VocabularyChanged(clinic_id, now, vocabulary, actor), actor, conn=conn)
        if queue:
            writeback.enqueue(conn, effects, {}, now)
    return effects

"""A tag's texts in several languages (pure): kept frozen, looked up with fallbacks, merged by an
edit and checked. :mod:`progress_plugin.core.vocabulary` uses them for its tags.

A tag's ``label`` and ``description`` are its base texts, in :data:`BASE_LANGUAGE` (English, as
the default tags are written) unless a clinic wrote them otherwise. Its ``labels`` and
``descriptions`` hold its texts in other languages, by catalog language code (``hi``); in JSON
each is an object, ``{"hi": "एक कदम आगे"}``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from progress_plugin.core.words import N_, msg

LABEL_MAX = 80
DESCRIPTION_MAX = 300
#: A language code of the catalogs' shape: ``hi``, ``en`` (2 or 3 lower-case letters).
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
#: The language of the base ``label`` and ``description``: a request for it gets them, unless the
#: tag has its own text for it in ``labels``/``descriptions``.
BASE_LANGUAGE = "en"

#: The names people read for the default categories and for the directions (translated where shown).
CATEGORY_NAMES = {"movement": N_("Movement"), "awareness": N_("Awareness"), "action": N_("Action"),
                  "relationship": N_("Relationship"), "therapist": N_("Therapist")}
DIRECTION_NAMES = {"toward": N_("Toward"), "steady": N_("Steady"), "mixed": N_("Mixed"), "away": N_("Away"),
                   "none": N_("No direction")}

#: Texts by language, frozen: ``(("hi", "..."), ...)``, sorted by language.
Texts = tuple


def freeze(value) -> Texts:
    """``value`` (a mapping, or pairs of language and text) as frozen :data:`Texts`."""
    if not value:
        return ()
    pairs = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted(((k, v) for k, v in pairs), key=lambda kv: str(kv[0])))


def text_in(texts: Texts, base: str, language: str | None, fallback: str | None = None) -> str:
    """The text in ``language``; else in ``fallback`` (the clinic's default language); else ``base``.
    Asking for :data:`BASE_LANGUAGE` gives ``base`` when ``texts`` has none for it. ``hi-IN`` is ``hi``."""
    found = dict(texts)
    for code in (language, fallback):
        if not code:
            continue
        code = code.replace("_", "-").split("-", 1)[0].lower()
        if code in found:
            return found[code]
        if code == BASE_LANGUAGE:
            return base
    return base


def merge(texts: Texts, changes) -> dict:
    """``texts`` with ``changes`` applied: a language given a text gets it, a language given None
    loses its text, the other languages keep theirs."""
    out = dict(texts)
    for language, text in dict(changes or {}).items():
        if text is None:
            out.pop(language, None)
        else:
            out[language] = text
    return out


def category_label(category: str, words=None) -> str:
    """The name people read for ``category``: the catalogs' for a default one (said by ``words``, a
    :class:`~progress_plugin.core.words.Words`), else the code made readable."""
    name = CATEGORY_NAMES.get(category)
    if name is None:
        return category.replace("-", " ").capitalize()
    return words(name) if words is not None else name


def direction_label(direction: str, words=None) -> str:
    """The name people read for a direction, said by ``words`` when given."""
    name = DIRECTION_NAMES.get(direction, direction)
    return words(name) if words is not None and direction in DIRECTION_NAMES else name


def check(i: int, tag, at: list, seen_labels: dict, add) -> None:
    """The rules of tag ``i``'s texts per language, reported through ``add(i, field, message, language)``:
    language codes of the catalogs' shape, lengths, and no label twice in one language within a category
    (``seen_labels`` remembers them across tags, by ``(language, category, label)``)."""
    category = (tag.category or "").casefold()
    for name, limit, texts in (("labels", LABEL_MAX, tag.labels), ("descriptions", DESCRIPTION_MAX, tag.descriptions)):
        for language, text in texts:
            where = str(language)
            if not isinstance(language, str) or not LANGUAGE_RE.match(language):
                add(i, name, msg("Not a language code: '{language}'. Give one such as 'hi' or 'en'.",
                                 language=where), where)
            elif not isinstance(text, str) or not 1 <= len(text) <= limit:
                add(i, name, msg("Labels are 1-{max} characters.", max=limit) if name == "labels"
                    else msg("Descriptions are 1-{max} characters.", max=limit), where)
            elif name == "labels":
                key = (language, category, text.casefold())
                if key in seen_labels:
                    add(i, name, msg("Duplicate label '{label}' in '{language}' in category '{category}' "
                                     "(also at {at}).", label=text, language=language, category=tag.category,
                                     at=at[seen_labels[key]]), language)
                else:
                    seen_labels[key] = i

"""The console's tag forms: what a form holds, how it becomes the API's input, where each problem is shown,
and what changed while a form was open.

A form's values are plain strings by field name: ``code``, ``label_<language>`` and
``description_<language>`` for each catalog language (the base texts are those of
:data:`~progress_plugin.core.vocabulary.BASE_LANGUAGE`), ``category`` (a known category, or
:data:`NEW` with ``new_category`` naming it), ``direction``, ``audience`` and ``role`` (``none`` for
no role). :func:`tag_input` and :func:`edit_input` turn them into the admin API's input, which the
same schemas check (:data:`~progress_plugin.schemas.tag_schema`, :data:`~progress_plugin.schemas.tag_edit_schema`);
:func:`field_problems` puts each problem beside its field.
"""
from __future__ import annotations

import re

from progress_plugin import lang
from progress_plugin.core.vocabulary import BASE_LANGUAGE, Tag, Vocabulary, category_label
from progress_plugin.core.words import N_, Words
from progress_plugin.errors import ValidationError
from progress_plugin.schemas import load, tag_edit_schema, tag_schema
from progress_plugin.web.console.views import DIRECTION_NAMES

#: The category select's choice for a category the vocabulary does not have yet.
NEW = "_new"
#: The form's fields, in the order a page lists its problems.
LANGUAGE_FIELDS = tuple(f"{kind}_{code}" for kind in ("label", "description") for code in lang.LANGUAGES)
FIELDS = ("code", *LANGUAGE_FIELDS, "category", "new_category", "direction", "audience", "role")
MISSING = "Missing data for required field."
#: What a form says for a required field left empty, instead of the schema's general words.
REQUIRED = {"code": N_("Enter a code: letters, digits, '-', '.' or '_'."),
            f"label_{BASE_LANGUAGE}": N_("Enter the label in English."),
            "category": N_("Choose a category."), "new_category": N_("Name the new category."),
            "direction": N_("Choose a direction.")}
#: How a field is named in the summary of what someone else changed.
FIELD_NAMES = {"label": N_("label"), "description": N_("description"), "category": N_("category"),
               "direction": N_("direction"), "audience": N_("who sees it"), "role": N_("role")}
AUDIENCE_NAMES = {"all": N_("everyone, the client too"), "therapist": N_("the therapist only")}
ROLE_NAMES = {"review": N_("review"), "strain": N_("strain"), "repair": N_("repair")}


def values_of(tag: Tag) -> dict[str, str]:
    """The form's values for ``tag`` as it is."""
    out = {"code": tag.code, "category": tag.category, "new_category": "", "direction": tag.direction,
           "audience": tag.audience, "role": tag.role or "none"}
    for kind, base, texts in (("label", tag.label, dict(tag.labels)), ("description", tag.description,
                                                                         dict(tag.descriptions))):
        for code in lang.LANGUAGES:
            out[f"{kind}_{code}"] = texts.get(code, base if code == BASE_LANGUAGE else "")
    return out


def read(form) -> dict[str, str]:
    """The values a form sent (a field it left out is empty), trimmed."""
    return {name: (form.get(name) or "").strip() for name in FIELDS}


def slug(text: str) -> str:
    """A code made from a label: ``Named a need`` gives ``named-a-need`` (empty when nothing Latin is left)."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:64].strip("-")


def _category(values: dict) -> tuple[str, bool]:
    """The category the form names, and whether it asks for a new one."""
    if values["category"] == NEW:
        return re.sub(r"\s+", "-", values["new_category"].casefold()), True
    return values["category"], False


def _texts(values: dict, kind: str, removable: bool) -> dict:
    found = {code: values[f"{kind}_{code}"] for code in lang.LANGUAGES if code != BASE_LANGUAGE}
    return {k: (v or None) for k, v in found.items() if v or removable}


def tag_input(values: dict) -> tuple[Tag, bool]:
    """The tag an add form describes, checked by the API's schema, and whether its category is new on
    purpose. An empty code is made from the English label (and written back into ``values``)."""
    if not values["code"]:
        values["code"] = slug(values[f"label_{BASE_LANGUAGE}"])
    category, new = _category(values)
    data = {"code": values["code"], "label": values[f"label_{BASE_LANGUAGE}"],
            "description": values[f"description_{BASE_LANGUAGE}"], "category": category,
            "direction": values["direction"], "audience": values["audience"] or "all",
            "role": None if values["role"] in ("", "none") else values["role"],
            "labels": _texts(values, "label", False), "descriptions": _texts(values, "description", False)}
    return load(tag_schema, {k: v for k, v in data.items() if v != "" or k == "description"}), new


def edit_input(values: dict, opened: Tag) -> tuple[dict, bool]:
    """The changes an edit form makes to ``opened`` (the tag as the form showed it), checked by the API's
    schema, and whether the category is new on purpose. Only the fields changed are sent, so an edit
    re-applied on a later version leaves what someone else changed alone."""
    before, mine = values_of(opened), changed(values, opened)
    data: dict = {}
    for name in mine:
        kind, _, code = name.partition("_")
        if name in LANGUAGE_FIELDS and code == BASE_LANGUAGE:
            data[kind] = values[name]
        elif name in LANGUAGE_FIELDS:
            data.setdefault(kind + "s", {})[code] = values[name] or None
        elif name in ("category", "new_category"):
            data["category"] = _category(values)[0]
            if data["category"] == before["category"]:
                del data["category"]
        elif name in ("direction", "audience"):
            data[name] = values[name]
        elif name == "role":
            data["role"] = None if values["role"] == "none" else values["role"]
    if not data:
        raise ValidationError({"_schema": [N_("Nothing was changed. Change a field, or go back to the tags.")]})
    return load(tag_edit_schema, data), _category(values)[1]


def changed(values: dict, tag: Tag) -> list[str]:
    """The form fields whose values differ from ``tag``'s."""
    before = values_of(tag)
    return [name for name in FIELDS if name != "code" and values.get(name, "") != before[name]
            and not (name == "new_category" and values.get("category") != NEW)]


def field_problems(exc: ValidationError, values: dict, words: Words) -> dict[str, list[str]]:
    """Each problem of ``exc`` said in ``words``' language under the field it belongs to; those of no
    field under ``_form``."""
    out: dict[str, list[str]] = {}
    for path, messages in exc.paths().items():
        name = _field_of(path, values)
        if name in REQUIRED and (values.get(name) == "" or MISSING in messages):
            out[name] = [words(REQUIRED[name])]          # left empty: say what to do, once
            continue
        out.setdefault(name, []).extend(words.say(message) for message in messages)
    return out


def _field_of(path: str, values: dict) -> str:
    head, _, language = path.partition(".")
    if head in ("label", "description"):
        return f"{head}_{BASE_LANGUAGE}"
    if head in ("labels", "descriptions") and language in lang.LANGUAGES:
        return f"{head[:-1]}_{language}"
    if head == "category":
        return "new_category" if values.get("category") == NEW else "category"
    return head if head in FIELDS else "_form"


# -- what changed while the form was open ---------------------------------------------------
def stale_values(values: dict, opened: Tag, current: Tag) -> tuple[dict, dict[str, str]]:
    """An edit form opened on ``opened`` and sent when the tag is ``current``: the values to show again
    (the admin's own changes, over the tag as it is now) and, for each field both changed differently,
    what it is now."""
    now = values_of(current)
    mine = changed(values, opened)
    theirs = set(changed(now, opened))
    shown = {**now, **{name: values[name] for name in mine}}
    if "category" in mine:
        shown["new_category"] = values["new_category"]
    conflicts = {name: now[name] for name in mine if name in theirs and now[name] != values[name]}
    return shown, conflicts


def what_changed(old: Vocabulary, new: Vocabulary, words: Words, fallback: str | None = None) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence each, in ``words``' language (a tag named by its
    label in that language)."""
    diff = old.diff(new)

    def named(code: str) -> str:
        tag = new.get(code) or old.get(code)
        return tag.label_in(words.code, fallback) if tag is not None else code

    lines = [words(N_("Added the tag “{label}”."), label=named(c)) for c in diff["added"]]
    lines += [words(N_("Retired the tag “{label}”."), label=named(c)) for c in diff["retired"]]
    lines += [words(N_("Restored the tag “{label}”."), label=named(c)) for c in diff["restored"]]
    for item in diff["edited"]:
        for field, (was, now) in item["fields"].items():
            lines.append(words(N_("Changed the {field} of “{label}”: “{old}” became “{new}”."),
                               field=field_name(field, words), label=named(item["code"]),
                               old=shown_value(field, was, words), new=shown_value(field, now, words)))
    return lines


def field_name(field: str, words: Words) -> str:
    """A field of :meth:`Vocabulary.diff` as a person reads it: ``labels.hi`` is "label in हिन्दी"."""
    head, _, language = field.partition(".")
    if language:
        return words(N_("{field} in {language}"), field=words(FIELD_NAMES[head[:-1]]),
                     language=lang.NAMES.get(language, language))
    return words(FIELD_NAMES[head]) if head in FIELD_NAMES else head


def shown_value(field: str, value, words: Words) -> str:
    """A value of :meth:`Vocabulary.diff` as a person reads it (an absent one is "none")."""
    if value in (None, ""):
        return words(N_("none"))
    if field == "category":
        return category_label(value, words)
    if field == "direction":
        return words(DIRECTION_NAMES[value]) if value in DIRECTION_NAMES else value
    names = {"audience": AUDIENCE_NAMES, "role": ROLE_NAMES}.get(field, {})
    return words(names[value]) if value in names else str(value)


def status_words(carried: int, retiring: bool, words: Words) -> str:
    """What retiring (or restoring) a tag carried by ``carried`` notes means, with the right plural."""
    if retiring:
        notes = (words(N_("No note carries this tag yet.")) if carried == 0 else
                 words.plural("{n} note carries this tag; it keeps its meaning.",
                              "{n} notes carry this tag; they keep their meaning.", carried))
        return notes + " " + words(N_("Once retired, it can no longer be applied to a note."))
    notes = (words(N_("No note carries this tag yet.")) if carried == 0 else
             words.plural("{n} note carries this tag.", "{n} notes carry this tag.", carried))
    return notes + " " + words(N_("Once restored, it can be applied again."))


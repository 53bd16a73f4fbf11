"""What the console says about vocabulary versions: a stored change said plainly, and two versions
compared tag by tag (the history's diff and an import's preview). Who made a version is :mod:`.who`.

Nothing here reads the store or the request: the pages hand in the versions and the words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from progress_plugin import lang
from progress_plugin.core.vocabulary import Tag, Vocabulary
from progress_plugin.core.words import N_, Words
from progress_plugin.web.console.views import CATEGORY_NAMES, DIRECTION_NAMES, TAG_ROLES

#: Each field of a tag, as the console names it (texts in other languages are named by their language).
FIELD_NAMES = {"label": N_("Label"), "description": N_("Description"), "category": N_("Category"),
               "direction": N_("Direction"), "audience": N_("Who sees it"), "role": N_("Role"),
               "status": N_("Status")}
#: The fields an ``edit`` change names, as a sentence names them.
EDITED_NAMES = {"label": N_("label"), "description": N_("description"), "category": N_("category"),
                "direction": N_("direction"), "audience": N_("who sees it"), "role": N_("role"),
                "labels": N_("labels in other languages"), "descriptions": N_("descriptions in other languages")}
AUDIENCE_NAMES = {"all": N_("everyone, the client too"), "therapist": N_("the therapist only")}
STATUS_NAMES = {"active": N_("in use"), "retired": N_("retired")}
#: How a tag changed, said in words (never by colour alone).
MARKS = {"added": N_("Added"), "removed": N_("Removed"), "retired": N_("Retired"), "restored": N_("Restored"),
         "edited": N_("Changed")}
KINDS = {"json": N_("the plugin's JSON file"), "fhir-bundle": N_("a FHIR Bundle"),
         "fhir-codesystem": N_("a FHIR CodeSystem")}
FIELDS = ("label", "description", "category", "direction", "audience", "role")
CHANGE_RE = re.compile(r"^(add|edit|retire|restore) (\S+)(?: (\S+))?$")
IMPORT_RE = re.compile(r"^import (\S+)((?: \w+=\d+)*)$")


@dataclass(frozen=True)
class Row:
    """One field of one tag in two versions; ``None`` where the version has no value."""

    name: str
    old: str | None
    new: str | None
    language: str | None = None      # the language of the values, for a text in one language


@dataclass
class Changed:
    """One tag that differs between two versions, with how (``marks``) and its changed fields."""

    code: str
    label: str
    marks: list[str]
    rows: list[Row] = field(default_factory=list)


@dataclass
class Comparison:
    changed: list[Changed]
    counts: dict[str, int]           # added, removed, retired, restored, edited, unchanged

    @property
    def empty(self) -> bool:
        return not self.changed


def _value(name: str, value, words: Words) -> str | None:
    if value is None or value == "":
        return None
    names = {"category": CATEGORY_NAMES, "direction": DIRECTION_NAMES, "audience": AUDIENCE_NAMES,
             "role": TAG_ROLES, "status": STATUS_NAMES}.get(name)
    return words(names[value]) if names and value in names else str(value)


def _field_name(name: str, words: Words) -> tuple[str, str | None]:
    """A field's name, and the language of its values when it is a text in one language."""
    if "." in name:
        kind, language = name.split(".", 1)
        template = N_("Label in {language}") if kind == "labels" else N_("Description in {language}")
        return words(template, language=lang.NAMES.get(language, language)), language
    return words(FIELD_NAMES.get(name, name)), None


def _row(name: str, old, new, words: Words) -> Row:
    shown, language = _field_name(name, words)
    kind = name.split(".", 1)[0]
    return Row(shown, _value(kind, old, words), _value(kind, new, words), language)


def _all_rows(tag: Tag, words: Words, new: bool) -> list[Row]:
    """Every field of a tag that one version has and the other lacks."""
    pairs = [(f, getattr(tag, f)) for f in FIELDS] + [("status", tag.status)]
    pairs += [(f"labels.{k}", v) for k, v in tag.labels] + [(f"descriptions.{k}", v) for k, v in tag.descriptions]
    return [_row(name, None, value, words) if new else _row(name, value, None, words)
            for name, value in pairs if value not in (None, "")]


def compare(old: Vocabulary, new: Vocabulary, words: Words, fallback: str | None = None) -> Comparison:
    """``old`` and ``new`` side by side: each tag that differs, its marks and its fields in both."""
    diff = old.diff(new)
    before, after = {t.code: t for t in old.tags}, {t.code: t for t in new.tags}
    edited = {item["code"]: item["fields"] for item in diff["edited"]}
    touched = {c for kind in ("added", "removed", "retired", "restored") for c in diff[kind]} | set(edited)
    changed = []
    for code in [t.code for t in new.tags] + [c for c in diff["removed"]]:
        if code not in touched:
            continue
        tag = after.get(code) or before[code]
        item = Changed(code, tag.label_in(words.code, fallback), [])
        if code in diff["added"]:
            item.marks.append(words(MARKS["added"]))
            item.rows = _all_rows(tag, words, new=True)
        elif code in diff["removed"]:
            item.marks.append(words(MARKS["removed"]))
            item.rows = _all_rows(tag, words, new=False)
        else:
            for kind in ("retired", "restored"):
                if code in diff[kind]:
                    item.marks.append(words(MARKS[kind]))
                    item.rows.append(_row("status", before[code].status, tag.status, words))
            if code in edited:
                item.marks.append(words(MARKS["edited"]))
                item.rows += [_row(name, was, now, words) for name, (was, now) in edited[code].items()]
        changed.append(item)
    counts = {kind: len(diff[kind]) for kind in ("added", "removed", "retired", "restored")}
    counts["edited"] = len(edited)
    counts["unchanged"] = sum(1 for code in after if code in before and code not in touched)
    return Comparison(changed, counts)


def counts_said(counts: dict[str, int], words: Words, unchanged: bool = True) -> list[str]:
    """The counts of a comparison, one phrase each: those that are not zero, then the unchanged."""
    n = {kind: counts.get(kind, 0) for kind in ("added", "edited", "retired", "restored", "removed", "unchanged")}
    said = [words.plural("{n} tag added", "{n} tags added", n["added"]) if n["added"] else None,
            words.plural("{n} tag changed", "{n} tags changed", n["edited"]) if n["edited"] else None,
            words.plural("{n} tag retired", "{n} tags retired", n["retired"]) if n["retired"] else None,
            words.plural("{n} tag restored", "{n} tags restored", n["restored"]) if n["restored"] else None,
            words.plural("{n} tag removed", "{n} tags removed", n["removed"]) if n["removed"] else None]
    if unchanged:
        said.append(words.plural("{n} tag stays as it is", "{n} tags stay as they are", n["unchanged"]))
    return [phrase for phrase in said if phrase]


def _import_counts(text: str, words: Words) -> list[str]:
    found = {k: int(v) for k, v in (part.split("=") for part in text.split())}
    return counts_said(found, words, unchanged=False)


def change_said(change: str, vocabulary: Vocabulary | None, words: Words, fallback: str | None = None) -> str:
    """A version's stored change (``add named-a-need``, ``import json added=1``...) as a sentence in
    ``words``' language, naming tags by their label in ``vocabulary`` (the version the change made).
    A change the console does not know is given as stored."""
    if change == "default vocabulary":
        return words(N_("The default tags, as the plugin comes with them."))
    found = CHANGE_RE.match(change)
    if found:
        op, code, fields = found.groups()
        tag = next((t for t in vocabulary.tags if t.code == code), None) if vocabulary else None
        label = tag.label_in(words.code, fallback) if tag else code
        if op == "edit":
            names = [words(EDITED_NAMES[f]) if f in EDITED_NAMES else f for f in (fields or "").split(",") if f]
            if not names:
                return words(N_("Saved the tag “{label}” without a change."), label=label)
            return words(N_("Changed the tag “{label}”: {fields}."), label=label, fields=", ".join(names))
        sentences = {"add": N_("Added the tag “{label}”."), "retire": N_("Retired the tag “{label}”."),
                     "restore": N_("Restored the tag “{label}”.")}
        return words(sentences[op], label=label)
    found = IMPORT_RE.match(change)
    if found:
        kind = words(KINDS[found.group(1)]) if found.group(1) in KINDS else found.group(1)
        counts = _import_counts(found.group(2), words)
        if not counts:
            return words(N_("Imported {kind}."), kind=kind)
        return words(N_("Imported {kind}: {counts}."), kind=kind, counts=", ".join(counts))
    return change

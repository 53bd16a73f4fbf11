"""Vocabulary files, converted both ways: our JSON file, a FHIR Bundle (CodeSystem + ValueSet), a bare CodeSystem.

:func:`read` and :func:`parse` recognise the format and check the whole file before anything
changes; a :class:`ValidationError` carries every problem with its path (``tags.3.label``,
``entry.0.resource.concept.3.display``) and, when the file's text is known, its line.
:func:`export` and :func:`dumps` write a vocabulary out. Nothing here touches the store:
:mod:`progress_plugin.service.vocabulary_changes` applies an import.

FHIR concepts map to tags as: ``code`` = code, ``display`` = label, ``definition`` =
description (a definition equal to the display means no description, since the export writes
the label there when a tag has none), and the properties ``category``, ``direction``,
``audience``, ``status`` (or the standard ``inactive`` = true for a retired code) and ``role``
(absent: no role). In our JSON file a tag's ``role`` is null or absent when it has none.
A tag's texts in other languages are ``labels``/``descriptions`` objects in our JSON file and
``designation``s in FHIR (:mod:`progress_plugin.fhir.designations`).
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

import marshmallow as ma

from progress_plugin.core import categories
from progress_plugin.fhir import designations
from progress_plugin.fhir import resources as fhir
from progress_plugin.schemas import jsonio
from progress_plugin.errors import ValidationError
from progress_plugin.schemas import tag_schema, vocabulary_file_schema
from progress_plugin.core.vocabulary import SYSTEM, Tag, Vocabulary, check_tags
from progress_plugin.core.words import msg

FORMAT = "progress-plugin/vocabulary"
FORMATS = ("json", "fhir")
MAX_TAGS = 500
MAX_FILE_BYTES = 5 * 1024 * 1024    #: a vocabulary file larger than this is refused unread
NOT_A_VOCABULARY = ("Not a vocabulary file: expected {\"format\": \"progress-plugin/vocabulary\", ...}, "
                    "a FHIR Bundle holding a CodeSystem, or a FHIR CodeSystem.")

Path = tuple


@dataclass(frozen=True)
class Parsed:
    """A checked vocabulary file: its kind (``json``, ``fhir-bundle``, ``fhir-codesystem``) and tags."""

    kind: str
    tags: tuple[Tag, ...]
    paths: tuple[Path, ...]          # where each tag sits in the file, for messages


class Problems:
    """Problems collected by path; raised together as one :class:`ValidationError`."""

    def __init__(self):
        self.items: list[tuple[Path, str]] = []

    def add(self, path: Path, message: str) -> None:
        if (tuple(path), message) not in self.items:
            self.items.append((tuple(path), message))

    def add_marshmallow(self, prefix: Path, messages, rename: dict | None = None) -> None:
        for path, message in _walk(messages):
            if rename and path and path[0] in rename:
                path = rename[path[0]] + path[1:]
            self.add(prefix + path, message)

    def raise_if_any(self, lines: "LineIndex | None" = None) -> None:
        if not self.items:
            return
        nested: dict = {}
        for path, message in self.items:
            if lines is not None:        # a sentence that still knows its line and message (the console shows both)
                message = msg("line {line}: {message}", line=lines.line(path), message=message)
            path = path or ("_schema",)
            node = nested
            for key in path[:-1]:
                child = node.setdefault(key, {})
                if isinstance(child, list):          # messages and nested problems at one path
                    child = node[key] = {"_schema": child}
                node = child
            leaf = node.setdefault(path[-1], [])
            (leaf.setdefault("_schema", []) if isinstance(leaf, dict) else leaf).append(message)
        raise ValidationError(nested)


def _walk(messages, prefix: Path = ()):
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _walk(value, prefix + (key,))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for m in messages:
            yield prefix or ("_schema",), m
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            yield from _walk(value, prefix + (i,))
    else:
        yield prefix or ("_schema",), str(messages)


# -- reading ------------------------------------------------------------------------------
def read(text: str | bytes, current: Vocabulary | None = None, new_categories: bool = False) -> Parsed:
    """Parse a file's text (see :func:`parse`). Problems name their line as well as their path.

    The text is read by :func:`progress_plugin.schemas.jsonio.loads`, with its limits on size, nesting,
    numbers and characters; any problem is a :class:`ValidationError`."""
    if len(text) > MAX_FILE_BYTES:
        raise ValidationError({"_schema": [f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."]})
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError({"_schema": [f"The file is not UTF-8 text (byte {exc.start})."]}) from None
    try:
        data = jsonio.loads(text)
    except jsonio.NotJSON:
        raise
    except ValidationError as exc:                 # a number or a text the file may not hold: say where
        problems = Problems()
        problems.add_marshmallow((), exc.messages)
        problems.raise_if_any(LineIndex(text))
    return parse(data, current, lines=LineIndex(text), new_categories=new_categories)


def parse(data, current: Vocabulary | None = None, lines: "LineIndex | None" = None,
          new_categories: bool = False) -> Parsed:
    """Check a decoded file and return its tags, or raise one ValidationError with every problem.

    With ``current``, also checks that the import fits it: a label may not collide with a tag the
    import keeps as retired, and a category must be one ``current`` knows unless ``new_categories``.
    """
    problems = Problems()
    if not isinstance(data, dict):
        problems.add((), "Expected a JSON object. " + NOT_A_VOCABULARY)
        problems.raise_if_any(lines)
    if "format" in data or ("tags" in data and "resourceType" not in data):
        kind, found = "json", _our_file(data, problems)
    elif data.get("resourceType") == "Bundle":
        kind, found = "fhir-bundle", _bundle(data, problems)
    elif data.get("resourceType") == "CodeSystem":
        kind, found = "fhir-codesystem", _codesystem(data, (), problems)
    else:
        problems.add(("resourceType",) if "resourceType" in data else (), NOT_A_VOCABULARY)
        found = []
    if current is not None:            # a tag's category is said beside any other problem; labels need a sound file
        fits(found, current, problems, new_categories, labels=not problems.items)
    problems.raise_if_any(lines)
    return Parsed(kind, tuple(t for _, t in found), tuple(p for p, _ in found))


def _our_file(data: dict, problems: Problems) -> list[tuple[Path, Tag]]:
    try:
        loaded = vocabulary_file_schema.load(data)
        return [(("tags", i), tag) for i, tag in enumerate(loaded["tags"])]
    except ma.ValidationError as exc:
        problems.add_marshmallow((), exc.messages)
    # Report duplicates among the tags that are fine on their own too (marshmallow skips
    # schema-level checks once a field has failed).
    raw = data.get("tags")
    found = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            found.append((("tags", i), tag_schema.load(item)))
        except ma.ValidationError:
            pass
    _duplicates(found, problems)
    return found


def _bundle(data: dict, problems: Problems) -> list[tuple[Path, Tag]]:
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        problems.add(("entry",), "A Bundle needs entries: one CodeSystem, optionally its ValueSet.")
        return []
    systems, valuesets = [], []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind == "CodeSystem":
            systems.append(i)
        elif kind == "ValueSet":
            valuesets.append(i)
        else:
            problems.add(("entry", i), "Expected a CodeSystem or a ValueSet resource.")
    if len(systems) != 1:
        problems.add(("entry",), f"A Bundle needs exactly one CodeSystem; found {len(systems)}.")
        return []
    before = len(problems.items)
    found = _codesystem(entries[systems[0]]["resource"], ("entry", systems[0], "resource"), problems)
    if len(problems.items) > before:
        return found                               # the ValueSet is checked against a sound CodeSystem only
    active = {tag.code for _, tag in found if tag.active}
    for i in valuesets:
        _valueset(entries[i]["resource"], ("entry", i, "resource"), active, problems)
    return found


FIELD_OF = {"code": ("code",), "label": ("display",), "description": ("definition",)}
PROPERTIES = ("category", "direction", "audience", "status", "role")


def _codesystem(cs: dict, prefix: Path, problems: Problems) -> list[tuple[Path, Tag]]:
    if cs.get("url") != SYSTEM:
        problems.add(prefix + ("url",), f"Expected the progress tags CodeSystem, url {SYSTEM}.")
    concepts = cs.get("concept")
    if not isinstance(concepts, list) or not concepts:
        problems.add(prefix + ("concept",), "A CodeSystem needs at least one concept.")
        return []
    if len(concepts) > MAX_TAGS:
        problems.add(prefix + ("concept",), f"At most {MAX_TAGS} concepts.")
    found, where_of = [], {}
    for i, concept in enumerate(concepts):
        here = prefix + ("concept", i)
        if not isinstance(concept, dict):
            problems.add(here, "Expected a concept object.")
            continue
        if "concept" in concept:
            problems.add(here + ("concept",), "Nested concepts are not supported; list every tag at the top level.")
        data, where = _concept_fields(concept, here, problems)
        where_of[here] = where
        try:
            found.append((here, tag_schema.load(data)))
        except ma.ValidationError as exc:
            for path, message in _walk(exc.messages):
                if message == "Missing data for required field." and path[0] in PROPERTIES:
                    message = f"Missing the '{path[0]}' property."
                problems.add(where.get(tuple(path[:2]), where.get(path[0], here + path)), message)
    _duplicates(found, problems, where_of)
    return found


def _concept_fields(concept: dict, here: Path, problems: Problems) -> tuple[dict, dict]:
    """The tag fields of one concept, and where each came from in the file."""
    data, where = {}, {}
    for name, key in (("code", "code"), ("label", "display"), ("description", "definition")):
        if key in concept:
            data[name] = concept[key]
            where[name] = here + (key,)
    if data.get("description") is not None and data.get("description") == data.get("label"):
        data["description"] = ""
    inactive = None
    props = concept.get("property", [])
    if not isinstance(props, list):
        problems.add(here + ("property",), "Expected a list of properties.")
        props = []
    for j, prop in enumerate(props):
        code = prop.get("code") if isinstance(prop, dict) else None
        values = [k for k in (prop if isinstance(prop, dict) else {}) if k.startswith("value")]
        if code in PROPERTIES:
            if len(values) != 1:
                problems.add(here + ("property", j), f"The '{code}' property needs one value.")
                continue
            data[code] = prop[values[0]]
            where[code] = here + ("property", j, values[0])
        elif code == "inactive" and prop.get("valueBoolean") is True:
            inactive = here + ("property", j)
    if inactive is not None and "status" not in data:
        data["status"], where["status"] = "retired", inactive
    for name in PROPERTIES:
        where.setdefault(name, here + ("property",))
    if "designation" in concept:
        data["labels"], data["descriptions"], found = designations.read(concept["designation"], here + ("designation",),
                                                                        problems.add)
        where.update(found)
    return data, where


def _valueset(vs: dict, prefix: Path, active: set[str], problems: Problems) -> None:
    """A ValueSet beside the CodeSystem must list exactly its active codes (when it lists codes)."""
    includes = (vs.get("compose") or {}).get("include") if isinstance(vs.get("compose"), dict) else None
    for k, include in enumerate(includes if isinstance(includes, list) else []):
        if not isinstance(include, dict) or include.get("system") != SYSTEM or "concept" not in include:
            continue
        here = prefix + ("compose", "include", k)
        listed = set()
        for j, concept in enumerate(include["concept"] if isinstance(include["concept"], list) else []):
            code = concept.get("code") if isinstance(concept, dict) else None
            listed.add(code)
            if code not in active:
                problems.add(here + ("concept", j, "code"),
                             f"'{code}' is not an active code of the CodeSystem in this Bundle.")
        for code in sorted(active - listed):
            problems.add(here + ("concept",), f"The active code '{code}' is missing from the ValueSet.")


def _duplicates(found: list[tuple[Path, Tag]], problems: Problems, where_of: dict | None = None) -> None:
    """Duplicate codes, and duplicate labels (case-insensitive) within a category, in the base texts and
    in each language, by :func:`check_tags`, at their paths in the file (``where_of``: a concept's
    fields by the concept's path, when they sit elsewhere than at ``path + (field,)``)."""
    checked = check_tags([tag for _, tag in found], [path[-1] for path, _ in found])
    for i, fields in checked.items():
        where = (where_of or {}).get(found[i][0], {})
        for path, message in _walk(fields):
            problems.add(where.get(tuple(path), found[i][0] + tuple(path)), message)


def fits(found: list[tuple[Path, Tag]], current: Vocabulary, problems: Problems, new_categories: bool = False,
         labels: bool = True) -> None:
    """Tags the import does not name stay, retired; their labels stay taken within their category (checked only
    with ``labels``). A category ``current`` does not know (:func:`~progress_plugin.core.categories.known`) is a
    problem unless ``new_categories``."""
    choices = categories.known(current)
    for path, tag in found:
        refused = None if new_categories else categories.problem(tag.category, choices)
        if refused is not None:
            problems.add(path + ("category",), refused)
            problems.add(path + ("category",), categories.HOW_TO_ADD)
    if not labels:
        return
    incoming = {tag.code for _, tag in found}
    kept = {}
    for t in current.tags:
        if t.code not in incoming:
            kept[(None, t.category.casefold(), t.label.casefold())] = t
            kept.update({(language, t.category.casefold(), label.casefold()): t for language, label in t.labels})
    for path, tag in found:
        mine = [(None, tag.label, ("label",))] + [(language, label, ("labels", language)) for language, label in tag.labels]
        for language, label, field in mine:
            other = kept.get((language, tag.category.casefold(), label.casefold()))
            if other is not None:
                problems.add(path + field, msg(
                    "Label '{label}' in category '{category}' belongs to tag '{code}', which stays (retired) "
                    "because codes are never deleted; use another label or include '{code}' in the file.",
                    label=label, category=tag.category, code=other.code))


# -- writing ------------------------------------------------------------------------------
def export(vocabulary: Vocabulary, clinic_id: str, fmt: str = "json") -> dict:
    """The vocabulary as our JSON file (``json``) or as a FHIR Bundle of CodeSystem and ValueSet (``fhir``)."""
    if fmt == "json":
        return {"format": FORMAT, "version": vocabulary.version, "clinic_id": clinic_id,
                "tags": [tag.as_dict() for tag in vocabulary.tags]}
    if fmt == "fhir":
        return fhir.vocabulary_bundle(vocabulary)
    raise ValidationError({"format": [f"Must be one of: {', '.join(FORMATS)}."]})


def dumps(doc: dict) -> str:
    """The JSON text of an export. A lone surrogate stored before such text was refused is written as
    its ``\\uXXXX`` escape, so the text stays encodable (and a re-import says where it is)."""
    return jsonio.printable(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


# -- line numbers -------------------------------------------------------------------------
class LineIndex:
    """The line on which each value of a JSON text starts, by its path (the text must be valid JSON)."""

    _ws = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str):
        self.text = text
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self.starts: dict[Path, int] = {}
        self._decoder = json.JSONDecoder()
        try:
            self._value(0, ())
        except (ValueError, IndexError, RecursionError):
            pass                                   # lines are a courtesy; paths are always given

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest enclosing value that exists in the file."""
        path = tuple(path)
        while path and path not in self.starts:
            path = path[:-1]
        return bisect.bisect_left(self._newlines, self.starts.get(path, 0)) + 1

    def _skip(self, i: int) -> int:
        return self._ws.match(self.text, i).end()

    def _value(self, i: int, path: Path) -> int:
        i = self._skip(i)
        self.starts[path] = i
        ch = self.text[i]
        if ch == "{":
            i = self._skip(i + 1)
            if self.text[i] == "}":
                return i + 1
            while True:
                key, i = json.decoder.scanstring(self.text, self._skip(i) + 1)
                i = self._skip(i) + 1                  # past ':'
                i = self._skip(self._value(i, path + (key,)))
                if self.text[i] == "}":
                    return i + 1
                i += 1                                 # past ','
        if ch == "[":
            i = self._skip(i + 1)
            if self.text[i] == "]":
                return i + 1
            n = 0
            while True:
                i = self._skip(self._value(i, path + (n,)))
                n += 1
                if self.text[i] == "]":
                    return i + 1
                i += 1
        _, end = self._decoder.raw_decode(self.text, i)
        return end

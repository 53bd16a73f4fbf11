"""A tag's texts in other languages as FHIR ``designation``s (pure), both ways.

In the CodeSystem, each concept carries its label in another language as a designation with that
``language`` and the ``display`` use of terminology.hl7.org's designation-usage, and its
description with SNOMED CT's ``Definition`` use (900000000000550004, a description type of the
designation-use value set). The ValueSet's concepts carry the labels. Reading a file back,
a designation with either use (or with no ``use``, or ``preferredForLanguage``, both also a
display) gives the tag's text in its language; synonyms and other uses are left alone.
"""
from __future__ import annotations

from progress_plugin import lang
from progress_plugin.core.words import N_, msg

USAGE = "http://terminology.hl7.org/CodeSystem/designation-usage"
SNOMED = "http://snomed.info/sct"
DISPLAY_USE = {"system": USAGE, "code": "display", "display": "Display"}
DEFINITION_USE = {"system": SNOMED, "code": "900000000000550004", "display": "Definition"}
#: The ``use`` codings read as a label; a designation without ``use`` is one too.
LABEL_USES = {(USAGE, "display"), ("http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra", "preferredForLanguage")}
DEFINITION_USES = {(SNOMED, "900000000000550004")}


def designations(tag, definitions: bool = True) -> list[dict]:
    """``tag``'s texts in other languages as designations, by language: each label (display use) and,
    with ``definitions``, each description (definition use)."""
    out = [{"language": language, "use": DISPLAY_USE, "value": text} for language, text in tag.labels]
    if definitions:
        out += [{"language": language, "use": DEFINITION_USE, "value": text} for language, text in tag.descriptions]
    return sorted(out, key=lambda d: d["language"])


def with_designations(concept: dict, tag, definitions: bool = True) -> dict:
    """``concept`` with ``tag``'s :func:`designations`, when it has any."""
    found = designations(tag, definitions)
    return {**concept, "designation": found} if found else concept


def _use(designation: dict):
    use = designation.get("use")
    if use is None:
        return "labels"
    key = (use.get("system"), use.get("code")) if isinstance(use, dict) else None
    if key is None or not all(isinstance(part, str) for part in key):
        return None                                   # not a use this reads (and nothing to hash)
    return "labels" if key in LABEL_USES else "descriptions" if key in DEFINITION_USES else None


def read(value, here: tuple, add) -> tuple[dict, dict, dict]:
    """The labels and descriptions by language in a concept's ``designation`` list (``value``, found at
    path ``here``), and where each came from: ``{("labels", "hi"): path}``. A problem goes to
    ``add(path, message)``. A language tag is read as the catalogs' code (``hi-IN`` is ``hi``)."""
    texts: dict = {"labels": {}, "descriptions": {}}
    where: dict = {}
    if not isinstance(value, list):
        add(here, N_("Expected a list of designations."))
        return texts["labels"], texts["descriptions"], where
    for j, designation in enumerate(value):
        at = here + (j,)
        if not isinstance(designation, dict):
            add(at, N_("Expected a designation object."))
            continue
        kind = _use(designation)
        language = designation.get("language")
        if kind is None or language is None:
            continue                                  # a synonym, or no language to file it under
        if not isinstance(language, str):
            add(at + ("language",), N_("Expected a language code, such as 'hi'."))
            continue
        code = lang.supported(language) or language
        if code in texts[kind]:
            add(at, msg("A second text in '{language}' with the same use; give one per language.", language=code))
            continue
        texts[kind][code] = designation.get("value")
        where[(kind, code)] = at + ("value",) if lang.supported(language) else at + ("language",)
    return texts["labels"], texts["descriptions"], where

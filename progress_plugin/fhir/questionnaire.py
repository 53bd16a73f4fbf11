"""The intake section as an SDC Questionnaire (pure), generated from the intake definition.

The Questionnaire carries the section's rules, so that any renderer of Structured Data Capture
(SDC) forms enforces them without knowing the plugin:

- ``minValue``/``maxValue`` on every 0-10 rating and on the rank;
- ``questionnaire-maxOccurs`` on the goals group: at most three goals;
- ``enableWhen`` on follow-up questions: the planned review date only for "At the planned
  review", and the other way to say something isn't working only for "Another way";
- ``questionnaire-itemControl``: each help text is a ``help`` display item, each 0-10 rating a
  ``slider`` moving in steps of 1 (``questionnaire-sliderStepValue``);
- ``meta.profile`` of the SDC base profile;
- ``language`` (English, the language the section is written in) and the ``translation``
  extension on the title, every item's text and every option's display, for each other language
  the catalogs carry.
"""
from __future__ import annotations

from progress_plugin import lang
from progress_plugin.core import intake as intake_mod
from progress_plugin.core.intake import Field
from progress_plugin.core.words import Words

BASE = "https://progress-plugin.org/fhir"
EXT_ANSWERED_BY = f"{BASE}/StructureDefinition/answered-by"
EXT_THERAPIST_ONLY = f"{BASE}/StructureDefinition/therapist-only"

SDC_PROFILE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"
_CORE_EXT = "http://hl7.org/fhir/StructureDefinition/"
EXT_MIN_VALUE = _CORE_EXT + "minValue"
EXT_MAX_VALUE = _CORE_EXT + "maxValue"
EXT_MAX_OCCURS = _CORE_EXT + "questionnaire-maxOccurs"
EXT_ITEM_CONTROL = _CORE_EXT + "questionnaire-itemControl"
EXT_SLIDER_STEP = _CORE_EXT + "questionnaire-sliderStepValue"
EXT_TRANSLATION = _CORE_EXT + "translation"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"

#: The language the section is written in, and so the Questionnaire's ``language``.
LANGUAGE = lang.DEFAULT_LANGUAGE
ITEM_TYPES = {"text": "text", "choice": "choice", "boolean": "boolean", "date": "date",
              "integer": "integer", "goals": "group"}
DESCRIPTION = ("An intake section filled in by the therapist with the client, in the order of the conversation: "
               "what the client hopes to get from coming, what better would look like, small shifts, then up to "
               "three goals in the client's own words with a 0-10 rating, and how often to look again. "
               "Questions are worded to be read aloud to the client.")


def option_system(field_id: str) -> str:
    """The code system of a choice field's options."""
    return f"{BASE}/CodeSystem/{field_id}"


def other_link(field_id: str) -> str:
    """The linkId (and answer id) of the follow-up to a choice whose "other" option was picked."""
    return f"{field_id}_other"


def questionnaire() -> dict:
    """The intake section as an SDC Questionnaire with a canonical url and version."""
    others = tuple((code, lang.words(code)) for code in lang.LANGUAGES if code != LANGUAGE)
    return {
        "resourceType": "Questionnaire",
        "id": intake_mod.SECTION_ID,
        "meta": {"profile": [SDC_PROFILE]},
        "language": LANGUAGE,
        "url": intake_mod.SECTION_URL,
        "version": intake_mod.SECTION_VERSION,
        "name": "DefiningProgressTogether",
        **_said("title", intake_mod.TITLE, others),
        "status": "active",
        "subjectType": ["Patient"],
        "description": DESCRIPTION,
        "item": [_item(f, others) for f in intake_mod.FIELDS],
    }


def _said(key: str, text: str, others: tuple[tuple[str, Words], ...]) -> dict:
    """``{key: text}`` plus ``_key`` with a ``translation`` extension for each other language that
    says the marked string ``text`` differently (a catalog lacking it adds nothing)."""
    translations = []
    for code, words in others:
        said = words(text)
        if said != text:
            translations.append({"url": EXT_TRANSLATION, "extension": [{"url": "lang", "valueCode": code},
                                                                       {"url": "content", "valueString": said}]})
    return {key: text, f"_{key}": {"extension": translations}} if translations else {key: text}


def _control(code: str) -> dict:
    return {"url": EXT_ITEM_CONTROL, "valueCodeableConcept": {"coding": [{"system": ITEM_CONTROL_SYSTEM,
                                                                          "code": code}]}}


def _item(f: Field, others, prefix: str = "") -> dict:
    link = f"{prefix}{f.id}"
    item = {"linkId": link, **_said("text", f.label, others), "type": ITEM_TYPES[f.type], "required": f.required}
    ext = [{"url": EXT_ANSWERED_BY, "valueCode": f.answered_by}]
    if f.therapist_only:
        ext.append({"url": EXT_THERAPIST_ONLY, "valueBoolean": True})
    if f.min is not None:
        ext += [{"url": EXT_MIN_VALUE, "valueInteger": f.min}, {"url": EXT_MAX_VALUE, "valueInteger": f.max}]
        if (f.min, f.max) == (intake_mod.RATING_MIN, intake_mod.RATING_MAX):
            ext += [_control("slider"), {"url": EXT_SLIDER_STEP, "valueInteger": 1}]
    if f.repeats is not None:
        ext.append({"url": EXT_MAX_OCCURS, "valueInteger": f.repeats})
    item["extension"] = ext
    if f.enable_when is not None:
        question, code = f.enable_when
        item["enableWhen"] = [{"question": f"{prefix}{question}", "operator": "=",
                               "answerCoding": {"system": option_system(question), "code": code}}]
    if f.options:
        item["answerOption"] = [{"valueCoding": {"system": option_system(f.id), "code": o.code,
                                                 **_said("display", o.label, others)}} for o in f.options]
    children = [_item(c, others, link + ".") for c in f.children]
    if f.type == "goals":
        item["repeats"] = True
    if f.other_allowed:                 # the follow-up, asked only when "other" is picked
        children.append({"linkId": other_link(link), **_said("text", intake_mod.OTHER_LABEL, others),
                         "type": "string", "required": False,
                         "extension": [{"url": EXT_ANSWERED_BY, "valueCode": f.answered_by}],
                         "enableWhen": [{"question": link, "operator": "=",
                                         "answerCoding": {"system": option_system(f.id), "code": "other"}}]})
    if f.help:
        children.append({"linkId": f"{link}.help", **_said("text", f.help, others), "type": "display",
                         "extension": [_control("help")]})
    if children:
        item["item"] = children
    return item

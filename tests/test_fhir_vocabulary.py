"""Vocabulary files: formats, whole-file checks with paths and lines, and FHIR shapes."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin import schemas
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.errors import ValidationError
from progress_plugin.core.vocabulary import SYSTEM, Tag, Vocabulary, default

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vocabulary.json"


def custom() -> Vocabulary:
    """The default vocabulary plus a tag with no description, one therapist-only, and one retired."""
    v = default()
    v = v.add(Tag("named-a-need", "Named a need", "", "relationship", "toward"))
    v = v.add(Tag("noticed-own-pull", "Noticed my own pull", "Therapist's note to self.", "therapist", "none",
                  "therapist"))
    v = v.retire("came-back")
    return v


def problems_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        call()
    return exc.value.paths()


# -- export and round trips -------------------------------------------------------------------
@pytest.mark.parametrize("fmt,kind", [("json", "json"), ("fhir", "fhir-bundle")])
def test_export_then_read_round_trips(fmt, kind):
    v = custom()
    parsed = fhir_vocabulary.read(fhir_vocabulary.dumps(fhir_vocabulary.export(v, "clinic-a", fmt)))
    assert parsed.kind == kind
    assert v.same_tags(parsed.tags)
    assert [t.code for t in parsed.tags] == [t.code for t in v.tags]
    named = next(t for t in parsed.tags if t.code == "named-a-need")
    assert named.description == ""                                     # an empty description stays empty


def test_json_export_is_a_valid_vocabulary_file():
    doc = fhir_vocabulary.export(custom(), "clinic-a", "json")
    loaded = schemas.load(schemas.vocabulary_file_schema, copy.deepcopy(doc))
    assert doc["format"] == "progress-plugin/vocabulary" and doc["version"] == custom().version
    assert [t.code for t in loaded["tags"]] == [t.code for t in custom().tags]


def test_fhir_export_validates_with_fhir_resources_r4b():
    v = custom()
    bundle = fhir_vocabulary.export(v, "clinic-a", "fhir")
    get_fhir_model_class("Bundle").model_validate(bundle)
    cs, vs = (e["resource"] for e in bundle["entry"])
    cs_model = get_fhir_model_class("CodeSystem").model_validate(cs)
    vs_model = get_fhir_model_class("ValueSet").model_validate(vs)
    # retired codes stay in the CodeSystem with their status; the ValueSet holds the active ones only
    assert len(cs_model.concept) == len(v.tags)
    status = {c.code: next(p.valueCode for p in c.property if p.code == "status") for c in cs_model.concept}
    assert status["came-back"] == "retired" and status["step-forward"] == "active"
    listed = {c.code for c in vs_model.compose.include[0].concept}
    assert listed == {t.code for t in v.active()} and "came-back" not in listed


def test_a_bare_codesystem_imports_too():
    v = custom()
    cs = fhir_vocabulary.export(v, "clinic-a", "fhir")["entry"][0]["resource"]
    parsed = fhir_vocabulary.parse(cs)
    assert parsed.kind == "fhir-codesystem" and v.same_tags(parsed.tags)


def test_inactive_property_means_retired():
    cs = fhir_vocabulary.export(default(), "c", "fhir")["entry"][0]["resource"]
    concept = cs["concept"][0]
    concept["property"] = [p for p in concept["property"] if p["code"] != "status"]
    concept["property"].append({"code": "inactive", "valueBoolean": True})
    parsed = fhir_vocabulary.parse(cs)
    assert parsed.tags[0].status == "retired" and parsed.tags[1].status == "active"


def test_the_example_file_is_valid():
    parsed = fhir_vocabulary.read(EXAMPLE.read_text(encoding="utf-8"))
    assert parsed.kind == "json" and len(parsed.tags) >= 17
    assert {t.code for t in default().tags} <= {t.code for t in parsed.tags}


def test_roles_round_trip_as_a_declared_codesystem_property_and_in_our_json():
    v = custom().edit("moment-of-connection", role="repair").edit("progress-redefined", role=None)
    cs = fhir_vocabulary.export(v, "c", "fhir")["entry"][0]["resource"]
    (declared,) = [p for p in cs["property"] if p["code"] == "role"]
    assert declared["type"] == "code"
    roles = {c["code"]: [p["valueCode"] for p in c["property"] if p["code"] == "role"] for c in cs["concept"]}
    assert roles["moment-of-connection"] == ["repair"] and roles["strain-noticed"] == ["strain"]
    assert roles["progress-redefined"] == [] and roles["setback"] == []         # no role: no property
    for doc in (cs, fhir_vocabulary.export(v, "c", "json")):
        parsed = fhir_vocabulary.parse(doc)
        assert {t.code: t.role for t in parsed.tags if t.role} == {
            "moment-of-connection": "repair", "strain-noticed": "strain", "repair": "repair"}
        assert v.same_tags(parsed.tags)


def test_a_role_outside_the_three_is_named_in_either_format():
    cs = fhir_vocabulary.export(default(), "c", "fhir")["entry"][0]["resource"]
    cs["concept"][0]["property"].append({"code": "role", "valueCode": "closure"})
    assert problems_of(lambda: fhir_vocabulary.parse(cs)) == {
        "concept.0.property.4.valueCode": ["Must be one of: review, strain, repair."]}
    doc = fhir_vocabulary.export(default(), "c", "json")
    doc["tags"][1]["role"] = "Review"
    assert problems_of(lambda: fhir_vocabulary.parse(doc)) == {"tags.1.role": ["Must be one of: review, strain, repair."]}
    del doc["tags"][1]["role"]                                      # left out: no role
    assert fhir_vocabulary.parse(doc).tags[1].role is None


# -- whole-file checks ------------------------------------------------------------------------
def test_every_problem_of_a_json_file_is_reported_with_path_and_line():
    text = """{
  "format": "progress-plugin/vocabulary",
  "tags": [
    {"code": "a", "label": "Alpha", "category": "movement", "direction": "toward"},
    {"code": "a", "label": "Beta", "category": "movement", "direction": "toward"},
    {"code": "bad code", "label": "Gamma", "category": "movement", "direction": "sideways"},
    {"code": "d", "label": "", "category": "movement", "direction": "toward", "colour": "red"},
    {"code": "e", "label": "ALPHA", "category": "movement", "direction": "away"},
    {"code": "f", "label": "alpha", "category": "awareness", "direction": "away"}
  ]
}
"""
    found = problems_of(lambda: fhir_vocabulary.read(text))
    assert found == {
        "tags.1.code": ["line 5: Duplicate code 'a' (also at 0)."],
        "tags.2.code": ["line 6: Codes are 1-64 characters of letters, digits, '.', '_' or '-'."],
        "tags.2.direction": ["line 6: Must be one of: toward, steady, mixed, away, none."],
        "tags.3.label": ["line 7: Length must be between 1 and 80."],
        "tags.3.colour": ["line 7: Unknown field."],
        "tags.4.label": ["line 8: Duplicate label 'ALPHA' in category 'movement' (also at 0)."],
    }                                  # the same label in another category (tags.5) is fine


def test_a_duplicate_after_a_refused_tag_names_the_first_one_by_its_place_in_the_file():
    doc = {"format": "progress-plugin/vocabulary", "tags": [
        {"code": "bad code", "label": "Zero", "category": "movement", "direction": "toward"},
        {"code": "a", "label": "Alpha", "category": "movement", "direction": "toward"},
        {"code": "a", "label": "Beta", "category": "movement", "direction": "toward"}]}
    assert problems_of(lambda: fhir_vocabulary.parse(doc))["tags.2.code"] == ["Duplicate code 'a' (also at 1)."]
    bundle = fhir_vocabulary.export(default(), "c", "fhir")
    concepts = bundle["entry"][0]["resource"]["concept"]
    concepts[0]["display"] = ""
    concepts[2]["code"] = concepts[1]["code"]
    found = problems_of(lambda: fhir_vocabulary.parse(bundle))
    assert found["entry.0.resource.concept.2.code"] == [f"Duplicate code '{concepts[1]['code']}' (also at 1)."]


def test_every_problem_of_a_fhir_bundle_is_reported_with_its_fhir_path():
    bundle = fhir_vocabulary.export(default(), "c", "fhir")
    cs = bundle["entry"][0]["resource"]
    cs["concept"][1]["display"] = "x" * 81
    cs["concept"][2]["property"] = [p for p in cs["concept"][2]["property"] if p["code"] != "category"]
    cs["concept"][3]["property"][1]["valueCode"] = "upward"
    cs["concept"][4]["code"] = "step-forward"
    text = json.dumps(bundle, indent=2)
    found = problems_of(lambda: fhir_vocabulary.read(text))
    lines = text.splitlines()
    assert set(found) == {"entry.0.resource.concept.1.display", "entry.0.resource.concept.2.property",
                          "entry.0.resource.concept.3.property.1.valueCode", "entry.0.resource.concept.4.code"}
    assert found["entry.0.resource.concept.2.property"] == [
        found["entry.0.resource.concept.2.property"][0].split(":")[0] + ": Missing the 'category' property."]
    # each line number points at the offending value
    for path, needle in [("entry.0.resource.concept.1.display", "x" * 81),
                         ("entry.0.resource.concept.3.property.1.valueCode", "upward")]:
        line = int(found[path][0].split(":")[0].removeprefix("line "))
        assert needle in lines[line - 1]


def test_valueset_must_match_the_codesystem():
    bundle = fhir_vocabulary.export(default(), "c", "fhir")
    concepts = bundle["entry"][1]["resource"]["compose"]["include"][0]["concept"]
    concepts.pop(0)                                       # step-forward missing
    concepts.append({"code": "not-in-the-codesystem"})
    found = problems_of(lambda: fhir_vocabulary.parse(bundle))
    assert found == {
        "entry.1.resource.compose.include.0.concept.16.code":
            ["'not-in-the-codesystem' is not an active code of the CodeSystem in this Bundle."],
        "entry.1.resource.compose.include.0.concept._schema":
            ["The active code 'step-forward' is missing from the ValueSet."],
    }


@pytest.mark.parametrize("data,path", [
    ([], "_schema"),
    ({"resourceType": "Patient"}, "resourceType"),
    ({"hello": 1}, "_schema"),
    ({"resourceType": "Bundle", "entry": []}, "entry"),
    ({"resourceType": "CodeSystem", "url": "http://snomed.info/sct", "concept": []}, "url"),
    ({"format": "progress-plugin/vocabulary", "tags": []}, "tags"),
    ({"format": "other", "tags": [{"code": "a", "label": "A", "category": "movement", "direction": "toward"}]},
     "format"),
])
def test_files_that_are_not_vocabularies_are_refused(data, path):
    assert path in problems_of(lambda: fhir_vocabulary.parse(data))


def test_broken_json_names_its_line_and_column():
    found = problems_of(lambda: fhir_vocabulary.read('{\n  "format": "progress-plugin/vocabulary",\n  "tags": [,]\n}'))
    assert found["_schema"][0].startswith("line 3 column 12: not valid JSON")


def test_line_index_finds_nested_values():
    text = '{"a": [\n  1,\n  {"b":\n    "x"}\n], "c": {}}'
    index = fhir_vocabulary.LineIndex(text)
    assert index.line(("a", 0)) == 2 and index.line(("a", 1)) == 3 and index.line(("a", 1, "b")) == 4
    assert index.line(("a", 1, "missing", 3)) == 3 and index.line(("c",)) == 5


def test_the_codesystem_url_is_ours():
    assert fhir_vocabulary.export(default(), "c", "fhir")["entry"][0]["resource"]["url"] == SYSTEM


# -- hostile files ----------------------------------------------------------------------------------
def test_a_file_nested_ten_thousand_deep_is_a_validation_error():
    assert problems_of(lambda: fhir_vocabulary.read("[" * 10_000 + "]" * 10_000)) == {
        "_schema": ["JSON nested more than 64 levels deep."]}


def test_a_5000_digit_integer_is_named_by_path_and_line():
    text = '{\n  "format": "progress-plugin/vocabulary",\n  "version": ' + "9" * 5000 + ',\n  "tags": []\n}'
    found = problems_of(lambda: fhir_vocabulary.read(text.encode()))
    assert list(found) == ["version"] and found["version"][0].startswith("line 3: Number out of range")


def test_text_a_store_cannot_keep_is_named_by_path_and_line():
    doc = fhir_vocabulary.export(default(), "clinic-a", "fhir")
    doc["entry"][0]["resource"]["concept"][2]["display"] = "Stir\ud800"
    found = problems_of(lambda: fhir_vocabulary.read(json.dumps(doc, indent=1)))
    (path,) = found
    assert path == "entry.0.resource.concept.2.display" and "lone surrogate" in found[path][0]
    assert found[path][0].startswith("line ")


# -- texts in several languages -----------------------------------------------------------------
DISPLAY = {"system": "http://terminology.hl7.org/CodeSystem/designation-usage", "code": "display"}
DEFINITION = {"system": "http://snomed.info/sct", "code": "900000000000550004"}


def with_hindi() -> Vocabulary:
    return custom().edit("named-a-need", labels={"hi": "ज़रूरत बताई", "en": "Named a need, out loud"},
                         descriptions={"hi": "अपनी ज़रूरत खुलकर कही।"})


@pytest.mark.parametrize("fmt", ["json", "fhir"])
def test_texts_per_language_round_trip_in_both_formats(fmt):
    v = with_hindi()
    parsed = fhir_vocabulary.read(fhir_vocabulary.dumps(fhir_vocabulary.export(v, "clinic-a", fmt)))
    assert v.same_tags(parsed.tags)
    named = next(t for t in parsed.tags if t.code == "named-a-need")
    assert dict(named.labels) == {"hi": "ज़रूरत बताई", "en": "Named a need, out loud"}
    assert dict(named.descriptions) == {"hi": "अपनी ज़रूरत खुलकर कही।"}


def test_the_codesystem_and_valueset_carry_designations_with_language_and_use():
    bundle = fhir_vocabulary.export(with_hindi(), "c", "fhir")
    cs, vs = (e["resource"] for e in bundle["entry"])
    concept = next(c for c in cs["concept"] if c["code"] == "setback")
    assert [(d["language"], {k: d["use"][k] for k in ("system", "code")}, d["value"]) for d in concept["designation"]] == [
        ("hi", DISPLAY, "एक कदम पीछे"),
        ("hi", DEFINITION, "एक कदम पीछे; जो रास्ता सीधी लकीर में नहीं चलता, उसमें ऐसा होना आम बात है।")]
    model = get_fhir_model_class("CodeSystem").model_validate(cs)
    assert {d.language for c in model.concept for d in (c.designation or [])} == {"hi", "en"}
    listed = {c["code"]: c for c in vs["compose"]["include"][0]["concept"]}
    assert [(d["language"], d["value"]) for d in listed["named-a-need"]["designation"]] == [
        ("en", "Named a need, out loud"), ("hi", "ज़रूरत बताई")]          # labels only, by language
    plain = next(c for c in custom().tags if c.code == "noticed-own-pull")
    assert "designation" not in next(c for c in fhir_vocabulary.export(custom(), "c", "fhir")["entry"][0][
        "resource"]["concept"] if c["code"] == plain.code)                  # none without texts


def test_designations_from_elsewhere_are_read_by_use_and_language():
    cs = fhir_vocabulary.export(default(), "c", "fhir")["entry"][0]["resource"]
    cs["concept"][0]["designation"] = [
        {"language": "hi-IN", "use": DISPLAY, "value": "आगे बढ़े"},             # a region tag: Hindi
        {"language": "hi", "use": {"system": "http://snomed.info/sct", "code": "900000000000013009"},
         "value": "एक और नाम"},                                               # a synonym: left alone
        {"use": DISPLAY, "value": "no language"},                              # nothing to file it under
        {"language": "hi", "use": DEFINITION, "value": "कुछ आगे बढ़ा।"}]
    cs["concept"][1]["designation"] = [{"language": "hi", "value": "टिके रहे"}]   # no use: a display
    parsed = fhir_vocabulary.read(json.dumps(cs))
    assert dict(parsed.tags[0].labels) == {"hi": "आगे बढ़े"} and dict(parsed.tags[0].descriptions) == {
        "hi": "कुछ आगे बढ़ा।"}
    assert dict(parsed.tags[1].labels) == {"hi": "टिके रहे"} and parsed.tags[1].descriptions == ()


def test_a_bad_designation_is_named_by_its_fhir_path_and_line():
    bundle = fhir_vocabulary.export(default(), "c", "fhir")
    cs = bundle["entry"][0]["resource"]
    cs["concept"][1]["designation"][0]["language"] = "fr"
    cs["concept"][2]["designation"][0]["value"] = "ल" * 81
    cs["concept"][3]["designation"].append({"language": "hi", "use": DISPLAY, "value": "दूसरा"})
    cs["concept"][4]["designation"][0]["value"] = "एक कदम आगे"               # concept 0's Hindi label
    cs["concept"][5]["designation"] = {"language": "hi"}
    text = json.dumps(bundle, indent=2)
    found = problems_of(lambda: fhir_vocabulary.read(text))
    at = "entry.0.resource.concept."
    assert {k: [m.split(": ", 1)[1] for m in v] for k, v in found.items()} == {
        at + "1.designation.0.language": ["Unknown language 'fr': give one of en, hi."],
        at + "2.designation.0.value": ["Length must be between 1 and 80."],
        at + "3.designation.2": ["A second text in 'hi' with the same use; give one per language."],
        at + "4.designation.0.value": ["Duplicate label 'एक कदम आगे' in 'hi' in category 'movement' (also at 0)."],
        at + "5.designation": ["Expected a list of designations."]}
    lines = text.splitlines()
    line = int(found[at + "1.designation.0.language"][0].split(":")[0].removeprefix("line "))
    assert '"fr"' in lines[line - 1]


def test_a_bad_text_per_language_in_our_json_file_is_named_by_path_and_line():
    doc = fhir_vocabulary.export(default(), "c", "json")
    doc["tags"][3]["labels"] = {"xx": "?", "hi": "एक कदम पीछे"}
    doc["tags"][2]["labels"] = {"hi": "एक कदम आगे"}
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    found = problems_of(lambda: fhir_vocabulary.read(text))
    assert set(found) == {"tags.3.labels.xx", "tags.2.labels.hi"}
    assert found["tags.3.labels.xx"][0].endswith("Unknown language 'xx': give one of en, hi.")
    assert found["tags.2.labels.hi"][0].endswith(
        "Duplicate label 'एक कदम आगे' in 'hi' in category 'movement' (also at 0).")
    line = int(found["tags.3.labels.xx"][0].split(":")[0].removeprefix("line "))
    assert '"xx"' in text.splitlines()[line - 1]


def test_a_version_exported_before_languages_imports_with_none():
    doc = fhir_vocabulary.export(default(), "c", "json")
    for tag in doc["tags"]:
        del tag["labels"], tag["descriptions"]
    parsed = fhir_vocabulary.read(json.dumps(doc))
    assert all(t.labels == () and t.descriptions == () for t in parsed.tags)

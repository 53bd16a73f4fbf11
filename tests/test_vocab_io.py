"""Vocabulary files: formats, whole-file checks with paths and lines, idempotent import,
the tag rules, and old notes keeping their meaning across versions."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin import schemas, vocab_io
from progress_plugin.errors import PreconditionFailed, ValidationError
from progress_plugin.vocabulary import SYSTEM, Tag, Vocabulary, default

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
    parsed = vocab_io.read(vocab_io.dumps(vocab_io.export(v, "clinic-a", fmt)))
    assert parsed.kind == kind
    assert v.same_tags(parsed.tags)
    assert [t.code for t in parsed.tags] == [t.code for t in v.tags]
    named = next(t for t in parsed.tags if t.code == "named-a-need")
    assert named.description == ""                                     # an empty description stays empty


def test_json_export_is_a_valid_vocabulary_file():
    doc = vocab_io.export(custom(), "clinic-a", "json")
    loaded = schemas.load(schemas.vocabulary_file_schema, copy.deepcopy(doc))
    assert doc["format"] == "progress-plugin/vocabulary" and doc["version"] == custom().version
    assert [t.code for t in loaded["tags"]] == [t.code for t in custom().tags]


def test_fhir_export_validates_with_fhir_resources_r4b():
    v = custom()
    bundle = vocab_io.export(v, "clinic-a", "fhir")
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
    cs = vocab_io.export(v, "clinic-a", "fhir")["entry"][0]["resource"]
    parsed = vocab_io.parse(cs)
    assert parsed.kind == "fhir-codesystem" and v.same_tags(parsed.tags)


def test_inactive_property_means_retired():
    cs = vocab_io.export(default(), "c", "fhir")["entry"][0]["resource"]
    concept = cs["concept"][0]
    concept["property"] = [p for p in concept["property"] if p["code"] != "status"]
    concept["property"].append({"code": "inactive", "valueBoolean": True})
    parsed = vocab_io.parse(cs)
    assert parsed.tags[0].status == "retired" and parsed.tags[1].status == "active"


def test_the_example_file_is_valid():
    parsed = vocab_io.read(EXAMPLE.read_text(encoding="utf-8"))
    assert parsed.kind == "json" and len(parsed.tags) >= 17
    assert {t.code for t in default().tags} <= {t.code for t in parsed.tags}


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
    found = problems_of(lambda: vocab_io.read(text))
    assert found == {
        "tags.1.code": ["line 5: Duplicate code 'a' (also at 0)."],
        "tags.2.code": ["line 6: Codes are 1-64 characters of letters, digits, '.', '_' or '-'."],
        "tags.2.direction": ["line 6: Must be one of: toward, steady, mixed, away, none."],
        "tags.3.label": ["line 7: Length must be between 1 and 80."],
        "tags.3.colour": ["line 7: Unknown field."],
        "tags.4.label": ["line 8: Duplicate label 'ALPHA' in category 'movement' (also at 0)."],
    }                                  # the same label in another category (tags.5) is fine


def test_every_problem_of_a_fhir_bundle_is_reported_with_its_fhir_path():
    bundle = vocab_io.export(default(), "c", "fhir")
    cs = bundle["entry"][0]["resource"]
    cs["concept"][1]["display"] = "x" * 81
    cs["concept"][2]["property"] = [p for p in cs["concept"][2]["property"] if p["code"] != "category"]
    cs["concept"][3]["property"][1]["valueCode"] = "upward"
    cs["concept"][4]["code"] = "step-forward"
    text = json.dumps(bundle, indent=2)
    found = problems_of(lambda: vocab_io.read(text))
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
    bundle = vocab_io.export(default(), "c", "fhir")
    concepts = bundle["entry"][1]["resource"]["compose"]["include"][0]["concept"]
    concepts.pop(0)                                       # step-forward missing
    concepts.append({"code": "not-in-the-codesystem"})
    found = problems_of(lambda: vocab_io.parse(bundle))
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
    assert path in problems_of(lambda: vocab_io.parse(data))


def test_broken_json_names_its_line_and_column():
    found = problems_of(lambda: vocab_io.read('{\n  "format": "progress-plugin/vocabulary",\n  "tags": [,]\n}'))
    assert found["_schema"][0].startswith("line 3 column 12: not valid JSON")


def test_line_index_finds_nested_values():
    text = '{"a": [\n  1,\n  {"b":\n    "x"}\n], "c": {}}'
    index = vocab_io.LineIndex(text)
    assert index.line(("a", 0)) == 2 and index.line(("a", 1)) == 3 and index.line(("a", 1, "b")) == 4
    assert index.line(("a", 1, "missing", 3)) == 3 and index.line(("c",)) == 5


# -- applying an import -----------------------------------------------------------------------
def test_import_twice_makes_one_version(store, now):
    store.ensure_clinic("clinic-a", now)
    parsed = vocab_io.read(vocab_io.dumps(vocab_io.export(custom(), "elsewhere", "json")))
    v2, changed = vocab_io.apply(store, "clinic-a", parsed, "ops", now)
    assert changed and v2.version == 2 and custom().same_tags(v2.tags)
    again, changed_again = vocab_io.apply(store, "clinic-a", parsed, "ops", now)
    assert not changed_again and again.version == 2
    assert [h["version"] for h in store.history("clinic-a")] == [1, 2]
    row = store.audit_rows("clinic-a")[-1]
    assert (row["actor"], row["action"], row["old_version"], row["new_version"]) == ("ops", "vocabulary.import", 1, 2)


def test_import_with_problems_changes_nothing(store, now):
    store.ensure_clinic("clinic-a", now)
    doc = vocab_io.export(custom(), "clinic-a", "json")
    doc["tags"][0]["label"] = ""
    doc["tags"][1]["code"] = "no spaces"
    before = (store.history("clinic-a"), store.audit_rows("clinic-a"))
    found = problems_of(lambda: vocab_io.read(vocab_io.dumps(doc), store.vocabulary("clinic-a")))
    assert set(found) == {"tags.0.label", "tags.1.code"}
    assert (store.history("clinic-a"), store.audit_rows("clinic-a")) == before


def test_codes_missing_from_the_file_stay_retired(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    keep = [t for t in default().tags if t.code != "setback"]
    new, changed = vocab_io.apply(sqlite_store, "clinic-a", vocab_io.Parsed("json", tuple(keep), ()), "ops", now)
    assert changed and new.resolve("setback").status == "retired"


def test_a_label_taken_by_a_kept_tag_is_refused(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    doc = {"format": "progress-plugin/vocabulary", "tags": [
        {"code": "forward-step", "label": "Step Forward", "category": "movement", "direction": "toward"}]}
    found = problems_of(lambda: vocab_io.parse(doc, sqlite_store.vocabulary("clinic-a")))
    assert found["tags.0.label"][0].startswith("Label 'Step Forward' in category 'movement' belongs to tag "
                                               "'step-forward'")
    with pytest.raises(ValidationError):            # apply checks it again, without the caller's help
        vocab_io.apply(sqlite_store, "clinic-a", vocab_io.parse(doc), "ops", now)
    assert sqlite_store.current_version("clinic-a") == 1


def test_a_stale_expected_version_is_refused(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    parsed = vocab_io.parse(vocab_io.export(custom(), "x", "json"))
    with pytest.raises(PreconditionFailed):
        vocab_io.apply(sqlite_store, "clinic-a", parsed, "ops", now, expected_version=7)
    assert sqlite_store.current_version("clinic-a") == 1


# -- tag rules (codes, labels, duplicates) ----------------------------------------------------
def tag(code="new-tag", label="New tag", category="action", **kw):
    return Tag(code, label, kw.pop("description", ""), category, kw.pop("direction", "toward"), **kw)


@pytest.mark.parametrize("code", ["a", "A.b_c-9", "x" * 64, "step-forward-2", "0"])
def test_valid_codes(code):
    new, change = vocab_io.change(default(), "add", code, tag=tag(code))
    assert new.version == 2 and new.resolve(code).active and change == f"add {code}"


@pytest.mark.parametrize("code", ["", "x" * 65, "has space", "ünïcode", "semi;colon", "slash/ed", "tab\t"])
def test_invalid_codes(code):
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(default(), "add", code, tag=tag(code))
    assert "code" in str(exc.value.messages)
    found = problems_of(lambda: vocab_io.parse({"format": "progress-plugin/vocabulary", "tags": [
        {"code": code, "label": "L", "category": "action", "direction": "toward"}]}))
    assert list(found) == ["tags.0.code"]


@pytest.mark.parametrize("label,ok", [("L", True), ("x" * 80, True), ("", False), ("x" * 81, False)])
def test_label_length(label, ok):
    data = {"format": "progress-plugin/vocabulary",
            "tags": [{"code": "t", "label": label, "category": "action", "direction": "toward"}]}
    if ok:
        assert vocab_io.parse(data).tags[0].label == label
    else:
        assert list(problems_of(lambda: vocab_io.parse(data))) == ["tags.0.label"]
        with pytest.raises(ValidationError):
            vocab_io.change(default(), "add", "t", tag=tag("t", label))


def test_duplicates_are_refused_by_code_and_by_label_within_a_category():
    v = default().retire("setback")
    with pytest.raises(ValidationError, match="already exists"):
        vocab_io.change(v, "add", "setback", tag=tag("setback", "Another"))   # retired codes are never reused
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(v, "add", "sf", tag=tag("sf", "STEP forward", "movement"))
    assert exc.value.messages == {"label": ["Label 'STEP forward' is already used in category 'movement' by tag "
                                            "'step-forward'."]}
    with pytest.raises(ValidationError, match="retired"):
        vocab_io.change(v, "add", "sb", tag=tag("sb", "setback", "movement"))
    # the same label in another category is fine
    assert vocab_io.change(v, "add", "sf", tag=tag("sf", "Step forward", "action"))[0].get("sf")


def test_edits_keep_the_code_and_refuse_a_taken_label():
    v = default()
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(v, "edit", "setback", changes={"code": "set-back"})
    assert list(exc.value.messages) == ["code"]
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(v, "edit", "setback", changes={"label": "holding STEADY"})
    assert list(exc.value.messages) == ["label"]
    new, change = vocab_io.change(v, "edit", "setback", changes={"label": "Step back", "code": "setback"})
    assert new.resolve("setback").label == "Step back" and change == "edit setback label"
    assert v.resolve("setback").label == "Setback"                         # the old version is untouched


# -- old notes keep their meaning -------------------------------------------------------------
def test_a_note_keeps_its_label_and_direction_after_an_edit_and_a_retirement(store, runtime, now, note_payload):
    clinic, client = "clinic-a", "c1"
    tagged = schemas.load(schemas.note_schema, note_payload(tags=[{"code": "step-forward"}, {"code": "setback"}],
                                                            note_id="n-v1", day=5))
    runtime.dispatch(tagged)
    v1 = store.vocabulary(clinic)
    assert v1.version == 1
    v2, change = vocab_io.change(v1, "edit", "step-forward", changes={"label": "Moved on", "direction": "mixed"})
    store.save_vocabulary(clinic, v2, "ops", change, now, expected_version=1)
    v3, change = vocab_io.change(v2, "retire", "setback")
    store.save_vocabulary(clinic, v3, "ops", change, now, expected_version=2)

    later = schemas.load(schemas.note_schema, note_payload(tags=[{"code": "step-forward"}], note_id="n-v3", day=12))
    runtime.dispatch(later)
    markers = {(m.note_id, m.code): m for m in runtime.progress(clinic, client).markers}
    old = markers[("n-v1", "step-forward")]
    assert (old.label, old.direction, old.vocabulary_version) == ("Step forward", "toward", 1)
    gone = markers[("n-v1", "setback")]
    assert (gone.label, gone.direction, gone.retired) == ("Setback", "away", False)
    new = markers[("n-v3", "step-forward")]
    assert (new.label, new.direction, new.vocabulary_version) == ("Moved on", "mixed", 3)

    # a retired tag cannot be newly applied
    refused = schemas.load(schemas.note_schema, note_payload(tags=[{"code": "setback"}], note_id="n-x", day=20))
    effects = runtime.dispatch(refused)
    assert [type(e).__name__ for e in effects] == ["RejectNote"]
    assert ("n-x", "setback") not in {(m.note_id, m.code) for m in runtime.progress(clinic, client).markers}


def test_the_codesystem_url_is_ours():
    assert vocab_io.export(default(), "c", "fhir")["entry"][0]["resource"]["url"] == SYSTEM


# -- hostile files ----------------------------------------------------------------------------------
def test_a_file_nested_ten_thousand_deep_is_a_validation_error():
    assert problems_of(lambda: vocab_io.read("[" * 10_000 + "]" * 10_000)) == {
        "_schema": ["JSON nested more than 64 levels deep."]}


def test_a_5000_digit_integer_is_named_by_path_and_line():
    text = '{\n  "format": "progress-plugin/vocabulary",\n  "version": ' + "9" * 5000 + ',\n  "tags": []\n}'
    found = problems_of(lambda: vocab_io.read(text.encode()))
    assert list(found) == ["version"] and found["version"][0].startswith("line 3: Number out of range")


def test_text_a_store_cannot_keep_is_named_by_path_and_line():
    doc = vocab_io.export(default(), "clinic-a", "fhir")
    doc["entry"][0]["resource"]["concept"][2]["display"] = "Stir\ud800"
    found = problems_of(lambda: vocab_io.read(json.dumps(doc, indent=1)))
    (path,) = found
    assert path == "entry.0.resource.concept.2.display" and "lone surrogate" in found[path][0]
    assert found[path][0].startswith("line ")

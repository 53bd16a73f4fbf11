"""Vocabulary changes: idempotent import into the store, the tag rules of an admin edit, old notes
keeping their meaning across versions, and each new version told to the core."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from progress_plugin.core import effects as fx
from progress_plugin import schemas
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.store import tables as t
from progress_plugin.errors import PreconditionFailed, ValidationError
from progress_plugin.core.vocabulary import Tag, default
from tests.test_fhir_vocabulary import custom, problems_of


# -- applying an import -----------------------------------------------------------------------
def test_import_twice_makes_one_version(store, now):
    store.ensure_clinic("clinic-a", now)
    parsed = fhir_vocabulary.read(fhir_vocabulary.dumps(fhir_vocabulary.export(custom(), "elsewhere", "json")))
    v2, changed = vocab_io.apply(store, "clinic-a", parsed, "ops", now)
    assert changed and v2.version == 2 and custom().same_tags(v2.tags)
    again, changed_again = vocab_io.apply(store, "clinic-a", parsed, "ops", now)
    assert not changed_again and again.version == 2
    assert [h["version"] for h in store.history("clinic-a")] == [1, 2]
    row = store.audit_rows("clinic-a")[-1]
    assert (row["actor"], row["action"], row["old_version"], row["new_version"]) == ("ops", "vocabulary.import", 1, 2)


def test_import_with_problems_changes_nothing(store, now):
    store.ensure_clinic("clinic-a", now)
    doc = fhir_vocabulary.export(custom(), "clinic-a", "json")
    doc["tags"][0]["label"] = ""
    doc["tags"][1]["code"] = "no spaces"
    before = (store.history("clinic-a"), store.audit_rows("clinic-a"))
    found = problems_of(lambda: fhir_vocabulary.read(fhir_vocabulary.dumps(doc), store.vocabulary("clinic-a")))
    assert set(found) == {"tags.0.label", "tags.1.code"}
    assert (store.history("clinic-a"), store.audit_rows("clinic-a")) == before


def test_a_category_typo_is_listed_beside_the_files_other_problems(sqlite_store, now):
    """Every problem at once: a category typo is not held back until the rest of the file is right."""
    sqlite_store.ensure_clinic("clinic-a", now)
    doc = fhir_vocabulary.export(default(), "clinic-a", "json")
    doc["tags"][0]["direction"] = "sideways"
    doc["tags"][13]["category"] = "relationships"
    found = problems_of(lambda: fhir_vocabulary.read(fhir_vocabulary.dumps(doc), sqlite_store.vocabulary("clinic-a")))
    assert set(found) == {"tags.0.direction", "tags.13.category"}
    assert "Did you mean 'relationship'?" in found["tags.13.category"][0]
    found = problems_of(lambda: fhir_vocabulary.read(fhir_vocabulary.dumps(doc), sqlite_store.vocabulary("clinic-a"),
                                                     new_categories=True))
    assert set(found) == {"tags.0.direction"}                  # a new category, asked for, is no problem


def test_codes_missing_from_the_file_stay_retired(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    keep = [t for t in default().tags if t.code != "setback"]
    new, changed = vocab_io.apply(sqlite_store, "clinic-a", fhir_vocabulary.Parsed("json", tuple(keep), ()), "ops", now)
    assert changed and new.resolve("setback").status == "retired"


def test_a_label_taken_by_a_kept_tag_is_refused(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    doc = {"format": "progress-plugin/vocabulary", "tags": [
        {"code": "forward-step", "label": "Step Forward", "category": "movement", "direction": "toward"}]}
    found = problems_of(lambda: fhir_vocabulary.parse(doc, sqlite_store.vocabulary("clinic-a")))
    assert found["tags.0.label"][0].startswith("Label 'Step Forward' in category 'movement' belongs to tag "
                                               "'step-forward'")
    with pytest.raises(ValidationError):            # apply checks it again, without the caller's help
        vocab_io.apply(sqlite_store, "clinic-a", fhir_vocabulary.parse(doc), "ops", now)
    assert sqlite_store.current_version("clinic-a") == 1


def test_a_stale_expected_version_is_refused(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    parsed = fhir_vocabulary.parse(fhir_vocabulary.export(custom(), "x", "json"))
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
    found = problems_of(lambda: fhir_vocabulary.parse({"format": "progress-plugin/vocabulary", "tags": [
        {"code": code, "label": "L", "category": "action", "direction": "toward"}]}))
    assert list(found) == ["tags.0.code"]


@pytest.mark.parametrize("label,ok", [("L", True), ("x" * 80, True), ("", False), ("x" * 81, False)])
def test_label_length(label, ok):
    data = {"format": "progress-plugin/vocabulary",
            "tags": [{"code": "t", "label": label, "category": "action", "direction": "toward"}]}
    if ok:
        assert fhir_vocabulary.parse(data).tags[0].label == label
    else:
        assert list(problems_of(lambda: fhir_vocabulary.parse(data))) == ["tags.0.label"]
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


def test_a_label_per_language_is_checked_against_the_category_retired_tags_included():
    v = default().retire("setback")
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(v, "add", "sb", tag=Tag("sb", "Step back", "", "movement", "away", labels={"hi": "एक कदम पीछे"}))
    assert exc.value.messages == {"labels": {"hi": [
        "Label 'एक कदम पीछे' in 'hi' is already used in category 'movement' by tag 'setback' (retired)."]}}
    with pytest.raises(ValidationError) as exc:
        vocab_io.change(v, "edit", "step-forward", changes={"labels": {"hi": "मन में हलचल"}})
    assert list(exc.value.messages["labels"]) == ["hi"]
    new, change = vocab_io.change(v, "edit", "step-forward", changes={"labels": {"hi": "आगे बढ़े", "en": None}})
    assert new.resolve("step-forward").label_in("hi") == "आगे बढ़े" and change == "edit step-forward labels"
    with pytest.raises(ValidationError):                         # removing a language it lacks changes nothing
        vocab_io.change(new, "edit", "step-forward", changes={"labels": {"en": None}})


def test_an_import_may_not_take_a_kept_tags_label_in_any_language(sqlite_store, now):
    sqlite_store.ensure_clinic("clinic-a", now)
    doc = {"format": "progress-plugin/vocabulary", "tags": [
        {"code": "forward-step", "label": "Forward step", "category": "movement", "direction": "toward",
         "labels": {"hi": "एक कदम आगे"}}]}
    found = problems_of(lambda: fhir_vocabulary.parse(doc, sqlite_store.vocabulary("clinic-a")))
    assert list(found) == ["tags.0.labels.hi"]
    assert found["tags.0.labels.hi"][0].startswith("Label 'एक कदम आगे' in category 'movement' belongs to tag "
                                                   "'step-forward'")


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


# -- each new version is told to the core -------------------------------------------------------
def test_a_new_version_goes_through_the_core_and_is_queued_only_with_a_host(store, runtime, now, dispatched):
    store.ensure_clinic("clinic-a", now)
    v2, change = vocab_io.change(store.vocabulary("clinic-a"), "retire", "setback")
    store.save_vocabulary("clinic-a", v2, "ops", change, now, expected_version=1)
    effects = vocab_io.changed(runtime, "clinic-a", v2, "ops", now, queue=False)
    assert effects == [fx.PublishVocabulary("clinic-a", v2)]
    assert [(type(e).__name__, e.vocabulary, e.actor, actor) for e, actor in dispatched] == [
        ("VocabularyChanged", v2, "ops", "ops")]
    assert queued(store) == []                                          # no host: nothing to send
    vocab_io.changed(runtime, "clinic-a", v2, "ops", now, queue=True)
    vocab_io.changed(runtime, "clinic-a", v2, "ops", now, queue=True)  # keys are per version: queued once
    assert queued(store) == ["vocabulary/clinic-a/2/codesystem", "vocabulary/clinic-a/2/valueset"]


def queued(store) -> list[str]:
    with store.engine.connect() as c:
        return sorted(r[0] for r in c.execute(sa.select(t.outbox.c.key)))

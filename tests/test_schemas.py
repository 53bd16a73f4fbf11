"""Bad input at the boundary: every case names the field and the reason."""
import marshmallow as ma
import pytest

from progress_plugin import errors, schemas
from progress_plugin.core.events import NoteSaved, NoteSigned


def load_error(schema, data) -> dict:
    with pytest.raises(errors.ValidationError) as info:
        schemas.load(schema, data)
    return info.value.paths()


def test_intake_loads_into_core_objects(intake_payload):
    intake = schemas.load(schemas.intake_schema, intake_payload())
    assert [g.id for g in intake.goals] == ["g1", "g2"]
    assert intake.goals[0].baseline == 3 and intake.goals[0].whose == "client"
    assert intake.review_cadence == "every-4-sessions"
    assert intake.answers["better_looks_like"] == "Waking up less tired"
    assert "private_reflection" not in intake.shareable_answers()


def test_a_fourth_goal_is_refused(intake_payload):
    goals = [{"words": f"goal {i}", "whose": "client", "baseline": 1, "rank": i} for i in (1, 2, 3)]
    goals.append({"words": "goal 4", "whose": "client", "baseline": 1})
    paths = load_error(schemas.intake_schema, intake_payload(goals=goals))
    assert paths == {"goals": ["Between 1 and 3 goals; goal 1 is required."]}


def test_goal_one_is_required(intake_payload):
    assert "goals" in load_error(schemas.intake_schema, intake_payload(goals=[]))


def test_baseline_is_required_per_goal(intake_payload):
    paths = load_error(schemas.intake_schema, intake_payload(goals=[{"words": "x", "whose": "client"}]))
    assert paths == {"goals.0.baseline": ["Missing data for required field."]}


def test_a_baseline_of_11_is_refused(intake_payload):
    paths = load_error(schemas.intake_schema, intake_payload(
        goals=[{"words": "x", "whose": "client", "baseline": 11}]))
    assert paths == {"goals.0.baseline": ["Ratings are 0-10; got 11."]}


def test_unknown_field_in_a_payload_is_named(intake_payload):
    paths = load_error(schemas.intake_schema, intake_payload(mood="fine"))
    assert paths == {"mood": ["Unknown field."]}


def test_at_review_cadence_needs_a_date(intake_payload):
    paths = load_error(schemas.intake_schema, intake_payload(review_cadence="at-review"))
    assert list(paths) == ["review_date"]


GAS_GOAL = {"words": "x", "whose": "client", "baseline": 4, "weight": 2,
            "gas_levels": {"-2": "a", "-1": "b", "0": "c", "+1": "d", "+2": "e"}}


def test_attainment_levels_are_no_longer_asked(intake_payload):
    paths = load_error(schemas.intake_schema, intake_payload(goals=[GAS_GOAL]))
    assert set(paths) == {"goals.0.gas_levels", "goals.0.weight"}
    assert set(schemas.GoalSchema().fields) == {"id", "words", "whose", "baseline", "rank", "replaces"}


def test_attainment_levels_given_to_version_1_are_ignored(intake_payload):
    intake = schemas.load(schemas.intake_schema, intake_payload(definition_version="1.0.0", goals=[GAS_GOAL]))
    assert intake.goals[0].words == "x" and intake.goals[0].baseline == 4
    assert not hasattr(intake.goals[0], "gas_levels")


def test_note_rating_of_11_is_refused(note_payload):
    paths = load_error(schemas.note_schema, note_payload(
        [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 11}]}]))
    assert paths == {"tags.0.ratings.0.value": ["Ratings are 0-10; got 11."]}


def test_note_rating_without_goal_link_is_refused_by_the_schema(note_payload):
    paths = load_error(schemas.note_schema, note_payload(
        [{"code": "step-forward", "ratings": [{"value": 6}]}]))
    assert paths == {"tags.0.ratings.0.goal": ["A rating needs a goal link: say which goal it rates."]}


def test_unknown_field_in_a_note_payload(note_payload):
    paths = load_error(schemas.note_schema, note_payload(text="client said something"))
    assert paths == {"text": ["Unknown field."]}


def test_note_payload_becomes_saved_or_signed_event(note_payload):
    saved = schemas.load(schemas.note_schema, note_payload([{"code": "setback"}]))
    signed = schemas.load(schemas.note_schema, note_payload([{"code": "setback"}], signed=True))
    assert type(saved) is NoteSaved and type(signed) is NoteSigned
    assert saved.tags[0].code == "setback" and saved.session_at.tzinfo is not None


def test_vocabulary_file_with_duplicate_code():
    tag = {"code": "x", "label": "X", "category": "movement", "direction": "toward"}
    paths = load_error(schemas.vocabulary_file_schema, {
        "format": "progress-plugin/vocabulary", "tags": [tag, {**tag, "label": "Other"}]})
    assert paths == {"tags.1.code": ["Duplicate code 'x' (also at 0)."]}


def test_vocabulary_file_with_duplicate_label_in_category_case_insensitive():
    a = {"code": "a", "label": "Step", "category": "movement", "direction": "toward"}
    b = {"code": "b", "label": "STEP", "category": "movement", "direction": "toward"}
    paths = load_error(schemas.vocabulary_file_schema, {"format": "progress-plugin/vocabulary", "tags": [a, b]})
    assert list(paths) == ["tags.1.label"]
    c = {**b, "category": "action"}
    assert len(schemas.load(schemas.vocabulary_file_schema,
                            {"format": "progress-plugin/vocabulary", "tags": [a, c]})["tags"]) == 2


def test_texts_per_language_are_checked_by_language_and_the_json_schema_agrees():
    import json
    from pathlib import Path
    import jsonschema
    tag = {"code": "x", "label": "X", "category": "movement", "direction": "toward"}
    loaded = schemas.load(schemas.tag_schema, {**tag, "labels": {"hi": "एक्स"}, "descriptions": {"en": "Ex."}})
    assert loaded.labels == (("hi", "एक्स"),) and loaded.descriptions == (("en", "Ex."),)
    assert schemas.load(schemas.tag_schema, tag).labels == ()
    bad = {**tag, "labels": {"xx": "X", "hi": "", "en": None}}
    assert load_error(schemas.tag_schema, bad) == {"labels.xx": ["Unknown language 'xx': give one of en, hi."],
                                                   "labels.hi": ["Length must be between 1 and 80."],
                                                   "labels.en": ["Field may not be null."]}
    assert schemas.load(schemas.tag_edit_schema, {"labels": {"hi": None}}) == {"labels": {"hi": None}}
    folder = Path(__file__).resolve().parent.parent / "schemas"
    validator = jsonschema.Draft202012Validator(json.loads((folder / "tag.schema.json").read_text()))
    assert list(validator.iter_errors({**tag, "labels": {"hi": "एक्स"}})) == []
    assert sorted(e.json_path for e in validator.iter_errors(bad)) == ["$.labels", "$.labels.en", "$.labels.hi"]
    edit = jsonschema.Draft202012Validator(json.loads((folder / "tag-edit.schema.json").read_text()))
    assert list(edit.iter_errors({"labels": {"hi": None}})) == []


def test_non_object_payload_is_a_clear_error():
    with pytest.raises(errors.ValidationError) as info:
        schemas.load(schemas.note_schema, ["not", "an", "object"])
    assert info.value.paths() == {"_schema": ["Expected a JSON object."]}


# -- text every boundary can store and show --------------------------------------------------------
@pytest.mark.parametrize("value,message", [("Set\ud800back", "lone surrogate"), ("Set\x00back", "NUL character"),
                                           ("\udcff", "lone surrogate")])
def test_text_with_a_lone_surrogate_or_nul_is_refused_naming_the_field(value, message):
    paths = load_error(schemas.tag_schema, {"code": "x", "label": value, "category": "movement",
                                            "direction": "toward"})
    assert list(paths) == ["label"] and message in paths["label"][0]


def test_bidi_controls_and_every_other_character_are_kept_in_text():
    label = "\u202eevil\u202c \u2067قدم\u2069 \u200f\U0001f600 क्ष"
    tag = schemas.load(schemas.tag_schema, {"code": "x", "label": label, "category": "movement",
                                            "direction": "toward"})
    assert tag.label == label


def test_free_form_webhook_data_is_checked_inside_by_path():
    paths = load_error(schemas.envelope_schema, {"type": "x", "timestamp": "2026-01-05T10:00:00Z",
                                                 "data": {"a": [{"b": "\ud800"}], "n": 2 ** 64, "\x00": 1}})
    assert paths == {"data.a.value.0.b": ["Holds a lone surrogate (U+D800-U+DFFF), which is not valid Unicode text."],
                     "data.n.value": ["Number out of range: integers must be between -9223372036854775808 and "
                                      "9223372036854775807."],
                     "data.\\u0000.key": ["Holds a NUL character, which is not allowed in text."]}


def test_a_redefining_goal_needs_its_own_id_and_the_goal_it_replaces_leaves_the_intake(intake_payload):
    g1 = {"words": "Sleep through most nights", "whose": "client", "baseline": 3, "id": "g1"}
    cases = [({"words": "New", "whose": "client", "baseline": 5, "replaces": "g2"}, "id"),
             ({"words": "New", "whose": "client", "baseline": 5, "id": "g2b", "replaces": "g1"}, "replaces")]
    for goal, field in cases:
        with pytest.raises(ma.ValidationError) as err:
            schemas.intake_schema.load(intake_payload(goals=[g1, goal]))
        assert list(err.value.messages["goals"][1]) == [field]
    ok = schemas.intake_schema.load(intake_payload(goals=[g1, {**cases[1][0], "replaces": "g2"}]))
    assert [(g.id, g.replaces) for g in ok.goals] == [("g1", None), ("g2b", "g2")]

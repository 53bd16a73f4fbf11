"""The intake section: its order, wording and markers, drafts, and answers to an earlier version."""
from __future__ import annotations

from dataclasses import replace

import pytest

from progress_plugin import schemas
from progress_plugin.core import intake as intake_mod
from progress_plugin.core.intake import FIELDS, SECTION_VERSION, not_asked, upgrade_answers
from progress_plugin.errors import ValidationError

#: Answers as a host stored them for version 1.0.0 (goals first, no "hopes" question).
V1_ANSWERS = {"better_looks_like": "Waking up less tired", "small_shift": "One good night",
              "holding_steady_counts": "unsure", "if_stirred_up": "A walk after the session",
              "saying_not_working": "other", "saying_not_working_other": "A text the day after",
              "therapist_view": "Fewer nights lost", "private_reflection": "I want to rescue"}


def test_the_section_follows_the_conversation():
    ids = [f.id for f in FIELDS]
    assert ids[:4] == ["hopes", "better_looks_like", "small_shift", "goals"]
    assert ids[4:] == ["holding_steady_counts", "if_stirred_up", "saying_not_working", "review_cadence",
                       "review_date", "therapist_view", "agreed", "agreed_on", "goals_reviewed",
                       "private_reflection"]
    hopes = FIELDS[0]
    assert hopes.label == "What do you hope to get from coming here?"
    assert (hopes.type, hopes.required, hopes.answered_by) == ("text", False, "client")
    assert intake_mod.definition()["version"] == SECTION_VERSION == "2.0.0"


def test_every_question_has_a_hint_and_says_whose_words_it_holds():
    for f in (*FIELDS, *intake_mod.GOAL_FIELDS):
        assert f.help, f.id
        assert f.answered_by in ("client", "therapist", "together"), f.id
        if f.type == "text":          # words: the client's own, or the therapist's
            assert f.answered_by in ("client", "therapist"), f.id
    # the questions put to the client speak to them
    for f in FIELDS:
        if f.answered_by == "client":
            assert "you" in f.label.lower(), f.id
    assert next(f for f in FIELDS if f.id == "private_reflection").therapist_only


def test_version_one_answers_map_onto_the_current_definition():
    mapped = upgrade_answers("1.0.0", V1_ANSWERS)
    assert mapped == V1_ANSWERS and mapped is not V1_ANSWERS     # every answer kept, the input untouched
    current = {f.id for f in FIELDS} | {"saying_not_working_other"}
    assert set(mapped) <= current
    assert "hopes" not in mapped                                  # never asked, so never answered
    assert not_asked("1.0.0") == ("hopes",)
    assert not_asked(SECTION_VERSION) == ()
    assert upgrade_answers(SECTION_VERSION, {"hopes": "Sleep"}) == {"hopes": "Sleep"}


def test_a_renamed_field_is_carried_to_its_new_id(monkeypatch):
    asked, _ = intake_mod.EARLIER_VERSIONS["1.0.0"]
    monkeypatch.setitem(intake_mod.EARLIER_VERSIONS, "1.0.0", (asked, {"small_shift": "hopes"}))
    assert upgrade_answers("1.0.0", {"small_shift": "x", "better_looks_like": "y"}) == {
        "hopes": "x", "better_looks_like": "y"}
    assert "small_shift" in not_asked("1.0.0") and "hopes" not in not_asked("1.0.0")


@pytest.mark.parametrize("version", ["0.9", "3.0.0", ""])
def test_an_unknown_version_is_refused(version):
    with pytest.raises(ValueError):
        upgrade_answers(version, {})
    with pytest.raises(ValueError):
        not_asked(version)


def test_an_old_version_payload_loads_and_an_unknown_one_is_named(intake_payload):
    old = schemas.load(schemas.intake_schema, intake_payload(definition_version="1.0.0", **V1_ANSWERS))
    assert old.definition_version == "1.0.0" and old.answers["small_shift"] == "One good night"
    with pytest.raises(ValidationError) as caught:
        schemas.load(schemas.intake_schema, intake_payload(definition_version="3.0.0"))
    assert set(caught.value.messages) == {"definition_version"}


@pytest.mark.parametrize("agreed, reviewed, status", [
    (True, True, "agreed"), (False, True, "draft"), (True, False, "draft"), (False, False, "draft")])
def test_agreed_only_when_agreed_and_goals_reviewed(intake_payload, agreed, reviewed, status):
    intake = schemas.load(schemas.intake_schema, intake_payload(agreed=agreed, goals_reviewed=reviewed,
                                                                hopes="To sleep again"))
    assert intake.status == status and intake.is_agreed == (status == "agreed")
    assert intake.answers["hopes"] == "To sleep again"
    assert replace(intake, agreed=True, goals_reviewed=True).is_agreed


# -- the section in two languages ----------------------------------------------------------
def _texts(section: dict) -> list[str]:
    """Every string a person reads in a definition: title, labels, help texts, option labels."""
    out = [section["title"]]
    for f in section["fields"]:
        out += [f["label"], f["help"], *(o["label"] for o in f.get("options", ()))]
        out += _texts({"title": "", "fields": f.get("fields", [])})[1:]
    return out


def _shape(section: dict):
    """The definition without its words: ids, codes, types and rules."""
    def field(f):
        return {k: ([o["code"] for o in v] if k == "options" else [field(c) for c in v] if k == "fields" else v)
                for k, v in f.items() if k not in ("label", "help")}
    return {k: v for k, v in section.items() if k not in ("title", "fields")}, [field(f) for f in section["fields"]]


def test_english_is_the_default_and_the_words_as_written():
    from progress_plugin.core.words import ENGLISH
    assert intake_mod.definition() == intake_mod.definition(ENGLISH)
    assert intake_mod.definition()["title"] == "Defining progress together"
    assert intake_mod.definition()["fields"][0]["label"] == "What do you hope to get from coming here?"


def test_in_hindi_every_word_is_hindi_and_ids_codes_and_rules_are_unchanged():
    from progress_plugin import lang
    english, hindi = intake_mod.definition(), intake_mod.definition(lang.words("hi"))
    assert _shape(hindi) == _shape(english)
    said = [t for t in _texts(hindi) if t]
    assert len(said) == len([t for t in _texts(english) if t]) == 52
    latin = [t for t in said if not any("\u0900" <= ch <= "\u097f" for ch in t)]
    assert latin == []                       # every label, help text and option is said in Devanagari
    assert set(said).isdisjoint(_texts(english))
    assert hindi["title"] == "मिलकर तय करें कि प्रगति क्या है"        # the glossary's wording
    whose = next(f for f in hindi["fields"] if f["id"] == "goals")["fields"][1]
    assert [o["code"] for o in whose["options"]] == ["client", "carer", "therapist"]


def test_the_follow_up_questions_say_when_they_are_asked():
    fields = {f.id: f for f in FIELDS}
    assert fields["review_date"].enable_when == ("review_cadence", "at-review")
    question, code = fields["review_date"].enable_when
    assert code in [o.code for o in fields[question].options]
    assert [f.id for f in FIELDS if f.other_allowed] == ["saying_not_working"]
    assert "other" in [o.code for o in fields["saying_not_working"].options]

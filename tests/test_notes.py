"""The one classification of note types: protected categories in any spelling, and a clinic's list."""
import pytest

from progress_plugin.fhir import inbound as fhir_events
from progress_plugin.core.notes import (REFUSED_NOT_READABLE, REFUSED_PROTECTED, classify_note_type,
                                   normalise_note_type)

#: Spellings hosts were seen to send for the two protected categories.
PROTECTED_SPELLINGS = ["psychotherapy-note", "Psychotherapy Note", "psychotherapy_note", "psychotherapy",
                       "PSYCHOTHERAPY NOTES", "psychotherapy.note", "Psychotherapy/Notes", "psycho\u00adtherapy note",
                       "\uff50sychotherapy note", "Psychotherapy Note (confidential)", "34746-8",
                       "sud-counseling", "sud-counselling-note", "SUD Counselling Notes", "sud_counseling_note",
                       "Substance use disorder counselling note", "loinc:sud-counseling"]
#: Types that only look alike: they are read like any other note.
ORDINARY = ["progress-note", "Psychotherapy progress note", "Substance use assessment", "Therapy session", "11506-3"]


@pytest.mark.parametrize("raw", PROTECTED_SPELLINGS)
def test_every_spelling_of_a_protected_category_is_refused(raw):
    kind = classify_note_type(raw)
    assert kind.refused == REFUSED_PROTECTED and not kind.readable
    assert kind.kind in ("psychotherapy-note", "sud-counseling-note")


@pytest.mark.parametrize("raw", ORDINARY + [None, "", 42])
def test_other_types_are_read_when_the_clinic_lists_nothing(raw):
    assert classify_note_type(raw).readable


def test_normal_form_folds_case_separators_spelling_and_plural():
    assert normalise_note_type(" Progress__Notes ") == "progress-note"
    assert normalise_note_type("SUD/Counselling.Note") == "sud-counseling-note"
    assert normalise_note_type(" -_ ") is None and normalise_note_type(None) is None


def test_a_clinic_list_refuses_everything_else_with_its_own_reason():
    readable = ["Progress Note", "11506-3"]
    assert classify_note_type("progress_note", readable).readable
    assert classify_note_type(["x-local", "11506-3"], readable).readable     # any name of the type may match
    for other in ("Therapy session", None, ""):
        kind = classify_note_type(other, readable)
        assert kind.refused == REFUSED_NOT_READABLE
    # a protected type stays protected, even if a clinic lists it
    assert classify_note_type("Psychotherapy Note", ["psychotherapy-note"]).refused == REFUSED_PROTECTED


@pytest.mark.parametrize("raw", PROTECTED_SPELLINGS + ORDINARY)
def test_the_fhir_path_and_the_other_paths_agree(raw):
    """The FHIR mapping (a type's text, or its code) decides as the hooks and webhooks do."""
    by_text = fhir_events.note_type({"type": {"text": raw}})
    by_code = fhir_events.note_type({"type": {"coding": [{"system": "urn:x", "code": raw}]}})
    expected = classify_note_type(raw).refused
    assert classify_note_type(by_text).refused == expected
    assert classify_note_type(by_code).refused == expected

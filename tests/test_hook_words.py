"""The words a hook answers in (hosts/hook_words.py): the asked language at once, else the clinic's,
looked up only when something is said; a malformed locale refused by name."""
from __future__ import annotations

import pytest

from progress_plugin.core.words import N_
from progress_plugin.errors import ValidationError
from progress_plugin.hosts.hook_words import LazyWords, hook_words


class Store:
    def __init__(self, language):
        self.language, self.asked = language, []

    def clinic_language(self, clinic_id):
        self.asked.append(clinic_id)
        return self.language


def test_an_asked_language_the_catalogs_carry_needs_no_lookup():
    store = Store("en")
    words = hook_words(store, "clinic-a", "hi-IN")
    assert words.code == "hi" and words(N_("Progress")) == "प्रगति" and store.asked == []


def test_without_a_locale_the_clinics_language_is_read_only_when_a_word_is_said():
    store = Store("hi")
    words = hook_words(store, "clinic-a", None)
    assert isinstance(words, LazyWords) and store.asked == []
    assert words(N_("Progress")) == "प्रगति" and words.code == "hi" and words.direction == "ltr"
    assert words.plural("{n} session", "{n} sessions", 3) == "3 सेशन"
    assert store.asked == ["clinic-a"]                                  # once, then kept


@pytest.mark.parametrize("locale, language, expected", [("fr", "hi", "hi"), (None, None, "en"), ("de", None, "en")])
def test_a_language_the_catalogs_lack_falls_back_to_the_clinics_then_english(locale, language, expected):
    assert hook_words(Store(language), "clinic-a", locale).code == expected


@pytest.mark.parametrize("locale", ["hi in", "", 5, "x" * 60, ["hi"]])
def test_a_malformed_locale_is_refused_by_name_before_anything_is_read(locale):
    store = Store("hi")
    with pytest.raises(ValidationError) as err:
        hook_words(store, "clinic-a", locale)
    assert list(err.value.messages) == ["locale"] and store.asked == []

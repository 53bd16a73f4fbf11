"""The words a hook answers in: its ``locale`` argument, else the clinic's default language, else English.

The language is found when a word is first said, not when the hook is called: a hook whose answer
says nothing to a person (a note saved, the common case) reads no clinic setting from the store.
A malformed ``locale`` is refused at once, naming it.
"""
from __future__ import annotations

from typing import Callable

from progress_plugin import lang, schemas
from progress_plugin.core.words import Words
from progress_plugin.errors import ValidationError
from progress_plugin.schemas import jsonio
from progress_plugin.schemas.field_types import locale_schema


class LazyWords(Words):
    """A :class:`Words` that finds its language on first use, with ``find``."""

    def __init__(self, find: Callable[[], Words]):
        self._find, self._words = find, None

    def _real(self) -> Words:
        if self._words is None:
            self._words = self._find()
        return self._words

    @property
    def code(self) -> str:                      # type: ignore[override]
        return self._real().code

    @property
    def direction(self) -> str:                 # type: ignore[override]
        return self._real().direction

    def gettext(self, message: str) -> str:
        return self._real().gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._real().ngettext(singular, plural, n)

    def number(self, value) -> str:
        return self._real().number(value)

    def date(self, value) -> str:
        return self._real().date(value)


def asked(locale) -> str | None:
    """``locale`` checked (None stays None); a malformed one is a ValidationError naming ``locale``."""
    return None if locale is None else schemas.load(locale_schema, {"locale": locale})["locale"]


def hook_words(store, clinic_id: str | None, locale) -> Words:
    """The words for a hook's answer (see the module's docstring)."""
    code = lang.supported(asked(locale))
    if code is not None:
        return lang.words(code)
    return LazyWords(lambda: _clinic_words(store, clinic_id))


def _clinic_words(store, clinic_id: str | None) -> Words:
    return lang.words(lang.choose(None, (), store.clinic_language(clinic_id) if clinic_id else None))


def note_words(store, note_or_clinic, locale) -> Words:
    """:func:`hook_words` for a note hook (given the note, or the clinic id): the clinic's language only
    when the argument names a plain clinic id (checked when a word is first said)."""
    clinic_id = note_or_clinic.get("clinic_id") if isinstance(note_or_clinic, dict) else note_or_clinic
    code = lang.supported(asked(locale))
    if code is not None:
        return lang.words(code)
    return LazyWords(lambda: _clinic_words(store, clinic_id if _plain(clinic_id) else None))


def _plain(clinic_id) -> bool:
    return isinstance(clinic_id, str) and 0 < len(clinic_id) <= 128 and not jsonio.str_problem(clinic_id)


def intake_words(store, clinic_id, locale, problems: dict) -> Words:
    """As :func:`hook_words`, for a hook that answers with field errors: a malformed ``locale`` joins
    ``problems`` (said in the clinic's default language); a malformed clinic id is not looked up."""
    clinic = None if "clinic_id" in problems else clinic_id
    try:
        return hook_words(store, clinic, locale)
    except ValidationError as exc:
        problems.update(exc.messages)
        return hook_words(store, clinic, None)

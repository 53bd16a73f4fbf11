"""The plugin's languages: message catalogs (Babel), choosing a language, numbers and dates.

The catalogs live in ``catalogs/<language>/LC_MESSAGES/messages.po`` (compiled to ``.mo``) beside
``GLOSSARY.md``, the words every translation keeps the same. ``scripts/translations`` extracts the
marked strings, updates every catalog and compiles them; ``tests/test_lang.py`` fails when a
catalog lacks a string, a placeholder differs or a compiled file is stale.

    words = lang.words("hi")
    words(N_("Holding steady"))            # "टिके रहे"
    words.date(date(2026, 12, 2))          # "2 दिसंबर 2026"
    lang.choose("hi-IN", None, "en")       # "hi"

A language asked for that the plugin does not speak falls back to the clinic's, then English.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from progress_plugin.core.words import ENGLISH, Words

#: The languages the catalogs carry, English first (the language the code is written in).
LANGUAGES = ("en", "hi")
DEFAULT_LANGUAGE = "en"
#: Each language's name in itself, for a language switch.
NAMES = {"en": "English", "hi": "हिन्दी"}
#: The CLDR locale each language's numbers and dates are written in. The plugin was made for a clinic
#: in Delhi: English is written as in India (8 January 2026; 12,34,567), as is Hindi.
FORMATS = {"en": "en_IN", "hi": "hi_IN"}
CATALOGS = Path(__file__).parent / "catalogs"
DOMAIN = "messages"
#: Whole numbers up to this are formatted once per language and kept.
SMALL = 1000


class CatalogWords(Words):
    """One language's words from its compiled catalog; numbers and dates by Babel's CLDR data."""

    def __init__(self, code: str, translations: NullTranslations):
        self.code = code
        self.locale = Locale.parse(FORMATS.get(code, code))
        self.direction = self.locale.text_direction
        self._translations = translations
        self._small: dict[int, str] = {}     # small whole numbers (a form's 0-10 scales), written once

    @property
    def translations(self) -> NullTranslations:
        """The language's compiled catalog."""
        return self._translations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message) if message else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)

    def number(self, value) -> str:
        if type(value) is int and 0 <= value <= SMALL:
            said = self._small.get(value)
            if said is None:
                said = self._small[value] = format_decimal(value, locale=self.locale)
            return said
        return format_decimal(value, locale=self.locale)

    def date(self, value) -> str:
        if value is None:
            return ""
        return format_date(value, format="long", locale=self.locale)

    def __repr__(self) -> str:
        return f"<Words {self.code}>"


def supported(tag: str | None) -> str | None:
    """The catalog language for a language tag (``hi``, ``hi-IN``, ``HI_in`` give ``hi``); None if none."""
    if not tag or not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


@lru_cache(maxsize=None)
def _words(code: str) -> Words:
    translations = Translations.load(str(CATALOGS), [code], domain=DOMAIN)
    return CatalogWords(code, translations)


def words(tag: str | None = None) -> Words:
    """The words of ``tag``'s language; English for None or a language the catalogs lack."""
    return _words(supported(tag) or DEFAULT_LANGUAGE)


def choose(asked: str | None, accepted=(), default: str | None = None) -> str:
    """The language to answer in: ``asked`` (``?lang=``), else the first of ``accepted`` (tags in
    preference order, as from ``Accept-Language``) the catalogs carry, else ``default`` (the
    clinic's), else English."""
    for tag in (asked, *accepted, default):
        code = supported(tag)
        if code:
            return code
    return DEFAULT_LANGUAGE


__all__ = ["CATALOGS", "DEFAULT_LANGUAGE", "ENGLISH", "LANGUAGES", "NAMES", "Words", "choose",
           "supported", "words"]

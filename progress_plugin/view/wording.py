"""How the panel and its chart say things in one language (pure).

Every function of the view takes ``words`` (a :class:`~progress_plugin.core.words.Words`;
English as written by default) and says through it each fixed string, sentence, number and
date a person reads. The helpers they share:

- :func:`say`: a sentence the core built with ``msg()`` (a prompt, when the next review is),
  with the values that are themselves ``msg()`` phrases said too, and its numbers and dates
  written as the language writes them (or kept as digits and ISO dates, for the JSON);
- :func:`html`: a marked template as HTML: its own text and plain values escaped, :class:`Html`
  values (a person's words in ``<bdi>``, an icon) placed as they are;
- :func:`day` and :func:`number`: a date or a number as the language writes it, memoised, so a
  long history's table and tooltips do not format the same day or rating hundreds of times.

The client's own words are never passed through ``words``: they are values, never templates.
"""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from html import escape
from string import Formatter

from progress_plugin.core.words import ENGLISH, Msg, Words

_FORMATTER = Formatter()


class Html(str):
    """Text that is already HTML: :func:`html` places it without escaping it again."""


def say(words: Words, text, *, raw: bool = False):
    """``text`` in ``words``' language: a :func:`~progress_plugin.core.words.msg` sentence (its
    ``msg()`` values said as well, its numbers and dates written by ``words``, or with ``raw`` as
    digits and ISO dates), or anything :meth:`Words.say` takes. Other values (a person's words)
    are placed as they are."""
    if not isinstance(text, Msg):
        return words.say(text)
    params = {}
    for key, value in text.params.items():
        if isinstance(value, Msg):
            value = say(words, value, raw=raw)
        elif isinstance(value, date):
            value = value.isoformat() if raw else _day(words, value)
        elif isinstance(value, int) and not isinstance(value, bool) and not raw:
            value = _number(words, value)
        params[key] = value
    return words(text.template, **params)


def html(words: Words, template: str, /, **params) -> Html:
    """``template`` (marked for the catalogs) said by ``words`` as HTML: its text and every value
    escaped, except :class:`Html` values."""
    out = []
    for literal, field, _spec, _conversion in _FORMATTER.parse(words.gettext(template)):
        out.append(escape(literal))
        if field is not None:
            value = params[field]
            out.append(value if isinstance(value, Html) else escape(str(value)))
    return Html("".join(out))


def day(words: Words, iso: str | None) -> str:
    """An ISO date or date-time (``2026-03-02T10:00:00+00:00``) as ``words`` write a day."""
    return _day(words, iso) if iso else ""


def number(words: Words, value) -> str:
    """A number as ``words`` write it."""
    return _number(words, value)


@lru_cache(maxsize=8192)
def _day(words: Words, value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return words.date(value.date() if isinstance(value, datetime) else value)


@lru_cache(maxsize=4096)
def _number(words: Words, value) -> str:
    return words.number(value)


__all__ = ["ENGLISH", "Html", "day", "html", "number", "say"]

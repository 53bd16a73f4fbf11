"""Words a person reads, kept translatable without the core knowing any language (pure).

The core writes its sentences in English and marks them for the message catalogs:

- :func:`N_` marks a fixed string (``N_("Holding steady")``); it returns it unchanged;
- :func:`msg` marks a sentence with named ``{placeholders}`` and fills them in. What it returns is
  the English sentence (a ``str``, so logs, JSON and tests see plain text) that still knows its
  template and values, so the edge can say it in another language.

Where the words are shown, a :class:`Words` says them in one language: ``words.say(text)``
translates a marked string, a :func:`msg` sentence or any message tree of marshmallow's shape.
:data:`ENGLISH` is the fallback that says everything as written; :mod:`progress_plugin.lang`
gives the catalogs' languages. The client's own words are never passed through it.
"""
from __future__ import annotations

from datetime import date, datetime


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


class Msg(str):
    """An English sentence made from a marked template and its values (see :func:`msg`)."""

    template: str
    params: dict

    def __new__(cls, template: str, params: dict):
        self = super().__new__(cls, template.format(**params))
        self.template, self.params = template, params
        return self

    def __reduce__(self):                 # pickles (and copies) as itself, not as a plain str
        return (Msg, (self.template, self.params))


def msg(template: str, **params) -> Msg:
    """``template`` (marked for the catalogs) with its ``{placeholders}`` filled in by ``params``."""
    return Msg(template, params)


class Words:
    """How one language says the plugin's words, numbers and dates. This base is English as written."""

    code = "en"
    direction = "ltr"

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def number(self, value) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    def date(self, value: date | datetime | None) -> str:
        """A day, as people in this language write it (``2 December 2026``)."""
        if value is None:
            return ""
        return f"{value.day} {value.strftime('%B')} {value.year}"

    def __call__(self, message: str, **params) -> str:
        """``message`` (a marked template) in this language, with ``params`` filled in."""
        text = self.gettext(message)
        return text.format(**params) if params else text

    def plural(self, singular: str, plural: str, n: int, **params) -> str:
        """The form of ``singular``/``plural`` for ``n``, with ``{n}`` and ``params`` filled in."""
        return self.ngettext(singular, plural, n).format(n=self.number(n), **params)

    def say(self, text):
        """``text`` in this language: a :func:`msg` sentence (with any :func:`msg` sentences among its
        values), a marked string, or a list or dict of them (marshmallow's message shape, keys kept).
        Other values come back as they are."""
        if isinstance(text, Msg):           # values that are marked sentences are said too, never others
            return self.gettext(text.template).format(
                **{k: self.say(v) if isinstance(v, Msg) else v for k, v in text.params.items()})
        if isinstance(text, str):
            return self.gettext(text)
        if isinstance(text, dict):
            return {k: self.say(v) for k, v in text.items()}
        if isinstance(text, (list, tuple)):
            return [self.say(v) for v in text]
        return text


#: English as written in the code: what every function that takes ``words`` uses by default.
ENGLISH = Words()

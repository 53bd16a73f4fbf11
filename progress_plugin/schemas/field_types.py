"""The marshmallow field types every boundary schema is built from.

:class:`Text` and :class:`Int` take only what can be stored, encoded and shown; :class:`FreeJSON`
and :class:`FreeDict` check free-form payloads the same way, down to every value inside them;
:class:`AwareDateTime` reads a naive date-time as UTC. :class:`Inbound` is the base of every
inbound schema: an unknown field is an error.
"""
from __future__ import annotations

from datetime import datetime, timezone

import marshmallow as ma
from marshmallow import RAISE, fields

from progress_plugin.core.words import N_
from progress_plugin.schemas import jsonio, validate

#: An id from the host (clinic, client, note, author): 1-128 characters.
ID = validate.Length(min=1, max=128)


class Inbound(ma.Schema):
    class Meta:
        unknown = RAISE


class Text(fields.String):
    """Text that can be stored, encoded and shown: no NUL character and no lone surrogate.

    Every inbound string field is one of these; bidirectional controls and every other
    character are kept as given."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is str and value.isascii() and "\x00" not in value:
            return value                             # the usual case, without the regular expression
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = jsonio.str_problem(value)
        if problem:
            raise ma.ValidationError(problem)
        return value


class Int(fields.Integer):
    """An integer within 64 bits: a larger one is refused before any validator formats it into a
    message (Python refuses to write integers of more than 4300 digits as text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is int and jsonio.INT_MIN <= value <= jsonio.INT_MAX:
            return value                             # the usual case
        value = super()._deserialize(value, attr, data, **kwargs)
        if value is not None and not jsonio.INT_MIN <= value <= jsonio.INT_MAX:
            raise ma.ValidationError(jsonio.NUMBER_MESSAGE)
        return value


class FreeJSON(fields.Raw):
    """Any JSON value (free-form payloads), with every text and key in it checked as :class:`Text`
    is and every number bounded; a problem is reported at its path inside the value."""

    def _deserialize(self, value, attr, data, **kwargs):
        problems = jsonio.value_problems(value)
        if list(problems) == ["_schema"]:            # the value itself, not something inside it
            raise ma.ValidationError(problems["_schema"])
        if problems:
            raise ma.ValidationError(problems)
        return value


class FreeDict(fields.Dict):
    """A free-form JSON object: text keys, :class:`FreeJSON` values."""

    def __init__(self, **kwargs):
        super().__init__(keys=Text(), values=FreeJSON(allow_none=True), **kwargs)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class AwareDateTime(fields.DateTime):
    """ISO 8601 date-time; a naive value is taken as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        return aware(super()._deserialize(value, attr, data, **kwargs))


#: A language tag as hosts send it: ``hi``, ``hi-IN``, ``en_GB`` (BCP 47's shape, loosely).
LANGUAGE_TAG = validate.Regexp(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8}){0,4}$",
                               error=N_("Give a language tag such as 'en', 'hi' or 'hi-IN', or null."))


class LocaleArgument(ma.Schema):
    """The ``locale`` argument of a hook: a language tag, or None for the clinic's default language.
    A well-formed tag the catalogs do not carry falls back; a malformed one is an error naming it."""

    locale = Text(allow_none=True, load_default=None, validate=LANGUAGE_TAG)


locale_schema = LocaleArgument()

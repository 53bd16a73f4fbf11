"""marshmallow's validators and messages, said through the message catalogs.

marshmallow writes its messages in English and fills values into them (``Must be one of:
{choices}.``), so the text that comes out no longer knows its template. The validators here are
marshmallow's own (same names and arguments as :mod:`marshmallow.validate`), except that each
message comes out as a :func:`~progress_plugin.core.words.msg` sentence: English text that still
knows its template and values, which ``words.say`` can say in another language. Import this
module in place of marshmallow's::

    from progress_plugin.schemas import validate
    level = Int(validate=validate.Range(min=-2, max=2))
    code = Text(validate=validate.Regexp(CODE_RE, error=N_("Not a tag code: {input}.")))

A custom ``error`` is marked with ``N_`` where it is written. :data:`MARSHMALLOW_MESSAGES` marks
marshmallow's own messages (fixed ones, and the templates its validators fill in), so the
catalogs carry them; ``tests/test_schemas_validate.py`` walks every boundary schema and fails
when one can say something the Hindi catalog lacks.

A value quoted into a message (``{input}``) is made printable first (see
:func:`~progress_plugin.schemas.jsonio.printable`), so no language's message carries a NUL or a
lone surrogate.
"""
from __future__ import annotations

from marshmallow import validate as _ma

from progress_plugin.core.words import N_, Msg, msg
from progress_plugin.schemas.jsonio import printable

#: marshmallow's messages that our schemas can give, as marshmallow writes them: the fields' and
#: schemas' fixed messages (after marshmallow fills in a date field's type), then the templates
#: its validators fill in. A marshmallow upgrade that rewords one fails the catalog test.
MARSHMALLOW_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid type."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Not a valid boolean."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Not a valid datetime."),
    N_("Not a valid date."),
    N_("Not a valid URL."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be equal to {other}."),
    N_("String does not match expected pattern."),
    N_("Must be one of: {choices}."),
)


def said(template: str, **values) -> Msg:
    """``template`` filled with the ``values`` it names, as a sentence the catalogs can say;
    quoted text made printable."""
    return msg(template, **{k: printable(v) if isinstance(v, str) else v
                            for k, v in values.items() if "{" + k in template})


class Range(_ma.Range):
    def _format_error(self, value, message: str) -> Msg:
        return said(self.error or message, input=value, min=self.min, max=self.max)


class Length(_ma.Length):
    def _format_error(self, value, message: str) -> Msg:
        return said(self.error or message, input=value, min=self.min, max=self.max, equal=self.equal)


class Equal(_ma.Equal):
    def _format_error(self, value) -> Msg:
        return said(self.error, input=value, other=self.comparable)


class Regexp(_ma.Regexp):
    def _format_error(self, value) -> Msg:
        return said(self.error, input=value, regex=self.regex.pattern)


class OneOf(_ma.OneOf):
    def _format_error(self, value) -> Msg:
        return said(self.error, input=value, choices=self.choices_text, labels=self.labels_text)


#: The validators whose messages the catalogs can say (see the module's docstring).
SAID = (Range, Length, Equal, Regexp, OneOf)

__all__ = ["MARSHMALLOW_MESSAGES", "SAID", "Equal", "Length", "OneOf", "Range", "Regexp", "said"]

"""marshmallow's messages said through the catalogs (progress_plugin.schemas.validate): every message a
boundary schema can give has a Hindi translation, and a validator's message keeps its template."""
from __future__ import annotations

import marshmallow as ma
import pytest
from marshmallow import fields
from marshmallow import validate as ma_validate

from progress_plugin import lang, schemas
from progress_plugin.core.words import ENGLISH, Msg
from progress_plugin.lang.check import placeholders
from progress_plugin.schemas import field_types, validate
from progress_plugin.web import admin, canvas, cds

HI = lang.words("hi")
#: Modules whose module-level schema instances are boundaries a person's input crosses.
BOUNDARY_MODULES = (schemas, field_types, admin, canvas, cds)
#: Field messages marshmallow never gives while loading: a date's formats are for dumping, and its
#: awareness message needs a ``timezone`` setting no field of ours has.
NEVER_ON_LOAD = {"format", "invalid_awareness"}


def boundary_schemas() -> dict[str, ma.Schema]:
    found = {}
    for module in BOUNDARY_MODULES:
        for name, value in vars(module).items():
            if isinstance(value, ma.Schema):
                found[f"{module.__name__}.{name}"] = value
    return found


def validator_messages(v, where: str) -> set[str]:
    """The templates ``v`` can fill in; fails for a validator whose message the catalogs cannot say."""
    if isinstance(v, validate.Range):
        default = v.message_all if v.min is not None and v.max is not None else \
            v.message_min if v.min is not None else v.message_max
        return {v.error or default}
    if isinstance(v, validate.Length):
        if v.error:
            return {v.error}
        if v.equal is not None:
            return {v.message_equal}
        return {v.message_all if v.min is not None and v.max is not None else
                v.message_min if v.min is not None else v.message_max}
    if isinstance(v, validate.SAID):
        return {v.error}
    if callable(v) and isinstance(getattr(v, "messages", None), tuple):   # a check that lists what it says
        return set(v.messages)
    # marshmallow's own, as fields.Url adds: only a fixed message (nothing filled in) can be said
    message = getattr(v, "error", None)
    assert isinstance(v, ma_validate.Validator) and isinstance(message, str) and not placeholders(message), (
        f"{where}: {v!r} is not one of progress_plugin.schemas.validate's validators")
    return {message}


def field_messages(field: fields.Field, where: str) -> set[str]:
    out = set()
    for key, text in field.error_messages.items():
        if key in NEVER_ON_LOAD or not isinstance(text, str):
            continue
        if key == "required" and not field.required:
            continue
        if key == "null" and field.allow_none:
            continue
        out.add(text.format(obj_type=field.OBJ_TYPE) if hasattr(field, "OBJ_TYPE") else text)
    for v in field.validators:
        out |= validator_messages(v, where)
    if isinstance(field, fields.Nested):
        out |= schema_messages(field.schema, where)
    elif isinstance(field, fields.List):
        out |= field_messages(field.inner, f"{where}[]")
    elif isinstance(field, fields.Dict):
        for part in (field.key_field, field.value_field):
            if part is not None:
                out |= field_messages(part, f"{where}{{}}")
    return out


def schema_messages(schema: ma.Schema, where: str) -> set[str]:
    out = {schema.error_messages["type"]}
    if schema.unknown == ma.RAISE:
        out.add(schema.error_messages["unknown"])
    for name, field in schema.fields.items():
        if not field.dump_only:
            out |= field_messages(field, f"{where}.{name}")
    return out


def every_message() -> dict[str, set[str]]:
    """Each message any boundary schema can give, with where it comes from."""
    found: dict[str, set[str]] = {}
    for where, schema in boundary_schemas().items():
        for message in schema_messages(schema, where):
            found.setdefault(message, set()).add(where)
    return found


def test_the_walk_finds_the_boundaries_and_marshmallows_messages():
    found = every_message()
    assert {"progress_plugin.schemas.note_schema", "progress_plugin.web.cds.cds_request",
            "progress_plugin.web.canvas.canvas_event_schema", "progress_plugin.web.admin.export_query",
            "progress_plugin.schemas.field_types.locale_schema"} <= set(boundary_schemas())
    for message in ("Missing data for required field.", "Unknown field.", "Not a valid integer.",
                    "Not a valid string.", "Field may not be null.", "Not a valid datetime.", "Not a valid URL.",
                    "Must be one of: {choices}.", "Longer than maximum length {max}.", "Ratings are 0-10; got {input}."):
        assert message in found, message


def test_every_message_a_boundary_schema_can_give_has_a_hindi_translation():
    untranslated = {m: sorted(where)[:2] for m, where in every_message().items() if HI.gettext(m) == m}
    assert untranslated == {}


def test_marshmallows_messages_are_all_marked_for_the_catalogs():
    marshmallow_own = {m for m in every_message() if m in validate.MARSHMALLOW_MESSAGES}
    assert len(marshmallow_own) >= 15
    assert all(HI.gettext(m) != m for m in validate.MARSHMALLOW_MESSAGES)


# -- a validator's message keeps its template ---------------------------------------------------
@pytest.mark.parametrize("validator, value, english, hindi", [
    (validate.Range(min=0, max=10), 11, "Must be greater than or equal to 0 and less than or equal to 10.",
     "0 से 10 के बीच का नंबर दें।"),
    (validate.Range(min=1), 0, "Must be greater than or equal to 1.", "1 या उससे बड़ा नंबर दें।"),
    (validate.Length(max=3), "abcd", "Longer than maximum length 3.", "यह बहुत लंबा है; ज़्यादा से ज़्यादा 3 तक रखें।"),
    (validate.OneOf(("a", "b")), "c", "Must be one of: a, b.", "इनमें से एक चुनें: a, b।"),
    (validate.Equal(1), 2, "Must be equal to 1.", "यहाँ 1 ही दें।"),
    (validate.Regexp("^x$"), "y", "String does not match expected pattern.", "यह सही ढंग से नहीं लिखा है।"),
    (schemas.Rating010, 11, "Ratings are 0-10; got 11.", "अंक 0 से 10 तक होते हैं; यहाँ 11 है।"),
])
def test_a_validators_message_is_english_text_that_hindi_can_say(validator, value, english, hindi):
    with pytest.raises(ma.ValidationError) as err:
        validator(value)
    (message,) = err.value.messages
    assert isinstance(message, Msg) and message == english and ENGLISH.say(message) == english
    assert HI.say(message) == hindi


def test_a_value_quoted_into_a_message_is_made_printable_in_every_language():
    with pytest.raises(ma.ValidationError) as err:
        validate.Regexp("^x$", error="Not a tag code: {input}.")("a\x00b\ud800")
    (message,) = err.value.messages
    assert message == "Not a tag code: a\\u0000b\\ud800."
    assert HI.say(message) == "यह टैग का कोड नहीं है: a\\u0000b\\ud800।"


def test_schema_errors_keep_their_templates_through_load():
    with pytest.raises(Exception) as err:
        schemas.load(schemas.note_schema, {"clinic_id": "a", "client_id": "b", "note_id": "n", "session_at": "x",
                                           "author": "t", "at": "2026-01-05T10:00:00Z",
                                           "ratings": [{"goal": "g1", "value": 11}], "colour": 1})
    assert HI.say(err.value.messages) == {
        "session_at": ["सही तारीख़ और समय दें (ISO 8601)।"],
        "ratings": {0: {"value": ["अंक 0 से 10 तक होते हैं; यहाँ 11 है।"]}},
        "colour": ["यह फ़ील्ड यहाँ नहीं होता; इसे हटा दें।"]}

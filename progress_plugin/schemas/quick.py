"""A quick yes of a marshmallow schema: True only where ``schema.load`` would accept the data.

``schema.load`` spends most of its time in marshmallow's generic machinery around each
nested schema (error stores, processors, a closure per field), not in the checks
themselves. :func:`checker` walks a schema's declared fields once and builds a plain
function that runs the same checks: every leaf value through its own field's
``deserialize`` (the very call ``load`` makes, so its type, format and validators are the
same), lists and nested objects by the same rules as marshmallow (unknown keys refused,
required keys present, a list's own validators), and a schema-level validator only where
an exact equivalent is given in :data:`SCHEMA_RULES`.

It answers only "certainly valid" or "not sure": a caller loads with the schema when the
answer is False, so refused data is refused by marshmallow with its messages, naming the
field, and the set of accepted inputs is the schema's own. A schema this cannot mirror
(a ``pre_load`` hook, a schema validator without a rule, ``unknown=INCLUDE``, a
``partial`` load) gets a checker that always says False.
"""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from marshmallow import fields

#: Schema-level validators (``@validates_schema``) and their exact equivalents, by schema class
#: and method name: a function of the loaded data, True where the validator passes.
SCHEMA_RULES: dict[tuple[str, str], Callable[[dict], bool]] = {
    ("RatingSchema", "something"): lambda data: data.get("value") is not None or data.get("level") is not None,
}

_NO = lambda value: False          # noqa: E731  (not sure: load with the schema)
_SAFE_HOOKS = {"post_load", "post_dump", "pre_dump"}     # none of them can refuse an input


def checker(schema: ma.Schema) -> Callable[[Any], bool]:
    """A function of one input: True only when ``schema.load`` of it would not raise."""
    found = _schema(schema)
    return found if found is not None else _NO


def _schema(schema: ma.Schema):
    if schema.many or schema.partial or schema.unknown not in (ma.RAISE, ma.EXCLUDE):
        return None
    rules = []
    for tag, hooks in schema._hooks.items():
        if not hooks or tag in _SAFE_HOOKS:
            continue
        if tag != "validates_schema":
            return None
        for name, *_ in hooks:
            rule = SCHEMA_RULES.get((type(schema).__name__, name))
            if rule is None:
                return None
            rules.append(rule)
    checks = []
    for name, field in schema.load_fields.items():
        check = _field(field)
        if check is None or (field.attribute not in (None, name)):
            return None
        key = field.data_key if field.data_key is not None else name
        checks.append((key, name, field.required, check))
    known = frozenset(key for key, *_ in checks)
    closed = schema.unknown == ma.RAISE

    def valid(data) -> bool:
        if type(data) is not dict or (closed and not known.issuperset(data)):
            return False
        loaded = {}
        for key, name, required, check in checks:
            if key in data:
                ok, value = check(data[key])
                if not ok:
                    return False
                loaded[name] = value
            elif required:
                return False
        return all(rule(loaded) for rule in rules)

    return valid


def _field(field: fields.Field):
    """``(ok, loaded value)`` of one value for ``field``, or None when it cannot be mirrored. Lists and
    nested schemas are walked here; any other field is asked itself (``field.deserialize``)."""
    if field.pre_load or field.post_load:
        return None
    if type(field) is fields.List:
        return _list(field)
    if type(field) is fields.Nested:
        return _nested(field)

    def leaf(value):
        try:
            return True, field.deserialize(value)
        except ma.ValidationError:
            return False, None

    return leaf


def _list(field: fields.List):
    inner = _field(field.inner)
    if inner is None or field.allow_none:
        return None
    validators = field.validators

    def check(value):
        if type(value) is not list:
            return False, None
        out = []
        for item in value:
            ok, loaded = inner(item)
            if not ok:
                return False, None
            out.append(loaded)
        try:
            for validator in validators:
                if validator(out) is False:
                    return False, None
        except ma.ValidationError:
            return False, None
        return True, out

    return check


def _nested(field: fields.Nested):
    if field.many or field.allow_none or field.validators or field.unknown is not None or field.only or field.exclude:
        return None
    target = field.schema
    valid = _schema(target) if isinstance(target, ma.Schema) else None
    if valid is None:
        return None
    return lambda value: (valid(value), value)

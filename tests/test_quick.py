"""The quick checks say yes only where the schema's load accepts, over valid inputs and thousands of mutations."""
from __future__ import annotations

import copy
import random

import marshmallow as ma
import pytest

from progress_plugin import schemas
from progress_plugin.errors import ValidationError
from progress_plugin.schemas import quick

NOTE = {"clinic_id": "c1", "client_id": "p1", "note_id": "n1", "note_type": "progress", "author": "t1",
        "session_at": "2026-02-01T10:00:00Z", "at": "2026-02-01T11:00:00+05:30", "signed": True,
        "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 2}]},
                 {"code": "moment-of-connection"}],
        "ratings": [{"goal": "g2", "level": -1, "rated_by": "therapist", "source": "session"}]}
ENVELOPE = {"type": "note.signed", "timestamp": "2026-02-01T00:00:00Z", "data": {"a": [1, {"b": None}]}}

#: Values put in place of a field's value, or added under a new key.
ODD = [None, "", "x" * 129, "x" * 128, "é", "a\x00b", "\ud800", 0, -3, 11, 2, 2 ** 70, True, False, 1.5, [], {},
       ["g1"], [{}], "2026-02-30T00:00:00", "2026-02-01", "2026-02-01T10:00:00", "not a date", "step-forward",
       "Bad Code", "client", "carer", "room", {"goal": "g1"}, {"goal": "g1", "value": None, "level": None},
       [{"code": "x"}] * 41, ["g1", "g2", "g3", "g4"], ("g1",)]


def accepted(schema, data) -> bool:
    try:
        schemas.load(schema, data)
    except ValidationError:
        return False
    return True


def paths(value, prefix=()):
    """Every (path to a container, key) pair in ``value``."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix, key
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield prefix, i
            yield from paths(child, prefix + (i,))


def mutations(base, rnd, count):
    spots = list(paths(base))
    for _ in range(count):
        data = copy.deepcopy(base)
        for _ in range(rnd.choice((1, 1, 2))):
            where, key = rnd.choice(spots)
            node = data
            try:
                for step in where:
                    node = node[step]
                kind = rnd.random()
                if kind < 0.2 and isinstance(node, dict):
                    node.pop(key, None)
                elif kind < 0.3 and isinstance(node, dict):
                    node[rnd.choice(("extra", "value", "level", "goals", "ratings"))] = rnd.choice(ODD)
                else:
                    node[key] = copy.deepcopy(rnd.choice(ODD))
            except (KeyError, IndexError, TypeError):
                continue
        yield data


@pytest.mark.parametrize("schema, base", [(schemas.note_schema, NOTE), (schemas.envelope_schema, ENVELOPE),
                                          (schemas.note_deleted_schema, {"clinic_id": "c", "client_id": "p",
                                                                         "note_id": "n", "at": "2026-01-01T00:00:00Z"}),
                                          (schemas.client_discharged_schema, {"clinic_id": "c", "client_id": "p",
                                                                              "at": "2026-01-01T00:00:00Z"})])
def test_quick_yes_only_where_load_accepts(schema, base):
    check = quick.checker(schema)
    assert check(base) and accepted(schema, base)
    rnd = random.Random(18)
    said_yes = said_no_but_valid = 0
    for data in mutations(base, rnd, 3000):
        valid = accepted(schema, data)
        if check(data):
            assert valid, data
            said_yes += 1
        elif valid:
            said_no_but_valid += 1
    assert said_yes > 100                       # the quick path is taken for most valid inputs
    assert said_no_but_valid <= said_yes // 10


def test_rating_rule_is_the_schema_validator():
    check = quick.checker(schemas.note_schema)
    data = {**NOTE, "ratings": [{"goal": "g1"}], "tags": []}
    assert not check(data) and not accepted(schemas.note_schema, data)
    data["ratings"] = [{"goal": "g1", "level": 0}]
    assert check(data) and accepted(schemas.note_schema, data)


def test_schemas_it_cannot_mirror_always_say_no():
    class Hooked(schemas.Inbound):
        a = schemas.Text()

        @ma.validates_schema
        def unknown_rule(self, data, **kwargs):
            raise ma.ValidationError("no")

    class Included(ma.Schema):
        class Meta:
            unknown = ma.INCLUDE
        a = schemas.Text()

    assert not quick.checker(Hooked())({"a": "x"})
    assert not quick.checker(Included())({"a": "x"})
    assert not quick.checker(schemas.intake_schema)({})     # a pre_load hook: loaded in full


def test_not_a_dict_is_not_sure():
    check = quick.checker(schemas.note_schema)
    assert not check([NOTE]) and not check(None) and not check("x")

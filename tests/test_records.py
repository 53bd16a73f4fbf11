"""quick_init: a frozen dataclass keeps its signature, equality, hashing, repr and immutability."""
import dataclasses
import inspect
from datetime import datetime, timezone

import pytest

from progress_plugin.core.progress import Marker, Point
from progress_plugin.core.records import quick_init


def _pair():
    def plain():
        @dataclasses.dataclass(frozen=True)
        class Plain:
            a: int
            b: str
            c: int | None = None
            d: str = "session"
        return Plain
    return plain(), quick_init(plain())


def test_same_signature_and_behaviour_as_the_dataclass():
    plain, quick = _pair()
    shape = [(p.name, p.default, p.kind) for p in inspect.signature(plain).parameters.values()]
    assert [(p.name, p.default, p.kind) for p in inspect.signature(quick).parameters.values()] == shape
    for args, kwargs in (((1, "x"), {}), ((1, "x", 3), {}), ((1,), {"b": "y", "d": "self"}), ((), {"a": 2, "b": "z"})):
        p, q = plain(*args, **kwargs), quick(*args, **kwargs)
        assert dataclasses.astuple(p) == dataclasses.astuple(q) and repr(p) == repr(q)
        assert q == quick(*args, **kwargs) and hash(q) == hash(quick(*args, **kwargs))
        assert dataclasses.replace(q, c=9).c == 9
        with pytest.raises(dataclasses.FrozenInstanceError):
            q.a = 5
    with pytest.raises(TypeError):
        quick(1)                                    # a missing argument is still an error
    with pytest.raises(TypeError):
        quick(1, "x", e=2)


def test_progress_records_keep_their_fields():
    at = datetime(2026, 1, 5, tzinfo=timezone.utc)
    point = Point(at, 3, 7, "client")
    assert (point.level, point.note_id, point.source) == (None, None, "session")
    assert list(inspect.signature(Point).parameters) == [f.name for f in dataclasses.fields(Point)]
    marker = Marker("n1", at, 1, "c", "Label", "cat", "toward", False, True, 2)
    assert marker.role is None and marker == Marker("n1", at, 1, "c", "Label", "cat", "toward", False, True, 2, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.value = 1


def test_refuses_what_it_cannot_keep():
    @dataclasses.dataclass
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class Factory:
        a: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Post:
        a: int

        def __post_init__(self):
            pass
    for cls in (Mutable, Factory, Post):
        with pytest.raises(TypeError):
            quick_init(cls)

"""Hostile input for the boundary fuzz tests, and the count of cases each boundary ran.

Every fuzz test starts from a payload its boundary accepts and mutates it: a value replaced
by hostile text (every Unicode category, lone surrogates, NUL, bidi controls), a huge or
negative number (past 64 bits, past Python's 4300-digit conversion limit), NaN or Infinity,
a value of the wrong JSON type, JSON nested thousands deep, an extra key; or the whole body
replaced by garbage, deep nesting or more bytes than the boundary takes. Answers are
checked with :func:`check_answer`: never 5xx, never a traceback.

Each test counts its cases in :data:`COUNTS` (by boundary); the ``fuzz_counts`` fixture in
``conftest.py`` writes them to ``tests/artifacts/fuzz-counts.json`` when the session ends.
"""
from __future__ import annotations

import copy
import json
import re
from collections import Counter, defaultdict

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Cases per boundary. Fixed, so the counts are the same on every run and the whole fuzz
#: suite stays within about a minute.
EXAMPLES = 200


def fuzz_settings(max_examples: int = EXAMPLES):
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


# -- counting ----------------------------------------------------------------------------------
COUNTS: dict[str, Counter] = defaultdict(Counter)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")


def check_answer(boundary: str, status: int, body: bytes | str, kind: str = "status") -> None:
    """Count one case for ``boundary`` and assert its answer: below 500, no traceback text.
    (For a command, ``status`` is its exit status, ``kind`` "exit", and a crash counts as 500.)"""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    counts = COUNTS[boundary]
    counts["cases"] += 1
    counts[f"{kind} {status}"] += 1
    if status >= 500:
        counts["5xx"] += 1
    if TRACEBACK.search(text):
        counts["tracebacks"] += 1
    assert status < 500, f"{boundary}: {status} {text[:500]}"
    assert not TRACEBACK.search(text), f"{boundary}: traceback in the answer: {text[:500]}"


# -- hostile values ----------------------------------------------------------------------------
#: One character of every Unicode general category (30), plus the ones that break things.
BY_CATEGORY = {
    "Cc": "\x00\x1b\x7f\x85", "Cf": "\u202e\u202d\u2066\u2069\u200f\u200e\u061c\ufeff\u200b\u00ad",
    "Cn": "\u0378\U0010ffff", "Co": "\ue000\U000f0000", "Cs": "\ud800\udbff\udc00\udfff",
    "Ll": "aß", "Lm": "\u02b0", "Lo": "हक\u4e00", "Lt": "\u01c5", "Lu": "AÉ", "Mc": "\u093e", "Me": "\u20dd",
    "Mn": "\u0301\u094d", "Nd": "\u0663\u0967", "Nl": "\u216b", "No": "\u00bd", "Pc": "_", "Pd": "-\u2014",
    "Pe": ")", "Pf": "\u00bb", "Pi": "\u00ab", "Po": "!\"\\", "Ps": "(", "Sc": "\u20b9", "Sk": "^",
    "Sm": "+<", "So": "\U0001f600", "Zl": "\u2028", "Zp": "\u2029", "Zs": " \u00a0\u3000",
}
SPECIAL = "".join(BY_CATEGORY.values())
TEXT = st.one_of(
    st.text(st.characters(), max_size=40),
    st.text(st.sampled_from(SPECIAL), min_size=1, max_size=12),
    st.sampled_from(["\ud800", "\udfff", "a\x00b", "\u202eevil\u202c", "\u2066x\u2069", "\ud83d",
                     "\ud83d\ude00", "<script>alert(1)</script>", "'; DROP TABLE notes; --", "%00", "../..",
                     "x" * 5000, "\u0915\u094d\u0937" * 300]),
)
#: Integers past every bound: 32 and 64 bits, 30 digits, and negative ones.
INTEGERS = st.one_of(
    st.integers(), st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.sampled_from([-1, 0, 11, 2 ** 31, 2 ** 31 - 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 29, -(10 ** 29)]),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


class Literal:
    """A piece of JSON text put into a document as it is: numbers Python's ``json`` cannot write
    (over 4300 digits) and nesting deeper than its encoder goes. ``value`` is the same as a Python
    object, for boundaries that take Python data (hook arguments)."""

    def __init__(self, text: str, value):
        self.text = text
        self.value = value

    def __repr__(self) -> str:
        return f"Literal({self.text[:12]!r}... {len(self.text)} characters)"


def _nested(n: int, kind: str):
    inner = 1 if kind != "[]" else None
    value = [] if inner is None else inner
    for _ in range(n):
        value = {"a": value} if kind == "{}" else [value]
    return value


BIG_LITERALS = st.integers(min_value=4200, max_value=6000).map(lambda n: Literal("9" * n, 10 ** n - 1)) | \
    st.integers(min_value=4200, max_value=6000).map(lambda n: Literal("-" + "1" * n, -(10 ** n) // 9)) | \
    st.sampled_from([Literal("1e999", float("inf")), Literal("-1e999", float("-inf")),
                     Literal("1" + "0" * 400 + ".5", float("1" + "0" * 400 + ".5"))])
DEEP = st.integers(min_value=60, max_value=12000).flatmap(
    lambda n: st.sampled_from([Literal("[" * n + "]" * n, _nested(n - 1, "[]")),
                               Literal('{"a":' * n + "1" + "}" * n, _nested(n, "{}")),
                               Literal("[" * n + "1" + "]" * n, _nested(n, "[1]"))]))
SCALARS = st.one_of(st.none(), st.booleans(), TEXT, INTEGERS, FLOATS)
VALUES = st.one_of(
    SCALARS, BIG_LITERALS, DEEP,
    st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
                 max_leaves=8),
)


def dumps(doc, ensure_ascii: bool = True) -> str:
    """JSON text of ``doc`` with :class:`Literal` pieces spliced in."""
    pieces: list[str] = []

    def swap(value):
        if isinstance(value, Literal):
            pieces.append(value.text)
            return f"@@literal-{len(pieces) - 1}@@"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(doc), ensure_ascii=ensure_ascii)
    return re.sub(r'"@@literal-(\d+)@@"', lambda m: pieces[int(m.group(1))], text)


def python(doc):
    """``doc`` with every :class:`Literal` as its Python value (a deep value is taken as it is, not walked)."""
    if isinstance(doc, Literal):
        return doc.value
    if isinstance(doc, dict):
        return {k: python(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [python(v) for v in doc]
    return doc


def encode(text: str) -> bytes:
    """UTF-8 bytes; a raw lone surrogate becomes its (invalid) 3-byte form, as a hostile sender sends it."""
    return text.encode("utf-8", "surrogatepass")


def _paths(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, path + (i,))


def _at(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw, template):
    """``template`` (a payload the boundary accepts) with one to three hostile changes."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "replace", "add", "delete"]))
        value = draw(VALUES)
        if not path:
            if op == "replace":
                doc = value
            continue
        parent, key = _at(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = value
        elif op == "delete":
            del parent[key]
        else:
            target = _at(doc, path)
            if isinstance(target, dict):
                target[draw(TEXT)] = value
            elif isinstance(target, list):
                target.append(value)
            else:
                parent[key] = [target, value]
    return doc


def bodies(template, limit: int):
    """Request bodies: mostly ``template`` mutated, also garbage, deep nesting at the root and
    bodies over ``limit`` bytes."""
    docs = mutated(template).flatmap(lambda d: st.sampled_from([encode(dumps(d)), encode(dumps(d, False))]))
    return st.one_of(
        docs, docs, docs, docs, docs, docs,
        st.binary(max_size=300),
        DEEP.map(lambda lit: lit.text.encode()),
        st.sampled_from([b"", b"null", b"[]", b"1", b'"x"', b"NaN", b'{"a": Infinity}', b"\xef\xbb\xbf{}",
                         b'{"a": "\\ud800"}', b'{"\\u0000": 1}', b'{"a": 1, "a": 2}']),
        st.integers(limit + 1, limit + 5000).map(lambda n: b'{"pad": "' + b"x" * n + b'"}'),
    )

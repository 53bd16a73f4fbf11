"""JSON from outside, read with limits; error messages made safe to write back.

Every JSON body or file that crosses a boundary (webhooks, ``/canvas``, CDS Hooks, the
admin API, ``vocab import``) is read by :func:`loads`:

- the text must be UTF-8 (strict: encoded surrogates are refused too);
- nesting deeper than :data:`MAX_DEPTH` is refused before the parser sees it (Python's
  parser would otherwise recurse until it fails);
- ``NaN`` and ``Infinity`` are not JSON and are refused;

all three raise :class:`NotJSON` (the web layer answers 400). Then, with the path of each:

- an integer outside the 64-bit range, or a number too large for a float;
- text (a value or a key) holding a NUL character or a lone surrogate, which no store
  column, UTF-8 encoder or terminal can carry

raise :class:`~progress_plugin.errors.ValidationError` (422), every problem by its path.

:func:`value_problems` is the same check of text and numbers for data that did not come as
JSON (hook arguments); :func:`plain_keys` turns error messages into something
JSON can encode with sorted keys (marshmallow mixes ``int`` list positions and ``str`` names).
"""
from __future__ import annotations

import json
import math
import re
import threading

from progress_plugin.core.words import N_, Msg, msg
from progress_plugin.errors import ValidationError

MAX_DEPTH = 64                      #: arrays and objects inside one another, at most
INT_MIN, INT_MAX = -2 ** 63, 2 ** 63 - 1
_INT_DIGITS = 19                    #: digits of INT_MAX: longer literals are never parsed

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = N_("Holds a NUL character, which is not allowed in text.")
SURROGATE_MESSAGE = N_("Holds a lone surrogate (U+D800-U+DFFF), which is not valid Unicode text.")
#: The same problems in a key: said of the key itself.
KEY_MESSAGES = {NUL_MESSAGE: N_("This key: holds a NUL character, which is not allowed in text."),
                SURROGATE_MESSAGE: N_("This key: holds a lone surrogate (U+D800-U+DFFF), which is not valid "
                                      "Unicode text.")}
NUMBER_MESSAGE = msg("Number out of range: integers must be between {min} and {max}.", min=INT_MIN, max=INT_MAX)
FLOAT_MESSAGE = N_("Number out of range for a floating-point value.")

_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class NotJSON(ValidationError):
    """The text is not JSON we read: not UTF-8, not valid, or nested too deeply."""

    status = 400


class _OutOfRange:
    """Stands for a number literal that is refused; found again by its path after parsing."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _Constant(ValueError):
    pass


def _constant(name: str):
    raise _Constant(name)


def _parse_int(literal: str):
    if len(literal) <= _INT_DIGITS - 1 or (len(literal) <= _INT_DIGITS + 1 and INT_MIN <= int(literal) <= INT_MAX):
        return int(literal)
    _refused.count += 1                              # never converted: no 4300-digit limit is reached
    return _OutOfRange(NUMBER_MESSAGE)


def _parse_float(literal: str):
    value = float(literal)
    if math.isfinite(value):
        return value
    _refused.count += 1
    return _OutOfRange(FLOAT_MESSAGE)


_refused = threading.local()                         #: numbers refused by the current thread's parse
_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_constant)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH):
    """Parse one JSON document from outside (see the module docstring for what is refused).

    ``bytes`` must be UTF-8; a leading byte order mark is allowed. Problems with the text as
    a whole raise :class:`NotJSON` with one ``_schema`` message that gives the line and
    column where known; problems with values raise ``ValidationError`` by path.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise NotJSON({"_schema": [msg("Not UTF-8 text (byte {byte}).", byte=exc.start)]},
                          "the body is not UTF-8 text") from None
    else:
        text = data
    if depth_exceeds(text, max_depth):
        raise NotJSON({"_schema": [msg("JSON nested more than {depth} levels deep.", depth=max_depth)]},
                      "the JSON is nested too deeply")
    _refused.count = 0
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise NotJSON({"_schema": [msg("line {line} column {column}: not valid JSON: {problem}.",
                                       line=exc.lineno, column=exc.colno, problem=exc.msg)]},
                      "the body is not valid JSON") from None
    except (_Constant, RecursionError) as exc:       # RecursionError: only with a max_depth near the stack limit
        raise NotJSON({"_schema": [msg("Not valid JSON: {name} is not a JSON number.", name=str(exc))
                                   if isinstance(exc, _Constant) else N_("Not valid JSON: too deep.")]},
                      "the body is not valid JSON") from None
    # a NUL or a lone surrogate can only arrive as a \u escape (raw ones are not valid JSON or UTF-8)
    if _refused.count or ("\\u" in text and _SUSPECT_ESCAPE.search(text)):
        problems = value_problems(document)
        if problems:
            raise ValidationError(problems)
    return document


def depth_exceeds(text: str, max_depth: int = MAX_DEPTH) -> int:
    """0 when ``text`` nests arrays and objects at most ``max_depth`` deep, else how many
    brackets were read up to the first one too deep. Brackets inside strings do not count."""
    if text.count("[") + text.count("{") <= max_depth:
        return 0                                     # too few brackets to be too deep: the usual case
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    level = 0
    for position, ch in enumerate(brackets, 1):
        if ch in "[{":
            level += 1
            if level > max_depth:
                return position
        else:
            level -= 1
    return 0


def value_problems(value, max_depth: int = MAX_DEPTH) -> dict:
    """Every refused value in ``value`` (dicts, lists, text, numbers) as marshmallow-shaped
    messages by path: text with NUL or a lone surrogate, numbers out of range. ``{}`` when none.

    A key with a bad character is reported at its own (escaped) name. Walks without
    recursion; containers deeper than ``max_depth`` are reported, not entered.
    """
    found: dict = {}

    def report(path: tuple, message: str) -> None:
        node = found
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if isinstance(child, list):
                child = node[key] = {"_schema": child}
            node = child
        leaf = node.setdefault(path[-1] if path else "_schema", [])
        (leaf.setdefault("_schema", []) if isinstance(leaf, dict) else leaf).append(message)

    stack = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = str_problem(item)
            if problem:
                report(path, problem)
        elif isinstance(item, _OutOfRange):
            report(path, item.message)
        elif isinstance(item, float) and not math.isfinite(item):
            report(path, FLOAT_MESSAGE)
        elif isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
            report(path, NUMBER_MESSAGE)
        elif isinstance(item, (dict, list, tuple)):
            if len(path) >= max_depth:
                report(path, msg("Nested more than {depth} levels deep.", depth=max_depth))
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    problem = str_problem(key)
                    if problem:
                        report(path + (printable(key),), KEY_MESSAGES[problem])
                        continue
                stack.append((path + (key,), child))
    return found


def str_problem(text: str) -> str | None:
    """Why ``text`` is refused (a NUL character, a lone surrogate), or None."""
    bad = _BAD_TEXT.search(text)
    if bad is None:
        return None
    return NUL_MESSAGE if bad.group() == "\x00" else SURROGATE_MESSAGE


def printable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as ``\\uXXXX`` escapes, so it can be shown and
    encoded; inside a JSON string the escape is valid JSON for the same character."""
    return _BAD_TEXT.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def plain_keys(messages, *, keys_as_text: bool = True):
    """Error messages with every dict key as text, so JSON can sort them: marshmallow gives a list
    position as an ``int`` key beside ``str`` field names (``{"entry": {0: [...], "_schema": [...]}}``).

    Text anywhere in them (a field name taken from the input, a message quoting it) goes through
    :func:`printable`. With ``keys_as_text=False`` ``int`` keys stay (the hooks' documented shape)."""
    if isinstance(messages, dict):
        out: dict = {}
        for key, value in messages.items():
            if isinstance(key, str):
                name = printable(key)
            else:
                name = str(key) if keys_as_text else key
            value = plain_keys(value, keys_as_text=keys_as_text)
            if name in out:                          # 0 and "0" side by side: keep both messages
                value = _merge(out[name], value)
            out[name] = value
        return out
    if isinstance(messages, (list, tuple)):
        return [plain_keys(m, keys_as_text=keys_as_text) for m in messages]
    if isinstance(messages, str):
        text = printable(messages)
        return messages if isinstance(messages, Msg) and text == messages else text   # still sayable
    return messages


def _merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for key, value in b.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(a, dict):
        return _merge(a, {"_schema": b})
    if isinstance(b, dict):
        return _merge({"_schema": a}, b)
    return list(a) + list(b)

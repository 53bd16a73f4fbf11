"""JSON Patch (RFC 6902), including ``test``, applied to a copy of a resource."""
from __future__ import annotations

import copy
import re

_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,11})$")


class PatchError(Exception):
    """A malformed or inapplicable JSON Patch."""


class PatchTestFailed(PatchError):
    """A ``test`` operation did not hold."""


def apply_patch(document: dict, operations) -> dict:
    """``document`` with ``operations`` applied, as a new object (the input is untouched)."""
    if not isinstance(operations, list):
        raise PatchError("a JSON Patch is an array of operations")
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("each operation needs 'op' and 'path'")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"'{kind}' needs a value")
        if kind == "test":
            try:
                current = _resolve(doc, tokens)
            except PatchError:
                raise PatchTestFailed(f"test failed: {op['path']} does not exist") from None
            if not _json_equal(current, op["value"]):
                raise PatchTestFailed(f"test failed at {op['path']}")
        elif kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, tokens)
        elif kind == "replace":
            _resolve(doc, tokens)
            doc = _replace(doc, tokens, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            if kind == "move" and tokens[:len(source)] == source and len(tokens) > len(source):
                raise PatchError("cannot move a value into itself")
            value = copy.deepcopy(_resolve(doc, source))
            if kind == "move":
                doc, _ = _remove(doc, source)
            doc = _add(doc, tokens, value)
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


def _pointer(path) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"not a JSON pointer: {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]] if path else []


def _index(token: str, size: int, *, append: bool) -> int:
    if append and token == "-":
        return size
    if not _INDEX_RE.match(token) or int(token) > (size if append else size - 1):
        raise PatchError(f"array index {token!r} is out of range")
    return int(token)


def _resolve(doc, tokens: list[str]):
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), append=False)]
        else:
            raise PatchError(f"path /{'/'.join(tokens)} does not exist")
    return doc


def _json_equal(a, b) -> bool:
    """JSON equality: ``true`` is not ``1``, ``"1"`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(tokens[-1], len(parent), append=True), value)
    else:
        raise PatchError("cannot add below a value that is not an object or array")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    if isinstance(parent, dict) and tokens[-1] in parent:
        return doc, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_index(tokens[-1], len(parent), append=False))
    raise PatchError(f"path /{'/'.join(tokens)} does not exist")


def _replace(doc, tokens, value):
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    if isinstance(parent, list):
        parent[_index(tokens[-1], len(parent), append=False)] = value
    else:
        parent[tokens[-1]] = value
    return doc

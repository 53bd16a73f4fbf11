"""A small in-memory FHIR R4 host for end-to-end tests, fault drills and benchmarks.

It plays the notes platform: it answers the plugin's FHIR calls, counts every write, can
misbehave on request, serves a million synthetic notes without holding them, and sends
signed webhooks.

    python -m examples.fhir_host --port 0        # first stdout line: "listening 127.0.0.1:PORT"

The FHIR base is ``http://127.0.0.1:PORT/fhir``. In a test process::

    with running(meta_add=False) as host:        # a thread, an ephemeral port
        client = FHIRClient(host.base_url)
        host.stats()["writes"]["Goal"]

``make_app()`` returns the WSGI app; it also runs under werkzeug's ``make_server`` (which
closes every connection: use :func:`serve` when keep-alive matters, as in benchmarks).

**FHIR subset.** ``GET metadata``; create (``POST``, conditional with ``If-None-Exist``);
read (``_elements`` honoured); vread of the current version; update (``PUT Type/id``,
update-as-create, ``If-Match``); conditional update ``PUT Type?identifier=system|value``;
``PATCH`` with JSON Patch including ``test`` (a failed test is a 400; ``If-Match`` is
honoured); ``POST Type/id/$meta-add`` (switchable: off answers 404 like a server without
it); ``DELETE`` (also conditional); search by ``_id``, ``identifier``, ``_tag``, ``subject``,
``patient``, ``url``, ``version``, ``status``, ``lifecycle-status``, ``achievement-status``,
``code``, ``type``, ``category``, ``derived-from``, ``focus``, ``_lastUpdated`` and ``date``
(prefixes eq, gt, ge, lt, le), with ``_count`` + ``_offset`` paging and ``self``/``next``
links, ``_elements``, ``_summary=count``. Unknown search parameters are a 400. Errors are
OperationOutcomes. ``ETag``, ``Location``, ``Content-Location`` and ``Last-Modified`` come
from ``meta``. ``meta.versionId`` counts 1, 2, ... and moves only when content changes; a
write that leaves the content as it was keeps the version (and is counted as a no-op).
``$meta-add`` changes tags without a new version, as FHIR servers commonly do. Resources are
not validated unless ``validate=True`` (``fhir.resources`` R4B models).

**Control API** (never counted, never faulted), JSON in and out:

* ``GET /__stats``: ``total``; ``counts`` per ``"METHOD pattern"`` (``"PUT Goal"``,
  ``"GET Goal/:id"``, ``"POST DocumentReference/:id/$meta-add"``); ``statuses`` per pattern;
  ``log`` (the last requests, each with method, pattern, path, idempotency_key, if_match,
  request_id, status and fault); ``methods`` (method, then resource type, then count);
  ``writes`` (resource type, then logical key: the first identifier ``system|value``, else
  canonical ``url|version``, else the id; each with ``ids``, ``writes`` = content changes,
  ``noops`` = writes that left the content as it was, ``repeats`` = changes back to content
  seen before, ``deletes``, ``version``); ``totals`` per type; ``duplicates`` (every key with
  a no-op, a repeat or several ids); ``tags`` (``"DocumentReference/<id>"``: current
  ``codes`` and ``adds`` per code, the times it went from absent to present); ``seeds``;
  ``config``; ``rss_bytes`` and ``pid`` of the server process.
* ``POST /__reset``: clears counters, the log, the write ledger and pending faults; with
  ``{"data": true}`` also every resource and seed.
* ``POST /__faults``: one spec or a list, for the next matching FHIR requests:
  ``{"status": 503, "count": 5}``, ``{"status": 429, "retry_after": 1, "count": 2}``,
  ``{"reset": true}`` (the connection is dropped without an answer), ``{"status": 409}``,
  ``{"delay_ms": 500}``. Options: ``method``; ``path`` (a prefix of the path under the FHIR
  base, e.g. ``"Goal"``); ``count`` (default 1); ``seconds`` (the fault holds for that long,
  for every matching request unless ``count`` is also given); ``after: true`` (the request is
  carried out first, then the answer is replaced: a write whose response is lost).
  ``GET /__faults`` lists what is pending; ``DELETE /__faults`` clears it.
* ``POST /__seed``: ``{"clinic": "c1", "patients": 1000, "notes": 1000000}`` (optional
  ``start``, ``protected_every``) makes that many DocumentReferences searchable and readable
  without storing them: each is computed from its index. Ids ``<clinic>-n<i>``, subjects
  ``Patient/<clinic>-p<i % patients>``, dates rising with the index, tags from the default
  vocabulary. Writes to a seeded note are kept as an overlay. ``"notes": 0`` removes the
  clinic's seed. ``GET /__seed`` lists seeds.
* ``POST /__notes``: ``{"notes": [{"note_id", "client_id", "note_type"?}]}`` registers notes
  (DocumentReference + Patient) as the platform's own data, outside the write counts.
* ``POST /__send``: ``{"url", "secret", "events": [envelopes], "duplicate_every",
  "shuffle_seed", "shuffle_window", "ids", "scheme", "max_attempts", "concurrency",
  "register" (default true: register the events' notes first), "wait" (default true)}``
  posts the events signed with Standard Webhooks and answers each delivery's outcome. With
  ``"wait": false`` it answers ``{"job": id}`` at once; ``GET /__send/<id>`` reports.
* ``GET|POST /__config``: ``{"meta_add": bool, "idempotency": bool, "validate": bool}``.
  With ``idempotency`` a write repeating an ``Idempotency-Key`` gets the first answer again.

Synthetic notes carry a dummy ``content`` attachment (:data:`NOTE_TEXT`) and nothing else
that is note text; the plugin must never read or keep it.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import io
import json
import math
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode

import requests
from werkzeug.wrappers import Request, Response

from examples import webhook_sender
from progress_plugin.vocabulary import DEFAULT_TAGS
from progress_plugin.vocabulary import SYSTEM as TAG_SYSTEM

FHIR_JSON = "application/fhir+json; charset=utf-8"
JSON_PATCH = "application/json-patch+json"
DEFAULT_COUNT = 20
MAX_COUNT = 5000
LOG_LIMIT = 10_000
IDEMPOTENCY_LIMIT = 10_000
PLAN_CACHE = 256
#: The only note text a synthetic or registered note holds (as its attachment).
NOTE_TEXT = "DUMMY-NOTE-TEXT: the platform keeps this; the plugin must never read or store it"
NOTE_TYPES = ("DocumentReference", "Composition")
LISTED_TYPES = ("Patient", "Practitioner", "Questionnaire", "QuestionnaireResponse", "Goal",
                "Observation", "Flag", "DocumentReference", "Composition", "CodeSystem",
                "ValueSet", "Subscription", "Encounter")
LOINC = "http://loinc.org"
PROGRESS_NOTE = {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]}
PSYCHOTHERAPY_NOTE = {"coding": [{"system": LOINC, "code": "34746-8",
                                  "display": "Psychotherapy note"}], "text": "psychotherapy-note"}
NOTE_CATEGORY = [{"coding": [{
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note"}]}]
NOTE_CONTENT = [{"attachment": {"contentType": "text/plain",
                                "data": base64.b64encode(NOTE_TEXT.encode()).decode("ascii")}}]
DROPPED = "fhir_host.dropped"

_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CLINIC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,40}$")
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,11})$")


class FHIRError(Exception):
    """An answer other than success, as an OperationOutcome."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def outcome(code: str, text: str, severity: str = "error") -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "details": {"text": text}}]}


def pattern(method: str, parts: list[str]) -> str:
    """``"GET Goal/:id"``, ``"PUT Goal"``, ``"POST DocumentReference/:id/$meta-add"``."""
    out = []
    for i, part in enumerate(parts):
        if i == 0 or part.startswith("$") or part.startswith("_"):
            out.append(part)
        elif i == 1:
            out.append(":id")
        elif i == 3 and parts[2] == "_history":
            out.append(":vid")
        else:
            out.append(part)
    return f"{method} {'/'.join(out)}"


def content_hash(resource: dict) -> str:
    """A hash of what a resource says: everything but ``id``, ``meta.versionId`` and
    ``meta.lastUpdated``. Tags are content."""
    data = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    if meta:
        data["meta"] = meta
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def logical_key(resource: dict) -> str:
    """How the write ledger names a resource: first identifier, else canonical url, else id."""
    identifier = resource.get("identifier")
    if isinstance(identifier, list):
        identifier = identifier[0] if identifier else None
    if isinstance(identifier, dict) and identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    url = resource.get("url")
    if isinstance(url, str) and url:
        version = resource.get("version")
        return f"{url}|{version}" if version else url
    return str(resource.get("id"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _version(resource: dict | None) -> str | None:
    return ((resource or {}).get("meta") or {}).get("versionId")


def _tag_codes(resource: dict | None) -> list[str]:
    return [t.get("code") for t in ((resource or {}).get("meta") or {}).get("tag") or []
            if isinstance(t, dict) and t.get("code")]


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except (ImportError, OSError):
            return None


# -- JSON Patch (RFC 6902) ----------------------------------------------------------------
class PatchError(Exception):
    """A malformed or inapplicable JSON Patch."""


class PatchTestFailed(PatchError):
    """A ``test`` operation did not hold."""


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
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


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


# -- search -------------------------------------------------------------------------------
CONTROL_PARAMS = {"_count", "_offset", "_sort", "_elements", "_summary", "_total", "_format",
                  "_pretty"}
SORTS = {"_lastUpdated", "date", ""}
DATE_PREFIXES = ("eq", "gt", "ge", "lt", "le")


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _codings(concepts) -> list:
    return [c for concept in _as_list(concepts) if isinstance(concept, dict)
            for c in concept.get("coding") or [] if isinstance(c, dict)]


def _token(items, value: str, field: str) -> bool:
    if "|" in value:
        system, code = value.split("|", 1)
        for item in items:
            if not isinstance(item, dict):
                continue
            if system == "" and item.get("system"):
                continue
            if system and item.get("system") != system:
                continue
            if code == "" or item.get(field) == code:
                return True
        return False
    return any(isinstance(i, dict) and i.get(field) == value for i in items)


def _reference(refs, value: str, kind: str | None = None) -> bool:
    for ref in _as_list(refs):
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            continue
        if kind and not (target.startswith(kind + "/") or f"/{kind}/" in target):
            continue
        if target == value or target.endswith("/" + value):
            return True
    return False


class DateRange:
    """A FHIR date search value: a prefix and the interval its precision covers."""

    def __init__(self, raw: str):
        prefix, text = (raw[:2], raw[2:]) if raw[:2] in DATE_PREFIXES else ("eq", raw)
        text = text.replace(" ", "+")            # an unencoded '+' in a query arrives as ' '
        self.prefix = prefix
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                self.low = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
                self.high = self.low + timedelta(days=1)
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if value.tzinfo is None:
                    value = value.replace(tzinfo=timezone.utc)
                if "." in text:
                    step = timedelta(microseconds=1)
                elif re.search(r"T\d{2}:\d{2}:\d{2}", text):
                    step = timedelta(seconds=1)
                else:
                    step = timedelta(minutes=1)
                self.low, self.high = value, value + step
        except ValueError:
            raise FHIRError(400, "invalid", f"not a FHIR date: {raw!r}") from None

    def holds(self, when: datetime) -> bool:
        return {"eq": self.low <= when < self.high, "gt": when >= self.high,
                "ge": when >= self.low, "lt": when < self.low,
                "le": when < self.high}[self.prefix]

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(from, until)`` as a half-open interval of instants that match."""
        return {"eq": (self.low, self.high), "gt": (self.high, None), "ge": (self.low, None),
                "lt": (None, self.low), "le": (None, self.high)}[self.prefix]


def _parse_instant(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _date_of(resource: dict):
    for field in ("date", "effectiveDateTime", "authored", "issued", "recorded"):
        if field in resource:
            return resource[field]
    return None


SEARCH_PARAMS = {
    "_id": lambda r, v: r.get("id") == v,
    "identifier": lambda r, v: _token(_as_list(r.get("identifier")), v, "value"),
    "_tag": lambda r, v: _token((r.get("meta") or {}).get("tag") or [], v, "code"),
    "url": lambda r, v: r.get("url") == v,
    "version": lambda r, v: r.get("version") == v,
    "subject": lambda r, v: _reference(r.get("subject"), v),
    "patient": lambda r, v: _reference(r.get("subject") or r.get("patient"), v, "Patient"),
    "status": lambda r, v: r.get("status") == v,
    "lifecycle-status": lambda r, v: r.get("lifecycleStatus") == v,
    "achievement-status": lambda r, v: _token(_codings(r.get("achievementStatus")), v, "code"),
    "code": lambda r, v: _token(_codings(r.get("code")), v, "code"),
    "type": lambda r, v: _token(_codings(r.get("type")), v, "code"),
    "category": lambda r, v: _token(_codings(r.get("category")), v, "code"),
    "derived-from": lambda r, v: _reference(r.get("derivedFrom"), v),
    "focus": lambda r, v: _reference(r.get("focus"), v),
}
DATE_PARAMS = {
    "_lastUpdated": lambda r: (r.get("meta") or {}).get("lastUpdated"),
    "date": _date_of,
}


def parse_filters(pairs: list[tuple[str, str]]) -> list[tuple[str, object]]:
    """Search pairs as ``(name, values)``: a list of OR'ed strings, or a DateRange."""
    filters = []
    for name, value in pairs:
        if name in CONTROL_PARAMS:
            continue
        if ":" in name:
            raise FHIRError(400, "not-supported", f"search modifier on {name!r} is not supported")
        if name in DATE_PARAMS:
            filters.append((name, DateRange(value)))
        elif name in SEARCH_PARAMS:
            filters.append((name, [v for v in value.split(",") if v != ""]))
        else:
            raise FHIRError(400, "not-supported", f"unknown search parameter {name!r}; this "
                            f"host supports {', '.join(sorted([*SEARCH_PARAMS, *DATE_PARAMS]))}")
    return filters


def matches(resource: dict, filters) -> bool:
    for name, values in filters:
        if isinstance(values, DateRange):
            when = _parse_instant(DATE_PARAMS[name](resource))
            if when is None or not values.holds(when):
                return False
        elif not any(SEARCH_PARAMS[name](resource, v) for v in values):
            return False
    return True


def elements_only(resource: dict, elements: list[str] | None) -> dict:
    if not elements:
        return resource
    keep = {"resourceType", "id", "meta", *elements}
    return {k: v for k, v in resource.items() if k in keep}


# -- synthetic notes ----------------------------------------------------------------------
class Plan:
    """The seeded notes a search matches: ``a + k*s`` for the ``k < m`` whose ``k % period``
    is in ``residues``, or an explicit sorted list of indexes."""

    def __init__(self, a=0, s=1, m=0, period=1, residues=(), explicit=None):
        self.a, self.s, self.m, self.period = a, s, m, period
        self.residues = list(residues)
        self._where = {r: n for n, r in enumerate(self.residues)}
        self.explicit = explicit
        if explicit is not None:
            self.count = len(explicit)
            self._positions = {i: n for n, i in enumerate(explicit)}
        elif not self.residues or m <= 0:
            self.count = 0
        else:
            full, rest = divmod(m, period)
            self.count = full * len(self.residues) + sum(1 for r in self.residues if r < rest)

    def at(self, n: int) -> int:
        if self.explicit is not None:
            return self.explicit[n]
        q, r = divmod(n, len(self.residues))
        return self.a + (q * self.period + self.residues[r]) * self.s

    def position(self, i: int) -> int | None:
        if self.explicit is not None:
            return self._positions.get(i)
        if self.count == 0 or i < self.a or (i - self.a) % self.s:
            return None
        k = (i - self.a) // self.s
        if k >= self.m:
            return None
        q, r = divmod(k, self.period)
        n = self._where.get(r)
        return None if n is None else q * len(self.residues) + n


class SeedSet:
    """``notes`` DocumentReferences for one clinic, each computed from its index."""

    TAGS = DEFAULT_TAGS

    def __init__(self, clinic: str, notes: int, patients: int = 100, start: str | None = None,
                 protected_every: int = 0):
        if not isinstance(clinic, str) or not _CLINIC_RE.match(clinic):
            raise FHIRError(400, "invalid", "clinic: 1-41 letters, digits, '.' or '-'")
        if not isinstance(notes, int) or not 0 <= notes <= 10 ** 9:
            raise FHIRError(400, "invalid", "notes: an integer from 0 to 10^9")
        if not isinstance(patients, int) or not 1 <= patients <= 10 ** 7:
            raise FHIRError(400, "invalid", "patients: an integer from 1 to 10^7")
        if not isinstance(protected_every, int) or not 0 <= protected_every <= 1000:
            raise FHIRError(400, "invalid", "protected_every: an integer from 0 to 1000")
        self.clinic, self.notes, self.patients = clinic, notes, patients
        self.protected_every = protected_every
        self.start = _parse_instant(start or "2024-01-01T09:00:00Z")
        if self.start is None:
            raise FHIRError(400, "invalid", "start: an ISO 8601 instant")
        self.start = self.start.replace(microsecond=0)
        self.step = max(1, 604800 // patients)     # each patient about weekly
        self.period = math.lcm(len(self.TAGS), protected_every or 1)
        self._templates = [self._template(r) for r in range(self.period)]
        self._note_prefix, self._patient_prefix = f"{clinic}-n", f"{clinic}-p"
        self.overlay: dict[int, dict | None] = {}   # index -> written copy, None when deleted
        self._plans: OrderedDict = OrderedDict()
        self._entries: dict[tuple, str] = {}        # (residue, elements) -> entry template

    def describe(self) -> dict:
        return {"clinic": self.clinic, "notes": self.notes, "patients": self.patients,
                "start": self.when(0), "step_seconds": self.step,
                "protected_every": self.protected_every, "written": len(self.overlay)}

    def _template(self, r: int) -> dict:
        # Every default tag occurs: the one skipped as first tag (t == 8) is second at t == 3.
        t = r % len(self.TAGS)
        picked = [] if t == 8 else [self.TAGS[t]] + (
            [self.TAGS[(t + 5) % len(self.TAGS)]] if t % 3 == 0 else [])
        protected = self.protected_every and r % self.protected_every == self.protected_every - 1
        return {
            "tag": [{"system": TAG_SYSTEM, "version": "1", "code": tag.code, "display": tag.label}
                    for tag in picked],
            "type": PSYCHOTHERAPY_NOTE if protected else PROGRESS_NOTE,
            "docStatus": "final" if t % 2 == 0 else "preliminary",
        }

    # ids
    def note_id(self, i: int) -> str:
        return f"{self._note_prefix}{i}"

    def index(self, note_id: str) -> int | None:
        return self._parse(note_id, self._note_prefix, self.notes)

    def patient_index(self, patient_id: str) -> int | None:
        return self._parse(patient_id, self._patient_prefix, min(self.patients, self.notes))

    @staticmethod
    def _parse(value: str, prefix: str, limit: int) -> int | None:
        if not value.startswith(prefix):
            return None
        rest = value[len(prefix):]
        if not _INDEX_RE.match(rest) or int(rest) >= limit:
            return None
        return int(rest)

    # content
    def when(self, i: int) -> str:
        return (self.start + timedelta(seconds=i * self.step)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def note(self, i: int) -> dict:
        j = i % self.patients
        return self._fill(self._templates[i % self.period], f"{self._note_prefix}{i}",
                          f"{self._patient_prefix}{j}", self.when(i), f"{self.clinic}-t{j % 3}")

    @staticmethod
    def _fill(t: dict, note_id: str, patient: str, when: str, author: str) -> dict:
        meta = {"versionId": "1", "lastUpdated": when}
        if t["tag"]:
            meta["tag"] = t["tag"]
        return {"resourceType": "DocumentReference", "id": note_id, "meta": meta,
                "status": "current", "docStatus": t["docStatus"], "type": t["type"],
                "category": NOTE_CATEGORY, "subject": {"reference": f"Patient/{patient}"},
                "date": when, "author": [{"reference": f"Practitioner/{author}"}],
                "context": {"period": {"start": when}}, "content": NOTE_CONTENT}

    def entry_json(self, i: int, base: str, elements: tuple = ()) -> str:
        """The search Bundle entry for unwritten note ``i``, as JSON text.

        Equal to encoding the entry built from :meth:`note`, only faster: the text is made
        once per residue from a template in which only ids, dates and references vary.
        """
        r = i % self.period
        template = self._entries.get((r, elements))
        if template is None:
            holes = {"id": "@@id@@", "patient": "@@patient@@", "when": "@@when@@",
                     "author": "@@author@@"}
            skeleton = elements_only(self._fill(self._templates[r], holes["id"], holes["patient"],
                                                holes["when"], holes["author"]), list(elements))
            text = json.dumps({"fullUrl": "@@base@@/DocumentReference/@@id@@",
                               "resource": skeleton, "search": {"mode": "match"}},
                              separators=(",", ":"))
            text = text.replace("{", "{{").replace("}", "}}")
            for name in (*holes, "base"):
                text = text.replace(f"@@{name}@@", "{" + name + "}")
            template = self._entries.setdefault((r, elements), text)
        j = i % self.patients
        return template.format(id=f"{self._note_prefix}{i}", patient=f"{self._patient_prefix}{j}",
                               when=self.when(i), author=f"{self.clinic}-t{j % 3}", base=base)

    def current(self, i: int) -> dict | None:
        """The note as it is now: the overlay when written, else computed."""
        return self.overlay[i] if i in self.overlay else self.note(i)

    def patient(self, j: int) -> dict:
        return {"resourceType": "Patient", "id": f"{self._patient_prefix}{j}",
                "meta": {"versionId": "1", "lastUpdated": self.when(0)}, "active": True}

    # search
    def plan(self, filters) -> Plan:
        key = repr(filters)
        cached = self._plans.get(key)
        if cached is not None:
            self._plans.move_to_end(key)
            return cached
        plan = self._make_plan(filters)
        self._plans[key] = plan
        if len(self._plans) > PLAN_CACHE:
            self._plans.popitem(last=False)
        return plan

    def _make_plan(self, filters) -> Plan:
        lo, hi = 0, self.notes
        subjects: set[int] | None = None
        ids: set[int] | None = None
        rest = []
        for name, values in filters:
            if isinstance(values, DateRange):
                since, until = values.bounds()
                if since is not None:
                    lo = max(lo, self._first_at_or_after(since))
                if until is not None:
                    hi = min(hi, self._first_at_or_after(until))
            elif name in ("subject", "patient"):
                found = {j for j in (self._patient_of(v) for v in values) if j is not None}
                subjects = found if subjects is None else subjects & found
            elif name == "_id":
                found = {i for i in (self.index(v) for v in values) if i is not None}
                ids = found if ids is None else ids & found
            else:
                rest.append((name, values))
        if hi <= lo:
            return Plan()
        if ids is not None or (subjects is not None and len(subjects) > 1):
            if ids is None:
                size = sum(max(0, math.ceil((hi - lo) / self.patients)) for _ in subjects)
                if size > 200_000:
                    raise FHIRError(400, "too-costly", "several subjects over this many seeded "
                                    "notes: search one subject at a time")
                ids = {i for j in subjects for i in range(lo + (j - lo) % self.patients, hi,
                                                          self.patients)}
            chosen = sorted(i for i in ids if lo <= i < hi and (
                subjects is None or i % self.patients in subjects))
            return Plan(explicit=[i for i in chosen if matches(self.note(i), rest)])
        if subjects is not None:
            if not subjects:
                return Plan()
            j = next(iter(subjects))
            a, s = lo + (j - lo) % self.patients, self.patients
        else:
            a, s = lo, 1
        m = 0 if a >= hi else (hi - a + s - 1) // s
        period = self.period // math.gcd(s, self.period)
        residues = [k for k in range(min(period, m)) if matches(self.note(a + k * s), rest)]
        return Plan(a, s, m, period, residues)

    def _patient_of(self, value: str) -> int | None:
        return self.patient_index(value.rsplit("/", 1)[-1]) if (
            "/" not in value or value.rsplit("/", 2)[-2] == "Patient") else None

    def _first_at_or_after(self, when: datetime) -> int:
        micros = (when - self.start) // timedelta(microseconds=1)
        index = -((-micros) // (self.step * 1_000_000))
        return min(max(index, 0), self.notes)


# -- faults -------------------------------------------------------------------------------
FAULT_KEYS = {"status", "retry_after", "reset", "delay_ms", "count", "seconds", "method",
              "path", "after"}


def _fault(spec) -> dict:
    if not isinstance(spec, dict):
        raise FHIRError(400, "invalid", "a fault is a JSON object")
    unknown = set(spec) - FAULT_KEYS
    if unknown:
        raise FHIRError(400, "invalid", f"unknown fault keys: {', '.join(sorted(unknown))}")
    status, reset, delay = spec.get("status"), bool(spec.get("reset")), spec.get("delay_ms")
    if not status and not reset and not delay:
        raise FHIRError(400, "invalid", "fault needs status, reset or delay_ms")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FHIRError(400, "invalid", "status: an HTTP status code")
    if status and reset:
        raise FHIRError(400, "invalid", "a fault is a status or a reset, not both")
    fault = {k: v for k, v in spec.items() if k in FAULT_KEYS and k not in ("count", "seconds")}
    if spec.get("method"):
        fault["method"] = str(spec["method"]).upper()
    if spec.get("path"):
        fault["path"] = str(spec["path"]).lstrip("/")
    seconds = spec.get("seconds")
    if seconds is not None:
        fault["expires"] = time.monotonic() + float(seconds)
    count = spec.get("count")
    fault["count"] = None if count is None and seconds is not None else int(count or 1)
    return fault


def _public(fault: dict) -> dict:
    out = {k: v for k, v in fault.items() if k != "expires"}
    if "expires" in fault:
        out["remaining_seconds"] = round(max(0.0, fault["expires"] - time.monotonic()), 3)
    return out


# -- the app ------------------------------------------------------------------------------
class FHIRHost:
    """The in-memory FHIR host as a WSGI app. Thread-safe: one lock guards all state."""

    def __init__(self, *, base_path: str = "/fhir", meta_add: bool = True,
                 idempotency: bool = False, validate: bool = False, log_limit: int = LOG_LIMIT):
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.config = {"meta_add": bool(meta_add), "idempotency": bool(idempotency),
                       "validate": bool(validate)}
        self.log_limit = log_limit
        self.lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        self._clear_data()
        self._clear_counters()

    # -- state ------------------------------------------------------------------------
    def _clear_data(self) -> None:
        self._data: dict[str, dict[str, dict]] = {}
        self._hash: dict[tuple[str, str], str] = {}
        self._ident: dict[tuple[str, str], set[str]] = {}
        self._gone: set[tuple[str, str]] = set()
        self._seen: dict[tuple[str, str], set[str]] = {}
        self.seeds: dict[str, SeedSet] = {}

    def _clear_counters(self) -> None:
        self._stats = {"total": 0, "counts": {}, "statuses": {}, "methods": {}}
        self._log: list[dict] = []
        self._log_dropped = 0
        self._ledger: dict[str, dict[str, dict]] = {}
        self._tags: dict[str, dict] = {}
        self._faults: list[dict] = []
        self._replies: OrderedDict = OrderedDict()

    def reset(self, data: bool = False) -> None:
        """Clear counters, the log, the write ledger and faults; with ``data`` also resources."""
        with self.lock:
            self._clear_counters()
            if data:
                self._clear_data()

    def configure(self, **options) -> dict:
        unknown = set(options) - set(self.config)
        if unknown:
            raise FHIRError(400, "invalid", f"unknown options: {', '.join(sorted(unknown))}")
        with self.lock:
            self.config.update({k: bool(v) for k, v in options.items()})
            return dict(self.config)

    def seed(self, clinic: str, notes: int, patients: int = 100, start: str | None = None,
             protected_every: int = 0) -> dict:
        """Serve ``notes`` synthetic DocumentReferences for ``clinic`` (0 removes them)."""
        with self.lock:
            if notes == 0:
                self.seeds.pop(clinic, None)
                return {"clinic": clinic, "notes": 0}
            seed = SeedSet(clinic, notes, patients, start, protected_every)
            self.seeds[clinic] = seed
            return seed.describe()

    def add_faults(self, specs) -> list[dict]:
        faults = [_fault(s) for s in (specs if isinstance(specs, list) else [specs])]
        with self.lock:
            self._faults.extend(faults)
            return [_public(f) for f in self._faults]

    def faults(self) -> list[dict]:
        with self.lock:
            self._expire_faults()
            return [_public(f) for f in self._faults]

    def _expire_faults(self) -> None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.get("expires") is None or f["expires"] > now]

    def _take_fault(self, method: str, rel: str, full: str) -> dict | None:
        with self.lock:
            self._expire_faults()
            for n, fault in enumerate(self._faults):
                if fault.get("method") and fault["method"] != method:
                    continue
                prefix = fault.get("path")
                if prefix and not (rel.startswith(prefix) or full.lstrip("/").startswith(prefix)):
                    continue
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        del self._faults[n]
                return dict(fault)
        return None

    def stats(self) -> dict:
        """Everything ``GET /__stats`` answers, as a fresh copy."""
        with self.lock:
            totals: dict[str, dict] = {}
            duplicates = []
            for rtype, records in self._ledger.items():
                sums = totals.setdefault(rtype, {"resources": 0, "writes": 0, "noops": 0,
                                                 "repeats": 0, "deletes": 0})
                for key, rec in records.items():
                    sums["resources"] += 1
                    for field in ("writes", "noops", "repeats", "deletes"):
                        sums[field] += rec[field]
                    reasons = [r for r, bad in (("noop", rec["noops"]), ("repeat", rec["repeats"]),
                                                ("several-ids", len(rec["ids"]) > 1)) if bad]
                    if reasons:
                        duplicates.append({"type": rtype, "key": key, "reasons": reasons,
                                           **{k: rec[k] for k in ("ids", "writes", "noops",
                                                                  "repeats")}})
            snapshot = {**self._stats, "log": self._log, "log_dropped": self._log_dropped,
                        "writes": self._ledger, "totals": totals, "duplicates": duplicates,
                        "tags": self._tags, "seeds": [s.describe() for s in self.seeds.values()],
                        "config": self.config, "resources": {t: len(v) for t, v in self._data.items()},
                        "rss_bytes": rss_bytes(), "pid": os.getpid()}
            return json.loads(json.dumps(snapshot))

    # -- storage ----------------------------------------------------------------------
    def _seeded(self, rtype: str, rid: str):
        """``(seed, index)`` when ``rid`` names a seeded note (or patient), else None."""
        for seed in self.seeds.values():
            if rtype == "DocumentReference":
                i = seed.index(rid)
            elif rtype == "Patient":
                i = seed.patient_index(rid)
            else:
                return None
            if i is not None:
                return seed, i
        return None

    def get(self, rtype: str, rid: str) -> dict | None:
        """The current resource, or None (missing or deleted)."""
        with self.lock:
            found = self._data.get(rtype, {}).get(rid)
            if found is not None or (rtype, rid) in self._gone:
                return found
            seeded = self._seeded(rtype, rid)
            if seeded is None:
                return None
            seed, i = seeded
            return seed.current(i) if rtype == "DocumentReference" else seed.patient(i)

    def _is_gone(self, rtype: str, rid: str) -> bool:
        if (rtype, rid) in self._gone:
            return True
        seeded = self._seeded(rtype, rid) if rtype == "DocumentReference" else None
        return seeded is not None and seeded[0].overlay.get(seeded[1], 0) is None

    def _put(self, rtype: str, rid: str, resource: dict | None) -> None:
        """Store (or with None, delete) a resource. Seeded notes go to their seed's overlay."""
        seeded = self._seeded(rtype, rid) if rtype == "DocumentReference" else None
        if seeded is not None:
            seed, i = seeded
            seed.overlay[i] = resource
            return
        store = self._data.setdefault(rtype, {})
        old = store.get(rid)
        if old is not None:
            for ident in self._identifiers(old):
                self._ident.get((rtype, ident), set()).discard(rid)
        if resource is None:
            store.pop(rid, None)
            self._hash.pop((rtype, rid), None)
            self._gone.add((rtype, rid))
            return
        self._gone.discard((rtype, rid))
        store[rid] = resource
        self._hash[(rtype, rid)] = content_hash(resource)
        for ident in self._identifiers(resource):
            self._ident.setdefault((rtype, ident), set()).add(rid)

    @staticmethod
    def _identifiers(resource: dict) -> list[str]:
        return [f"{i.get('system', '')}|{i['value']}" for i in _as_list(resource.get("identifier"))
                if isinstance(i, dict) and i.get("value")]

    def _hash_of(self, rtype: str, resource: dict) -> str:
        cached = self._hash.get((rtype, resource.get("id")))
        if cached is not None and self._data.get(rtype, {}).get(resource.get("id")) is resource:
            return cached
        return content_hash(resource)

    def _commit(self, rtype: str, rid: str, body: dict, before: dict | None, *,
                bump: bool = True) -> tuple[dict, bool]:
        """Write ``body`` as the new state of ``rtype/rid``. Returns ``(stored, changed)``.

        Content that is unchanged keeps the stored version and counts as a no-op.
        """
        resource = {**body, "resourceType": rtype, "id": rid}
        new_hash = content_hash(resource)
        if before is not None and self._hash_of(rtype, before) == new_hash:
            self._record(rtype, before, before, changed=False)
            return before, False
        meta = dict(resource.get("meta") or {})
        if before is None:
            meta["versionId"], meta["lastUpdated"] = "1", _now()
        elif bump:
            meta["versionId"] = str(int(_version(before) or 0) + 1)
            meta["lastUpdated"] = _now()
        else:
            old = before.get("meta") or {}
            meta["versionId"] = old.get("versionId", "1")
            meta["lastUpdated"] = old.get("lastUpdated", _now())
        resource["meta"] = meta
        self._validate(resource)
        self._put(rtype, rid, resource)
        self._record(rtype, before, resource, changed=True)
        return resource, True

    def _delete(self, rtype: str, current: dict) -> None:
        self._put(rtype, current["id"], None)
        self._record(rtype, current, None, changed=True)

    def _record(self, rtype: str, before: dict | None, after: dict | None, *, changed: bool) -> None:
        subject = after if after is not None else before
        key = logical_key(subject)
        rec = self._ledger.setdefault(rtype, {}).setdefault(key, {
            "ids": [], "writes": 0, "noops": 0, "repeats": 0, "deletes": 0, "version": None})
        if subject["id"] not in rec["ids"]:
            rec["ids"].append(subject["id"])
        seen = self._seen.setdefault((rtype, key), set())
        if before is not None:
            seen.add(self._hash_of(rtype, before))
        if after is None:
            rec["deletes"] += 1
            rec["version"] = None
        elif not changed:
            rec["noops"] += 1
        else:
            digest = self._hash_of(rtype, after)
            rec["writes"] += 1
            if before is not None and digest in seen:
                rec["repeats"] += 1
            seen.add(digest)
            rec["version"] = _version(after)
        if rtype in NOTE_TYPES:
            entry = self._tags.setdefault(f"{rtype}/{subject['id']}", {"codes": [], "adds": {}})
            now_codes = _tag_codes(after)
            had = set(_tag_codes(before))
            for code in now_codes:
                if code not in had:
                    entry["adds"][code] = entry["adds"].get(code, 0) + 1
            entry["codes"] = now_codes

    def _validate(self, resource: dict) -> None:
        if not self.config["validate"]:
            return
        from fhir.resources.R4B import get_fhir_model_class
        try:
            model = get_fhir_model_class(resource["resourceType"])
        except KeyError:
            raise FHIRError(400, "invalid", f"unknown resource type {resource['resourceType']}") from None
        try:
            model.model_validate(resource)
        except Exception as exc:  # pydantic's ValidationError; report paths only, never values
            errors = getattr(exc, "errors", lambda: [])()
            where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type')}"
                              for e in errors[:10]) or exc.__class__.__name__
            raise FHIRError(422, "invariant", f"not a valid {resource['resourceType']}: {where}") from None

    def register_notes(self, notes: list[dict]) -> int:
        """Add notes (DocumentReference + Patient) as the platform's own data, uncounted."""
        made = 0
        with self.lock:
            for note in notes:
                note_id, client_id = note.get("note_id"), note.get("client_id")
                for value in (note_id, client_id):
                    if not isinstance(value, str) or not _ID_RE.match(value):
                        raise FHIRError(400, "invalid", "note_id and client_id must be FHIR ids")
                if self.get("Patient", client_id) is None:
                    self._put("Patient", client_id, self._own("Patient", client_id, {"active": True}))
                if self.get("DocumentReference", note_id) is None:
                    when = note.get("date") or _now()
                    kind = PSYCHOTHERAPY_NOTE if note.get("note_type") == "psychotherapy-note" else PROGRESS_NOTE
                    self._put("DocumentReference", note_id, self._own("DocumentReference", note_id, {
                        "status": "current", "docStatus": "preliminary", "type": kind,
                        "category": NOTE_CATEGORY, "subject": {"reference": f"Patient/{client_id}"},
                        "date": when, "content": NOTE_CONTENT}))
                    made += 1
        return made

    def register_events(self, events: list[dict]) -> int:
        """Register the notes and clients named by webhook envelopes."""
        notes, clients = [], []
        for event in events:
            data = event.get("data") if isinstance(event, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("client_id"), str):
                continue
            if isinstance(data.get("note_id"), str):
                notes.append({"note_id": data["note_id"], "client_id": data["client_id"],
                              "note_type": data.get("note_type"), "date": data.get("session_at")})
            else:
                clients.append(data["client_id"])
        with self.lock:
            for client_id in clients:
                if _ID_RE.match(client_id) and self.get("Patient", client_id) is None:
                    self._put("Patient", client_id, self._own("Patient", client_id, {"active": True}))
            return self.register_notes(notes)

    @staticmethod
    def _own(rtype: str, rid: str, fields: dict) -> dict:
        return {"resourceType": rtype, "id": rid,
                "meta": {"versionId": "1", "lastUpdated": _now()}, **fields}

    def send(self, url: str, secret: str, events: list[dict], *, register: bool = True,
             **options) -> dict:
        """Post ``events`` signed, as :func:`examples.webhook_sender.deliver`; register the
        notes they name first (a platform has its notes before it announces them)."""
        if register:
            self.register_events(events)
        reports = webhook_sender.deliver(url, secret, events, **options)
        return {**webhook_sender.summary(reports), "reports": reports}

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if request.path.startswith("/__"):
                response = self._private(request)
            else:
                response = self._fhir(request, environ)
        except Exception as exc:  # a bug here must answer 500, never hang the caller
            traceback.print_exc(file=sys.stderr)
            response = self._answer(500, outcome("exception", exc.__class__.__name__))
        return response(environ, start_response)

    @staticmethod
    def _answer(status: int, body: dict | bytes | None = None, headers: dict | None = None,
                content_type: str = FHIR_JSON) -> Response:
        if isinstance(body, bytes):
            payload = body
        else:
            payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        return Response(payload, status=status, headers=headers or {}, content_type=content_type)

    def _fhir(self, request: Request, environ) -> Response:
        path = request.path
        base = self.base_path
        if base and path != base and not path.startswith(base + "/"):
            return self._answer(404, outcome("not-found", f"the FHIR base is {base}"))
        rel = path[len(base):].strip("/")
        parts = rel.split("/") if rel else []
        method = request.method
        request_id = request.headers.get("X-Request-Id") or str(uuid.uuid4())
        entry = {"method": method, "pattern": pattern(method, parts),
                 "path": request.full_path.rstrip("?"),
                 "idempotency_key": request.headers.get("Idempotency-Key"),
                 "if_match": request.headers.get("If-Match"), "request_id": request_id,
                 "status": None, "fault": False}
        target = self._arrive(entry, method, parts)
        raw = request.get_data(cache=True)
        fault = self._take_fault(method, rel, path)
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000)
        if fault and not fault.get("after") and (fault.get("status") or fault.get("reset")):
            return self._faulted(fault, entry, target, environ, request_id)
        status, body, headers = self._run(method, parts, request, raw, entry)
        if fault and fault.get("after") and (fault.get("status") or fault.get("reset")):
            return self._faulted(fault, entry, target, environ, request_id)
        self._finish(entry, target, status)
        return self._answer(status, body, {"X-Request-Id": request_id, **headers})

    def _run(self, method, parts, request, raw, entry) -> tuple[int, dict | None, dict]:
        key = entry["idempotency_key"] if method in ("POST", "PUT", "PATCH") else None
        if key and self.config["idempotency"]:
            with self.lock:
                seen = self._replies.get(key)
                if seen is not None:
                    if seen[0] != (method, entry["path"], hashlib.sha1(raw).hexdigest()):
                        return 422, outcome("business-rule", "Idempotency-Key reused for a "
                                            "different request"), {}
                    entry["replayed"] = True
                    return seen[1]
        try:
            answer = self._dispatch(method, parts, request, raw)
        except FHIRError as exc:
            answer = (exc.status, outcome(exc.code, exc.text), exc.headers)
        if key and self.config["idempotency"] and answer[0] < 500:
            with self.lock:
                self._replies[key] = ((method, entry["path"], hashlib.sha1(raw).hexdigest()), answer)
                if len(self._replies) > IDEMPOTENCY_LIMIT:
                    self._replies.popitem(last=False)
        return answer

    def _faulted(self, fault, entry, target, environ, request_id) -> Response:
        entry["fault"] = True
        if fault.get("reset"):
            self._finish(entry, target, "reset")
            return self._drop(environ)
        headers = {"X-Request-Id": request_id}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        self._finish(entry, target, fault["status"])
        return self._answer(fault["status"], outcome("transient", f"injected {fault['status']}"),
                            headers)

    @staticmethod
    def _drop(environ) -> Response:
        """Drop the client's connection without an answer."""
        sock = environ.get("werkzeug.socket")
        if sock is None:
            raise RuntimeError("this server does not expose its socket; cannot drop a connection")
        environ[DROPPED] = True
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=500)      # never reaches the client

    def _arrive(self, entry: dict, method: str, parts: list[str]) -> dict:
        """Count a request on arrival; returns the counters it went to (a reset in between
        leaves the new counters clean)."""
        with self.lock:
            stats = self._stats
            stats["total"] += 1
            stats["counts"][entry["pattern"]] = stats["counts"].get(entry["pattern"], 0) + 1
            by_type = stats["methods"].setdefault(method, {})
            rtype = parts[0] if parts else ""
            by_type[rtype] = by_type.get(rtype, 0) + 1
            self._log.append(entry)
            if len(self._log) > self.log_limit:
                drop = len(self._log) - self.log_limit
                del self._log[:drop]
                self._log_dropped += drop
            return stats

    def _finish(self, entry: dict, stats: dict, status) -> None:
        with self.lock:
            entry["status"] = status
            by_status = stats["statuses"].setdefault(entry["pattern"], {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    # -- FHIR interactions ------------------------------------------------------------
    def _dispatch(self, method: str, parts: list[str], request: Request, raw: bytes):
        if parts == ["metadata"] and method == "GET":
            return 200, self.capability(request), {}
        if not parts:
            raise FHIRError(404, "not-supported", "batch and transaction are not supported")
        rtype = parts[0]
        if not _TYPE_RE.match(rtype):
            raise FHIRError(404, "not-found", f"unknown resource type {rtype!r}")
        if len(parts) == 1:
            handler = {"GET": self._search, "POST": self._create, "PUT": self._conditional_update,
                       "DELETE": self._conditional_delete}.get(method)
            if handler is None:
                raise FHIRError(405, "not-supported", f"{method} on a type is not supported")
            return handler(rtype, request, raw)
        rid = parts[1]
        if not _ID_RE.match(rid):
            raise FHIRError(404 if rid.startswith(("$", "_")) else 400, "not-found",
                            f"unsupported path {'/'.join(parts)}")
        if len(parts) == 2:
            handler = {"GET": self._read, "PUT": self._update, "PATCH": self._patch,
                       "DELETE": self._delete_one}.get(method)
            if handler is None:
                raise FHIRError(405, "not-supported", f"{method} on a resource is not supported")
            return handler(rtype, rid, request, raw)
        if len(parts) == 3 and parts[2] == "$meta-add" and method == "POST":
            return self._meta_add(rtype, rid, request, raw)
        if len(parts) == 4 and parts[2] == "_history" and method == "GET":
            return self._vread(rtype, rid, parts[3], request)
        raise FHIRError(404, "not-found", f"unsupported path {'/'.join(parts)}")

    def capability(self, request: Request) -> dict:
        interactions = [{"code": c} for c in ("read", "vread", "update", "patch", "delete",
                                              "create", "search-type")]
        search = [{"name": n, "type": "date" if n in DATE_PARAMS else "token"}
                  for n in sorted([*SEARCH_PARAMS, *DATE_PARAMS])]
        operations = ([{"name": "meta-add", "definition":
                        "http://hl7.org/fhir/OperationDefinition/Resource-meta-add"}]
                      if self.config["meta_add"] else [])
        return {
            "resourceType": "CapabilityStatement", "status": "active", "date": _now(),
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
            "patchFormat": [JSON_PATCH],
            "software": {"name": "progress-plugin example FHIR host"},
            "implementation": {"description": "in-memory FHIR R4 host for tests",
                               "url": self._base_url(request)},
            "rest": [{"mode": "server", "resource": [
                {"type": t, "interaction": interactions, "versioning": "versioned",
                 "readHistory": False, "updateCreate": True, "conditionalCreate": True,
                 "conditionalUpdate": True, "conditionalDelete": "single",
                 "searchParam": search, "operation": operations} for t in LISTED_TYPES]}],
        }

    def _base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + self.base_path

    def _body(self, rtype: str, request: Request, raw: bytes) -> dict:
        if request.mimetype not in ("application/fhir+json", "application/json"):
            raise FHIRError(415, "not-supported", "send application/fhir+json")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FHIRError(400, "invalid", "body is not JSON") from None
        if not isinstance(body, dict) or body.get("resourceType") != rtype:
            raise FHIRError(400, "invalid", f"body must be a {rtype} resource")
        return body

    def _resource_answer(self, status: int, resource: dict, request: Request) -> tuple:
        base = self._base_url(request)
        meta = resource.get("meta") or {}
        location = f"{base}/{resource['resourceType']}/{resource['id']}"
        headers = {"Content-Location": location}
        if meta.get("versionId"):
            headers["ETag"] = f'W/"{meta["versionId"]}"'
            headers["Content-Location"] = f"{location}/_history/{meta['versionId']}"
        if status == 201:
            headers["Location"] = headers["Content-Location"]
        when = _parse_instant(meta.get("lastUpdated"))
        if when is not None:
            headers["Last-Modified"] = format_datetime(when, usegmt=True)
        prefer = (request.headers.get("Prefer") or "").replace(" ", "")
        if "return=minimal" in prefer:
            return status, None, headers
        if "return=OperationOutcome" in prefer:
            return status, outcome("informational", "done", "information"), headers
        return status, resource, headers

    def _if_match(self, request: Request, current: dict | None) -> None:
        wanted = request.headers.get("If-Match")
        if not wanted:
            return
        match = re.fullmatch(r'\s*(?:W/)?"?([^"]*)"?\s*', wanted)
        if current is None or match is None or match.group(1) != _version(current):
            raise FHIRError(412, "conflict", "If-Match names a version that is not current")

    def _read(self, rtype, rid, request, raw):
        with self.lock:
            current = self.get(rtype, rid)
            if current is None:
                if self._is_gone(rtype, rid):
                    raise FHIRError(410, "deleted", f"{rtype}/{rid} was deleted")
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
        elements = [e for e in (request.args.get("_elements") or "").split(",") if e]
        return self._resource_answer(200, elements_only(current, elements), request)

    def _vread(self, rtype, rid, vid, request):
        with self.lock:
            current = self.get(rtype, rid)
        if current is None or _version(current) != vid:
            raise FHIRError(404, "not-found", f"{rtype}/{rid} has no version {vid} here "
                            "(only the current version is kept)")
        return self._resource_answer(200, current, request)

    def _find(self, rtype: str, pairs: list[tuple[str, str]], limit: int = 2) -> list[dict]:
        """Stored resources matching a condition (conditional create/update/delete)."""
        filters = parse_filters(pairs)
        if not filters:
            raise FHIRError(400, "invalid", "a condition needs at least one search parameter")
        store = self._data.get(rtype, {})
        candidates = store.values()
        for name, values in filters:
            if name == "identifier" and len(values) == 1 and "|" in values[0] and values[0][0] != "|":
                candidates = [store[i] for i in sorted(self._ident.get((rtype, values[0]), ()))
                              if i in store]
                break
        found = []
        for resource in candidates:
            if matches(resource, filters):
                found.append(resource)
                if len(found) >= limit:
                    break
        return found

    def _create(self, rtype, request, raw):
        body = self._body(rtype, request, raw)
        condition = request.headers.get("If-None-Exist")
        with self.lock:
            if condition:
                found = self._find(rtype, parse_qsl(condition.lstrip("?"), keep_blank_values=True))
                if len(found) > 1:
                    raise FHIRError(412, "duplicate", "If-None-Exist matched several resources")
                if found:
                    self._record(rtype, found[0], found[0], changed=False)
                    return self._resource_answer(200, found[0], request)
            stored, _ = self._commit(rtype, str(uuid.uuid4()), body, None)
        return self._resource_answer(201, stored, request)

    def _update(self, rtype, rid, request, raw):
        body = self._body(rtype, request, raw)
        if body.get("id") not in (None, rid):
            raise FHIRError(400, "invalid", "the body's id differs from the URL's")
        with self.lock:
            current = self.get(rtype, rid)
            self._if_match(request, current)
            stored, _ = self._commit(rtype, rid, body, current)
        return self._resource_answer(200 if current is not None else 201, stored, request)

    def _conditional_update(self, rtype, request, raw):
        body = self._body(rtype, request, raw)
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        with self.lock:
            found = self._find(rtype, pairs)
            if len(found) > 1:
                raise FHIRError(412, "duplicate", "the condition matched several resources")
            current = found[0] if found else None
            if current is not None and body.get("id") not in (None, current["id"]):
                raise FHIRError(400, "invalid", "the body's id differs from the match")
            if current is None and body.get("id") and self.get(rtype, body["id"]) is not None:
                raise FHIRError(400, "invalid", "the body's id names a resource that does not "
                                "match the condition")
            if current is not None:
                self._if_match(request, current)
            rid = current["id"] if current is not None else body.get("id") or str(uuid.uuid4())
            stored, _ = self._commit(rtype, rid, body, current)
        return self._resource_answer(200 if current is not None else 201, stored, request)

    def _patch(self, rtype, rid, request, raw):
        if request.mimetype != JSON_PATCH:
            raise FHIRError(415, "not-supported", f"PATCH takes {JSON_PATCH}")
        try:
            operations = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FHIRError(400, "invalid", "body is not JSON") from None
        with self.lock:
            current = self.get(rtype, rid)
            if current is None:
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            self._if_match(request, current)
            try:
                patched = apply_patch(current, operations)
            except PatchTestFailed as exc:
                raise FHIRError(400, "conflict", str(exc)) from None
            except PatchError as exc:
                raise FHIRError(400, "invalid", f"JSON Patch: {exc}") from None
            if not isinstance(patched, dict) or patched.get("resourceType") != rtype \
                    or patched.get("id") != rid:
                raise FHIRError(400, "invalid", "a patch may not change resourceType or id")
            stored, _ = self._commit(rtype, rid, patched, current)
        return self._resource_answer(200, stored, request)

    def _meta_add(self, rtype, rid, request, raw):
        if not self.config["meta_add"]:
            raise FHIRError(404, "not-supported", "$meta-add is not supported by this server")
        body = self._body("Parameters", request, raw)
        meta_in = next((p.get("valueMeta") for p in body.get("parameter") or []
                        if isinstance(p, dict) and p.get("name") == "meta"), None)
        if not isinstance(meta_in, dict):
            raise FHIRError(400, "invalid", "$meta-add needs a 'meta' parameter with valueMeta")
        with self.lock:
            current = self.get(rtype, rid)
            if current is None:
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            meta = dict(current.get("meta") or {})
            for field in ("tag", "security"):
                have = list(meta.get(field) or [])
                for coding in meta_in.get(field) or []:
                    if not any(c.get("system") == coding.get("system") and
                               c.get("code") == coding.get("code") for c in have):
                        have.append(coding)
                if have:
                    meta[field] = have
            profiles = list(meta.get("profile") or [])
            profiles += [p for p in meta_in.get("profile") or [] if p not in profiles]
            if profiles:
                meta["profile"] = profiles
            stored, _ = self._commit(rtype, rid, {**current, "meta": meta}, current, bump=False)
        return 200, {"resourceType": "Parameters",
                     "parameter": [{"name": "return", "valueMeta": stored.get("meta") or {}}]}, {}

    def _delete_one(self, rtype, rid, request, raw):
        with self.lock:
            current = self.get(rtype, rid)
            if current is None:
                if self._is_gone(rtype, rid):
                    return 200, outcome("informational", "already deleted", "information"), {}
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            self._if_match(request, current)
            self._delete(rtype, current)
        return 200, outcome("informational", f"deleted {rtype}/{rid}", "information"), {}

    def _conditional_delete(self, rtype, request, raw):
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        with self.lock:
            found = self._find(rtype, pairs)
            if len(found) > 1:
                raise FHIRError(412, "duplicate", "the condition matched several resources")
            if found:
                self._delete(rtype, found[0])
        text = f"deleted {rtype}/{found[0]['id']}" if found else "nothing matched"
        return 200, outcome("informational", text, "information"), {}

    def _search(self, rtype, request, raw):
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        args = dict(pairs)
        try:
            count = min(MAX_COUNT, int(args.get("_count", DEFAULT_COUNT)))
            offset = int(args.get("_offset", 0))
        except ValueError:
            raise FHIRError(400, "invalid", "_count and _offset are integers") from None
        if count < 0 or offset < 0:
            raise FHIRError(400, "invalid", "_count and _offset are not negative")
        if args.get("_sort", "") not in SORTS:
            raise FHIRError(400, "not-supported", "results come in creation order, which is "
                            "_lastUpdated order; _sort may only name that")
        if args.get("_summary") == "count":
            count = 0
        elements = [e for e in (args.get("_elements") or "").split(",") if e]
        filters = parse_filters(pairs)
        with self.lock:
            total, page = self._select(rtype, filters, offset, count)
        base = self._base_url(request)
        links = [{"relation": "self", "url": f"{base}/{rtype}" + (f"?{urlencode(pairs)}" if pairs else "")}]
        if count and offset + count < total:
            following = [(k, v) for k, v in pairs if k not in ("_offset", "_count")]
            following += [("_count", str(count)), ("_offset", str(offset + count))]
            links.append({"relation": "next", "url": f"{base}/{rtype}?{urlencode(following)}"})
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
        if not page:
            return 200, bundle, {}
        # Entries are encoded one by one: unwritten seeded notes come from templates.
        safe_base = json.dumps(base)[1:-1]
        wanted = tuple(elements)
        entries = [item[0].entry_json(item[1], safe_base, wanted) if isinstance(item, tuple)
                   else json.dumps({"fullUrl": f"{base}/{rtype}/{item['id']}",
                                    "resource": elements_only(item, elements),
                                    "search": {"mode": "match"}}, separators=(",", ":"))
                   for item in page]
        head = json.dumps(bundle, separators=(",", ":"))
        return 200, f'{head[:-1]},"entry":[{",".join(entries)}]}}'.encode("utf-8"), {}

    def _select(self, rtype, filters, offset, count) -> tuple[int, list]:
        """``(total, page)`` over stored resources, then each seed's notes. A page item is a
        resource, or ``(seed, index)`` for a seeded note never written."""
        listed = [r for r in self._data.get(rtype, {}).values() if matches(r, filters)]
        seeded = []
        if rtype == "DocumentReference":
            for seed in self.seeds.values():
                plan = seed.plan(filters)
                skips = []
                for i, current in seed.overlay.items():
                    position = plan.position(i)
                    now = current is not None and matches(current, filters)
                    if position is not None and not now:
                        skips.append(position)
                    elif now and position is None:
                        listed.append(current)
                seeded.append((seed, plan, sorted(skips)))
        total = len(listed) + sum(plan.count - len(skips) for _, plan, skips in seeded)
        page = listed[offset:offset + count]
        offset = max(0, offset - len(listed))
        for seed, plan, skips in seeded:
            if len(page) >= count:
                break
            size = plan.count - len(skips)
            if offset >= size:
                offset -= size
                continue
            page.extend(self._seed_page(seed, plan, skips, offset, count - len(page)))
            offset = 0
        return total, page

    @staticmethod
    def _seed_page(seed, plan, skips, offset, limit) -> list:
        position = offset
        for skipped in skips:              # the offset-th position that is not skipped
            if skipped <= position:
                position += 1
            else:
                break
        skip = set(skips)
        out = []
        while len(out) < limit and position < plan.count:
            if position not in skip:
                i = plan.at(position)
                out.append(seed.overlay[i] if i in seed.overlay else (seed, i))
            position += 1
        return out

    # -- control API ------------------------------------------------------------------
    def _private(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        try:
            raw = request.get_data()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except (ValueError, UnicodeDecodeError):
                raise FHIRError(400, "invalid", "body is not JSON") from None
            if path == "/__stats" and method == "GET":
                return self._plain(200, self.stats())
            if path == "/__reset" and method == "POST":
                self.reset(data=bool((body or {}).get("data")))
                return self._plain(200, {"ok": True})
            if path == "/__faults":
                if method == "GET":
                    return self._plain(200, {"faults": self.faults()})
                if method == "POST":
                    return self._plain(200, {"faults": self.add_faults(body)})
                if method == "DELETE":
                    with self.lock:
                        self._faults = []
                    return self._plain(200, {"faults": []})
            if path == "/__seed":
                if method == "GET":
                    return self._plain(200, {"seeds": [s.describe() for s in self.seeds.values()]})
                if method == "POST":
                    spec = dict(body or {})
                    known = {"clinic", "notes", "patients", "start", "protected_every"}
                    if set(spec) - known or "clinic" not in spec or "notes" not in spec:
                        raise FHIRError(400, "invalid", "seed takes clinic, notes, patients, "
                                        "start and protected_every")
                    return self._plain(200, {"seeded": self.seed(**spec)})
            if path == "/__config":
                if method == "GET":
                    return self._plain(200, dict(self.config))
                if method == "POST":
                    return self._plain(200, self.configure(**(body or {})))
            if path == "/__notes" and method == "POST":
                notes = (body or {}).get("notes")
                if not isinstance(notes, list):
                    raise FHIRError(400, "invalid", "give {\"notes\": [...]}")
                return self._plain(200, {"registered": self.register_notes(notes)})
            if path == "/__send" and method == "POST":
                return self._send_request(body or {})
            if path.startswith("/__send/") and method == "GET":
                with self.lock:
                    job = self._jobs.get(path.rsplit("/", 1)[1])
                if job is None:
                    raise FHIRError(404, "not-found", "no such send job")
                return self._plain(200, dict(job))
            raise FHIRError(404, "not-found", "no such control endpoint")
        except FHIRError as exc:
            return self._plain(exc.status, {"error": exc.text})

    @classmethod
    def _plain(cls, status: int, body: dict) -> Response:
        return cls._answer(status, body, content_type="application/json")

    SEND_OPTIONS = ("ids", "duplicate_every", "shuffle_seed", "shuffle_window", "scheme",
                    "max_attempts", "backoff", "max_backoff", "retry_after_max", "timeout",
                    "concurrency")

    def _send_request(self, spec: dict) -> Response:
        unknown = set(spec) - {"url", "secret", "events", "register", "wait", *self.SEND_OPTIONS}
        if unknown:
            raise FHIRError(400, "invalid", f"unknown send keys: {', '.join(sorted(unknown))}")
        url, secret, events = spec.get("url"), spec.get("secret"), spec.get("events")
        if not isinstance(url, str) or not isinstance(secret, str) or not isinstance(events, list):
            raise FHIRError(400, "invalid", "send needs url, secret and a list of events")
        options = {k: spec[k] for k in self.SEND_OPTIONS if k in spec}
        register = bool(spec.get("register", True))
        try:
            webhook_sender.plan(events, ids=options.get("ids"))   # reject bad input up front
            webhook_sender.sign(secret, "msg_check", b"{}", scheme=options.get("scheme",
                                                                              webhook_sender.STANDARD_WEBHOOKS))
        except Exception as exc:
            raise FHIRError(400, "invalid", f"cannot send: {exc.__class__.__name__}: {exc}") from None
        if spec.get("wait", True):
            return self._plain(200, self.send(url, secret, events, register=register, **options))
        job_id = uuid.uuid4().hex
        with self.lock:
            self._jobs[job_id] = {"job": job_id, "done": False}

        def work():
            try:
                result = {"done": True, **self.send(url, secret, events, register=register, **options)}
            except Exception as exc:  # reported to whoever polls the job
                result = {"done": True, "error": f"{exc.__class__.__name__}: {exc}"}
            with self.lock:
                self._jobs[job_id] = {"job": job_id, **result}

        threading.Thread(target=work, name=f"send-{job_id[:8]}", daemon=True).start()
        return self._plain(202, {"job": job_id})


def make_app(**options) -> FHIRHost:
    """The host as a WSGI app: ``base_path``, ``meta_add``, ``idempotency``, ``validate``."""
    return FHIRHost(**options)


# -- an HTTP/1.1 keep-alive server for the app --------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fhir-host"
    timeout = 60                      # idle keep-alive connections close after this

    def setup(self):
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
            "SERVER_NAME": host, "SERVER_PORT": str(port), "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0], "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "werkzeug.socket": self.connection,
        }
        for name, value in self.headers.items():
            if "_" in name or name.lower() in ("content-type", "content-length"):
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list = []
        chunks: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]
            return chunks.append

        result = self.server.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if environ.get(DROPPED):
            self.close_connection = True
            return
        status, headers = started
        code, _, reason = status.partition(" ")
        payload = b"".join(chunks)
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


class KeepAliveServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server with keep-alive, serving one WSGI app."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.app, self.verbose = app, verbose
        super().__init__((host, port), _Handler)

    def server_bind(self):                # skip HTTPServer's reverse DNS lookup
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve(app=None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> KeepAliveServer:
    """A bound (not yet serving) keep-alive server for ``app``; call ``serve_forever()``."""
    return KeepAliveServer(app if app is not None else make_app(), host, port, verbose)


# -- handles for tests and benchmarks ------------------------------------------------------
class Control:
    """Calls to a running host's control API (the same calls as the Medplum test server's)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.base_url = self.url + "/fhir"
        self._http = requests.Session()

    def _call(self, method: str, path: str, timeout: float = 30, **kwargs) -> dict:
        response = self._http.request(method, self.url + path, timeout=timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self._call("GET", "/__stats")

    def count(self, pattern: str, status: int | None = None) -> int:
        """Requests seen for e.g. ``"PUT Goal"``; with ``status``, only those answered so."""
        stats = self.stats()
        if status is None:
            return stats["counts"].get(pattern, 0)
        return stats["statuses"].get(pattern, {}).get(str(status), 0)

    def reset(self, data: bool = False) -> None:
        self._call("POST", "/__reset", json={"data": data})

    def fault(self, count: int = 1, **spec) -> list:
        return self._call("POST", "/__faults", json={**spec, "count": count})["faults"]

    def pending_faults(self) -> list:
        return self._call("GET", "/__faults")["faults"]

    def seed(self, clinic: str, notes: int, patients: int = 100, **options) -> dict:
        return self._call("POST", "/__seed", json={"clinic": clinic, "notes": notes,
                                                   "patients": patients, **options})["seeded"]

    def configure(self, **options) -> dict:
        return self._call("POST", "/__config", json=options)

    def register_notes(self, notes: list[dict]) -> int:
        return self._call("POST", "/__notes", json={"notes": notes})["registered"]

    def send(self, url: str, secret: str, events: list[dict], timeout: float = 300, **options) -> dict:
        return self._call("POST", "/__send", timeout=timeout,
                          json={"url": url, "secret": secret, "events": events, **options})

    def close(self) -> None:
        self._http.close()


class Host(Control):
    """A host served from a thread of this process."""

    def __init__(self, app: FHIRHost, server: KeepAliveServer, thread: threading.Thread):
        host, port = server.server_address[:2]
        super().__init__(f"http://{host}:{port}")
        self.base_url = self.url + app.base_path
        self.app, self.server, self.thread = app, server, thread

    def stop(self) -> None:
        self.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(app: FHIRHost | None = None, host: str = "127.0.0.1", port: int = 0, **options) -> Host:
    """Serve ``app`` (or a new one made with ``options``) from a daemon thread."""
    app = app if app is not None else make_app(**options)
    server = serve(app, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fhir-host", daemon=True)
    thread.start()
    return Host(app, server, thread)


@contextlib.contextmanager
def running(**options):
    """A host in a thread for the duration of a ``with`` block."""
    handle = start(**options)
    try:
        yield handle
    finally:
        handle.stop()


class HostProcess(Control):
    """A host running as ``python -m examples.fhir_host`` in a child process."""

    def __init__(self, process: subprocess.Popen, url: str):
        super().__init__(url)
        self.process = process

    def stop(self) -> None:
        self.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


def start_process(*args: str, timeout: float = 20.0, python: str | None = None) -> HostProcess:
    """Start the host in a child process on an ephemeral port; return once it answers."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([python or sys.executable, "-m", "examples.fhir_host",
                                "--port", "0", *args], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=None)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the host printed nothing within {timeout:.0f} s")
        line = process.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("listening "):
            raise RuntimeError(f"unexpected first line from the host: {line!r} "
                               f"(exit code {process.poll()})")
        handle = HostProcess(process, "http://" + line.split(" ", 1)[1])
        if "--base-path" in args:
            path = args[list(args).index("--base-path") + 1].strip("/")
            handle.base_url = handle.url + (f"/{path}" if path else "")
        handle.stats()
        return handle
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        raise


# -- command line -------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fhir_host",
                                     description="An in-memory FHIR R4 host for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--base-path", default="/fhir")
    parser.add_argument("--no-meta-add", action="store_true", help="answer $meta-add with 404")
    parser.add_argument("--idempotency", action="store_true",
                        help="replay the first answer to a repeated Idempotency-Key")
    parser.add_argument("--validate", action="store_true",
                        help="validate written resources with fhir.resources (R4B)")
    parser.add_argument("--seed", metavar="CLINIC:PATIENTS:NOTES",
                        help="serve synthetic notes from the start, e.g. c1:1000:1000000")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    app = make_app(base_path=args.base_path, meta_add=not args.no_meta_add,
                   idempotency=args.idempotency, validate=args.validate)
    if args.seed:
        try:
            clinic, patients, notes = args.seed.split(":")
            app.seed(clinic, int(notes), int(patients))
        except (ValueError, FHIRError) as exc:
            parser.error(f"--seed: {getattr(exc, 'text', exc)}")
    server = serve(app, args.host, args.port, verbose=args.verbose)
    host, port = server.server_address[:2]
    print(f"listening {host}:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

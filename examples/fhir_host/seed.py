"""Synthetic notes: a million DocumentReferences that cost no memory.

A :class:`SeedSet` computes note ``i`` from ``i`` alone: the id ``<clinic>-n<i>``, the subject
``Patient/<clinic>-p<i % patients>``, a date rising with ``i``, and tags, type and status that
depend only on ``i`` modulo a small period. A search over seeded notes therefore reduces to
arithmetic (:class:`Plan`): subject and date filters pick an arithmetic progression, other
filters pick residues, and the ``n``-th match is computed directly.
"""
from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from datetime import datetime, timedelta

from examples.fhir_host.common import (NOTE_CATEGORY, NOTE_CONTENT, PROGRESS_NOTE,
                                       PSYCHOTHERAPY_NOTE, FHIRError, parse_instant)
from examples.fhir_host.search import DateRange, elements_only, matches
from progress_plugin.core.vocabulary import DEFAULT_TAGS
from progress_plugin.core.vocabulary import SYSTEM as TAG_SYSTEM

PLAN_CACHE = 256
_CLINIC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,40}$")
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,11})$")


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
        self.start = parse_instant(start or "2024-01-01T09:00:00Z")
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

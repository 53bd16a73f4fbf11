"""Search parameters the example FHIR host understands, and how a resource is matched."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from examples.fhir_host.common import FHIRError, as_list, parse_instant

CONTROL_PARAMS = {"_count", "_offset", "_sort", "_elements", "_summary", "_total", "_format",
                  "_pretty"}
#: Results come in creation order, which is ``_lastUpdated`` order; ``_sort`` may say so.
SORTS = {"_lastUpdated", "date", ""}
DATE_PREFIXES = ("eq", "gt", "ge", "lt", "le")


def _codings(concepts) -> list:
    return [c for concept in as_list(concepts) if isinstance(concept, dict)
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
    for ref in as_list(refs):
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            continue
        if kind and not (target.startswith(kind + "/") or f"/{kind}/" in target):
            continue
        if target == value or target.endswith("/" + value):
            return True
    return False


def _date_of(resource: dict):
    for field in ("date", "effectiveDateTime", "authored", "issued", "recorded"):
        if field in resource:
            return resource[field]
    return None


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

    def __repr__(self) -> str:
        return f"DateRange({self.prefix}, {self.low.isoformat()}, {self.high.isoformat()})"

    def holds(self, when: datetime) -> bool:
        return {"eq": self.low <= when < self.high, "gt": when >= self.high,
                "ge": when >= self.low, "lt": when < self.low,
                "le": when < self.high}[self.prefix]

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(from, until)``: the half-open interval of instants that match."""
        return {"eq": (self.low, self.high), "gt": (self.high, None), "ge": (self.low, None),
                "lt": (None, self.low), "le": (None, self.high)}[self.prefix]


SEARCH_PARAMS = {
    "_id": lambda r, v: r.get("id") == v,
    "identifier": lambda r, v: _token(as_list(r.get("identifier")), v, "value"),
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
    """Search pairs as ``(name, values)``: a list of OR'ed strings, or a DateRange.
    Repeated parameters are AND'ed. Unknown parameters and modifiers are a 400."""
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
            when = parse_instant(DATE_PARAMS[name](resource))
            if when is None or not values.holds(when):
                return False
        elif not any(SEARCH_PARAMS[name](resource, v) for v in values):
            return False
    return True


def elements_only(resource: dict, elements) -> dict:
    """``resourceType``, ``id``, ``meta`` and the named top-level elements (all when none)."""
    if not elements:
        return resource
    keep = {"resourceType", "id", "meta", *elements}
    return {k: v for k, v in resource.items() if k in keep}

"""Shared pieces of the example FHIR host: constants, errors and small resource helpers."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import datetime, timezone

FHIR_JSON = "application/fhir+json; charset=utf-8"
JSON_PATCH = "application/json-patch+json"

#: The only note text a synthetic or registered note holds (as its attachment).
NOTE_TEXT = "DUMMY-NOTE-TEXT: the platform keeps this; the plugin must never read or store it"
NOTE_TYPES = ("DocumentReference", "Composition")
LOINC = "http://loinc.org"
PROGRESS_NOTE = {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]}
PSYCHOTHERAPY_NOTE = {"coding": [{"system": LOINC, "code": "34746-8",
                                  "display": "Psychotherapy note"}], "text": "psychotherapy-note"}
NOTE_CATEGORY = [{"coding": [{
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note"}]}]
NOTE_CONTENT = [{"attachment": {"contentType": "text/plain",
                                "data": base64.b64encode(NOTE_TEXT.encode()).decode("ascii")}}]

TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class FHIRError(Exception):
    """An answer other than success, sent as an OperationOutcome."""

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


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def version_of(resource: dict | None) -> str | None:
    return ((resource or {}).get("meta") or {}).get("versionId")


def tag_codes(resource: dict | None) -> list[str]:
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

"""Faults a test asks the host for: an error status, a dropped connection, a delay."""
from __future__ import annotations

import threading
import time

from examples.fhir_host.common import FHIRError

KEYS = {"status", "retry_after", "reset", "delay_ms", "count", "seconds", "method", "path",
        "after"}


def parse(spec) -> dict:
    """A fault from its JSON spec (see the package docs); a bad spec is a 400."""
    if not isinstance(spec, dict):
        raise FHIRError(400, "invalid", "a fault is a JSON object")
    unknown = set(spec) - KEYS
    if unknown:
        raise FHIRError(400, "invalid", f"unknown fault keys: {', '.join(sorted(unknown))}")
    status, reset, delay = spec.get("status"), bool(spec.get("reset")), spec.get("delay_ms")
    if not status and not reset and not delay:
        raise FHIRError(400, "invalid", "fault needs status, reset or delay_ms")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FHIRError(400, "invalid", "status: an HTTP status code")
    if status and reset:
        raise FHIRError(400, "invalid", "a fault is a status or a reset, not both")
    fault = {k: v for k, v in spec.items() if k not in ("count", "seconds")}
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


def public(fault: dict) -> dict:
    out = {k: v for k, v in fault.items() if k != "expires"}
    if "expires" in fault:
        out["remaining_seconds"] = round(max(0.0, fault["expires"] - time.monotonic()), 3)
    return out


class Faults:
    """Pending faults, taken in order by the requests they match."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: list[dict] = []

    def add(self, specs) -> list[dict]:
        faults = [parse(s) for s in (specs if isinstance(specs, list) else [specs])]
        with self._lock:
            self._pending.extend(faults)
        return self.pending()

    def pending(self) -> list[dict]:
        with self._lock:
            self._expire()
            return [public(f) for f in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending = []

    def take(self, method: str, rel: str, full: str) -> dict | None:
        """The first fault matching this request, counted down; None when none matches.
        ``rel`` is the path under the FHIR base, ``full`` the whole path."""
        with self._lock:
            self._expire()
            for n, fault in enumerate(self._pending):
                if fault.get("method") and fault["method"] != method:
                    continue
                prefix = fault.get("path")
                if prefix and not (rel.startswith(prefix) or full.lstrip("/").startswith(prefix)):
                    continue
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        del self._pending[n]
                return dict(fault)
        return None

    def _expire(self) -> None:
        now = time.monotonic()
        self._pending = [f for f in self._pending if f.get("expires") is None or f["expires"] > now]

"""The one clock. Every "now" of the package comes from :func:`utcnow`, or from a clock
passed in its place (``Runtime(clock=...)``, ``Worker(clock=...)``, ``create_app(clock=...)``).

Durations are measured with ``time.monotonic``, which is not a clock of this kind.
"""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(timezone.utc)


def epoch_seconds() -> float:
    """Now as seconds since the epoch (what webhook timestamps and JWT claims count in)."""
    return utcnow().timestamp()

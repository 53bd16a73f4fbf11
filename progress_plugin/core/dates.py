"""Time conversions every layer shares. Pure functions: no clock here (the one clock is
:func:`progress_plugin.service.clock.utcnow`).

A naive value is taken as UTC everywhere, as SQLite hands back what it was given; a date
stands for its midnight, UTC.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone


def as_datetime(value: date | datetime) -> datetime:
    """An aware datetime: an aware one as it is (its offset kept), a naive one as UTC, a date at midnight UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.combine(value, time(0, 0), tzinfo=timezone.utc)


def utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC (a naive one taken as UTC); None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def as_dt(value: date | datetime | None) -> datetime | None:
    """A date or datetime as a datetime in UTC, for a column that stores both; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


def as_date(value: datetime | None) -> date | None:
    """The UTC date of a stored datetime; None stays None."""
    return None if value is None else utc(value).date()

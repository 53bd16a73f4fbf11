"""What the client's check-ins add to progress (pure): their goal ratings placed between sessions,
the session check as a series of its own (never added to the goals), and the conversation
starters they call for.

A check-in is placed after the last session held before it: ``session`` is that session's number
(0: after the intake, before any session), and the chart draws it halfway to the next one.

Prompts, each about the latest check-in only (an earlier one is already part of the conversation):

- ``session-check-low``: an item of the latest session check is :attr:`Settings.check_low` or less,
  or :attr:`Settings.check_drop` or more below the client's usual for it (the median of that item
  over their earlier check-ins, needing at least two);
- ``revisit-asked``: the client asked to look at what progress means, and no tag with the
  ``review`` role is recorded since (it makes the review due; see :mod:`progress.review_of`);
- ``no-recent-checkin``: check-ins are on for the client (a link was ever made, or a check-in
  came) and none came in the last :attr:`Settings.no_checkin_sessions` sessions.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from progress_plugin.core.checkin import ITEM_NAMES, SESSION_CHECK_ITEMS, Checkin
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.words import Msg, msg


@dataclass(frozen=True)
class CheckPoint:
    """One check-in on the session axis: the session check's items (None when skipped) and whether
    the client asked to revisit progress."""

    checkin_id: str
    at: datetime
    session: int                  # the session it follows; 0: before the first session
    heard: int | None = None
    mattered: int | None = None
    fits: int | None = None
    overall: int | None = None
    revisit: bool = False

    def values(self) -> dict[str, int | None]:
        return {item: getattr(self, item) for item in SESSION_CHECK_ITEMS}


def placed(checkins, session_times: list[datetime]) -> list[tuple[Checkin, int]]:
    """Each check-in with the number of the session it follows, oldest first (``session_times``
    sorted)."""
    ordered = sorted(checkins, key=lambda c: (as_datetime(c.at), c.checkin_id))
    return [(c, bisect_right(session_times, as_datetime(c.at))) for c in ordered]


def check_points(placed_checkins) -> tuple[CheckPoint, ...]:
    out = []
    for c, session in placed_checkins:
        values = c.session_check.values() if c.session_check is not None else {}
        out.append(CheckPoint(c.checkin_id, as_datetime(c.at), session, revisit=c.revisit, **values))
    return tuple(out)


def revisit_asked(checks: tuple[CheckPoint, ...], last_reviewed: datetime) -> CheckPoint | None:
    """The latest check-in asking to revisit progress after the review clock last reset, if any."""
    asked = [c for c in checks if c.revisit and c.at > last_reviewed]
    return asked[-1] if asked else None


def prompts(checks: tuple[CheckPoint, ...], sessions: int, checkins_on: bool, settings):
    """The check-ins' conversation starters (see the module's docstring): ``(kind, message, checkin id)``."""
    if checks:
        latest, earlier = checks[-1], checks[:-1]
        low = []
        for item, value in latest.values().items():
            if value is None:
                continue
            before = [v for c in earlier if (v := c.values()[item]) is not None]
            usual = median(before) if len(before) >= 2 else None
            if value <= settings.check_low or (usual is not None and usual - value >= settings.check_drop):
                low.append(_item(item, value, usual))
        if low:
            yield ("session-check-low",
                         msg("In their check-in on {date}, the client rated {items}. It may be worth asking "
                             "how the sessions feel to them, and what would help.",
                             date=latest.at.date(), items=_listed(low)), latest.checkin_id)
    n = settings.no_checkin_sessions
    if (checkins_on or checks) and sessions >= n and not any(c.session > sessions - n for c in checks):
        yield ("no-recent-checkin",
                     msg("No check-in from the client in the last {n} sessions. They might like a new link, "
                         "or to say how things are in the room instead.", n=n), None)


def _item(item: str, value: int, usual) -> Msg:
    name = Msg(ITEM_NAMES[item], {})
    if usual is None:
        return msg("{item} {value}/10", item=name, value=value)
    usual = int(usual) if float(usual).is_integer() else usual
    return msg("{item} {value}/10 (usually {usual})", item=name, value=value, usual=usual)


def _listed(items: list[Msg]) -> Msg:
    """Several phrases as one value, each said in the page's language, joined by commas."""
    return Msg(", ".join("{i%d}" % i for i in range(len(items))), {f"i{i}": m for i, m in enumerate(items)})

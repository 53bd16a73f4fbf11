"""The client's own check-in between sessions (pure): where things are now on each goal, in the
client's own terms, and a short check on the last session, each 0-10.

A check-in never holds free text. Its goal ratings are the client's ratings with ``source``
``self`` (a :class:`~progress_plugin.core.notes.Rating` whose ``note_id`` is the check-in's id); the
session check is a series of its own, never added to the goals. ``revisit`` is the client asking
to look at what progress means next time: it counts toward the review.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from progress_plugin.core.notes import Rating
from progress_plugin.core.words import N_

#: The session check, in our own words, each rated 0-10 (10: fully).
SESSION_CHECK = (
    ("heard", N_("Did you feel heard and understood?")),
    ("mattered", N_("Did we work on what matters to you?")),
    ("fits", N_("Does the way we work together suit you?")),
    ("overall", N_("Overall, how was the session for you?")),
)
SESSION_CHECK_ITEMS = tuple(code for code, _ in SESSION_CHECK)
#: Where each end of the 0-10 scale points, for the page and the panel.
SCALE_ENDS = (N_("0: not at all"), N_("10: completely"))
#: A check-in's id is ``checkin:<random>``; ratings it carries use it as their note id.
CHECKIN_PREFIX = "checkin:"


@dataclass(frozen=True)
class SessionCheck:
    """The client's check on one session: each item 0-10, or None when skipped."""

    heard: int | None = None
    mattered: int | None = None
    fits: int | None = None
    overall: int | None = None

    def values(self) -> dict[str, int | None]:
        return {item: getattr(self, item) for item in SESSION_CHECK_ITEMS}

    @property
    def answered(self) -> bool:
        return any(v is not None for v in self.values().values())


@dataclass(frozen=True)
class Checkin:
    """One check-in as stored: its id, when, the goal ratings (source ``self``), the session check
    (None when not asked or all skipped) and whether the client asked to revisit progress."""

    checkin_id: str
    at: datetime
    ratings: tuple[Rating, ...] = ()
    session_check: SessionCheck | None = None
    revisit: bool = False

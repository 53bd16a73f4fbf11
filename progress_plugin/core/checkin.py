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

from progress_plugin.core.intake import RATING_MAX, RATING_MIN
from progress_plugin.core.notes import RATINGS_ARE, Rating
from progress_plugin.core.words import N_, msg

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


#: Short names of the session check's items, for prompts and the panel ("feeling heard: 3/10").
ITEM_NAMES = {"heard": N_("feeling heard"), "mattered": N_("working on what matters"),
              "fits": N_("the way of working"), "overall": N_("the session overall")}


def self_ratings(checkin: Checkin) -> tuple[Rating, ...]:
    """The check-in's goal ratings as stored: the client's, source ``self``, on the check-in's id and
    time. A skipped goal (no value) is left out."""
    return tuple(Rating(r.goal_id, r.value, "client", None, checkin.checkin_id, checkin.at, "self")
                 for r in checkin.ratings if r.value is not None)


def check_checkin(checkin: Checkin, intake) -> dict:
    """Field errors for a check-in, in marshmallow's shape: each rating names one of the client's
    active goals, once, 0-10, rated by the client; each session-check item is 0-10 or skipped."""
    errors: dict = {}
    if not checkin.checkin_id.startswith(CHECKIN_PREFIX):
        errors["checkin_id"] = [msg("A check-in's id starts with '{prefix}'.", prefix=CHECKIN_PREFIX)]
    rated: set[str] = set()
    for i, rating in enumerate(checkin.ratings):
        def add(fld, text):
            errors.setdefault("ratings", {}).setdefault(i, {}).setdefault(fld, []).append(text)
        goal = intake.goal(rating.goal_id) if intake is not None else None
        if goal is None or goal.status != "active":
            add("goal", msg("Goal '{goal}' is not one of this client's goals.", goal=rating.goal_id))
        if rating.value is not None and not RATING_MIN <= rating.value <= RATING_MAX:
            add("value", RATINGS_ARE)
        if rating.rater != "client":
            add("rated_by", N_("A check-in's ratings are the client's own."))
        if rating.goal_id in rated:
            add("goal", msg("Goal '{goal}' is rated twice in this check-in.", goal=rating.goal_id))
        rated.add(rating.goal_id)
    if checkin.session_check is not None:
        for item, value in checkin.session_check.values().items():
            if value is not None and not RATING_MIN <= value <= RATING_MAX:
                errors.setdefault("session_check", {}).setdefault(item, []).append(RATINGS_ARE)
    return errors

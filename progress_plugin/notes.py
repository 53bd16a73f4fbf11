"""Progress recorded on one session note: tags, goal links and re-ratings. Never note text."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from progress_plugin.intake import RATING_MAX, RATING_MIN, Intake
from progress_plugin.vocabulary import Vocabulary

RATERS = ("client", "therapist")

#: Note types the plugin refuses without reading (45 CFR 164.501, 42 CFR part 2).
PROTECTED_NOTE_TYPES = frozenset({
    "psychotherapy-note", "psychotherapy-notes", "sud-counselling-note", "sud-counseling-note",
    # LOINC: Psychotherapy note; Substance use disorder counseling note (host-mapped)
    "loinc:11488-4-psychotherapy", "loinc:sud-counseling",
})


@dataclass(frozen=True)
class Rating:
    """A 0-10 re-rating of one goal on one note (or the baseline, when ``note_id`` is None)."""

    goal_id: str
    value: int | None
    rater: str = "client"
    level: int | None = None          # attained GAS level -2..+2, when the goal has levels
    note_id: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class AppliedTag:
    code: str
    vocabulary_version: int
    goal_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteProgress:
    note_id: str
    client_id: str
    session_at: datetime
    author: str
    tags: tuple[AppliedTag, ...] = ()
    ratings: tuple[Rating, ...] = ()
    signed: bool = False

    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.tags)


@dataclass(frozen=True)
class TagInput:
    """A tag as a therapist picked it: the code, linked goals, and ratings of those goals."""

    code: str
    goal_ids: tuple[str, ...] = ()
    ratings: tuple[Rating, ...] = field(default_factory=tuple)


def is_protected(note_type) -> bool:
    return isinstance(note_type, str) and note_type.strip().lower() in PROTECTED_NOTE_TYPES


def check_tags(tags: tuple[TagInput, ...], vocabulary: Vocabulary, intake: Intake | None) -> dict:
    """Field errors for the tags of one note, in marshmallow's shape (``{"tags": {i: {field: [..]}}}``).

    Rules: the code is known and active; linked goals exist; every rating names a goal the
    tag links; a goal is rated at most once per rater per note; levels only for goals with
    attainment levels.
    """
    errors: dict = {}

    def add(i, fld, msg):
        errors.setdefault(i, {}).setdefault(fld, []).append(msg)

    seen_codes: set[str] = set()
    rated: dict[tuple[str, str], int] = {}
    for i, tag in enumerate(tags):
        found, reason = vocabulary.applicable(tag.code)
        if found is None:
            add(i, "code", reason)
        if tag.code in seen_codes:
            add(i, "code", f"Tag '{tag.code}' is applied twice to this note.")
        seen_codes.add(tag.code)
        for goal_id in tag.goal_ids:
            if intake is None or intake.goal(goal_id) is None:
                add(i, "goals", f"Goal '{goal_id}' is not one of this client's goals.")
        for j, rating in enumerate(tag.ratings):
            if not rating.goal_id:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append("A rating needs a goal link: say which goal it rates.")
                continue
            if rating.goal_id not in tag.goal_ids:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(f"Rating for {_name(rating.goal_id, intake)} needs the tag to link that goal.")
            if rating.value is not None and not RATING_MIN <= rating.value <= RATING_MAX:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "value", []).append(f"Ratings are {RATING_MIN}-{RATING_MAX}.")
            goal = intake.goal(rating.goal_id) if intake else None
            if rating.level is not None and goal is not None and not goal.gas_levels:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "level", []).append(f"{_name(rating.goal_id, intake).capitalize()} has no attainment levels.")
            key = (rating.goal_id, rating.rater)
            if key in rated:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(f"{_name(rating.goal_id, intake).capitalize()} is already rated by the "
                                       f"{rating.rater} on this note.")
            rated[key] = i
    return {"tags": errors} if errors else {}


def _name(goal_id: str, intake: Intake | None) -> str:
    """How a therapist knows a goal: by its rank ("goal 2"); by its id when it is not one of the client's."""
    goal = intake.goal(goal_id) if intake else None
    return f"goal {goal.rank}" if goal else f"goal '{goal_id}'"


def build(note_id: str, client_id: str, session_at: datetime, author: str,
          tags: tuple[TagInput, ...], vocabulary: Vocabulary, signed: bool = False) -> NoteProgress:
    """The record of a validated note. Call :func:`check_tags` first."""
    applied = tuple(AppliedTag(t.code, vocabulary.version, tuple(t.goal_ids)) for t in tags)
    ratings = tuple(
        Rating(r.goal_id, r.value, r.rater, r.level, note_id, session_at)
        for t in tags for r in t.ratings
    )
    return NoteProgress(note_id, client_id, session_at, author, applied, ratings, signed)

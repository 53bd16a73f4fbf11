"""Progress recorded on one session note: tags, goal links and re-ratings. Never note text."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from progress_plugin.core.intake import RATING_MAX, RATING_MIN, Intake
from progress_plugin.core.vocabulary import Vocabulary

RATERS = ("client", "therapist", "carer")
#: Where a rating was given: in the session, or by the client's own check-in later ("self").
SOURCES = ("session", "self")
#: The sources a note may carry today; "self" arrives with the client's check-in.
NOTE_SOURCES = ("session",)

#: Why a note was not read: a protected category (45 CFR 164.501, 42 CFR part 2), or a type
#: the clinic did not list in ``readable_note_types``. Also the audit rows' outcomes.
REFUSED_PROTECTED = "refused-protected"
REFUSED_NOT_READABLE = "refused-not-readable"

PSYCHOTHERAPY_NOTE = "psychotherapy-note"
SUD_COUNSELING_NOTE = "sud-counseling-note"

#: Whole note types that are protected (in normal form, see :func:`normalise_note_type`).
PROTECTED_TYPES = {
    "psychotherapy": PSYCHOTHERAPY_NOTE,
    "psychotherapynote": PSYCHOTHERAPY_NOTE,
    "34746-8": PSYCHOTHERAPY_NOTE,          # the LOINC code this plugin reads as a psychotherapy note
}
#: Runs of words that make any note type containing them protected, e.g. "Psychotherapy Note
#: (confidential)" or "SUD counselling session".
PROTECTED_PHRASES = (
    (("psychotherapy", "note"), PSYCHOTHERAPY_NOTE),
    (("sud", "counseling"), SUD_COUNSELING_NOTE),
    (("substance", "use", "counseling"), SUD_COUNSELING_NOTE),
    (("substance", "use", "disorder", "counseling"), SUD_COUNSELING_NOTE),
    (("substance", "abuse", "counseling"), SUD_COUNSELING_NOTE),
)
_SEPARATORS = re.compile(r"[\s_\-./:|]+")
_SPELLINGS = {"counselling": "counseling", "notes": "note"}


@dataclass(frozen=True)
class NoteType:
    """What :func:`classify_note_type` found: the type in normal form, and why it is refused, if it is."""

    kind: str | None            # normal form; a protected type's category ("psychotherapy-note")
    refused: str | None = None  # None (the plugin may read the note), REFUSED_PROTECTED or REFUSED_NOT_READABLE

    @property
    def readable(self) -> bool:
        return self.refused is None


def normalise_note_type(raw) -> str | None:
    """A note type in normal form: case folded, compatibility characters folded, invisible
    format characters dropped, any run of spaces, ``_ - . / : |`` as one ``-``, the UK
    spelling "counselling" as "counseling" and "notes" as "note". None for no type."""
    if not isinstance(raw, str):
        return None
    text = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if unicodedata.category(ch) != "Cf")
    words = [_SPELLINGS.get(w, w) for w in _SEPARATORS.split(text.casefold()) if w]
    return "-".join(words) or None


def _protected(kind: str | None) -> str | None:
    if kind is None:
        return None
    if kind in PROTECTED_TYPES:
        return PROTECTED_TYPES[kind]
    words = kind.split("-")
    for phrase, category in PROTECTED_PHRASES:
        n = len(phrase)
        if any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1)):
            return category
    return None


def classify_note_type(raw, readable=None) -> NoteType:
    """The one decision, for every path (hooks, webhooks, FHIR, Canvas), on whether a note may be read.

    ``raw`` is the host's note type: a string, None, or several names of one type (its codes
    and its text; the first that is set gives ``kind``). A type that is, or contains, a
    protected category is refused as :data:`REFUSED_PROTECTED`, whatever the clinic allows.
    ``readable``, when not None, is the clinic's list of the note types the plugin may read
    (any spelling; see :func:`normalise_note_type`): a note of any other type, or of no type,
    is refused as :data:`REFUSED_NOT_READABLE`.
    """
    names = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    kinds = [k for k in (normalise_note_type(n) for n in names) if k is not None]
    for kind in kinds:
        category = _protected(kind)
        if category is not None:
            return NoteType(category, REFUSED_PROTECTED)
    kind = kinds[0] if kinds else None
    if readable is not None:
        allowed = {normalise_note_type(r) for r in readable}
        if not any(k in allowed for k in kinds):
            return NoteType(kind, REFUSED_NOT_READABLE)
    return NoteType(kind)


def is_protected(note_type) -> bool:
    """True for a psychotherapy or SUD counselling note type (see :func:`classify_note_type`)."""
    return classify_note_type(note_type).refused == REFUSED_PROTECTED


@dataclass(frozen=True)
class Rating:
    """A 0-10 re-rating of one goal on one note (or the baseline, when ``note_id`` is None)."""

    goal_id: str
    value: int | None
    rater: str = "client"
    level: int | None = None          # attained GAS level -2..+2, when the goal has levels
    note_id: str | None = None
    at: datetime | None = None
    source: str = "session"           # one of SOURCES


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
    """A tag as a therapist picked it: the code and linked goals. ``ratings`` is the deprecated
    shape (ratings inside a tag, linked goals only); :func:`build` lifts them to the note."""

    code: str
    goal_ids: tuple[str, ...] = ()
    ratings: tuple[Rating, ...] = field(default_factory=tuple)


def check_note_tags(tags: tuple[TagInput, ...], vocabulary: Vocabulary, intake: Intake | None) -> dict:
    """Field errors for the tags of one note, in marshmallow's shape (``{"tags": {i: {field: [..]}}}``).

    Rules: the code is known and active; linked goals exist; every rating names a goal the
    tag links; a goal is rated at most once per rater per note; no attainment
    levels (older ratings keep theirs).
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
            if rating.level is not None:   # Goal Attainment Scaling left the intake (section 2.0.0)
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "level", []).append("Attainment levels are no longer recorded; give a 0-10 value.")
            goal = intake.goal(rating.goal_id) if intake else None
            if rating.rater == "carer" and goal is not None and goal.whose != "carer":
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "rated_by", []).append(f"Only a carer's goal is rated by the carer; {_name(rating.goal_id, intake)} "
                                           f"is the {goal.whose}'s.")
            key = (rating.goal_id, rating.rater)
            if key in rated:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(f"{_name(rating.goal_id, intake).capitalize()} is already rated by the "
                                       f"{rating.rater} on this note.")
            rated[key] = i
    return {"tags": errors} if errors else {}


def check_note_ratings(ratings: tuple[Rating, ...], tags: tuple[TagInput, ...], intake: Intake | None) -> dict:
    """Field errors for a note's own ratings (``{"ratings": {i: {field: [..]}}}``): each rates one of
    the client's goals, 0-10, by the client, the therapist, or the carer of a carer's goal, at most once
    per rater on the note (counting the deprecated ratings inside ``tags``). No tag is needed."""
    errors: dict = {}
    rated = {(r.goal_id, r.rater) for t in tags for r in t.ratings}
    for i, rating in enumerate(ratings):
        def add(fld, msg):
            errors.setdefault(i, {}).setdefault(fld, []).append(msg)
        goal = intake.goal(rating.goal_id) if intake else None
        if goal is None:
            add("goal", f"Goal '{rating.goal_id}' is not one of this client's goals.")
        if rating.value is not None and not RATING_MIN <= rating.value <= RATING_MAX:
            add("value", f"Ratings are {RATING_MIN}-{RATING_MAX}.")
        if rating.level is not None:     # Goal Attainment Scaling left the intake (section 2.0.0)
            add("level", "Attainment levels are no longer recorded; give a 0-10 value.")
        if rating.rater not in RATERS:
            add("rated_by", f"Ratings are by {', '.join(RATERS)}.")
        elif rating.rater == "carer" and goal is not None and goal.whose != "carer":
            add("rated_by", f"Only a carer's goal is rated by the carer; {_name(rating.goal_id, intake)} "
                            f"is the {goal.whose}'s.")
        if rating.source not in SOURCES:
            add("source", f"Ratings come from {' or '.join(SOURCES)}.")
        key = (rating.goal_id, rating.rater)
        if key in rated:
            add("goal", f"{_name(rating.goal_id, intake).capitalize()} is already rated by the "
                        f"{rating.rater} on this note.")
        rated.add(key)
    return {"ratings": errors} if errors else {}


def _name(goal_id: str, intake: Intake | None) -> str:
    """How a therapist knows a goal: by its rank ("goal 2"); by its id when it is not one of the client's."""
    goal = intake.goal(goal_id) if intake else None
    return f"goal {goal.rank}" if goal else f"goal '{goal_id}'"


def build(note_id: str, client_id: str, session_at: datetime, author: str,
          tags: tuple[TagInput, ...], vocabulary: Vocabulary, signed: bool = False,
          ratings: tuple[Rating, ...] = ()) -> NoteProgress:
    """The record of a validated note: the note's ratings, then those of the deprecated shape
    (inside tags) lifted to the note. Call :func:`check_note_tags` and :func:`check_note_ratings` first."""
    applied = tuple(AppliedTag(t.code, vocabulary.version, tuple(t.goal_ids)) for t in tags)
    ratings = tuple(
        Rating(r.goal_id, r.value, r.rater, r.level, note_id, session_at, r.source)
        for r in (*ratings, *(r for t in tags for r in t.ratings))
    )
    return NoteProgress(note_id, client_id, session_at, author, applied, ratings, signed)

"""Progress recorded on one session note: tags, goal links and re-ratings. Never note text."""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from progress_plugin.core.intake import RATING_MAX, RATING_MIN, Intake
from progress_plugin.core.vocabulary import Vocabulary
from progress_plugin.core.words import N_, Msg, msg

RATERS = ("client", "therapist", "carer")
#: Where a rating was given: in the session, or by the client's own check-in later ("self").
SOURCES = ("session", "self")
#: The sources a note may carry today; "self" arrives with the client's check-in.
NOTE_SOURCES = ("session",)

#: Why a note was not read: a protected category (45 CFR 164.501, 42 CFR part 2), or a type
#: the clinic did not list in ``readable_note_types``. Also the audit rows' outcomes.
REFUSED_PROTECTED = "refused-protected"
REFUSED_NOT_READABLE = "refused-not-readable"

GOAL_LINK_NEEDED = N_("A rating needs a goal link: say which goal it rates.")
NO_LEVELS = N_("Attainment levels are no longer recorded; give a 0-10 value.")
#: How a message names each rater (``{rater}``): words of the catalogs, never the code.
RATER_NAMES = {"client": N_("the client"), "therapist": N_("the therapist"), "carer": N_("the carer")}
RATINGS_ARE = msg("Ratings are {min}-{max}.", min=RATING_MIN, max=RATING_MAX)

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
    return _normal(raw)


# A host names a handful of note types, and every note of a backfill page is classified:
# both steps are pure functions of a string, so they are kept (bounded) per process.
@functools.lru_cache(maxsize=4096)
def _normal(raw: str) -> str | None:
    text = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if unicodedata.category(ch) != "Cf")
    words = [_SPELLINGS.get(w, w) for w in _SEPARATORS.split(text.casefold()) if w]
    return "-".join(words) or None


@functools.lru_cache(maxsize=4096)
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
    raw = tuple(raw) if isinstance(raw, list) else raw
    if readable is None or isinstance(readable, frozenset):
        try:
            return _classify(raw, readable)          # kept: a host names a handful of types
        except TypeError:                           # a name that cannot be a key (not a string)
            pass
    return _classify.__wrapped__(raw, readable)


@functools.lru_cache(maxsize=4096)
def _classify(raw, readable) -> NoteType:
    names = list(raw) if isinstance(raw, tuple) else [raw]
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
            add(i, "code", msg("Tag '{code}' is applied twice to this note.", code=tag.code))
        seen_codes.add(tag.code)
        for goal_id in tag.goal_ids:
            if intake is None or intake.goal(goal_id) is None:
                add(i, "goals", msg("Goal '{goal}' is not one of this client's goals.", goal=goal_id))
        for j, rating in enumerate(tag.ratings):
            if not rating.goal_id:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(GOAL_LINK_NEEDED)
                continue
            if rating.goal_id not in tag.goal_ids:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(msg("Rating for {goal} needs the tag to link that goal.",
                                           goal=_name(rating.goal_id, intake)))
            if rating.value is not None and not RATING_MIN <= rating.value <= RATING_MAX:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "value", []).append(RATINGS_ARE)
            if rating.level is not None:   # Goal Attainment Scaling left the intake (section 2.0.0)
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "level", []).append(NO_LEVELS)
            goal = intake.goal(rating.goal_id) if intake else None
            if rating.rater == "carer" and goal is not None and goal.whose != "carer":
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "rated_by", []).append(_carers_only(rating.goal_id, intake, goal))
            key = (rating.goal_id, rating.rater)
            if key in rated:
                errors.setdefault(i, {}).setdefault("ratings", {}).setdefault(j, {}).setdefault(
                    "goal", []).append(_rated_twice(rating, intake))
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
            add("goal", msg("Goal '{goal}' is not one of this client's goals.", goal=rating.goal_id))
        if rating.value is not None and not RATING_MIN <= rating.value <= RATING_MAX:
            add("value", RATINGS_ARE)
        if rating.level is not None:     # Goal Attainment Scaling left the intake (section 2.0.0)
            add("level", NO_LEVELS)
        if rating.rater not in RATERS:
            add("rated_by", msg("Ratings are by {raters}.", raters=", ".join(RATERS)))
        elif rating.rater == "carer" and goal is not None and goal.whose != "carer":
            add("rated_by", _carers_only(rating.goal_id, intake, goal))
        if rating.source not in SOURCES:
            add("source", msg("Ratings come from {sources}.", sources=" or ".join(SOURCES)))
        key = (rating.goal_id, rating.rater)
        if key in rated:
            add("goal", _rated_twice(rating, intake))
        rated.add(key)
    return {"ratings": errors} if errors else {}


def _name(goal_id: str, intake: Intake | None, capital: bool = False) -> Msg:
    """How a therapist knows a goal: by its rank ("goal 2"); by its id when it is not one of the client's."""
    goal = intake.goal(goal_id) if intake else None
    if goal is not None:
        return msg("Goal {rank}", rank=goal.rank) if capital else msg("goal {rank}", rank=goal.rank)
    return msg("Goal '{goal}'", goal=goal_id) if capital else msg("goal '{goal}'", goal=goal_id)


def _carers_only(goal_id: str, intake: Intake | None, goal) -> Msg:
    return msg("Only a carer's goal is rated by the carer; {goal} is {whose}'s.", goal=_name(goal_id, intake),
               whose=_said(RATER_NAMES.get(goal.whose, goal.whose)))


def _rated_twice(rating: Rating, intake: Intake | None) -> Msg:
    return msg("{goal} is already rated by {rater} on this note.", goal=_name(rating.goal_id, intake, capital=True),
               rater=_said(RATER_NAMES.get(rating.rater, rating.rater)))


def _said(text: str) -> Msg:
    """A marked string as a value the edge says too (a plain ``str`` value is never translated)."""
    return Msg(text, {})


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

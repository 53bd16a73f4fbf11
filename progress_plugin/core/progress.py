"""Progress computation for one client: pure, with the current time passed in.

Goals are never summed into one score. Reliable change compares the first and the last
*client* rating of a goal (the baseline counts as the first) and is movement, not success.
The logic reads tags by their role (``review``, ``strain``, ``repair``), never by their code.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime

from progress_plugin.core import checkin_progress as checkins_mod
from progress_plugin.core.bidi import isolate
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.intake import Intake
from progress_plugin.core.notes import NoteProgress, Rating
from progress_plugin.core.records import quick_init
from progress_plugin.core.vocabulary import Tag, Vocabulary
from progress_plugin.core.words import N_, msg

# A goal's movement: the English words are its status in the JSON; a page says them in its language.
RELIABLE_IMPROVEMENT = N_("reliable improvement")
RELIABLE_DETERIORATION = N_("reliable deterioration")
NO_RELIABLE_CHANGE = N_("no reliable change yet")
NOT_ENOUGH = N_("not enough ratings yet")

#: How each review cadence is named inside a sentence ("agreed: every 4 sessions").
CADENCE_WORDS = {"every-session": N_("every session"), "every-4-sessions": N_("every 4 sessions"),
                 "monthly": N_("monthly"), "at-review": N_("at review")}


@dataclass(frozen=True)
class Settings:
    threshold: int = 3              # reliable change threshold, in rating points
    no_rating_sessions: int = 3     # prompt after this many sessions without a client rating
    no_checkin_sessions: int = 3    # prompt after this many sessions without a check-in (when they are on)
    check_low: int = 4              # a session-check item this low or lower is worth asking about
    check_drop: int = 2             # ... as is one this far below the client's usual (median) for it


@quick_init
@dataclass(frozen=True)
class Point:
    at: datetime
    session: int                    # 0 = intake baseline, then 1.. by session order
    value: int | None
    rater: str
    level: int | None = None
    note_id: str | None = None
    source: str = "session"         # "self": from the client's own check-in, after session ``session``


@dataclass(frozen=True)
class Change:
    status: str
    delta: int | None = None
    first: int | None = None
    last: int | None = None
    ratings: int = 0


@dataclass(frozen=True)
class GoalProgress:
    goal_id: str
    rank: int
    words: str
    baseline: int
    client: tuple[Point, ...]
    therapist: tuple[Point, ...]
    change: Change
    attained_level: int | None = None
    replaces: str | None = None         # the goal this one redefined
    replaced_by: str | None = None      # set when this goal's line has ended, redefined
    redefined_at: int | None = None     # the session at which a replacing goal began


@quick_init
@dataclass(frozen=True)
class Marker:
    note_id: str
    at: datetime
    session: int
    code: str
    label: str
    category: str
    direction: str
    therapist_only: bool
    retired: bool
    vocabulary_version: int
    role: str | None = None        # the tag's role in the version it was applied with


@dataclass(frozen=True)
class Prompt:
    kind: str          # not-yet-agreed | review-due | no-recent-rating | reliable-deterioration | sudden-drop |
                       # strain-without-repair | revisit-asked | session-check-low | no-recent-checkin
    message: str       # a msg() sentence: English as a str; ``words.say`` says it in another language
    goal_id: str | None = None
    note_id: str | None = None


@dataclass(frozen=True)
class Review:
    cadence: str
    last_reviewed: datetime
    sessions_since: int
    due: bool
    next_due: str       # a msg() phrase: "at the next session", "on 2026-12-01" (the date a ``date``
                        # value the view writes in its language), "at the planned review (no date set)"
    asked: datetime | None = None   # when the client asked (in a check-in) to revisit progress; due till reviewed


@dataclass(frozen=True)
class Progress:
    client_id: str
    goals: tuple[GoalProgress, ...]
    markers: tuple[Marker, ...]
    prompts: tuple[Prompt, ...]
    review: Review | None
    sessions: tuple[tuple[str, datetime], ...] = field(default_factory=tuple)
    checks: tuple[checkins_mod.CheckPoint, ...] = ()     # the client's check-ins, a series of their own


def reliable_change(values: list[int], threshold: int = 3) -> Change:
    """Movement between the first and the last of ``values`` (client ratings, oldest first)."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return Change(NOT_ENOUGH, None, values[0] if values else None, None, len(values))
    first, last = values[0], values[-1]
    delta = last - first
    if delta >= threshold:
        status = RELIABLE_IMPROVEMENT
    elif delta <= -threshold:
        status = RELIABLE_DETERIORATION
    else:
        status = NO_RELIABLE_CHANGE
    return Change(status, delta, first, last, len(values))


def add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def compute(client_id: str, intake: Intake | None, notes, vocabularies, now: datetime,
            settings: Settings = Settings(), checkins=(), checkins_on: bool = False) -> Progress:
    """Everything the progress view shows, from the intake, the (non-deleted) notes and the
    client's check-ins (:class:`~progress_plugin.core.checkin.Checkin`).

    ``vocabularies`` maps a version number to its :class:`Vocabulary`, so that each tag
    resolves under the version it was applied with. ``checkins_on``: the client has check-ins
    (a link was made for them), so a long gap without one is worth a prompt.
    """
    now = as_datetime(now)
    ordered: list[NoteProgress] = sorted(notes, key=lambda n: (as_datetime(n.session_at), n.note_id))
    session_of = {n.note_id: i for i, n in enumerate(ordered, start=1)}
    markers = tuple(_markers(ordered, session_of, vocabularies))
    sessions = tuple((n.note_id, as_datetime(n.session_at)) for n in ordered)
    placed = checkins_mod.placed(checkins, [at for _, at in sessions]) if checkins else []
    checks = checkins_mod.check_points(placed)
    if intake is None:
        return Progress(client_id, (), markers, (), None, sessions, checks)

    start = as_datetime(intake.agreed_on)
    ratings: list[Rating] = [r for n in ordered for r in n.ratings]
    for c, session in placed:
        session_of[c.checkin_id] = session
        ratings += [r for r in c.ratings if r.value is not None]
    goals = []
    for goal in sorted(intake.goals, key=lambda g: g.rank):
        if goal.status == "dropped":
            continue
        mine = [r for r in ratings if r.goal_id == goal.id]
        begun = start if goal.since is None else as_datetime(goal.since)
        first = 0 if goal.since is None else sum(1 for n in ordered if as_datetime(n.session_at) <= begun)
        client = [Point(begun, first, goal.baseline, "client")]
        client += sorted((Point(as_datetime(r.at), session_of[r.note_id], r.value, "client", r.level, r.note_id,
                                r.source) for r in mine if r.rater == "client"),
                         key=lambda p: (p.session, p.source == "self", p.at))
        therapist = tuple(Point(as_datetime(r.at), session_of[r.note_id], r.value, "therapist", r.level, r.note_id)
                          for r in mine if r.rater == "therapist")
        levels = [r.level for r in mine if r.level is not None]
        goals.append(GoalProgress(
            goal.id, goal.rank, goal.words, goal.baseline, tuple(client), therapist,
            reliable_change([p.value for p in client], settings.threshold),
            levels[-1] if levels else None, goal.replaces, goal.replaced_by,
            first if goal.replaces else None))

    review = _review(intake, ordered, markers, now, checks) if intake.is_agreed else None   # a draft: no clock
    prompts = [*_draft_prompts(intake), *_prompts(goals, ordered, markers, review, settings),
               *(Prompt(kind, text, note_id=ref)
                 for kind, text, ref in checkins_mod.prompts(checks, len(ordered), checkins_on, settings))]
    return Progress(client_id, tuple(goals), markers, tuple(prompts), review, sessions, checks)


def _markers(ordered, session_of, vocabularies):
    tags: dict[tuple[int, str], Tag | None] = {}       # each (version, code) resolved once
    for note in ordered:
        if not note.tags:
            continue
        at, session = as_datetime(note.session_at), session_of[note.note_id]
        for applied in note.tags:
            key = (applied.vocabulary_version, applied.code)
            if key in tags:
                tag = tags[key]
            else:
                vocab: Vocabulary | None = vocabularies.get(applied.vocabulary_version)
                tag = tags[key] = vocab.get(applied.code) if vocab else None
            if tag is None:
                continue
            yield Marker(note.note_id, at, session, tag.code, tag.label, tag.category, tag.direction,
                         tag.therapist_only, not tag.active, applied.vocabulary_version, tag.role)


def _review(intake: Intake, ordered, markers, now: datetime, checks=()) -> Review:
    """The review clock runs from the intake's agreement, reset by any tag whose role is ``review``.
    A check-in asking to revisit progress since makes it due (at the next session) until then."""
    last = as_datetime(intake.agreed_on)
    for m in markers:
        if m.role == "review":
            last = max(last, m.at)
    since = sum(1 for n in ordered if as_datetime(n.session_at) > last)
    cadence = intake.review_cadence
    if cadence == "every-session":
        due, nxt = since >= 1, msg("at the next session")
    elif cadence == "every-4-sessions":
        due, nxt = since >= 4, msg("after {n} more session(s)", n=max(0, 4 - since))
    elif cadence == "monthly":
        when = add_month(last.date())
        due, nxt = now.date() >= when, msg("on {date}", date=when)
    else:
        when = intake.review_date
        due = when is not None and now.date() >= when and last.date() < when
        nxt = msg("on {date}", date=when) if when else msg("at the planned review (no date set)")
    asked = checkins_mod.revisit_asked(checks, last)
    if asked is not None:
        due, nxt = True, msg("at the next session")
    return Review(cadence, last, since, due, nxt, None if asked is None else asked.at)


def _draft_prompts(intake: Intake):
    if not intake.is_agreed:
        yield Prompt("not-yet-agreed",
                     msg("These goals are not yet agreed: the intake is saved as a draft. Reviews are timed "
                         "from the day you agree them together and check they are safe, realistic and the "
                         "client's own."))


def _prompts(goals, ordered, markers, review, settings: Settings):
    if review is not None and review.asked is not None:
        yield Prompt("revisit-asked",
                     msg("In their check-in on {date}, the client asked to look together at what progress "
                         "means. The next session could start there.", date=review.asked.date()))
    elif review is not None and review.due:
        cadence = CADENCE_WORDS.get(review.cadence)
        yield Prompt("review-due",
                     msg("It may be time to look together at what progress means "
                         "(agreed: {cadence}; {n} session(s) since you last did).",
                         cadence=msg(cadence) if cadence else review.cadence.replace("-", " "),
                         n=review.sessions_since))
    n = settings.no_rating_sessions
    for g in goals:
        if g.replaced_by is not None:
            continue                    # a replaced goal's line has ended: no prompt on it
        rated_sessions = {p.session for p in g.client if p.session > 0 and p.value is not None}
        recent = [s for s in range(max(1, len(ordered) - n + 1), len(ordered) + 1)]
        if len(ordered) >= n and not rated_sessions.intersection(recent):
            yield Prompt("no-recent-rating",
                         msg("Goal {rank}, \u201c{words}\u201d, has had no rating from the client in the last "
                             "{n} sessions. How would they put it now?", **_goal(g), n=n), goal_id=g.goal_id)
        if g.change.status == RELIABLE_DETERIORATION:
            yield Prompt("reliable-deterioration",
                         msg("The client's ratings for goal {rank}, \u201c{words}\u201d, have moved down by {points} "
                             "since the start. What is making things harder, and does the goal still fit?",
                             **_goal(g), points=-g.change.delta), goal_id=g.goal_id)
        drop = sudden_drop(g.client, settings.threshold)
        if drop is not None:
            before, after = drop
            yield Prompt("sudden-drop",
                         msg("The client's rating for goal {rank}, \u201c{words}\u201d, went from {before} to {after} "
                             "between sessions {first} and {second}. It may be worth asking what has been happening, "
                             "and how it looks to them now.", **_goal(g), before=before.value, after=after.value,
                             first=before.session, second=after.session), goal_id=g.goal_id, note_id=after.note_id)
    open_strain = None
    by_session: dict[int, list[Marker]] = {}
    for m in markers:
        if m.role in ("strain", "repair"):
            by_session.setdefault(m.session, []).append(m)
    for session in sorted(by_session):
        roles = {m.role for m in by_session[session]}
        if "repair" in roles:
            open_strain = None          # only a repair closes a strain, its own session's too
        elif open_strain is None:
            open_strain = by_session[session][0]
    if open_strain is not None:
        yield Prompt("strain-without-repair",
                     msg("Strain was noticed in session {session} and no repair is recorded since. "
                         "It may help to name it together.", session=open_strain.session), note_id=open_strain.note_id)


def sudden_drop(client: tuple[Point, ...], threshold: int) -> tuple[Point, Point] | None:
    """The last two client ratings of a goal when the later is ``threshold`` or more below the earlier.

    Only the latest pair counts: a drop the client has rated again since is already part of the
    conversation. When the two are the goal's only ratings (the baseline and one more), the
    reliable-deterioration prompt already speaks of them, so this yields nothing.
    """
    rated = [p for p in client if p.value is not None]
    if len(rated) < 3:
        return None
    before, after = rated[-2], rated[-1]
    return (before, after) if before.value - after.value >= threshold else None


def _goal(g: GoalProgress) -> dict:
    """A prompt's values naming its goal: the rank, and the client's words as written, isolated for
    bidirectional text (a value of a msg() sentence: never translated)."""
    return {"rank": g.rank, "words": isolate(g.words)}

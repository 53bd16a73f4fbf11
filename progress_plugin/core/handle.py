"""The core: ``handle(event, state) -> [Effect]``. Pure: no I/O and no clock reads."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import singledispatch

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.core import notes as notes_mod
from progress_plugin.core.checkin import Checkin, check_checkin, self_ratings
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.intake import Intake
from progress_plugin.core.notes import NoteProgress
from progress_plugin.core.progress import (RELIABLE_DETERIORATION, RELIABLE_IMPROVEMENT, Settings,
                                      compute)
from progress_plugin.core.vocabulary import Vocabulary
from progress_plugin.core.words import N_


@dataclass(frozen=True)
class ClientState:
    """What the core needs to know about one client, loaded by an adapter from the store."""

    clinic_id: str
    client_id: str
    vocabulary: Vocabulary                               # the clinic's current version
    vocabularies: dict[int, Vocabulary] = field(default_factory=dict)   # every version notes use
    intake: Intake | None = None
    notes: dict[str, NoteProgress] = field(default_factory=dict)        # note_id -> record (not deleted)
    settings: Settings = Settings()
    #: The note types the clinic lets the plugin read (``readable_note_types``); None: any
    #: type that is not protected.
    readable_note_types: frozenset[str] | None = None
    #: The client's check-ins (checkin id -> check-in, its ratings as stored), and whether check-ins
    #: are on for them (a check-in link was ever made, or a check-in came).
    checkins: dict[str, Checkin] = field(default_factory=dict)
    checkins_on: bool = False

    def all_vocabularies(self) -> dict[int, Vocabulary]:
        return {**self.vocabularies, self.vocabulary.version: self.vocabulary}

    def progress(self, now, notes=None, checkins=None):
        """:func:`~progress_plugin.core.progress.compute` on this state (or on ``notes``/``checkins`` instead)."""
        return compute(self.client_id, self.intake, (self.notes if notes is None else notes).values(),
                       self.all_vocabularies(), now, self.settings,
                       (self.checkins if checkins is None else checkins).values(), self.checkins_on)


@singledispatch
def handle(event: ev.Event, state: ClientState) -> list[fx.Effect]:
    """Turn one event into the effects it calls for. Unknown event types yield no effects."""
    return []


@handle.register
def _intake(event: ev.IntakeSubmitted, state: ClientState) -> list[fx.Effect]:
    out: list[fx.Effect] = [fx.RecordIntake(event.clinic_id, event.client_id, event.intake, event.author, event.at)]
    new_ids = {g.id for g in event.intake.goals}
    replaced_by = {g.replaces: g.id for g in event.intake.goals if g.replaces}
    known = {g.id: g for g in state.intake.goals} if state.intake is not None else {}
    if state.intake is not None:
        for old in state.intake.goals:
            if old.id in new_ids or old.status in ("dropped", "replaced"):
                continue
            if old.id in replaced_by:      # redefined: ends "replaced by" the new goal, ratings kept
                out.append(fx.UpsertGoal(event.clinic_id, event.client_id,
                                         replace(old, status="replaced", replaced_by=replaced_by[old.id])))
            else:
                out.append(fx.UpsertGoal(event.clinic_id, event.client_id, replace(old, status="dropped")))
    for goal in event.intake.goals:
        before = known.get(goal.id)
        if before is not None and before.replaces:      # an edit of a replacing goal keeps where it began
            goal = replace(goal, replaces=before.replaces, since=before.since)
        elif goal.replaces and goal.replaces not in known:
            goal = replace(goal, replaces=None)         # nothing known to replace: simply a new goal
        elif goal.replaces:
            goal = replace(goal, since=as_datetime(event.at))
        out.append(fx.UpsertGoal(event.clinic_id, event.client_id, goal))
        previous = state.intake.goal(goal.id) if state.intake else None
        if previous is None or previous.baseline != goal.baseline:
            out.append(fx.RecordRating(event.clinic_id, event.client_id, notes_mod.Rating(
                goal.id, goal.baseline, "client", None, None, event.intake.agreed_on)))
    return out


@handle.register
def _note_saved(event: ev.NoteSaved, state: ClientState) -> list[fx.Effect]:
    kind = notes_mod.classify_note_type(event.note_type, state.readable_note_types)
    if kind.refused:
        return [fx.RefuseNote(event.clinic_id, event.client_id, event.note_id, kind.kind or "none", kind.refused)]
    signing = isinstance(event, ev.NoteSigned)
    existing = state.notes.get(event.note_id)
    if existing is not None and existing.signed:
        if signing and _same_tags(existing, event.tags, event.ratings):
            return []          # a redelivered signature: nothing changes
        return [fx.RejectNote(event.clinic_id, event.note_id, {
            "note": [N_("This note is signed; its progress tags can only change through an addendum.")]})]
    problems = {**notes_mod.check_note_tags(event.tags, state.vocabulary, state.intake),
                **notes_mod.check_note_ratings(event.ratings, event.tags, state.intake)}
    if problems:
        return [fx.RejectNote(event.clinic_id, event.note_id, problems)]
    record = notes_mod.build(event.note_id, event.client_id, event.session_at, event.author,
                             event.tags, state.vocabulary, signed=signing, ratings=event.ratings)
    out: list[fx.Effect] = [fx.TagNote(event.clinic_id, record)]
    out += [fx.RecordRating(event.clinic_id, event.client_id, r) for r in record.ratings]
    if state.intake is None:
        return out             # reviews are timed from the intake: without one nothing is due
    progress = state.progress(event.at, notes={**state.notes, record.note_id: record})
    if progress.review is not None and progress.review.due:
        out.append(fx.FlagReviewDue(event.clinic_id, event.client_id, progress.review.last_reviewed,
                                    progress.review.cadence))
    return out


@handle.register
def _note_deleted(event: ev.NoteDeleted, state: ClientState) -> list[fx.Effect]:
    if event.note_id not in state.notes:
        return []
    return [fx.UntagNote(event.clinic_id, event.client_id, event.note_id)]


@handle.register
def _discharged(event: ev.ClientDischarged, state: ClientState) -> list[fx.Effect]:
    if state.intake is None:
        return []
    progress = state.progress(event.at)
    achievement = {gp.goal_id: _achievement(gp.change.status) for gp in progress.goals}
    return [fx.UpsertGoal(event.clinic_id, event.client_id, replace(g, status="completed"), achievement.get(g.id))
            for g in state.intake.goals if g.status == "active"]


@handle.register
def _checkin(event: ev.CheckinSubmitted, state: ClientState) -> list[fx.Effect]:
    """The client's own check-in: its goal ratings become the client's ratings with source ``self``,
    its session check and revisit request are recorded. The first check-in with an id is the one
    kept: the same id again (a re-submission within the window, or a replayed form) changes nothing,
    whatever it holds."""
    checkin = event.checkin
    if checkin.checkin_id in state.checkins:
        return []
    problems = check_checkin(checkin, state.intake)
    if problems:
        return [fx.RejectCheckin(event.clinic_id, event.client_id, checkin.checkin_id, problems)]
    checkin = replace(checkin, ratings=self_ratings(checkin))
    out: list[fx.Effect] = [fx.RecordCheckin(event.clinic_id, event.client_id, checkin)]
    if checkin.revisit and state.intake is not None:
        progress = state.progress(event.at, checkins={**state.checkins, checkin.checkin_id: checkin})
        if progress.review is not None and progress.review.due:
            out.append(fx.FlagReviewDue(event.clinic_id, event.client_id, progress.review.last_reviewed,
                                        progress.review.cadence))
    return out


@handle.register
def _vocabulary(event: ev.VocabularyChanged, state: ClientState) -> list[fx.Effect]:
    return [fx.PublishVocabulary(event.clinic_id, event.vocabulary)]


@handle.register
def _panel(event: ev.PanelRequested, state: ClientState) -> list[fx.Effect]:
    progress = state.progress(event.at)
    return [fx.ShowPanel(event.clinic_id, progress, event.audience)]


def _same_tags(record: NoteProgress, tags, ratings=()) -> bool:
    mine = sorted((t.code, tuple(sorted(t.goal_ids))) for t in record.tags)
    theirs = sorted((t.code, tuple(sorted(t.goal_ids))) for t in tags)
    rated = sorted((r.goal_id, r.value, r.rater, r.level) for r in record.ratings)
    asked = sorted((r.goal_id, r.value, r.rater, r.level) for r in (*ratings, *(r for t in tags for r in t.ratings)))
    return mine == theirs and rated == asked


def _achievement(status: str) -> str:
    """terminology.hl7.org goal-achievement code for a reliable-change status."""
    return {RELIABLE_IMPROVEMENT: "improving", RELIABLE_DETERIORATION: "worsening"}.get(status, "no-change")

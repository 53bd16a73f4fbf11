"""The client's check-in in the core: handling, idempotency, its place in progress, and its prompts."""
import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.core import progress as p
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.handle import ClientState, handle
from progress_plugin.core.intake import Goal, Intake
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.vocabulary import default

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_intake(cadence="every-4-sessions"):
    goals = (Goal("g1", "sleep", "client", 3, 1), Goal("g2", "boss", "client", 6, 2),
             Goal("g3", "old", "client", 5, 3, status="dropped"))
    return Intake("i1", goals, cadence, True, date(2026, 1, 1), True, {})


def note(n, codes=(), ratings=()):
    at = T0 + timedelta(days=7 * n)
    return NoteProgress(f"n{n}", "c1", at, "t1", tuple(AppliedTag(c, 1) for c in codes),
                        tuple(Rating(g, v, "client", None, f"n{n}", at) for g, v in ratings))


def checkin(cid="checkin:a", day=9, ratings=(("g1", 6),), check=None, revisit=False):
    return Checkin(cid, T0 + timedelta(days=day), tuple(Rating(g, v) for g, v in ratings),
                   None if check is None else SessionCheck(*check), revisit)


def stored(c: Checkin) -> Checkin:
    """A check-in as the store gives it back: ratings on its id, source self."""
    (effect,) = [e for e in handle(ev.CheckinSubmitted("clinic-a", c.at, "c1", c), state()) if
                 isinstance(e, fx.RecordCheckin)]
    return effect.checkin


def state(notes=(), checkins=(), on=False, intake=None):
    return ClientState("clinic-a", "c1", default(), {}, intake or make_intake(), {n.note_id: n for n in notes},
                       checkins={c.checkin_id: c for c in checkins}, checkins_on=on)


def submit(c, st):
    return handle(ev.CheckinSubmitted("clinic-a", c.at, "c1", c), st)


def test_checkin_records_self_ratings_and_session_check():
    c = checkin(ratings=(("g1", 6), ("g2", None)), check=(8, 7, None, 9))
    (effect,) = submit(c, state())
    assert isinstance(effect, fx.RecordCheckin) and effect.key() == "checkin/clinic-a/c1/checkin:a"
    assert [(r.goal_id, r.value, r.rater, r.source, r.note_id, r.at) for r in effect.checkin.ratings] == [
        ("g1", 6, "client", "self", "checkin:a", c.at)]            # the skipped goal is left out
    assert effect.checkin.session_check.values() == {"heard": 8, "mattered": 7, "fits": None, "overall": 9}


def test_same_checkin_id_again_changes_nothing_first_one_kept():
    first = stored(checkin(check=(8, 8, 8, 8)))
    again = checkin(ratings=(("g1", 1),), check=(1, 1, 1, 1))    # a re-submission in the same window
    assert submit(again, state(checkins=[first])) == []
    assert submit(first, state(checkins=[first])) == []


@pytest.mark.parametrize("ratings,check,field", [
    ((("g9", 5),), None, "ratings"),         # not one of the client's goals
    ((("g3", 5),), None, "ratings"),         # a dropped goal
    ((("g1", 11),), None, "ratings"),
    ((("g1", 5), ("g1", 6)), None, "ratings"),
    ((), (11, None, None, None), "session_check"),
])
def test_invalid_checkin_is_rejected_and_nothing_recorded(ratings, check, field):
    (effect,) = submit(checkin(ratings=ratings, check=check), state())
    assert isinstance(effect, fx.RejectCheckin) and field in effect.messages


def test_therapist_cannot_rate_through_a_checkin():
    c = dataclasses.replace(checkin(), ratings=(Rating("g1", 5, "therapist"),))
    (effect,) = submit(c, state())
    assert "rated_by" in effect.messages["ratings"][0]


def test_self_ratings_join_the_client_line_between_sessions():
    notes = [note(1, ratings=[("g1", 4)]), note(2, ratings=[("g1", 5)])]
    result = state(notes, [stored(checkin(day=9, ratings=(("g1", 8),)))]).progress(T0 + timedelta(days=30))
    g1 = result.goals[0]
    assert [(pt.session, pt.value, pt.source) for pt in g1.client] == [
        (0, 3, "session"), (1, 4, "session"), (1, 8, "self"), (2, 5, "session")]
    assert g1.therapist == ()
    assert [(c.checkin_id, c.session) for c in result.checks] == [("checkin:a", 1)]


def test_revisit_makes_the_review_due_until_a_review_tag():
    asked = stored(checkin(day=9, revisit=True))
    notes = [note(1)]
    result = state(notes, [asked]).progress(T0 + timedelta(days=10))
    assert result.review.due and result.review.asked == asked.at
    assert [pr.kind for pr in result.prompts] == ["revisit-asked"]
    out = submit(asked, state(notes))
    assert [type(e).__name__ for e in out] == ["RecordCheckin", "FlagReviewDue"]
    reviewed = [note(1), note(2, codes=["progress-redefined"])]      # the tag with the review role
    later = state(reviewed, [asked]).progress(T0 + timedelta(days=20))
    assert not later.review.due and later.review.asked is None
    assert "revisit-asked" not in [pr.kind for pr in later.prompts]
    assert not state(notes, [stored(checkin(day=9))]).progress(T0 + timedelta(days=10)).review.due


def kinds(notes, checkins, on=False, **settings):
    st = dataclasses.replace(state(notes, checkins, on), settings=p.Settings(**settings))
    return [pr.kind for pr in st.progress(T0 + timedelta(days=90)).prompts]


def test_session_check_low_outright():
    low = [stored(checkin("checkin:a", 9, (), (7, 4, 8, 6)))]
    assert kinds([note(1)], low) == ["session-check-low"]
    fine = [stored(checkin("checkin:a", 9, (), (7, 5, 8, 6)))]
    assert kinds([note(1)], fine) == []
    assert kinds([note(1)], low, check_low=3) == []


def test_session_check_lower_than_usual_and_its_message():
    usual = [stored(checkin(f"checkin:{i}", 2 + 7 * i, (), (9, 9, 9, 9))) for i in range(3)]
    dip = stored(checkin("checkin:z", 30, (), (9, 9, 9, 7)))
    st = state([note(i) for i in range(1, 5)], [*usual, dip])
    [prompt] = [pr for pr in st.progress(T0 + timedelta(days=40)).prompts if pr.kind == "session-check-low"]
    assert "the session overall 7/10 (usually 9)" in prompt.message and prompt.note_id == "checkin:z"
    steady = stored(checkin("checkin:z", 30, (), (9, 9, 9, 8)))
    assert "session-check-low" not in kinds([note(i) for i in range(1, 5)], [*usual, steady])
    one_before = [usual[0], stored(checkin("checkin:z", 30, (), (9, 9, 9, 6)))]   # one earlier: no usual yet
    assert "session-check-low" not in kinds([note(i) for i in range(1, 5)], one_before)


def test_no_recent_checkin_when_checkins_are_on():
    notes = [note(i) for i in range(1, 5)]
    early = stored(checkin(day=2, ratings=(("g1", 5),)))           # after intake, before session 1
    assert "no-recent-checkin" in kinds(notes, [early])            # a check-in came: they are on
    assert "no-recent-checkin" in kinds(notes, [], on=True)        # a link was made
    assert "no-recent-checkin" not in kinds(notes, [])             # never on: no prompt
    recent = stored(checkin(day=23, ratings=(("g1", 5),)))         # after session 3
    assert "no-recent-checkin" not in kinds(notes, [early, recent])
    assert "no-recent-checkin" not in kinds(notes, [early], no_checkin_sessions=5)


def test_session_check_is_never_added_to_goals():
    result = state([note(1)], [stored(checkin(ratings=(), check=(1, 1, 1, 1)))]).progress(T0 + timedelta(days=30))
    assert [pt.value for g in result.goals for pt in g.client] == [3, 6]    # baselines only
    assert result.checks[0].values() == {"heard": 1, "mattered": 1, "fits": 1, "overall": 1}

from datetime import date, datetime, timedelta, timezone

import pytest

from progress_plugin.core import progress as p
from progress_plugin.core.intake import Goal, Intake
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.vocabulary import Tag, default

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("values,status,delta", [
    ([5, 7], p.NO_RELIABLE_CHANGE, 2),            # +2
    ([5, 8], p.RELIABLE_IMPROVEMENT, 3),          # +3
    ([5, 2], p.RELIABLE_DETERIORATION, -3),       # -3
    ([5, 3], p.NO_RELIABLE_CHANGE, -2),           # -2
    ([5, 9, 1, 6], p.NO_RELIABLE_CHANGE, 1),      # first and last only
])
def test_reliable_change_boundaries(values, status, delta):
    change = p.reliable_change(values)
    assert (change.status, change.delta) == (status, delta)


def test_one_rating_only_is_not_enough():
    change = p.reliable_change([5])
    assert change.status == p.NOT_ENOUGH and change.delta is None and change.ratings == 1


def test_threshold_is_configurable():
    assert p.reliable_change([5, 7], threshold=2).status == p.RELIABLE_IMPROVEMENT
    assert p.reliable_change([5, 8], threshold=4).status == p.NO_RELIABLE_CHANGE


def make_intake(cadence="every-4-sessions", goals=None, review_date=None):
    goals = goals or (Goal("g1", "sleep", "client", 3, 1), Goal("g2", "boss", "client", 6, 2))
    return Intake("i1", tuple(goals), cadence, True, date(2026, 1, 1), True, {}, review_date)


def note(n, codes=(), ratings=(), days=None):
    at = T0 + timedelta(days=days if days is not None else 7 * n)
    return NoteProgress(f"n{n}", "c1", at, "t1", tuple(AppliedTag(c, 1) for c in codes),
                        tuple(Rating(g, v, rater, None, f"n{n}", at) for g, v, rater in ratings))


def compute(intake, notes, now=None, **kw):
    return p.compute("c1", intake, notes, {1: default()}, now or T0 + timedelta(days=60), p.Settings(**kw))


def test_series_per_goal_with_baseline_first_and_therapist_apart():
    result = compute(make_intake(), [note(1, ratings=[("g1", 5, "client"), ("g1", 4, "therapist")]),
                                     note(2, ratings=[("g2", 2, "client")])])
    g1, g2 = result.goals
    assert [(pt.session, pt.value) for pt in g1.client] == [(0, 3), (1, 5)]
    assert [(pt.session, pt.value) for pt in g1.therapist] == [(1, 4)]
    assert g2.change.status == p.RELIABLE_DETERIORATION and g2.change.delta == -4
    assert any(pr.kind == "reliable-deterioration" and pr.goal_id == "g2" for pr in result.prompts)


def test_goals_are_never_summed():
    result = compute(make_intake(), [note(1, ratings=[("g1", 9, "client"), ("g2", 9, "client")])])
    assert len(result.goals) == 2
    assert not any(hasattr(result, name) for name in ("total", "score", "sum"))


def test_review_due_every_4_sessions_and_reset_by_redefining():
    intake = make_intake()
    assert not compute(intake, [note(i) for i in range(1, 4)]).review.due
    assert compute(intake, [note(i) for i in range(1, 5)]).review.due
    reset = [note(i) for i in range(1, 4)] + [note(4, codes=["progress-redefined"])]
    r = compute(intake, reset).review
    assert not r.due and r.sessions_since == 0


def test_review_due_every_session_monthly_and_at_review():
    assert compute(make_intake("every-session"), [note(1)]).review.due
    assert not compute(make_intake("every-session"), []).review.due
    assert not compute(make_intake("monthly"), [], now=datetime(2026, 1, 31, tzinfo=timezone.utc)).review.due
    assert compute(make_intake("monthly"), [], now=datetime(2026, 2, 1, tzinfo=timezone.utc)).review.due
    at_review = make_intake("at-review", review_date=date(2026, 3, 1))
    assert not compute(at_review, [], now=datetime(2026, 2, 28, tzinfo=timezone.utc)).review.due
    assert compute(at_review, [], now=datetime(2026, 3, 1, tzinfo=timezone.utc)).review.due


def test_no_rating_in_n_sessions_prompt():
    notes = [note(1, ratings=[("g1", 4, "client"), ("g2", 6, "client")]), note(2), note(3), note(4)]
    prompts = compute(make_intake(), notes, no_rating_sessions=3).prompts
    assert {pr.goal_id for pr in prompts if pr.kind == "no-recent-rating"} == {"g1", "g2"}
    prompts = compute(make_intake(), notes, no_rating_sessions=4).prompts
    assert not [pr for pr in prompts if pr.kind == "no-recent-rating"]


def test_therapist_rating_does_not_count_as_a_client_rating():
    notes = [note(1, ratings=[("g1", 4, "therapist")]), note(2), note(3)]
    prompts = compute(make_intake(), notes).prompts
    assert any(pr.kind == "no-recent-rating" and pr.goal_id == "g1" for pr in prompts)


def test_strain_without_repair_and_with_repair():
    strained = compute(make_intake(), [note(1, codes=["strain-noticed"]), note(2)]).prompts
    assert [pr.note_id for pr in strained if pr.kind == "strain-without-repair"] == ["n1"]
    repaired = compute(make_intake(), [note(1, codes=["strain-noticed"]), note(2, codes=["repair"])]).prompts
    assert not [pr for pr in repaired if pr.kind == "strain-without-repair"]
    same_session = compute(make_intake(), [note(1, codes=["repair", "strain-noticed"])]).prompts
    assert not [pr for pr in same_session if pr.kind == "strain-without-repair"]
    again = compute(make_intake(), [note(1, codes=["strain-noticed"]), note(2, codes=["repair"]),
                                    note(3, codes=["strain-noticed"])]).prompts
    assert [pr.note_id for pr in again if pr.kind == "strain-without-repair"] == ["n3"]


def test_markers_resolve_under_their_own_version_and_sort_by_session():
    v2 = default().retire("setback")
    notes = [note(2, codes=["step-forward"]), note(1, codes=["setback"])]
    result = p.compute("c1", make_intake(), notes, {1: default(), 2: v2}, T0 + timedelta(days=30))
    assert [(m.session, m.code, m.direction, m.retired) for m in result.markers] == [
        (1, "setback", "away", False), (2, "step-forward", "toward", False)]


def test_no_intake_yields_markers_only():
    result = compute(None, [note(1, codes=["setback"])])
    assert result.goals == () and result.review is None and len(result.markers) == 1


def test_a_clinic_review_tag_of_its_own_resets_reviews_after_progress_redefined_is_retired():
    v2 = default().retire("progress-redefined")
    v3 = v2.add(Tag("looked-again", "We looked again", "", "relationship", "none", role="review"))
    vocabularies = {1: default(), 2: v2, 3: v3}
    intake = make_intake()
    plain = [note(i) for i in range(1, 4)]
    own = NoteProgress("n4", "c1", T0 + timedelta(days=28), "t1", (AppliedTag("looked-again", 3),), ())
    review = p.compute("c1", intake, plain + [own], vocabularies, T0 + timedelta(days=60)).review
    assert not review.due and review.sessions_since == 0 and review.last_reviewed == T0 + timedelta(days=28)
    # the same tag without the role is only a tag: four sessions since the intake, the review is due
    v3_plain = v2.add(Tag("looked-again", "We looked again", "", "relationship", "none"))
    review = p.compute("c1", intake, plain + [own], {1: default(), 2: v2, 3: v3_plain}, T0 + timedelta(days=60)).review
    assert review.due and review.sessions_since == 4


def test_a_moment_of_connection_does_not_close_a_strain_only_a_repair_does():
    connected = compute(make_intake(), [note(1, codes=["strain-noticed"]), note(2, codes=["moment-of-connection"])])
    assert [pr.note_id for pr in connected.prompts if pr.kind == "strain-without-repair"] == ["n1"]
    repaired = compute(make_intake(), [note(1, codes=["strain-noticed"]), note(2, codes=["moment-of-connection"]),
                                       note(3, codes=["repair"])])
    assert not [pr for pr in repaired.prompts if pr.kind == "strain-without-repair"]


def test_strain_and_repair_are_whichever_tags_carry_the_roles():
    v2 = (default().edit("strain-noticed", role=None).edit("moment-of-connection", role="repair")
          .add(Tag("tense", "Tense", "", "movement", "away", role="strain")))
    notes = [NoteProgress("n1", "c1", T0 + timedelta(days=7), "t1", (AppliedTag("strain-noticed", 4),), ()),
             NoteProgress("n2", "c1", T0 + timedelta(days=14), "t1", (AppliedTag("tense", 4),), ())]
    result = p.compute("c1", make_intake(), notes, {4: v2}, T0 + timedelta(days=60))
    assert [pr.note_id for pr in result.prompts if pr.kind == "strain-without-repair"] == ["n2"]
    closed = notes + [NoteProgress("n3", "c1", T0 + timedelta(days=21), "t1", (AppliedTag("moment-of-connection", 4),), ())]
    result = p.compute("c1", make_intake(), closed, {4: v2}, T0 + timedelta(days=60))
    assert not [pr for pr in result.prompts if pr.kind == "strain-without-repair"]


def sleep_intake(baseline=4):
    return make_intake(goals=(Goal("g1", "Sleep through most nights", "client", baseline, 1),
                              Goal("g2", "Say no to my boss", "client", 5, 2)))


def test_a_sudden_drop_between_consecutive_client_ratings_is_a_prompt_naming_the_goal():
    notes = [note(1, ratings=[("g1", 6, "client")]), note(2, ratings=[("g1", 3, "client"), ("g2", 5, "client")])]
    result = compute(sleep_intake(), notes)
    (drop,) = [pr for pr in result.prompts if pr.kind == "sudden-drop"]
    assert drop.goal_id == "g1" and drop.note_id == "n2"
    assert "\u201c\u2068Sleep through most nights\u2069\u201d" in drop.message
    assert "from 6 to 3 between sessions 1 and 2" in drop.message
    assert "It may be worth asking what has been happening" in drop.message     # a conversation starter
    # first against last is 4 -> 3: no reliable change, so only the new prompt speaks of it
    assert not [pr for pr in result.prompts if pr.kind == "reliable-deterioration"]


@pytest.mark.parametrize("values,threshold,expected", [
    ([6, 3], 3, True),              # at the threshold
    ([6, 4], 3, False),             # short of it
    ([6, 4], 2, True),              # the threshold is the configurable reliable-change one
    ([7, 2, 5], 3, False),          # only the latest pair counts: the client has rated again since
    ([5, 6, 7, 3], 3, True),
])
def test_sudden_drop_threshold_and_latest_pair(values, threshold, expected):
    notes = [note(i, ratings=[("g1", v, "client")]) for i, v in enumerate(values, start=1)]
    prompts = compute(sleep_intake(), notes, threshold=threshold).prompts
    assert any(pr.kind == "sudden-drop" and pr.goal_id == "g1" for pr in prompts) is expected


def test_sudden_drop_counts_client_ratings_only_and_not_the_baseline_pair_alone():
    therapist = [note(1, ratings=[("g1", 6, "client")]), note(2, ratings=[("g1", 2, "therapist")])]
    assert not [pr for pr in compute(sleep_intake(), therapist).prompts if pr.kind == "sudden-drop"]
    # baseline 6, then 3: the reliable-deterioration prompt already speaks of those two ratings
    once = compute(sleep_intake(baseline=6), [note(1, ratings=[("g1", 3, "client")])]).prompts
    assert [pr.kind for pr in once if pr.goal_id == "g1"] == ["reliable-deterioration"]


def test_every_goal_prompt_names_the_goal_in_the_clients_words():
    notes = [note(1, ratings=[("g1", 8, "client")]), note(2, ratings=[("g1", 1, "client")]), note(3), note(4), note(5)]
    prompts = compute(sleep_intake(), notes).prompts
    kinds = {pr.kind for pr in prompts if pr.goal_id}
    assert kinds == {"no-recent-rating", "reliable-deterioration", "sudden-drop"}
    words = {"g1": "Sleep through most nights", "g2": "Say no to my boss"}
    for pr in prompts:
        if pr.goal_id:
            assert f"\u201c\u2068{words[pr.goal_id]}\u2069\u201d" in pr.message

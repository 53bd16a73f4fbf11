"""handle(): every rule of the core, without a host or a store."""
import dataclasses
from datetime import datetime, timedelta, timezone

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin import schemas
from progress_plugin.core.handle import ClientState, handle
from progress_plugin.core.notes import TagInput
from progress_plugin.core.vocabulary import default

AT = datetime(2026, 1, 10, tzinfo=timezone.utc)


def state(intake=None, notes=None, vocabulary=None):
    return ClientState("clinic-a", "c1", vocabulary or default(), {}, intake, notes or {})


def saved(tags, note_id="n1", note_type=None, signed=False, at=AT):
    cls = ev.NoteSigned if signed else ev.NoteSaved
    return cls("clinic-a", at, "c1", note_id, at, "t1", tuple(tags), note_type)


def test_intake_records_goals_and_baselines(intake):
    out = handle(ev.IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"), state())
    kinds = [type(e).__name__ for e in out]
    assert kinds == ["RecordIntake", "UpsertGoal", "RecordRating", "UpsertGoal", "RecordRating"]
    baselines = [e.rating for e in out if isinstance(e, fx.RecordRating)]
    assert [(r.goal_id, r.value, r.note_id) for r in baselines] == [("g1", 3, None), ("g2", 2, None)]


def test_redefined_intake_drops_removed_goals(intake_payload, intake):
    newer = schemas.load(schemas.intake_schema, intake_payload(
        goals=[{"words": "Sleep through most nights", "whose": "client", "baseline": 3}]))
    out = handle(ev.IntakeSubmitted("clinic-a", AT, "c1", newer, "t1"), state(intake))
    dropped = [e.goal for e in out if isinstance(e, fx.UpsertGoal) and e.goal.status == "dropped"]
    assert [g.id for g in dropped] == ["g2"]
    assert not [e for e in out if isinstance(e, fx.RecordRating)]   # baseline unchanged


def test_new_words_under_the_same_id_are_an_edit_and_replaces_makes_a_new_goal(intake_payload, intake):
    typo = schemas.load(schemas.intake_schema, intake_payload(goals=[
        {"words": "Sleep through most nights", "whose": "client", "baseline": 3},
        {"words": "Say no to my boss once", "whose": "client", "baseline": 2, "id": "g2"}]))
    edit = [e.goal for e in handle(ev.IntakeSubmitted("clinic-a", AT, "c1", typo, "t1"), state(intake))
            if isinstance(e, fx.UpsertGoal)]
    assert [(g.id, g.status, g.replaced_by) for g in edit] == [("g1", "active", None), ("g2", "active", None)]
    newer = schemas.load(schemas.intake_schema, intake_payload(goals=[
        {"words": "Sleep through most nights", "whose": "client", "baseline": 3},
        {"words": "Speak up at work", "whose": "client", "baseline": 4, "id": "g2b", "replaces": "g2", "rank": 2}]))
    out = handle(ev.IntakeSubmitted("clinic-a", AT, "c1", newer, "t1"), state(intake))
    goals = {e.goal.id: e.goal for e in out if isinstance(e, fx.UpsertGoal)}
    old, new = goals["g2"], goals["g2b"]
    assert (old.status, old.replaced_by, old.words) == ("replaced", "g2b", "Say no to my boss once")
    assert (new.status, new.replaces, new.since) == ("active", "g2", AT)
    assert [(e.rating.goal_id, e.rating.value) for e in out if isinstance(e, fx.RecordRating)] == [("g2b", 4)]
    later = schemas.load(schemas.intake_schema, intake_payload(goals=[                 # a typo fix, later
        {"words": "Sleep through most nights", "whose": "client", "baseline": 3},
        {"words": "Speak up at work!", "whose": "client", "baseline": 4, "id": "g2b", "rank": 2}]))
    after = state(dataclasses.replace(newer, goals=(newer.goals[0], old, new)))
    out = handle(ev.IntakeSubmitted("clinic-a", AT + timedelta(days=9), "c1", later, "t1"), after)
    [edited] = [e.goal for e in out if isinstance(e, fx.UpsertGoal) and e.goal.id == "g2b"]
    assert (edited.words, edited.replaces, edited.since) == ("Speak up at work!", "g2", AT)
    assert not [e for e in out if isinstance(e, fx.UpsertGoal) and e.goal.id == "g2"]    # stays replaced
    unknown = schemas.load(schemas.intake_schema, intake_payload(goals=[
        {"words": "Sleep", "whose": "client", "baseline": 3, "id": "g9", "replaces": "nothing"}]))
    goals = [e.goal for e in handle(ev.IntakeSubmitted("clinic-a", AT, "c1", unknown, "t1"), state(intake))
             if isinstance(e, fx.UpsertGoal)]
    assert [(g.id, g.replaces, g.since) for g in goals if g.id == "g9"] == [("g9", None, None)]   # simply new


def test_valid_note_tags_and_ratings(intake):
    tags = [TagInput("step-forward", ("g1",), (schemas.RatingSchema().load({"goal": "g1", "value": 6}),))]
    out = handle(saved(tags), state(intake))
    tag_note = next(e for e in out if isinstance(e, fx.TagNote))
    assert tag_note.note.tags[0].code == "step-forward" and tag_note.note.tags[0].vocabulary_version == 1
    ratings = [e.rating for e in out if isinstance(e, fx.RecordRating)]
    assert [(r.goal_id, r.value, r.note_id) for r in ratings] == [("g1", 6, "n1")]


def test_unknown_and_retired_codes_are_rejected_by_name(intake):
    vocab = default().retire("setback")
    out = handle(saved([TagInput("setback"), TagInput("made-up")]), state(intake, vocabulary=vocab))
    assert len(out) == 1 and isinstance(out[0], fx.RejectNote)
    msgs = out[0].messages["tags"]
    assert "'setback' was retired" in msgs[0]["code"][0]
    assert "Unknown tag code 'made-up'" in msgs[1]["code"][0]


def test_rating_without_the_goal_linked_is_rejected(intake):
    from progress_plugin.core.notes import Rating
    out = handle(saved([TagInput("step-forward", (), (Rating("g1", 5),))]), state(intake))
    assert isinstance(out[0], fx.RejectNote)
    assert out[0].messages == {"tags": {0: {"ratings": {0: {"goal": [
        "Rating for goal 1 needs the tag to link that goal."]}}}}}


def test_an_attainment_level_is_no_longer_recorded(intake):
    from progress_plugin.core.notes import Rating
    out = handle(saved([TagInput("step-forward", ("g1",), (Rating("g1", 5, "client", 1),))]), state(intake))
    assert isinstance(out[0], fx.RejectNote)
    assert out[0].messages == {"tags": {0: {"ratings": {0: {"level": [
        "Attainment levels are no longer recorded; give a 0-10 value."]}}}}}


def test_link_to_a_goal_the_client_does_not_have(intake):
    out = handle(saved([TagInput("step-forward", ("g9",))]), state(intake))
    assert out[0].messages["tags"][0]["goals"] == ["Goal 'g9' is not one of this client's goals."]


def test_protected_notes_are_refused_without_looking_at_tags(intake):
    out = handle(saved([TagInput("made-up")], note_type="psychotherapy-note"), state(intake))
    assert [type(e) for e in out] == [fx.RefuseNote]
    out = handle(saved([], note_type="SUD-counselling-note"), state(intake))
    assert [type(e) for e in out] == [fx.RefuseNote]


def test_a_clinic_list_refuses_other_types_as_not_readable(intake):
    from dataclasses import replace
    listed = replace(state(intake), readable_note_types=frozenset({"progress-note"}))
    (refused,) = handle(saved([TagInput("setback")], note_type="Therapy session"), listed)
    assert isinstance(refused, fx.RefuseNote) and refused.reason == "refused-not-readable"
    assert refused.note_type == "therapy-session"
    (untyped,) = handle(saved([TagInput("setback")]), listed)
    assert untyped.reason == "refused-not-readable"
    assert any(isinstance(e, fx.TagNote) for e in handle(saved([TagInput("setback")], note_type="Progress Note"), listed))
    (protected,) = handle(saved([], note_type="Psychotherapy Note"), listed)
    assert protected.reason == "refused-protected" and protected.note_type == "psychotherapy-note"


def test_signed_note_cannot_be_retagged(intake):
    first = handle(saved([TagInput("setback")], signed=True), state(intake))
    record = next(e.note for e in first if isinstance(e, fx.TagNote))
    assert record.signed
    again = handle(saved([TagInput("step-forward")]), state(intake, {"n1": record}))
    assert isinstance(again[0], fx.RejectNote) and "signed" in again[0].messages["note"][0]


def test_review_due_is_flagged_after_the_fourth_session(intake):
    notes = {}
    for i in range(1, 5):
        at = AT + timedelta(days=7 * i)
        out = handle(saved([TagInput("holding-steady")], note_id=f"n{i}", at=at), state(intake, notes))
        notes[f"n{i}"] = next(e.note for e in out if isinstance(e, fx.TagNote))
        flagged = [e for e in out if isinstance(e, fx.FlagReviewDue)]
        assert bool(flagged) == (i == 4)


def test_delete_unknown_note_is_a_no_op_and_known_note_untags(intake):
    assert handle(ev.NoteDeleted("clinic-a", AT, "c1", "n1"), state(intake)) == []
    first = handle(saved([TagInput("setback")]), state(intake))
    record = next(e.note for e in first if isinstance(e, fx.TagNote))
    out = handle(ev.NoteDeleted("clinic-a", AT, "c1", "n1"), state(intake, {"n1": record}))
    assert [type(e) for e in out] == [fx.UntagNote]


def test_discharge_completes_goals_with_achievement(intake):
    from progress_plugin.core.notes import Rating
    tags = [TagInput("step-forward", ("g1",), (Rating("g1", 8),))]
    first = handle(saved(tags), state(intake))
    record = next(e.note for e in first if isinstance(e, fx.TagNote))
    out = handle(ev.ClientDischarged("clinic-a", AT, "c1"), state(intake, {"n1": record}))
    assert [(e.goal.id, e.goal.status, e.achievement) for e in out] == [
        ("g1", "completed", "improving"), ("g2", "completed", "no-change")]


def test_effect_keys_are_stable_for_identical_effects(intake):
    a = handle(saved([TagInput("setback")]), state(intake))
    b = handle(saved([TagInput("setback")]), state(intake))
    assert [e.key() for e in a] == [e.key() for e in b]


def test_unknown_event_type_yields_nothing():
    assert handle(ev.Event("clinic-a", AT), state()) == []


def test_signed_note_signed_again_with_the_same_tags_is_a_no_op(intake):
    first = handle(saved([TagInput("setback")], signed=True), state(intake))
    record = next(e.note for e in first if isinstance(e, fx.TagNote))
    assert handle(saved([TagInput("setback")], signed=True), state(intake, {"n1": record})) == []
    changed = handle(saved([TagInput("repair")], signed=True), state(intake, {"n1": record}))
    assert isinstance(changed[0], fx.RejectNote)


def test_a_new_vocabulary_version_is_published_to_the_host():
    v2 = default().retire("setback")
    out = handle(ev.VocabularyChanged("clinic-a", AT, v2, "admin"), state(vocabulary=v2))
    assert out == [fx.PublishVocabulary("clinic-a", v2)] and out[0].host_bound


def test_an_unagreed_intake_is_recorded_as_a_draft_and_starts_no_review(intake_payload):
    draft = schemas.load(schemas.intake_schema, intake_payload(agreed=False))
    out = handle(ev.IntakeSubmitted("clinic-a", AT, "c1", draft, "t1"), state())
    assert not [e for e in out if isinstance(e, fx.RejectNote)]
    (recorded,) = [e for e in out if isinstance(e, fx.RecordIntake)]
    assert recorded.intake.status == "draft"
    notes = {}
    for i in range(1, 6):          # past the agreed cadence of four sessions: still nothing is due
        out = handle(saved([TagInput("holding-steady")], note_id=f"n{i}", at=AT + timedelta(days=7 * i)),
                     state(draft, notes))
        notes[f"n{i}"] = next(e.note for e in out if isinstance(e, fx.TagNote))
        assert not [e for e in out if isinstance(e, fx.FlagReviewDue)]

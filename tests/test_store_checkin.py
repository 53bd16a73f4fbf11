"""Check-ins through the runtime and the store, on SQLite and PostgreSQL: stored once, loaded back
into the client's state, erased with the client."""
from datetime import datetime, timezone

import sqlalchemy as sa

from progress_plugin.core import events as ev
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.notes import Rating
from progress_plugin.store import tables as t

AT = datetime(2026, 2, 1, 18, 0, tzinfo=timezone.utc)


def submitted(checkin_id="checkin:abc", g1=7, check=(8, None, 6, 5), revisit=True):
    return ev.CheckinSubmitted("clinic-a", AT, "c1", Checkin(
        checkin_id, AT, (Rating("g1", g1), Rating("g2", None)), SessionCheck(*check), revisit))


def test_checkin_round_trip_and_idempotent(runtime, intake, now):
    store = runtime.store
    runtime.dispatch(ev.IntakeSubmitted("clinic-a", now, "c1", intake, "t1"))
    assert not runtime.state("clinic-a", "c1").checkins_on
    runtime.dispatch(submitted())
    runtime.dispatch(submitted(g1=1, check=(1, 1, 1, 1), revisit=False))     # same id: nothing changes
    state = runtime.state("clinic-a", "c1")
    assert state.checkins_on
    (checkin,) = state.checkins.values()
    assert checkin.checkin_id == "checkin:abc" and checkin.at == AT and checkin.revisit
    assert checkin.session_check == SessionCheck(8, None, 6, 5)
    assert [(r.goal_id, r.value, r.rater, r.source, r.note_id) for r in checkin.ratings] == [
        ("g1", 7, "client", "self", "checkin:abc")]
    assert state.notes == {}                          # a check-in is never a note
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.session_checks)).scalar() == 1
        origins = c.execute(sa.select(t.ratings.c.source, t.ratings.c.origin).where(
            t.ratings.c.origin == "self")).all()
    assert [tuple(o) for o in origins] == [("checkin:abc", "self")]
    actions = [r["action"] for r in store.audit_rows("clinic-a")]
    assert actions.count("checkin.record") == 1
    progress = runtime.progress("clinic-a", "c1")
    assert [(p.value, p.source) for p in progress.goals[0].client] == [(3, "session"), (7, "self")]
    assert progress.checks[0].values() == {"heard": 8, "mattered": None, "fits": 6, "overall": 5}


def test_rejected_checkin_stores_nothing(runtime, intake, now):
    runtime.dispatch(ev.IntakeSubmitted("clinic-a", now, "c1", intake, "t1"))
    out = runtime.dispatch(submitted(g1=12))
    assert [type(e).__name__ for e in out] == ["RejectCheckin"]
    assert runtime.state("clinic-a", "c1").checkins == {}
    assert [r["outcome"] for r in runtime.store.audit_rows("clinic-a") if r["action"] == "checkin.reject"] == [
        "rejected"]


def test_a_link_alone_turns_checkins_on(runtime, intake, now):
    runtime.dispatch(ev.IntakeSubmitted("clinic-a", now, "c1", intake, "t1"))
    with runtime.store.begin() as c:
        c.execute(t.checkin_links.insert().values(link_id="l1", key="k" * 64, clinic_id="clinic-a", client_id="c1",
                                                  created_by="t1", created_at=now, expires_at=now))
    assert runtime.state("clinic-a", "c1").checkins_on
    assert not runtime.state("clinic-a", "c2").checkins_on


def test_purge_removes_the_session_checks(runtime, intake, now):
    runtime.dispatch(ev.IntakeSubmitted("clinic-a", now, "c1", intake, "t1"))
    runtime.dispatch(submitted())
    runtime.store.purge("clinic-a", "c1", "admin", now)
    with runtime.store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.session_checks)).scalar() == 0


def test_submit_queues_the_write_back_with_the_checkin_once(runtime, intake, now):
    from progress_plugin.service.checkins import submit
    from progress_plugin.store import outbox
    runtime.dispatch(ev.IntakeSubmitted("clinic-a", now, "c1", intake, "t1"))
    assert [type(e).__name__ for e in submit(runtime, submitted(), queue=True)] == ["RecordCheckin", "FlagReviewDue"]
    assert submit(runtime, submitted(), queue=True) == []                    # received again: nothing new
    with runtime.store.engine.connect() as c:
        keys = sorted(r.key for r in c.execute(sa.select(t.outbox.c.key)))
        assert outbox.counts(c) == {"pending": len(keys)}
    assert [k for k in keys if k.startswith("checkin/")] == [
        "checkin/clinic-a/c1/checkin:abc/check/fits", "checkin/clinic-a/c1/checkin:abc/check/heard",
        "checkin/clinic-a/c1/checkin:abc/check/overall", "checkin/clinic-a/c1/checkin:abc/rating/g1",
        "checkin/clinic-a/c1/checkin:abc/response"]
    assert "questionnaire/between-sessions/1.0.0" in keys
    assert [r["actor"] for r in runtime.store.audit_rows("clinic-a") if r["action"] == "checkin.record"] == ["client"]

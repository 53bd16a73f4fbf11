"""The store, on SQLite and on PostgreSQL (the ``store`` fixture runs each test on both)."""
import os
import re
import stat
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from progress_plugin import errors, schemas
from progress_plugin.store import tables
from progress_plugin.core.events import IntakeSubmitted, NoteDeleted
from progress_plugin.store import Store

AT = datetime(2026, 1, 5, tzinfo=timezone.utc)


def test_new_store_starts_with_the_default_vocabulary_as_version_1(store, now):
    assert store.ensure_clinic("clinic-a", now) is True
    assert store.ensure_clinic("clinic-a", now) is False
    vocab = store.vocabulary("clinic-a")
    assert vocab.version == 1 and len(vocab.tags) == 17
    assert [h["version"] for h in store.history("clinic-a")] == [1]


#: On PostgreSQL the inbox and the outbox are partitioned (migration 0011r): their weekly partitions
#: are tables of the database, not of the metadata, and their dedup keys are plain indexes locked by
#: the store (a unique constraint of a partitioned table must hold the partition key).
PARTITION = re.compile(r"(inbox|outbox)_(p\d{8}|default)")
PARTITIONED_KEYS = {("remove_index", "ix_inbox_event"), ("remove_index", "ix_outbox_key"),
                    ("add_constraint", "inbox"), ("add_constraint", "outbox")}


def test_migrations_match_the_table_definitions(store):
    postgres = store.engine.dialect.name == "postgresql"
    keep = (lambda name, type_, parent: not (type_ == "table" and PARTITION.fullmatch(name or "")))
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": keep}), tables.metadata)
    if postgres:
        found = {(d[0], d[1].name if d[0] == "remove_index" else d[1].table.name) for d in diff
                 if d[0] in ("remove_index", "add_constraint")}
        assert found == PARTITIONED_KEYS
        diff = [d for d in diff if d[0] not in ("remove_index", "add_constraint")]
    assert diff == []


def test_no_column_can_hold_note_text():
    for table in tables.metadata.tables.values():
        for column in table.columns:
            assert column.name not in ("text", "content", "body", "note_text", "note")
            assert not (column.name.startswith("note") and column.name != "note_id"), (table.name, column.name)


def test_sqlite_file_is_created_0600(tmp_path):
    path = tmp_path / "sub" / "p.db"
    Store.open(f"sqlite:///{path}").close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_vocabulary_save_is_versioned_and_stale_writes_get_412(store, now):
    store.ensure_clinic("clinic-a", now)
    v1 = store.vocabulary("clinic-a")
    store.save_vocabulary("clinic-a", v1.retire("setback"), "admin-1", "retire setback", now, expected_version=1)
    with pytest.raises(errors.PreconditionFailed):
        store.save_vocabulary("clinic-a", v1.retire("repair"), "admin-2", "retire repair", now, expected_version=1)
    assert store.current_version("clinic-a") == 2
    assert store.vocabulary("clinic-a", 1).resolve("setback").status == "active"
    assert store.vocabulary("clinic-a", 2).resolve("setback").status == "retired"
    audit = [r for r in store.audit_rows("clinic-a") if r["action"].startswith("vocabulary")]
    assert [(r["actor"], r["old_version"], r["new_version"]) for r in audit] == [("admin-1", 1, 2)]


def test_a_version_stored_before_roles_reads_with_the_default_roles_by_code(store, now):
    """Versions written by the release before roles have no 'role' key: the codes the logic used to key on
    keep their meaning (progress-redefined resets reviews, strain-noticed and repair pair up). A version
    stored since keeps exactly its roles, none included."""
    store.ensure_clinic("clinic-a", now)
    old = [{k: v for k, v in t.as_dict().items() if k != "role"} for t in store.vocabulary("clinic-a").tags]
    old.append({"code": "our-own", "label": "Our own", "description": "", "category": "relationship",
                "direction": "toward", "audience": "all", "status": "active"})
    with store.begin() as c:
        c.execute(tables.vocabulary_versions.update().values(tags=old))
    legacy = store.vocabulary("clinic-a", 1)
    assert {t.code: t.role for t in legacy.tags if t.role} == {
        "strain-noticed": "strain", "repair": "repair", "progress-redefined": "review"}
    assert legacy.resolve("our-own").role is None
    v2 = legacy.edit("progress-redefined", role=None)
    store.save_vocabulary("clinic-a", v2, "admin-1", "edit progress-redefined role", now, expected_version=1)
    assert store.vocabularies("clinic-a", [1, 2])[2].resolve("progress-redefined").role is None
    assert store.vocabularies("clinic-a", [1, 2])[1].resolve("progress-redefined").role == "review"


def test_round_trip_of_a_client_through_the_runtime(runtime, store, intake, note_payload):
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    payload = note_payload([{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 6}]},
                            {"code": "stirring-up"}])
    runtime.dispatch(schemas.load(schemas.note_schema, payload))
    state = store.load_state("clinic-a", "c1")
    assert state.intake.goal("g1").words == "Sleep through most nights"
    assert state.intake.agreed_on.isoformat() == "2026-01-05"
    (note,) = state.notes.values()
    assert sorted(note.codes()) == ["step-forward", "stirring-up"]
    assert [(r.goal_id, r.value) for r in note.ratings] == [("g1", 6)]
    progress = runtime.progress("clinic-a", "c1")
    assert [p.value for p in progress.goals[0].client] == [3, 6]


def test_resaving_a_note_replaces_its_tags_and_ratings(runtime, store, intake, note_payload):
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    first = note_payload([{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 6}]}], note_id="n1")
    runtime.dispatch(schemas.load(schemas.note_schema, first))
    second = note_payload([{"code": "setback"}], note_id="n1")
    runtime.dispatch(schemas.load(schemas.note_schema, second))
    (note,) = store.load_state("clinic-a", "c1").notes.values()
    assert note.codes() == ("setback",) and note.ratings == ()


def test_deleted_note_leaves_no_tags(runtime, store, intake, note_payload):
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    runtime.dispatch(schemas.load(schemas.note_schema, note_payload([{"code": "setback"}], note_id="n1")))
    runtime.dispatch(NoteDeleted("clinic-a", AT, "c1", "n1"))
    assert store.load_state("clinic-a", "c1").notes == {}
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(tables.note_tags)).scalar() == 0


def test_protected_note_stores_nothing_and_audits_once(runtime, store, intake, note_payload):
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    payload = note_payload([{"code": "setback"}], note_id="pn1", note_type="psychotherapy-note")
    runtime.dispatch(schemas.load(schemas.note_schema, payload))
    assert store.load_state("clinic-a", "c1").notes == {}
    refusals = [r for r in store.audit_rows("clinic-a") if r["action"] == "note.refuse"]
    assert len(refusals) == 1 and refusals[0]["outcome"] == "refused-protected"
    assert "pn1" in refusals[0]["subject"]


def test_purge_removes_the_client_and_leaves_an_audit_row(runtime, store, intake, note_payload):
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c2", intake, "t1"))
    for n in range(3):
        runtime.dispatch(schemas.load(schemas.note_schema, note_payload(
            [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}])))
    counts = store.purge("clinic-a", "c1", "privacy-officer", AT).counts
    assert counts["notes"] == 3 and counts["goals"] == 2 and counts["intakes"] == 1 and counts["note_tags"] == 3
    assert counts["ratings"] == 5    # 2 baselines + 3 re-ratings
    assert store.load_state("clinic-a", "c1").intake is None
    assert store.load_state("clinic-a", "c2").intake is not None
    purge = [r for r in store.audit_rows("clinic-a") if r["action"] == "client.purge"]
    assert len(purge) == 1 and purge[0]["actor"] == "privacy-officer" and "c1" in purge[0]["subject"]
    assert "Sleep" not in str(store.audit_rows())


def test_audit_rows_never_carry_client_words(runtime, store, intake_payload, note_payload):
    canary = "CANARY-words-7f3a"
    intake = schemas.load(schemas.intake_schema, intake_payload(
        goals=[{"words": canary, "whose": "client", "baseline": 2}], better_looks_like=canary))
    runtime.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    runtime.dispatch(schemas.load(schemas.note_schema, note_payload([{"code": "setback"}])))
    assert canary not in str(store.audit_rows())


def test_purge_also_removes_queued_work_of_the_client(store, intake, now):
    from progress_plugin.store import inbox
    from progress_plugin.store import outbox
    from progress_plugin.fhir import writeback
    from progress_plugin.service.runtime import Runtime
    queued = Runtime(store, clock=lambda: now,
                     on_effects=lambda conn, effects, state: writeback.enqueue(conn, effects, state.all_vocabularies(), now))
    queued.dispatch(IntakeSubmitted("clinic-a", AT, "c1", intake, "t1"))
    queued.dispatch(IntakeSubmitted("clinic-a", AT, "c2", intake, "t1"))
    with store.begin() as c:
        inbox.put(c, "clinic-a", "e1", "note.saved", {"client_id": "c1", "note_id": "n9"}, now)
        inbox.put(c, "clinic-a", "e2", "note.saved", {"client_id": "c2", "note_id": "n8"}, now)
    counts = store.purge("clinic-a", "c1", "privacy-officer", now).counts
    assert counts["outbox"] == 5 and counts["inbox"] == 1        # response, 2 goals, 2 baselines; one event
    with store.engine.connect() as c:
        left = [r["key"] for r in outbox.rows(c)]
        assert left and all("/c2/" in k or k.startswith("questionnaire/") for k in left)
        assert [r.event_id for r in c.execute(sa.select(tables.inbox.c.event_id))] == ["e2"]
    assert "Sleep" not in str(store.audit_rows())


def test_done_rows_keep_their_keys_but_not_their_payloads(store, now):
    from progress_plugin.store import inbox
    from progress_plugin.store import outbox
    from progress_plugin.fhir import writeback
    from progress_plugin.core.effects import UpsertGoal
    from progress_plugin.core.intake import Goal
    with store.begin() as c:
        inbox.put(c, "clinic-a", "e1", "intake.submitted", {"client_id": "c1", "words": "PHI"}, now)
        writeback.enqueue(c, [UpsertGoal("clinic-a", "c1", Goal("g1", "PHI words", "client", 3, 1))], {}, now)
        (i,) = inbox.claim(c, "w", now, 30, 5)
        (o,) = outbox.claim(c, "w", now, 30, 5)
        assert inbox.finish(c, i["id"], "w", now) and outbox.done(c, o["id"], "w", now)
    with store.engine.connect() as c:
        assert [r.payload for r in c.execute(sa.select(tables.inbox.c.payload))] == [{}]
        assert [r.payload for r in c.execute(sa.select(tables.outbox.c.payload))] == [{}]
    with store.begin() as c:
        assert inbox.put(c, "clinic-a", "e1", "intake.submitted", {}, now) is False    # still deduplicated

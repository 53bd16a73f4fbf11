"""The batched paths of the backfill give the same store as handling notes one at a time.

``Store.load_states`` + ``Store.apply_all`` (what a backfill page uses) against
``Store.load_state`` + ``Store.apply`` per effect (the reference: the path every other adapter
takes). Each test runs both on the same store under two clinic ids and compares every row.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from progress_plugin.service import backfill
from progress_plugin.fhir import inbound as fhir_events
from progress_plugin.fhir import writeback
from progress_plugin.core import effects as fx
from progress_plugin.store import tables as t
from progress_plugin.core.handle import handle
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.vocabulary import SYSTEM

REF, NEW = "clinic-ref", "clinic-new"
AT = datetime(2026, 2, 2, 9, 0, tzinfo=timezone.utc)
KEPT = {"notes": ("note_id", "client_id", "session_at", "author", "signed", "recorded_at"),
        "note_tags": ("note_id", "code", "vocabulary_version", "goal_ids"),
        "ratings": ("client_id", "goal_id", "source", "rater", "value", "level", "rated_at"),
        "goals": ("client_id", "goal_id", "rank", "words", "status", "baseline"),
        "intakes": ("client_id", "intake_id", "review_cadence")}


def dump(store, clinic: str) -> dict:
    """Every row the clinic has, without the clinic id; the audit log in write order."""
    out = {}
    with store.engine.connect() as c:
        for name, columns in KEPT.items():
            table = t.metadata.tables[name]
            rows = c.execute(sa.select(*(table.c[k] for k in columns)).where(table.c.clinic_id == clinic))
            out[name] = sorted(json.dumps(list(r), default=str) for r in rows)
        audit = t.audit_log
        out["audit"] = [tuple(r) for r in c.execute(sa.select(audit.c.actor, audit.c.action, audit.c.subject,
                                                              audit.c.outcome)
                                                    .where(audit.c.clinic_id == clinic, audit.c.action != "clinic.create")
                                                    .order_by(audit.c.id))]
        ob = t.outbox
        out["outbox"] = [(r.key.replace(clinic, "@"), r.kind, json.dumps(r.payload, sort_keys=True).replace(clinic, "@"))
                         for r in c.execute(sa.select(ob.c.key, ob.c.kind, ob.c.payload)
                                            .where(ob.c.clinic_id == clinic).order_by(ob.c.id))]
    return out


def in_clinic(effect, clinic):
    return replace(effect, clinic_id=clinic)


def test_apply_all_writes_what_apply_writes_one_by_one(store, intake):
    for clinic in (REF, NEW):
        store.ensure_clinic(clinic, AT)
    intake_effects = handle(IntakeSubmitted(REF, AT, "c1", intake, "t1"),
                            store.load_state(REF, "c1"))

    def note(note_id, client, codes, signed=False, ratings=()):
        return NoteProgress(note_id, client, AT + timedelta(days=len(note_id)), "t1",
                            tuple(AppliedTag(c, 1, ("g1",) if ratings else ()) for c in codes),
                            tuple(Rating("g1", v, "client", None, note_id, AT) for v in ratings), signed)

    rated = note("n1", "c1", ["step-forward"], ratings=[6])
    effects = [*intake_effects,
               fx.TagNote(REF, rated), fx.RecordRating(REF, "c1", rated.ratings[0]),
               fx.TagNote(REF, note("n2", "c1", ["setback", "stirring-up"], signed=True)),
               fx.RejectNote(REF, "n9", {"tags": ["Unknown tag code."]}),
               fx.TagNote(REF, note("n3", "c2", [])),
               fx.TagNote(REF, note("n1", "c1", ["holding-steady"])),           # n1 again in the same run
               fx.RefuseNote(REF, "c2", "n5", "psychotherapy-note"),
               fx.UntagNote(REF, "c1", "n2"),
               fx.TagNote(REF, note("n2", "c1", ["setback"])),                    # back after its delete
               fx.TagNote(REF, note("n3", "c3", ["step-forward"]))]               # moved to another client
    with store.begin() as conn:
        for effect in effects:
            store.apply(conn, effect, "backfill", AT)
    with store.begin() as conn:
        store.apply_all(conn, [in_clinic(e, NEW) for e in effects], "backfill", AT)

    ref, new = dump(store, REF), dump(store, NEW)
    assert new == ref
    assert len(ref["notes"]) == 3 and len(ref["audit"]) == 10
    assert [a[1] for a in ref["audit"]].count("note.reject") == 1
    assert not any('"n1"' in r and "step-forward" in r for r in ref["note_tags"])   # replaced, not added


def test_load_states_gives_the_core_what_load_state_gives_it(store, intake):
    store.ensure_clinic(REF, AT)
    with store.begin() as conn:
        for effect in handle(IntakeSubmitted(REF, AT, "with-intake", intake, "t1"),
                             store.load_state(REF, "with-intake", conn=conn)):
            store.apply(conn, effect, "t", AT)
        for i, client in enumerate(["with-intake", "plain", "plain", "other"]):
            record = NoteProgress(f"n{i}", client, AT + timedelta(days=i), "t1",
                                  (AppliedTag("step-forward", 1, ("g1",) if client == "with-intake" else ()),),
                                  (Rating("g1", 5, "client", None, f"n{i}", AT),) if client == "with-intake" else (),
                                  signed=i % 2 == 0)
            store.apply(conn, fx.TagNote(REF, record), "t", AT)
            for rating in record.ratings:
                store.apply(conn, fx.RecordRating(REF, client, rating), "t", AT)
    wanted = {"with-intake": ["n0", "n-new"], "plain": ["n2", "n-new2"], "other": ["n1"], "nobody": ["n9"]}
    with store.begin() as conn:
        states = store.load_states(REF, wanted, conn=conn)
    assert set(states) == set(wanted)
    assert states["with-intake"] == store.load_state(REF, "with-intake")          # the whole state
    for client in ("plain", "other", "nobody"):
        full = store.load_state(REF, client)
        assert states[client].intake is None and states[client].vocabulary == full.vocabulary
        # only the named notes the client has: n1 belongs to "plain", not to "other"
        assert states[client].notes == {k: v for k, v in full.notes.items() if k in wanted[client]}
    assert list(states["plain"].notes) == ["n2"] and states["other"].notes == {}


def doc(note_id, client, codes=(), final=False, **extra):
    resource = {"resourceType": "DocumentReference", "id": note_id, "status": "current",
                "docStatus": "final" if final else "preliminary",
                "meta": {"versionId": "1", "lastUpdated": "2026-02-01T10:00:00Z",
                         "tag": [{"system": SYSTEM, "code": c} for c in codes]},
                "date": f"2026-01-{len(note_id) + 3:02d}T10:00:00Z",
                "author": [{"reference": "Practitioner/t1"}],
                "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]}}
    if client:
        resource["subject"] = {"reference": f"Patient/{client}"}
    resource.update(extra)
    return fhir_events.keep(resource)


PAGES = [
    [doc("a1", "intake-client", ["step-forward"], final=True), doc("a2", "intake-client", ["setback"]),
     doc("p1", "plain", ["holding-steady"], final=True), doc("p2", "plain", ["step-forward"]),
     doc("p3", "plain", ["setback"], type={"coding": [{"system": "http://loinc.org", "code": "34746-8"}]}),
     doc("m1", "plain", ["stirring-up"]), doc("x1", None, ["setback"]), doc("u1", "plain", ["no-such-code"])],
    [doc("p1", "plain", ["setback"], final=True),               # signed, new tags: rejected
     doc("p2", "plain", ["step-forward"], final=True),          # signed with the tags it had
     doc("a2", "intake-client", [], status="entered-in-error"),  # deleted
     doc("d1", "plain", ["setback"]), doc("d1", "plain", ["step-forward"]),   # twice on one page
     doc("m1", "moved-to", ["stirring-up"]),                    # now another client's
     *[doc(f"a{i}", "intake-client", ["step-forward"], final=True) for i in range(3, 9)]],
]


def reference_page(store, conn, clinic_id, docs, now, write_back):
    """One state load per client and one ``apply`` per effect, as before pages were batched."""
    by_client: dict = {}
    for d in docs:
        event = fhir_events.document_event(clinic_id, d, now)
        if event is not None:
            by_client.setdefault(event.client_id, []).append(event)
    for client_id, events in by_client.items():
        state = store.load_state(clinic_id, client_id, conn=conn)
        for event in events:
            effects = handle(event, state)
            for effect in effects:
                store.apply(conn, effect, "backfill", now)
                if isinstance(effect, fx.TagNote):
                    state = replace(state, notes={**state.notes, effect.note.note_id: effect.note})
                elif isinstance(effect, fx.UntagNote):
                    state = replace(state, notes={k: v for k, v in state.notes.items() if k != effect.note_id})
            if write_back:
                writeback.enqueue(conn, effects, state.all_vocabularies(), now)


@pytest.mark.parametrize("write_back", [False, True])
def test_a_batched_page_stores_what_note_by_note_handling_stores(store, intake, write_back):
    for clinic in (REF, NEW):
        store.ensure_clinic(clinic, AT)
        with store.begin() as conn:
            for effect in handle(IntakeSubmitted(clinic, AT, "intake-client", intake, "t1"),
                                 store.load_state(clinic, "intake-client", conn=conn)):
                store.apply(conn, effect, "t", AT)
    for page in PAGES:
        with store.begin() as conn:
            reference_page(store, conn, REF, page, AT, write_back)
        with store.begin() as conn:
            backfill._page(store, conn, NEW, page, AT, write_back)
    ref, new = dump(store, REF), dump(store, NEW)
    ref_audit, new_audit = ref.pop("audit"), new.pop("audit")
    assert new == ref
    # A page audits its stored notes with one row; every other audit row is the same, in order.
    per_note = [a for a in ref_audit if a[1] in ("note.tag", "note.sign")]
    pages = [a for a in new_audit if a[1] == "backfill.page"]
    assert [a for a in new_audit if a[1] != "backfill.page"] == [a for a in ref_audit if a not in per_note]
    assert len(pages) == len(PAGES) and all(a[0] == "backfill" and a[3] == "ok" for a in pages)
    assert sum(int(a[2].split()[0].removeprefix("notes:")) for a in pages) == len(per_note)
    assert pages[0][2].startswith("notes:") and " first:a1 last:" in pages[0][2]
    actions = [a[1] for a in ref_audit]
    assert {"note.sign", "note.tag", "note.reject", "note.refuse", "note.delete"} <= set(actions)
    assert any("review" in key for key, _, _ in ref["outbox"]) == write_back       # review due after 4 sessions
    assert any(row.startswith('["m1", "moved-to"') for row in ref["notes"])


def test_reading_ahead_keeps_order_stops_early_and_passes_errors_on():
    assert list(backfill._ahead(iter(range(5)))) == [0, 1, 2, 3, 4]
    pulled = []

    def source():
        for i in range(100):
            pulled.append(i)
            yield i

    ahead = backfill._ahead(source())
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert len(pulled) <= 3                    # at most one item read beyond what was used

    def failing():
        yield 1
        raise RuntimeError("host went away")

    ahead = backfill._ahead(failing())
    assert next(ahead) == 1
    with pytest.raises(RuntimeError, match="host went away"):
        next(ahead)


def test_a_backfill_page_refuses_types_the_clinic_does_not_list(sqlite_store):
    sqlite_store.ensure_clinic(NEW, AT)
    other = {"coding": [{"system": "http://snomed.info/sct", "code": "371531000"}]}
    page = [doc("k1", "plain", ["setback"]), doc("k2", "plain", ["setback"], type=other),
            doc("k3", "plain", ["setback"], type={"text": "Psychotherapy_Note"})]
    with sqlite_store.begin() as conn:
        backfill._page(sqlite_store, conn, NEW, page, AT, False, readable_note_types={"11506-3"})
    assert set(sqlite_store.load_state(NEW, "plain").notes) == {"k1"}
    outcomes = {a["subject"].split()[1]: a["outcome"] for a in sqlite_store.audit_rows(NEW) if a["action"] == "note.refuse"}
    assert outcomes == {"note:k2": "refused-not-readable", "note:k3": "refused-protected"}

"""store/state.py's narrow read for pages: ``intake_and_notes`` says what ``load_state`` says of the
client's intake and notes (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import datetime, timezone

from progress_plugin import schemas
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.service.runtime import Runtime

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def same_as_the_state(store, client: str):
    state = store.load_state("clinic-a", client)
    intake, has_notes = store.intake_and_notes("clinic-a", client)
    assert (intake, has_notes) == (state.intake, bool(state.notes))
    return intake, has_notes


def test_intake_and_notes_agree_with_the_whole_state(store, intake, note_payload):
    runtime = Runtime(store, clock=lambda: NOW)
    store.ensure_clinic("clinic-a", NOW)
    assert same_as_the_state(store, "c1") == (None, False)
    runtime.dispatch(schemas.load(schemas.note_schema, note_payload(client_id="c1")))
    assert same_as_the_state(store, "c1") == (None, True)
    runtime.dispatch(IntakeSubmitted("clinic-a", NOW, "c2", intake, "t1"))
    got, has_notes = same_as_the_state(store, "c2")
    assert not has_notes and [g.words for g in got.goals] == ["Sleep through most nights", "Say no to my boss once"]
    assert same_as_the_state(store, "c1")[0] is None                      # another client's intake is not theirs


def test_for_tagging_reads_what_the_whole_state_holds_of_a_note(store):
    from tests.test_panel import seed_client
    runtime = Runtime(store, clock=lambda: NOW)
    ids = seed_client(runtime, "clinic-a", "c1", 12)
    seed_client(runtime, "clinic-a", "c2", 3)
    state = store.load_state("clinic-a", "c1")
    for note_id in ids:
        vocabulary, intake, record = store.for_tagging("clinic-a", "c1", note_id)
        assert (vocabulary, intake, record) == (state.vocabulary, state.intake, state.notes[note_id])
    assert any(len(state.notes[i].ratings) > 1 for i in ids)                 # a therapist's rating beside the client's
    assert store.for_tagging("clinic-a", "c1", "c2-n1")[2] is None          # another client's note is not theirs
    assert store.for_tagging("clinic-a", "c1", "nowhere")[2] is None

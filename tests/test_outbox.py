"""Outbox rows: one per effect key, backoff, dead letters, retry and drop (also from the CLI)."""
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from progress_plugin.core import effects as fx
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback
from progress_plugin.cli.main import main
from progress_plugin.core.intake import Goal
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.vocabulary import default

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def effects():
    note = NoteProgress("n1", "c1", NOW, "t1", (AppliedTag("setback", 1),), (Rating("g1", 4, note_id="n1", at=NOW),))
    return [fx.UpsertGoal("clinic-a", "c1", Goal("g1", "words", "client", 3, 1)), fx.TagNote("clinic-a", note),
            fx.RecordRating("clinic-a", "c1", note.ratings[0]), fx.RejectNote("clinic-a", "n2", {})]


def test_only_host_bound_effects_are_queued_once_per_key(store):
    with store.begin() as c:
        assert writeback.enqueue(c, effects(), {1: default()}, NOW) == 3
        assert writeback.enqueue(c, effects(), {1: default()}, NOW) == 0
        kinds = sorted(r["kind"] for r in outbox.rows(c, "pending"))
    assert kinds == ["tags", "upsert", "upsert"]


def test_a_put_looks_its_keys_up_at_once_and_writes_each_new_key_once_in_order(store):
    import sqlalchemy as sa
    looked = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda conn, cur, statement, *a: looked.append(statement)
                    if statement.lstrip().upper().startswith("SELECT") and "outbox" in statement else None)
    with store.begin() as c:
        rows = [("clinic-a", "c1", f"k{i}", "upsert", {"i": i}) for i in range(5)]
        assert outbox.put(c, rows + [("clinic-a", "c1", "k0", "upsert", {"i": "again"})], NOW) == 5
        assert len(looked) == 1                              # one look-up for the whole put, not one per row
        assert outbox.put(c, [("clinic-a", "c1", "k4", "upsert", {}), ("clinic-b", "c1", "k4", "upsert", {}),
                              ("clinic-a", "c1", "k5", "upsert", {})], NOW) == 2
        got = [(r["clinic_id"], r["key"]) for r in outbox.rows(c, "pending")]
        first = [r["payload"] for r in outbox.claim(c, "w", NOW, 30, 10) if r["key"] == "k0"]
    assert got == [("clinic-a", f"k{i}") for i in range(5)] + [("clinic-b", "k4"), ("clinic-a", "k5")]
    assert first == [{"i": 0}]                               # the first of a key repeated in one put


def test_tag_rows_carry_codings_with_version_and_label(store):
    with store.begin() as c:
        writeback.enqueue(c, effects(), {1: default()}, NOW)
        (row,) = [r for r in outbox.claim(c, "w", NOW, 30, 10) if r["kind"] == "tags"]
    assert row["payload"] == {"type": "DocumentReference", "id": "n1", "codings": [
        {"system": "https://progress-plugin.org/fhir/CodeSystem/progress-tags", "code": "setback", "version": "1",
         "display": "Setback"}]}


def test_backoff_grows_honours_retry_after_and_dies_after_max_attempts(store):
    with store.begin() as c:
        writeback.enqueue(c, effects()[:1], {}, NOW)
        row = outbox.claim(c, "w", NOW, 30, 1)[0]
        assert outbox.reschedule(c, row, "w", NOW, "503", None, 3) == "pending"
    with store.begin() as c:
        assert outbox.claim(c, "w", NOW, 30, 1) == []                   # not due yet
        row = outbox.claim(c, "w", NOW + timedelta(seconds=1), 30, 1)[0]
        assert row["attempts"] == 1
        outbox.reschedule(c, row, "w", NOW, "429", 20, 3)
        assert outbox.claim(c, "w", NOW + timedelta(seconds=19), 30, 1) == []
        row = outbox.claim(c, "w", NOW + timedelta(seconds=21), 30, 1)[0]
        assert outbox.reschedule(c, row, "w", NOW, "503 again", None, 3) == "dead"
        assert outbox.counts(c) == {"dead": 1}


@pytest.fixture
def dead_store(sqlite_store):
    with sqlite_store.begin() as c:
        writeback.enqueue(c, effects(), {1: default()}, NOW)
        for row in outbox.claim(c, "w", NOW, 30, 10):
            outbox.dead(c, row, "w", NOW, "HostRejected: 422")
    return sqlite_store


def test_cli_lists_retries_and_drops_dead_letters(dead_store, sqlite_url):
    runner = CliRunner()
    listed = runner.invoke(main, ["--store", sqlite_url, "outbox", "list"])
    assert listed.exit_code == 0 and listed.output.count("HostRejected: 422") == 3 and "dead=3" in listed.output
    assert runner.invoke(main, ["--store", sqlite_url, "outbox", "retry"]).exit_code == 2    # needs ids or --all
    retried = runner.invoke(main, ["--store", sqlite_url, "outbox", "retry", "1"])
    assert retried.exit_code == 0 and "requeued: 1" in retried.output
    dropped = runner.invoke(main, ["--store", sqlite_url, "outbox", "drop", "2", "3"])
    assert "dropped: 2" in dropped.output
    with dead_store.begin() as c:
        assert outbox.counts(c) == {"pending": 1}
    actions = [r["action"] for r in dead_store.audit_rows()]
    assert "outbox.retry" in actions and "outbox.drop" in actions


def test_any_due_says_what_a_claim_for_the_target_would_find(store):
    """A SMART page skips its claim when ``any_due`` says no: it must never say no to a row the claim takes."""
    target, at = "smart:ehr1", NOW
    with store.begin() as c:
        assert not outbox.any_due(c, at, target)                              # nothing queued
        outbox.put(c, [("clinic-a", "c1", "k-host", "upsert", {})], at)       # the configured host's row
        assert not outbox.any_due(c, at, target)
        outbox.put(c, [("clinic-a", "c1", "k1", "upsert", {})], at, target=target)
        assert outbox.any_due(c, at, target) and not outbox.any_due(c, at, "smart:other")
        assert not outbox.any_due(c, at - timedelta(seconds=1), target)      # not due yet
        (row,) = outbox.claim(c, "page", at, 30, 10, target=target)
        assert not outbox.any_due(c, at + timedelta(seconds=10), target)     # leased
        assert outbox.any_due(c, at + timedelta(seconds=31), target)         # its lease ran out
        outbox.reschedule(c, row, "page", at, "HostUnavailable status=503", None, 12)
        assert not outbox.any_due(c, at, target) and outbox.any_due(c, at + timedelta(seconds=2), target)
        (row,) = outbox.claim(c, "page", at + timedelta(seconds=2), 30, 10, target=target)
        outbox.done(c, row["id"], "page", at + timedelta(seconds=2))
        assert not outbox.any_due(c, at + timedelta(days=1), target)
        assert outbox.claim(c, "page", at + timedelta(days=1), 30, 10, target=target) == []

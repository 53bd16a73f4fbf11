"""``Store.purge``: exact matching, every note, and no byte of the client's words left in any store file.

The SQLite files are read by a separate process: opening the database file (or its ``-wal``
or ``-shm``) in this one would drop the POSIX locks SQLite holds on it here. On PostgreSQL
the table files are read from the test cluster's data folder after a checkpoint.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from progress_plugin.core import effects as fx
from progress_plugin import schemas
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback
from progress_plugin.store import tables as t
from progress_plugin.errors import NotFound
from progress_plugin.core.events import CheckinSubmitted, IntakeSubmitted
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.notes import Rating
from progress_plugin.store import checkins
from progress_plugin.core.notes import AppliedTag, NoteProgress
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store

AT = datetime(2026, 1, 5, tzinfo=timezone.utc)
CLINIC = "clinic-a"

# Client ids that a LIKE pattern, or a prefix, would confuse with one another.
TRICKY = ["xss-client-1", "xss_client_1", "%", "c1", "c1/x", "c10", "c_"]


def canary(client_id: str) -> str:
    """A word no other client's words contain, and no other canary is a part of."""
    return f"QZX{TRICKY.index(client_id):02d}CANARYWORD"


def seed(store: Store, now, intake_payload, note_payload, clients=TRICKY, notes=2) -> dict:
    """Each client: an intake whose goals and answers hold its canary, rated notes, write-backs
    queued (some sent, so their payloads were rewritten), and an event waiting in the inbox.

    Returns each outbox row's client (None for the clinic's shared rows), by row id."""
    runtime = Runtime(store, clock=lambda: now,
                      on_effects=lambda conn, effects, state: writeback.enqueue(conn, effects,
                                                                             state.all_vocabularies(), now))
    for cid in clients:
        word = canary(cid)
        intake = schemas.load(schemas.intake_schema, intake_payload(
            goals=[{"words": f"{word} sleep", "whose": "client", "baseline": 3, "rank": 1},
                   {"words": f"say no {word}", "whose": "client", "baseline": 2, "rank": 2}],
            better_looks_like=f"better {word}", small_shift=f"{word} shift",
            # c1's answers run past a page: its rows and payloads spill into overflow pages,
            # which a delete hands to the freelist.
            **({"if_stirred_up": f"{word} stirred " * 80, "therapist_view": f"{word} view " * 90}
               if cid == "c1" else {})))
        runtime.dispatch(IntakeSubmitted(CLINIC, AT, cid, intake, "t1"))
        for _ in range(notes):
            runtime.dispatch(schemas.load(schemas.note_schema, note_payload(
                [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}],
                client_id=cid, note_id=f"{cid}/n{next_note()}")))
        with store.begin() as c:
            inbox.put(c, CLINIC, f"e-{cid}", "intake.submitted", {"client_id": cid, "words": word}, now)
            inbox.put(c, CLINIC, f"done-{cid}", "intake.submitted", {"client_id": cid, "words": word}, now)
    owners = outbox_owners(store)
    with store.begin() as c:          # half the write-backs reached the host: their payloads were cleared
        claimed = outbox.claim(c, "w", now, 30, 10_000)
        outbox.done_many(c, [r["id"] for r in claimed[::2]], "w", now)
        for row in inbox.claim(c, "w", now, 30, 10_000):
            if row["event_id"].startswith("done-"):
                inbox.finish(c, row["id"], "w", now)
    return owners


_notes = iter(range(1, 10**9))


def next_note() -> int:
    return next(_notes)


def outbox_owners(store) -> dict:
    """Outbox row id -> its client, read from the payload's Patient reference or the tagged note's id."""
    with store.engine.connect() as c:
        rows = c.execute(sa.select(t.outbox.c.id, t.outbox.c.payload)).all()
    owners = {}
    for r in rows:
        text = json.dumps(r.payload)
        found = [cid for cid in TRICKY if f'"Patient/{cid}"' in text or r.payload.get("id", "").startswith(f"{cid}/n")]
        assert len(found) <= 1, (r.payload, found)
        owners[r.id] = found[0] if found else None
    return owners


def outbox_ids(store) -> set:
    with store.engine.connect() as c:
        return {r[0] for r in c.execute(sa.select(t.outbox.c.id))}


def inbox_events(store) -> list[str]:
    with store.engine.connect() as c:
        return sorted(r[0] for r in c.execute(sa.select(t.inbox.c.event_id)))


#: The clients a check-in link can be made for (its ids are letters, digits, '.', '_', ':' or '-').
LINKABLE = [cid for cid in TRICKY if checkins.ID_RE.match(cid)]
CHECKIN_TABLES = (t.checkin_links, t.checkin_sessions, t.session_checks)


def seed_checkins(store: Store, now) -> None:
    """Each linkable client: a check-in link, a session opened with it, and a check-in sent."""
    runtime = Runtime(store, clock=lambda: now)
    for cid in LINKABLE:
        _, token = checkins.create_link(store, CLINIC, cid, now, timedelta(days=7), "t1")
        assert checkins.open_session(store, token, now, timedelta(hours=1))[2] == "ok"
        checkin_id = f"checkin:{cid}"
        runtime.dispatch(CheckinSubmitted(CLINIC, now, cid, Checkin(
            checkin_id, now, (Rating("g1", 6, "client", None, checkin_id, now, "self"),), SessionCheck(3, 4, 5, 6))))


def checkin_owners(store) -> dict[str, list[str]]:
    with store.engine.connect() as c:
        return {table.name: sorted(r[0] for r in c.execute(sa.select(table.c.client_id)))
                for table in CHECKIN_TABLES}


# -- exact matching -------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["xss_client_1", "%", "c1", "c_"])
def test_purge_matches_the_client_exactly(store, now, intake_payload, note_payload, target):
    owners = seed(store, now, intake_payload, note_payload)
    seed_checkins(store, now)
    assert set(owners.values()) == {None, *TRICKY}
    assert checkin_owners(store) == {table.name: sorted(LINKABLE) for table in CHECKIN_TABLES}
    result = store.purge(CLINIC, target, "privacy-officer", now)
    # the client's check-in links, their sessions and session checks went; every other client's stayed
    assert checkin_owners(store) == {table.name: sorted(c for c in LINKABLE if c != target) for table in CHECKIN_TABLES}
    left, others = outbox_ids(store), {i for i, cid in owners.items() if cid != target}
    assert sorted(owners[i] for i in others - left) == []        # no other client's write-back went
    assert sorted(owners[i] for i in left - others) == []        # none of the client's stayed, sent or not
    for cid in TRICKY:
        state = store.load_state(CLINIC, cid)
        if cid == target:
            assert state.intake is None and state.notes == {}
        else:
            assert [g.words for g in state.intake.goals] == [f"{canary(cid)} sleep", f"say no {canary(cid)}"]
            assert len(state.notes) == 2
    assert inbox_events(store) == sorted([f"e-{c}" for c in TRICKY if c != target] + [f"done-{c}" for c in TRICKY])
    assert result.counts["intakes"] == 1 and result.counts["goals"] == 2 and result.counts["notes"] == 2
    assert result.counts["inbox"] == 1
    mine = int(target in LINKABLE)
    assert [result.counts[table.name] for table in CHECKIN_TABLES] == [mine, mine, mine]
    assert result.counts["outbox"] == sum(1 for cid in owners.values() if cid == target)


def test_purge_covers_every_note_of_a_client_however_many(store, now):
    """Pending tag write-backs of all 1,205 notes go, not those of the first 1,000."""
    store.ensure_clinic(CLINIC, now)
    vocab = store.vocabulary(CLINIC)

    def notes(cid, n):
        return [fx.TagNote(CLINIC, NoteProgress(f"{cid}-n{i}", cid, AT, "t1", (AppliedTag("step-forward", 1),)))
                for i in range(n)]
    effects = notes("big", 1205) + notes("small", 3)
    with store.begin() as c:
        store.apply_all(c, effects, "t1", now)
        assert writeback.enqueue(c, effects, {1: vocab}, now) == 1208
    result = store.purge(CLINIC, "big", "privacy-officer", now)
    assert result.counts["notes"] == 1205 and result.counts["note_tags"] == 1205 and result.counts["outbox"] == 1205
    with store.engine.connect() as c:
        left = [r.payload["id"] for r in c.execute(sa.select(t.outbox.c.payload))]
    assert sorted(left) == ["small-n0", "small-n1", "small-n2"]


def test_purge_of_an_unknown_clinic_or_client_is_an_error(store, now, intake_payload, note_payload):
    seed(store, now, intake_payload, note_payload, clients=["c1"])
    with pytest.raises(NotFound, match="no clinic 'nowhere'"):
        store.purge("nowhere", "c1", "privacy-officer", now)
    with pytest.raises(NotFound, match="no client 'C1' in clinic 'clinic-a'"):
        store.purge(CLINIC, "C1", "privacy-officer", now)
    with pytest.raises(NotFound):
        store.purge(CLINIC, "c%", "privacy-officer", now)
    assert store.load_state(CLINIC, "c1").intake is not None
    assert not [r for r in store.audit_rows() if r["action"].startswith("client.")]


def test_purge_audits_the_counts_and_the_erasure_without_words(store, now, intake_payload, note_payload):
    seed(store, now, intake_payload, note_payload, clients=["c1", "c10"])
    result = store.purge(CLINIC, "c1", "privacy-officer", now)
    assert result.erased, result.detail
    rows = [r for r in store.audit_rows(CLINIC) if r["action"].startswith("client.")]
    assert [(r["action"], r["outcome"], r["actor"]) for r in rows] == [
        ("client.purge", "ok", "privacy-officer"), ("client.erase", "ok", "privacy-officer")]
    assert rows[0]["subject"].startswith("client:c1 ") and "notes=2" in rows[0]["subject"]
    assert ("wal=truncated" if store.dialect == "sqlite" else "vacuum=") in rows[1]["subject"]
    assert "CANARY" not in str(store.audit_rows())


# -- no byte left: SQLite -------------------------------------------------------------------
COUNT_BYTES = r"""
import json, os, sys
path, words = sys.argv[1], json.loads(sys.argv[2])
out = {}
for suffix in ("", "-wal", "-shm"):
    name = path + suffix
    data = open(name, "rb").read() if os.path.exists(name) else None
    out[suffix or "db"] = None if data is None else {w: data.count(w.encode()) for w in words}
print(json.dumps(out))
"""


def raw_counts(path: str, words: list[str]) -> dict:
    """Occurrences of each word in the raw bytes of the database file, its -wal and its -shm,
    counted by another process (so no file of the store is opened in this one)."""
    out = subprocess.run([sys.executable, "-c", COUNT_BYTES, path, json.dumps(words)],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_no_byte_of_the_clients_words_is_left_in_any_sqlite_file(sqlite_url, tmp_path, now, intake_payload,
                                                                 note_payload):
    path = str(tmp_path / "progress.db")
    store = Store.open(sqlite_url)
    try:
        seed(store, now, intake_payload, note_payload)
        words = [canary(c) for c in TRICKY]
        before = raw_counts(path, words)
        assert sum(f[canary("c1")] for f in before.values() if f) > 10     # planted, and in the files
        assert before["-wal"] is not None and before["-wal"][canary("c1")] > 0
        result = store.purge(CLINIC, "c1", "privacy-officer", now)
        assert result.erased and "wal=truncated" in result.detail
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA freelist_count").scalar() > 0     # freed pages are in the file
        after = raw_counts(path, words)       # the store is still open: its -wal and -shm exist
        assert after["-wal"] is not None and after["-shm"] is not None
        for name, found in after.items():
            assert found[canary("c1")] == 0, (name, found)
        for cid in TRICKY:
            if cid != "c1":
                assert sum(found[canary(cid)] for found in after.values()) >= 1, cid
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.close()


HOLD_READ = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT count(*) FROM goals").fetchall()
print("reading", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
conn.close()
"""


def test_a_reader_in_another_process_is_waited_for_and_reported(sqlite_url, tmp_path, now, intake_payload,
                                                                note_payload):
    path = str(tmp_path / "progress.db")
    store = Store.open(sqlite_url)
    reader = None
    try:
        seed(store, now, intake_payload, note_payload, clients=["c1", "c10"])
        reader = subprocess.Popen([sys.executable, "-c", HOLD_READ, path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout.readline().strip() == "reading"
        result = store.purge(CLINIC, "c1", "privacy-officer", now, wait=0.5)
        assert not result.erased and "wal=not-truncated" in result.detail
        erase = [r for r in store.audit_rows(CLINIC) if r["action"] == "client.erase"]
        assert [r["outcome"] for r in erase] == ["incomplete"]
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(timeout=30) == 0
        finished = store.erase(wait=5)
        assert finished.erased and "wal=truncated" in finished.detail
        after = raw_counts(path, [canary("c1"), canary("c10")])
        assert all(found[canary("c1")] == 0 for found in after.values()), after
        assert sum(found[canary("c10")] for found in after.values()) >= 1
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        if reader is not None and reader.poll() is None:
            reader.kill()
            reader.wait()
        store.close()


def secure_delete_off(engine):
    """Make ``engine``'s connections start with secure_delete off, as SQLite builds without
    SQLITE_SECURE_DELETE do (Debian's turns it on by default; others, Python's own among them, don't)."""
    @sa.event.listens_for(engine, "connect", insert=True)
    def _off(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA secure_delete=OFF")


def test_every_sqlite_connection_zeroes_what_it_deletes_whatever_the_build(sqlite_url):
    store = Store.open(sqlite_url)
    try:
        secure_delete_off(store.engine)
        store.engine.dispose()
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    finally:
        store.close()


def test_rebuild_clears_what_an_earlier_version_freed_without_zeroing(sqlite_url, tmp_path, now, intake_payload,
                                                                     note_payload):
    """A store written with secure_delete off keeps freed copies (sent payloads, replaced cells);
    ``rebuild`` (VACUUM) clears them too."""
    path = str(tmp_path / "progress.db")
    Store.open(sqlite_url).close()
    earlier = Store(sa.create_engine(sqlite_url))
    secure_delete_off(earlier.engine)
    seed(earlier, now, intake_payload, note_payload)
    earlier.close()
    store = Store.open(sqlite_url)
    try:
        assert store.purge(CLINIC, "c1", "privacy-officer", now).erased
        left = raw_counts(path, [canary("c1")])
        assert sum(found[canary("c1")] for found in left.values()) > 0      # freed earlier, never zeroed
        erased = store.erase(wait=5, rebuild=True)
        assert erased.erased and erased.detail == "vacuum=done wal=truncated"
        after = raw_counts(path, [canary(cid) for cid in TRICKY])
        assert all(found[canary("c1")] == 0 for found in after.values()), after
        for cid in TRICKY:
            if cid != "c1":
                assert sum(found[canary(cid)] for found in after.values()) >= 1, cid
                assert store.load_state(CLINIC, cid).intake is not None
    finally:
        store.close()


# -- no byte left: PostgreSQL ---------------------------------------------------------------
def relation_bytes(cluster, conn, table: str) -> bytes:
    """The raw bytes of a table's heap and TOAST files (every segment, every partition), read from
    the data folder."""
    data = b""
    paths = []
    for leaf in conn.exec_driver_sql(f"SELECT relid::text FROM pg_partition_tree('{table}') WHERE isleaf").scalars():
        paths.append(conn.exec_driver_sql(f"SELECT pg_relation_filepath('{leaf}')").scalar())
        toast = conn.exec_driver_sql(
            f"SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = '{leaf}'::regclass").scalar()
        if toast and toast != "-":
            paths.append(conn.exec_driver_sql(f"SELECT pg_relation_filepath('{toast}')").scalar())
    for rel in paths:
        base = os.path.join(cluster.data, rel)
        segment, name = 0, base
        while os.path.exists(name):
            with open(name, "rb") as f:
                data += f.read()
            segment += 1
            name = f"{base}.{segment}"
    return data


def test_no_byte_of_the_clients_words_is_left_in_the_postgresql_tables(pg_cluster, pg_url, now, intake_payload,
                                                                       note_payload):
    store = Store.open(pg_url)
    try:
        seed(store, now, intake_payload, note_payload)
        tables = ["goals", "intakes", "outbox", "inbox", "notes", "note_tags", "ratings"]

        def counts():
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("CHECKPOINT")
                raw = b"".join(relation_bytes(pg_cluster, c, name) for name in tables)
            return {cid: raw.count(canary(cid).encode()) for cid in TRICKY}
        assert counts()["c1"] > 5
        result = store.purge(CLINIC, "c1", "privacy-officer", now)
        assert result.erased, result.detail
        assert "vacuum=" in result.detail
        after = counts()
        assert after["c1"] == 0, after
        assert all(after[cid] >= 1 for cid in TRICKY if cid != "c1"), after
    finally:
        store.close()


# -- the upgrade that adds outbox.client_id --------------------------------------------------
def test_upgrade_gives_queued_rows_their_client(store_url, now):
    """Rows queued before ``outbox.client_id`` existed get it from the payload, or from the key
    in the formats effects.py wrote; a key two known clients could have written stays unowned."""
    from progress_plugin.store.migrate import upgrade
    from progress_plugin.store.engine import make_engine, migration_heads
    engine = make_engine(store_url)
    upgrade(engine, "0004p")
    shared = {"clinic_id": "k", "status": "done", "attempts": 1, "next_attempt_at": now, "created_at": now,
              "updated_at": now}
    rows = {   # key: (payload, the client it must get)
        "goal/k/a/b/g1/active/": ({"resource": {"resourceType": "Goal", "subject": {"reference": "Patient/a/b"}}},
                                  "a/b"),
        "goal/k/a/b/g2/active/": ({}, "a/b"),
        "rating/k/x/g1/n1/client/5/None": ({}, "x"),
        "rating/k/p/q/g1/n/1/client/5/None": ({}, "p/q"),
        "rating/k/m/n/g1/s/client/5/None": ({}, None),          # client "m" note "n/s", or "m/n" note "s"
        "review/k/c%/2026-01-05T00:00:00+00:00": ({}, "c%"),
        "intake/k/i_1/intake/9": ({}, "i_1"),
        "tags/k/n/7/step-forward@1,setback@1": ({}, "t1"),
        "tags/k/n/8/step-forward@1": ({"type": "DocumentReference", "id": "n/8", "codings": []}, "t1"),
        "questionnaire/2": ({"resource": {"resourceType": "Questionnaire"}}, None),
        "vocabulary/k/2/codesystem": ({}, None),
    }
    with engine.begin() as c:
        c.execute(t.outbox.insert(), [{**shared, "key": key, "kind": "upsert", "payload": payload}
                                      for key, (payload, _) in rows.items()])
        c.execute(t.notes.insert(), [{"clinic_id": "k", "note_id": n, "client_id": "t1", "session_at": now,
                                      "author": "t", "signed": False, "recorded_at": now} for n in ("n/7", "n/8")])
        c.execute(t.intakes.insert(), [{
            "clinic_id": "k", "client_id": cid, "intake_id": iid, "definition_version": "2",
            "review_cadence": "every-session", "agreed": True, "agreed_on": now, "goals_reviewed": True,
            "answers": {}, "author": "t", "submitted_at": now} for cid, iid in
            [("i_1", "intake/9"), ("i", "other"), ("p/q", "q1"), ("m", "m1"), ("m/n", "m2")]])
    upgrade(engine, "head")
    with engine.connect() as c:
        got = {r.key: r.client_id for r in c.execute(sa.select(t.outbox.c.key, t.outbox.c.client_id))}
        heads = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    assert got == {key: client for key, (_, client) in rows.items()}
    assert heads == sorted(migration_heads())


def test_upgrade_keeps_every_rating_and_gives_it_the_session_origin(store_url, now):
    """Ratings stored before ``ratings.origin`` existed keep value, goal, rater and session, and read
    back as given in the session."""
    from progress_plugin.store.migrate import upgrade
    from progress_plugin.store.engine import make_engine
    engine = make_engine(store_url)
    upgrade(engine, "0004v")
    rows = [{"clinic_id": "k", "client_id": c, "goal_id": g, "source": s, "rater": r, "value": v, "level": lv,
             "rated_at": now} for c, g, s, r, v, lv in [
                ("a", "g1", "baseline", "client", 3, None), ("a", "g1", "n1", "client", 6, None),
                ("a", "g1", "n1", "therapist", 5, None), ("a", "g2", "n2", "client", None, 1),
                ("b", "g1", "n3", "client", 0, None)]]
    with engine.begin() as c:
        c.execute(t.ratings.insert(), rows)
    upgrade(engine, "head")
    with engine.connect() as c:
        got = [dict(r._mapping) for r in c.execute(sa.select(t.ratings).order_by(
            t.ratings.c.client_id, t.ratings.c.goal_id, t.ratings.c.source, t.ratings.c.rater))]
    engine.dispose()
    key = ("client_id", "goal_id", "source", "rater", "value", "level")
    assert [tuple(r[k] for k in key) for r in got] == sorted(tuple(r[k] for k in key) for r in rows)
    assert {r["origin"] for r in got} == {"session"} and len(got) == len(rows)


def test_upgrade_keeps_every_goal_and_none_reads_as_replaced(store_url, now):
    """Goals stored before goal history existed keep every value and read back with nothing replaced."""
    from progress_plugin.store.migrate import upgrade
    from progress_plugin.store.engine import make_engine
    engine = make_engine(store_url)
    upgrade(engine, "0005g")
    rows = [{"clinic_id": "k", "client_id": c, "goal_id": g, "rank": rk, "words": w, "whose": wh, "baseline": b,
             "status": st, "updated_at": now} for c, g, rk, w, wh, b, st in [
                ("a", "g1", 1, "Sleep through", "client", 3, "active"), ("a", "g2", 2, "Walk out", "carer", 2, "dropped"),
                ("b", "g1", 1, "Speak up", "client", 0, "completed")]]
    with engine.begin() as c:
        c.execute(t.goals.insert(), rows)
    upgrade(engine, "head")
    with engine.connect() as c:
        got = [dict(r._mapping) for r in c.execute(sa.select(t.goals).order_by(t.goals.c.client_id, t.goals.c.goal_id))]
    engine.dispose()
    key = ("client_id", "goal_id", "rank", "words", "whose", "baseline", "status")
    assert [tuple(r[k] for k in key) for r in got] == [tuple(r[k] for k in key) for r in rows]
    assert {(r["replaces"], r["replaced_by"], r["since"]) for r in got} == {(None, None, None)}

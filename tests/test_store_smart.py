"""SMART launches in the store, shared by several processes: a state is taken once, whoever races for it,
on SQLite and PostgreSQL; sessions are seen by every process and end cleanly."""
from __future__ import annotations

import multiprocessing
from datetime import timedelta

from progress_plugin.store import Store
from progress_plugin.store import smart as rows


def _take(url: str, state: str, now, start, out) -> None:
    store = Store.open(url, migrate=False)
    start.wait(10)
    out.put(rows.take_request(store, state, now)[1])
    store.close()


def test_a_state_is_taken_once_by_racing_processes(store, store_url, now):
    rows.put_request(store, "the-state", "fake", "sealed", "intake", now, timedelta(minutes=10))
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_take, args=(store_url, "the-state", now, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    results = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert results == ["ok", "used", "used", "used"]
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_requests_are_kept_by_digest_and_end(store, now):
    rows.put_request(store, "s1", "fake", "sealed", None, now, timedelta(minutes=10))
    with store.engine.connect() as c:
        keys = [r[0] for r in c.exec_driver_sql("SELECT key FROM smart_requests")]
    assert keys == [rows.digest("s1")]
    assert rows.take_request(store, "s1", now + timedelta(minutes=11))[1] == "expired"
    assert rows.take_request(store, "nope", now) == (None, "unknown")
    assert rows.take_request(store, None, now) == (None, "unknown")


def test_a_session_is_seen_by_another_store_and_ends_once(store, store_url, now):
    sid = rows.start_session(store, ehr_id="fake", clinic_id="clinic-a", context={"patient": "p1"}, scopes="launch",
                             sealed="sealed", token_expires_at=now + timedelta(hours=1), now=now,
                             lifetime=timedelta(hours=8), actor="Practitioner/9", subject="patient:p1")
    other = Store.open(store_url)
    found = rows.find_session(other, sid, now + timedelta(minutes=5))
    assert found is not None and found.context == {"patient": "p1"} and found.clinic_id == "clinic-a"
    assert rows.replace_tokens(other, found.key, "sealed", "sealed-2", now + timedelta(hours=2))
    assert not rows.replace_tokens(store, found.key, "sealed", "sealed-3", now)      # lost the race: no change
    assert rows.read_session(store, found.key).tokens == "sealed-2"
    assert rows.find_session(store, sid, now + timedelta(hours=9)) is None             # past its end: gone
    assert rows.count_sessions(store) == 0
    assert not rows.end_session(other, found.key, now, "x", "signed-out")
    other.close()


def test_a_session_is_read_with_its_clinics_language_as_it_is_now(store, now):
    sid = rows.start_session(store, ehr_id="fake", clinic_id="clinic-a", context={"patient": "p1"}, scopes="launch",
                             sealed="sealed", token_expires_at=now + timedelta(hours=1), now=now,
                             lifetime=timedelta(hours=8), actor="Practitioner/9", subject="patient:p1")
    assert rows.find_session(store, sid, now).language is None                        # no clinic row yet: English
    store.ensure_clinic("clinic-a", now, language="hi")
    assert rows.find_session(store, sid, now).language == "hi"
    store.ensure_clinic("clinic-a", now, language="en")
    assert rows.find_session(store, sid, now).language == "en"

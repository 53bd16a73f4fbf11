"""Group commit (progress_plugin.store.group_commit) and the receiver on it: a 2xx means committed.

The unit tests run threads against one store (SQLite file and PostgreSQL). The crash test
runs the service under gunicorn (gthread workers, so requests share commits), posts signed
events from several threads, kills every gunicorn process with SIGKILL in the middle of the
load, and then finds every event that got a 2xx in the inbox (and, on SQLite, a database
that passes ``PRAGMA integrity_check``).
"""
from __future__ import annotations

import json
import threading
import time
import uuid

import requests
import sqlalchemy as sa

from progress_plugin.store import inbox
from progress_plugin.store import tables as t
from progress_plugin.store.group_commit import GroupCommit
from progress_plugin.web.signatures import sign_standard
from tests import e2e
from tests.conftest import SECRET

NOW = __import__("datetime").datetime(2026, 2, 1, tzinfo=__import__("datetime").timezone.utc)


def _put(event_id):
    return lambda conn: inbox.put(conn, "clinic-a", event_id, "note.signed", {"n": event_id}, NOW)


def _events(store) -> set[str]:
    with store.engine.connect() as c:
        return {r[0] for r in c.execute(sa.select(t.inbox.c.event_id))}


def _barrier_writes(group: GroupCommit, n: int, make) -> list:
    """``n`` threads call ``group.run`` together; their results (or exceptions), in order."""
    out = [None] * n
    start = threading.Barrier(n)

    def go(i):
        start.wait()
        try:
            out[i] = group.run(make(i))
        except Exception as exc:      # noqa: BLE001 (the test looks at it)
            out[i] = exc
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    return out


def test_concurrent_writes_are_committed_in_fewer_transactions_and_each_gets_its_result(store):
    store.ensure_clinic("clinic-a", NOW)
    group = GroupCommit(store.engine)
    slow = threading.Event()

    def make(i):
        def write(conn):
            if i == 0:
                slow.wait(0.3)          # the first group is slow: the others queue up behind it
            return inbox.put(conn, "clinic-a", f"e{i}", "note.signed", {}, NOW)
        return write
    results = _barrier_writes(group, 12, make)
    assert results == [True] * 12
    assert group.writes == 12 and group.groups < 12
    assert _events(store) == {f"e{i}" for i in range(12)}
    assert group.run(_put("e3")) is False                      # a duplicate: committed, nothing written


def test_a_failing_write_fails_alone_and_the_rest_of_its_group_is_committed(store):
    store.ensure_clinic("clinic-a", NOW)
    group = GroupCommit(store.engine)
    hold = threading.Event()

    def make(i):
        def write(conn):
            if i == 0:
                hold.wait(0.3)
            if i == 5:
                raise ValueError("bad write")
            return inbox.put(conn, "clinic-a", f"f{i}", "note.signed", {}, NOW)
        return write
    results = _barrier_writes(group, 10, make)
    assert isinstance(results[5], ValueError)
    assert [r for i, r in enumerate(results) if i != 5] == [True] * 9
    assert _events(store) == {f"f{i}" for i in range(10) if i != 5}


def test_when_the_commit_fails_no_caller_is_told_it_was_committed(store, monkeypatch):
    store.ensure_clinic("clinic-a", NOW)
    group = GroupCommit(store.engine)

    def no_commit(dbapi_connection):
        raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))
    monkeypatch.setattr(store.engine.dialect, "do_commit", no_commit)
    results = _barrier_writes(group, 4, lambda i: _put(f"g{i}"))
    monkeypatch.undo()
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    assert _events(store) == set()


def test_groups_run_on_one_kept_connection_and_a_failed_group_leaves_it(store):
    store.ensure_clinic("clinic-a", NOW)
    group = GroupCommit(store.engine)
    assert group.run(_put("k1")) is True
    kept = group._conn
    assert group.run(_put("k2")) is True and group._conn is kept

    def broken(conn):
        raise RuntimeError("no")
    try:
        group.run(broken)
    except RuntimeError:
        pass
    assert group._conn is not kept and kept.closed
    assert group.run(_put("k3")) is True and _events(store) == {"k1", "k2", "k3"}
    group.close()
    assert group._conn is None


def test_a_sqlite_store_orders_its_receivers_with_a_lock_file_beside_the_database(tmp_path):
    from progress_plugin.store import Store
    store = Store.open(f"sqlite:///{tmp_path / 'progress.db'}")
    store.ensure_clinic("clinic-a", NOW)
    assert store.grouped(_put("h1")) is True
    lock = tmp_path / "progress.db.commit-lock"
    assert lock.exists() and lock.stat().st_mode & 0o777 == 0o600
    store.close()


# -- kill -9 under load -------------------------------------------------------------------
def _course(n: int) -> list[tuple[str, dict]]:
    events, _ = e2e.scenario(lambda: f"doc-{uuid.uuid4().hex[:10]}", clients=max(1, n // 10), notes_per_client=9)
    return events


def _sender(url: str, events, acknowledged: list, stop: threading.Event, offset: int, step: int) -> None:
    http = requests.Session()
    for i in range(offset, len(events), step):
        if stop.is_set():
            break
        kind, data = events[i]
        event_id = f"evt_{i}_{uuid.uuid4().hex[:8]}"
        body = json.dumps({"type": kind, "timestamp": "2026-02-01T00:00:00Z", "data": data}).encode()
        headers = {**sign_standard(SECRET, event_id, int(time.time()), body), "Content-Type": "application/json"}
        try:
            r = http.post(url, data=body, headers=headers, timeout=5)
        except requests.RequestException:
            continue                      # the service died under this request: no answer, no promise
        if 200 <= r.status_code < 300:
            acknowledged.append(event_id)


def test_every_event_answered_2xx_is_in_the_inbox_after_kill_9_under_load(store_url, tmp_path):
    config = e2e.write_config(tmp_path, store_url, "http://127.0.0.1:9/fhir", SECRET)
    service = e2e.Service(config, workers=2, threads=4)
    events = _course(4000)
    acknowledged: list[str] = []
    stop = threading.Event()
    url = f"{service.url}/webhooks/clinic-a"
    senders = [threading.Thread(target=_sender, args=(url, events, acknowledged, stop, k, 8), daemon=True)
               for k in range(8)]
    try:
        for s in senders:
            s.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        service.kill9()                   # in the middle of the load: requests in flight, groups open
        answered_before_kill = len(acknowledged)
    finally:
        stop.set()
        for s in senders:
            s.join(30)
        service.stop()
    assert answered_before_kill >= 300, "the load never got going"
    assert len(acknowledged) < len(events), "the service was killed after the load had ended"
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as c:
            stored = {r[0] for r in c.execute(sa.select(t.inbox.c.event_id))}
            if engine.dialect.name == "sqlite":
                assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events are not in the inbox"


def test_postgresql_writes_keep_their_thread_connection_and_outlive_a_lost_one(pg_url):
    """On PostgreSQL a thread's writes share one kept connection (no pool checkout, no ping);
    when the server drops it, the next write runs once more on a new one, and a failed commit
    is never run twice."""
    from progress_plugin.store import Store
    store = Store.open(pg_url)
    store.ensure_clinic("clinic-a", NOW)
    backend = lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()   # noqa: E731
    first = store.grouped(backend)
    assert store.grouped(backend) == first
    with store.engine.connect() as c:
        assert c.exec_driver_sql(f"SELECT pg_terminate_backend({first})").scalar() is True
    time.sleep(0.2)
    assert store.grouped(_put("p1")) is True
    assert store.grouped(backend) != first
    calls = []

    def counted(conn):
        calls.append(1)
        return inbox.put(conn, "clinic-a", "p2", "note.signed", {}, NOW)
    original = store.engine.dialect.do_commit

    def no_commit(dbapi_connection):
        raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))
    store.engine.dialect.do_commit = no_commit
    try:
        store.grouped(counted)
    except sa.exc.OperationalError:
        pass
    else:
        raise AssertionError("a failed commit was answered")
    finally:
        store.engine.dialect.do_commit = original
    assert calls == [1] and _events(store) == {"p1"}
    store.close()

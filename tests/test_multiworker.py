"""Scale-out: 4 worker processes on one PostgreSQL drain 2,000 events; 2 are killed -9 midway.

The test runs twice: with every process connected to PostgreSQL directly, and with every
process (migrations, the service, the workers) going through PgBouncer in transaction mode
(tests/pgbouncer.py: Debian's pgbouncer, 4 server connections shared by all of them), with
the store told so by ``?pooler=transaction``. Advisory locks (transaction-scoped), ``SKIP
LOCKED`` claims and the inserts' key locks must all hold there too.

Real processes on 127.0.0.1: gunicorn (the receiver), four `progress-plugin worker`
processes, a throwaway PostgreSQL cluster and a Medplum FHIR server of the test's own.

Who held which row, and when, is proven by the database itself: a trigger (installed by
this test only) writes every change of ``lease_owner`` on the inbox and the outbox to an
audit table, with the database clock. A row may pass straight from one worker to another
only when the first one is dead: killed before that moment, with its lease run out. A
live worker hands its rows back (owner cleared) or finishes them; it never has one taken
from under it. Two live workers holding one row at once would show up as a direct
hand-over from a live owner and fail the test. To give that a chance to happen, the run
ends with a slow host: a few writes answered later than the lease runs, while another
worker is idle and polling.
"""
from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from progress_plugin.store import tables as t
from progress_plugin.store import Store
from tests import e2e, fhir_server, pgbouncer
from tests.conftest import SECRET
from tests.test_faults import Stack, assert_nothing_lost_or_duplicated, scenario

AUDIT = """
CREATE TABLE lease_audit (
    id bigserial PRIMARY KEY, tbl text NOT NULL, row_id integer NOT NULL,
    old_owner text, new_owner text, old_until timestamptz, at timestamptz NOT NULL);
CREATE FUNCTION lease_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lease_owner IS DISTINCT FROM OLD.lease_owner THEN
        INSERT INTO lease_audit (tbl, row_id, old_owner, new_owner, old_until, at)
        VALUES (TG_TABLE_NAME, NEW.id, OLD.lease_owner, NEW.lease_owner, OLD.lease_until, clock_timestamp());
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inbox_lease_audit AFTER UPDATE ON inbox FOR EACH ROW EXECUTE FUNCTION lease_audit();
CREATE TRIGGER outbox_lease_audit AFTER UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION lease_audit();
"""
NOT_A_WORKER = (None, "deferred")
_databases = itertools.count(1)      # "deferred": an inbox row parked until its client's intake arrives


@pytest.fixture(params=["direct", "pgbouncer"])
def route(request, pg_cluster):
    """(the store URL every process uses, a direct URL as the same role for the test's own checks)"""
    if request.param == "direct":
        url = request.getfixturevalue("pg_url")
        yield url, url
        return
    if pgbouncer.BINARY is None:
        pytest.skip("Debian's pgbouncer is not installed; scripts/test installs it when run as root")
    name = f"pgb{next(_databases)}"
    pgbouncer.create_role_and_database(pg_cluster, name)
    bouncer = pgbouncer.Bouncer(pg_cluster).start()
    try:
        yield bouncer.url(name), bouncer.direct_url(name)
    finally:
        bouncer.stop()


@pytest.fixture
def host():
    with fhir_server.running() as server:
        yield server


def test_four_workers_on_postgresql_drain_2000_events_with_two_killed_midway(route, tmp_path, host):
    store_url, pg_url = route
    Store.open(store_url).close()                  # the schema, then the audit trigger on it
    engine = sa.create_engine(pg_url)
    with engine.begin() as c:
        c.exec_driver_sql(AUDIT)
    # 40 clients: an intake and 49 signed, tagged notes each; every 25th note rated.
    events, expected = scenario(host.base_url, clients=40, notes_per_client=49, rate_every=25, seed=21)
    assert len(events) == 2000
    host.reset()

    stack = Stack(tmp_path, store_url, host.base_url, lease_seconds=2)
    started = time.monotonic()
    try:
        workers = [stack.worker() for _ in range(4)]
        owners = [w.owner() for w in workers]
        sending = threading.Thread(target=e2e.send, args=(stack.webhook_url, SECRET, events), daemon=True)
        sending.start()
        victims = workers[:2]
        # midway: half the events applied, and both victims holding rows at that moment
        _wait_for(lambda: _count(engine, t.inbox, "done") >= len(events) // 2
                  and all(_held(engine, o) for o in owners[:2]), timeout=120)
        for w in victims:
            w.kill9()
        in_hand = {o: _held(engine, o) for o in owners[:2]}
        sending.join(120)
        assert not sending.is_alive()
        e2e.wait_drained(pg_url, timeout=150)
        drained = time.monotonic() - started
        # Then a slow host: a new client's tag writes are answered after 3.5 s, longer than
        # the lease (2 s), while the other survivor is idle and polling. The worker sending
        # keeps its rows through the wait; the idle one may not take them.
        host.fault(count=2, delay_ms=3500, method="PATCH")
        slow, slow_expected = scenario(host.base_url, clients=1, notes_per_client=3, seed=22)
        e2e.send(stack.webhook_url, SECRET, slow, duplicate_every=100)
        e2e.wait_drained(pg_url, timeout=60)
        with engine.connect() as c:
            audit = [r._mapping for r in c.execute(sa.text("SELECT * FROM lease_audit ORDER BY id"))]
    finally:
        stack.stop()
        engine.dispose()
    stack.store_url = pg_url                       # the checks below read directly

    assert all(w.proc.returncode == -9 for w in victims)
    assert all(w.proc.returncode == 0 for w in workers[2:])       # the survivors ran to the end
    assert all(in_hand.values()), in_hand                          # both died holding rows
    assert not host.pending_faults()                               # the slow answers were given
    # Every row had at most one live owner at a time.
    killed_at = {o: datetime.fromtimestamp(w.killed_at, timezone.utc) for o, w in zip(owners, workers) if w.killed_at}
    takeovers = [a for a in audit if a["old_owner"] not in NOT_A_WORKER and a["new_owner"] not in NOT_A_WORKER]
    for a in takeovers:
        assert a["old_owner"] in killed_at, f"{a['tbl']} row {a['row_id']} taken from live worker {a['old_owner']}"
        assert a["at"] > killed_at[a["old_owner"]] and a["at"] >= a["old_until"], a
    assert {a["old_owner"] for a in takeovers} == set(killed_at)    # the survivors took over what the dead held
    assert_nothing_lost_or_duplicated(host, stack, events + slow,
                                      {k: expected[k] + slow_expected[k] for k in expected})

    claims = [a for a in audit if a["new_owner"] in owners]
    assert {a["new_owner"] for a in claims} == set(owners)          # all four took part
    print(f"multi-worker: {len(events)} events and {1 + sum(expected.values())} writes drained in {drained:.1f} s; "
          f"then {len(slow)} events, {sum(slow_expected.values())} writes against a slow host; {len(claims)} claims, "
          f"{len(takeovers)} rows taken over from the 2 killed workers ({sum(in_hand.values())} in hand)")


def _count(engine, table, status: str) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(table).where(table.c.status == status)).scalar()


def _held(engine, owner: str) -> int:
    with engine.connect() as c:
        return sum(c.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.lease_owner == owner, table.c.status == "pending")).scalar() for table in (t.inbox, t.outbox))


def _wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")

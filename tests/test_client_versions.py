"""Client tokens in a store shared by several processes: concurrent touches of the same clients
all commit (an upsert, never a duplicate key), every client keeps one row, on SQLite and PostgreSQL."""
from __future__ import annotations

import re

import sqlalchemy as sa

from progress_plugin.store import Store, client_versions
from progress_plugin.store import tables as t

from tests.processes import race

PAIRS = [("clinic-a", f"c{i}") for i in range(40)] + [("clinic-b", "c0")]


def _touch(url: str, rounds: int, start) -> None:
    store = Store.open(url, migrate=False)
    start.wait(10)
    for _ in range(rounds):
        with store.begin() as c:
            client_versions.touch(c, PAIRS)
    store.close()


def test_processes_touching_the_same_clients_leave_one_token_each(store, store_url):
    with store.begin() as c:
        client_versions.touch(c, PAIRS[:5])
        before = {p: client_versions.read(c, *p) for p in PAIRS[:5]}
    assert race([(_touch, (store_url, 15))] * 4, timeout=120) == [0, 0, 0, 0]
    with store.engine.connect() as c:
        rows = c.execute(sa.select(t.client_versions.c.clinic_id, t.client_versions.c.client_id,
                                   t.client_versions.c.token)).all()
        assert sorted((r.clinic_id, r.client_id) for r in rows) == sorted(PAIRS)
        assert all(re.fullmatch(r"[0-9a-f]{32}", r.token) for r in rows)
        assert all(client_versions.read(c, *p) != before[p] for p in PAIRS[:5])     # each one changed
        if store.engine.dialect.name == "sqlite":
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

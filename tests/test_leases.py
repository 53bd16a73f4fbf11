"""Claiming inbox and outbox rows with leases, when another worker gets there in between."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from progress_plugin import effects as fx
from progress_plugin import inbox, outbox
from progress_plugin import tables as t
from progress_plugin.store import Store

AT = datetime(2026, 2, 2, 9, 0, tzinfo=timezone.utc)


def between_select_and_update(store: Store, table: sa.Table, meanwhile) -> None:
    """Run ``meanwhile`` once, on its own connection, just before ``store`` updates ``table``
    (on SQLite a claim's SELECT holds no lock, so another process may write in between)."""
    fired = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith(f"UPDATE {table.name.upper()} "):
            fired.append(statement)
            meanwhile()
    return fired


@pytest.fixture
def other(sqlite_url, sqlite_store):
    store = Store.open(sqlite_url)                 # a second worker process, as far as SQLite can tell
    yield store
    store.close()


def test_an_inbox_row_another_worker_finished_meanwhile_is_not_claimed(sqlite_store, other):
    with sqlite_store.begin() as c:
        inbox.put(c, "clinic-a", "evt_1", "note.signed", {"note_id": "n1"}, AT)

    def finished_by_the_other_worker():
        with other.begin() as c:
            (row,) = inbox.claim(c, "w2", AT, 30, 10)
            assert inbox.finish(c, row["id"], "w2", AT)
    fired = between_select_and_update(sqlite_store, t.inbox, finished_by_the_other_worker)

    with sqlite_store.begin() as c:
        claimed = inbox.claim(c, "w1", AT, 30, 10)
    assert fired                                   # the other worker did run in between
    assert claimed == []
    with other.engine.connect() as c:
        assert c.execute(sa.select(t.inbox.c.status, t.inbox.c.lease_owner, t.inbox.c.attempts)).all() \
            == [("done", None, 1)]


def test_an_outbox_row_that_went_dead_meanwhile_is_not_claimed(sqlite_store, other):
    sqlite_store.ensure_clinic("clinic-a", AT)
    with sqlite_store.begin() as c:
        outbox.enqueue(c, [fx.FlagReviewDue("clinic-a", "c1", AT, "every-session")], {}, AT)

    def refused_for_good_by_the_host():
        with other.begin() as c:
            (row,) = outbox.claim(c, "w2", AT, 30, 10)
            outbox.dead(c, row, "w2", AT, "HostConflict: 409")
    fired = between_select_and_update(sqlite_store, t.outbox, refused_for_good_by_the_host)

    with sqlite_store.begin() as c:
        claimed = outbox.claim(c, "w1", AT + timedelta(seconds=1), 30, 10)
    assert fired
    assert claimed == []
    with other.engine.connect() as c:
        assert c.execute(sa.select(t.outbox.c.status, t.outbox.c.lease_owner)).all() == [("dead", None)]

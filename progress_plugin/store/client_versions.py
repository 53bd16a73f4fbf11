"""A token per client that changes whenever what its progress panel is drawn from changes.

Every effect that writes a client's intake, goals, ratings, notes, tags or check-ins sets a
new random token for the client in the same transaction (:func:`touch`, called by
:meth:`Writes.apply_all`); a purge deletes the row. The panel's cache key is this token with
the clinic's vocabulary version (:func:`read`), so a cached panel is never shown after a
change, and a new client with a purged client's id never meets its old panel.
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from progress_plugin.core import effects as fx
from progress_plugin.store import tables as t

#: The effects that change what a client's panel shows.
CHANGING = (fx.RecordIntake, fx.UpsertGoal, fx.RecordRating, fx.RecordCheckin, fx.TagNote, fx.UntagNote)
_UPSERTS: dict = {}


def _upsert(dialect: str):
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](t.client_versions)
        statement = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["clinic_id", "client_id"], set_={"token": insert.excluded.token})
    return statement


def touch(conn: Connection, pairs) -> None:
    """A new token for each ``(clinic_id, client_id)`` in ``pairs``."""
    pairs = sorted(set(pairs))
    if not pairs:
        return
    if conn.dialect.name == "sqlite":       # straight to the driver: a backfill page touches ~200 clients
        conn.exec_driver_sql(_SQLITE_UPSERT, [(clinic, client, secrets.token_hex(16)) for clinic, client in pairs])
        return
    conn.execute(_upsert(conn.dialect.name), [{"clinic_id": clinic, "client_id": client,
                                               "token": secrets.token_hex(16)} for clinic, client in pairs])


_SQLITE_UPSERT = ("INSERT INTO client_versions (clinic_id, client_id, token) VALUES (?, ?, ?) "
                  "ON CONFLICT (clinic_id, client_id) DO UPDATE SET token = excluded.token")


def changed_clients(effects) -> set[tuple[str, str]]:
    return {(e.clinic_id, fx.client_of(e)) for e in effects if isinstance(e, CHANGING) and fx.client_of(e)}


_CURRENT = sa.select(
    sa.select(t.client_versions.c.token).where(t.client_versions.c.clinic_id == sa.bindparam("clinic"),
                                               t.client_versions.c.client_id == sa.bindparam("client"))
    .scalar_subquery(),
    sa.select(sa.func.max(t.vocabulary_versions.c.version)).where(
        t.vocabulary_versions.c.clinic_id == sa.bindparam("clinic")).scalar_subquery())


def read(conn: Connection, clinic_id: str, client_id: str) -> str | None:
    """``"<token>.<vocabulary version>"``, or None when the client has no token yet (nothing
    written since the table was made): such a panel is drawn, not cached."""
    token, vocabulary = conn.execute(_CURRENT, {"clinic": clinic_id, "client": client_id}).one()
    return None if token is None else f"{token}.{vocabulary}"

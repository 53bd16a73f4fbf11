"""The audit log, and a client's purge with the erasure of the freed copies.

Audit rows say who / what / when / outcome with ids and codes, never content. A purge
matches the client exactly in every table; :meth:`AuditStore.erase` then makes the deleted
rows unreadable in the store's files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc
from progress_plugin.errors import NotFound
from progress_plugin.store.engine import BUSY_TIMEOUT_MS, CHUNK, StoreBase, chunks, sqlite_path


def audit_values(clinic_id, actor, action, subject, outcome, now, old_version=None, new_version=None) -> dict:
    """One row of the audit log. ``subject`` holds ids and codes only, never a person's words."""
    return {"at": utc(now), "clinic_id": clinic_id, "actor": actor or "unknown", "action": action,
            "subject": subject[:300], "outcome": outcome, "old_version": old_version, "new_version": new_version}


def write_audit(conn: Connection, clinic_id: str, actor: str, action: str, subject: str, outcome: str,
                now: datetime, old_version: int | None = None, new_version: int | None = None) -> None:
    """Write one audit row inside the caller's transaction."""
    conn.execute(t.audit_log.insert().values(**audit_values(clinic_id, actor, action, subject, outcome, now,
                                                            old_version, new_version)))


class AuditStore(StoreBase):
    """The audit log, and purging a client."""

    audit = staticmethod(write_audit)

    def audit_rows(self, clinic_id: str | None = None) -> list[dict]:
        q = sa.select(t.audit_log).order_by(t.audit_log.c.id)
        if clinic_id is not None:
            q = q.where(t.audit_log.c.clinic_id == clinic_id)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def has_client(self, clinic_id: str, client_id: str, conn: Connection | None = None) -> bool:
        """True when anything is stored about this client (ids compared exactly)."""
        with self._conn(conn) as c:
            for table in _CLIENT_TABLES + (t.outbox,):
                if c.execute(sa.select(sa.literal(1)).select_from(table).where(
                        table.c.clinic_id == clinic_id, table.c.client_id == client_id).limit(1)).first():
                    return True
            return bool(_waiting_events(c, clinic_id, client_id))

    def purge(self, clinic_id: str, client_id: str, actor: str, now: datetime, wait: float = 10.0,
              rebuild: bool = False) -> "Purged":
        """Remove everything stored about one client, then erase the freed copies (:meth:`erase`).

        The client is matched by equality in every table: its intake, goals, ratings, notes
        and their tags, its session checks, check-in links and their sessions, its write-backs
        queued or sent (by the outbox's ``client_id``) and its events waiting in the inbox. An
        unknown clinic or client raises :class:`NotFound` and changes nothing. Two audit rows: ``client.purge`` with the counts, and
        ``client.erase`` saying whether the freed copies are gone (outcome ``ok``) or not yet
        (``incomplete``: another process held the SQLite WAL, or a table's lock, past ``wait``).
        """
        with self.begin() as c:
            if c.dialect.name == "sqlite":
                c.exec_driver_sql("PRAGMA secure_delete=ON")      # every connection has it; said again here
            if c.execute(sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id)).first() is None:
                raise NotFound(f"no clinic {clinic_id!r}; nothing was purged", clinic_id=clinic_id)
            if not self.has_client(clinic_id, client_id, conn=c):
                raise NotFound(f"no client {client_id!r} in clinic {clinic_id!r}; nothing was purged "
                               "(ids are matched exactly)", clinic_id=clinic_id)
            counts = {"note_tags": c.execute(t.note_tags.delete().where(
                t.note_tags.c.clinic_id == clinic_id,
                t.note_tags.c.note_id.in_(sa.select(t.notes.c.note_id).where(
                    t.notes.c.clinic_id == clinic_id, t.notes.c.client_id == client_id)))).rowcount}
            for table in _CLIENT_TABLES + (t.outbox,):
                counts[table.name] = c.execute(table.delete().where(
                    table.c.clinic_id == clinic_id, table.c.client_id == client_id)).rowcount
            counts["inbox"] = 0
            for chunk in chunks(_waiting_events(c, clinic_id, client_id), CHUNK):
                counts["inbox"] += c.execute(t.inbox.delete().where(t.inbox.c.id.in_(chunk))).rowcount
            detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            write_audit(c, clinic_id, actor, "client.purge", f"client:{client_id} {detail}", "ok", now)
        erased = self.erase(wait, rebuild)
        with self.begin() as c:
            write_audit(c, clinic_id, actor, "client.erase", f"client:{client_id} {erased.detail}",
                        "ok" if erased.erased else "incomplete", now)
        return Purged(counts, erased.erased, erased.detail)

    def erase(self, wait: float = 10.0, rebuild: bool = False) -> "Erased":
        """Make deleted rows unreadable in the store's files, waiting up to ``wait`` seconds for other processes.

        SQLite: every connection has ``secure_delete`` on, so deleted content is zeroed in the
        database pages (freelist pages included); what remains are the older page images in
        the write-ahead log, which ``wal_checkpoint(TRUNCATE)`` copies back and cuts to zero
        bytes. It cannot while another process reads an older snapshot: tried again until
        ``wait`` is over, then reported as ``wal=not-truncated``. With ``rebuild``, the file
        is first rebuilt (``VACUUM``), which also clears what was freed before ``secure_delete``
        was on (stores written by earlier versions); it holds the write lock while it runs.

        PostgreSQL: a deleted row stays in its page until vacuumed, and a plain VACUUM leaves
        the bytes in the page's free space, so the tables that hold words (goals, intakes,
        outbox, inbox) get ``VACUUM (FULL)``, which rewrites them into new files; the others
        (ids and numbers only) a plain VACUUM. Each waits for its table's lock; a table not
        locked within ``wait`` is reported as not vacuumed; ``rebuild`` makes every one FULL.
        WAL segments, archives and backups are outside the store and keep what they have.
        """
        if self.dialect == "sqlite":
            return self._erase_sqlite(wait, rebuild)
        if self.dialect == "postgresql":
            return self._erase_postgresql(wait, rebuild)
        return Erased(False, f"erase not supported on {self.dialect}")

    def _erase_sqlite(self, wait: float, rebuild: bool = False) -> "Erased":
        if sqlite_path(self.engine.url) is None:
            return Erased(True, "wal=none (in memory)")
        deadline = time.monotonic() + max(wait, 0.0)
        with self.engine.connect() as c:
            rebuilt = True
            if rebuild:
                c.exec_driver_sql("PRAGMA secure_delete=ON")
                try:
                    c.exec_driver_sql("VACUUM")
                except sa.exc.OperationalError:            # another writer held the lock past the busy timeout
                    rebuilt = False
            done = ("vacuum=done " if rebuilt else "vacuum=failed ") if rebuild else ""
            if (c.exec_driver_sql("PRAGMA journal_mode").scalar() or "").lower() != "wal":
                return Erased(rebuilt, done + "wal=none")
            try:
                while True:
                    left = max(deadline - time.monotonic(), 0.0)
                    c.exec_driver_sql(f"PRAGMA busy_timeout={int(min(left, 1.0) * 1000)}")
                    try:
                        busy = c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
                    except sa.exc.OperationalError:        # locked past the busy timeout
                        busy = 1
                    if not busy:
                        return Erased(rebuilt, done + "wal=truncated")
                    if time.monotonic() >= deadline:
                        return Erased(False, done + "wal=not-truncated (another process was reading)")
                    time.sleep(0.05)
            finally:
                c.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _erase_postgresql(self, wait: float, rebuild: bool = False) -> "Erased":
        deadline = time.monotonic() + max(wait, 0.0)
        done, missed = {True: [], False: []}, []
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            try:
                for table, full in _VACUUMED:
                    full = full or rebuild
                    while True:
                        left = max(deadline - time.monotonic(), 0.0)
                        c.exec_driver_sql(f"SET lock_timeout = {max(int(min(left, 2.0) * 1000), 100)}")
                        try:
                            c.exec_driver_sql(f"VACUUM {'(FULL) ' if full else ''}{table.name}")
                            done[full].append(table.name)
                            break
                        except sa.exc.OperationalError:     # lock not granted in time
                            if time.monotonic() >= deadline:
                                missed.append(table.name)
                                break
                            time.sleep(0.05)
            finally:
                c.exec_driver_sql("RESET lock_timeout")
        detail = f"vacuum=full:{','.join(done[True]) or '-'} plain:{','.join(done[False]) or '-'}"
        if missed:
            detail += f" not-vacuumed:{','.join(missed)}"
        return Erased(not missed, detail)


def _waiting_events(c: Connection, clinic_id: str, client_id: str) -> list[int]:
    """Ids of the inbox rows not yet processed whose event is about this client.

    A processed row keeps no payload, so only waiting, failed or ignored rows can tell."""
    rows = c.execute(sa.select(t.inbox.c.id, t.inbox.c.payload).where(
        t.inbox.c.clinic_id == clinic_id, t.inbox.c.status != "done"))
    return [r.id for r in rows if isinstance(r.payload, dict) and r.payload.get("client_id") == client_id]


@dataclass(frozen=True)
class Erased:
    """What :meth:`Store.erase` did. ``erased`` is False when a freed copy may remain in a store file."""
    erased: bool
    detail: str          # e.g. "wal=truncated", "vacuum=full:goals,... plain:notes,..."


@dataclass(frozen=True)
class Purged:
    """What :meth:`Store.purge` removed (rows per table) and whether the freed copies are erased."""
    counts: dict
    erased: bool
    detail: str


#: Tables keyed by (clinic_id, client_id) that purge empties for the client (a link's sessions before the link).
_CLIENT_TABLES = (t.notes, t.ratings, t.goals, t.intakes, t.session_checks, t.checkin_sessions, t.checkin_links,
                  t.client_versions)
#: What erase() vacuums on PostgreSQL: (table, FULL?). FULL for the tables holding a client's words.
_VACUUMED = ((t.goals, True), (t.intakes, True), (t.outbox, True), (t.inbox, True),
             (t.notes, False), (t.note_tags, False), (t.ratings, False),
             (t.session_checks, False), (t.checkin_sessions, False), (t.checkin_links, False))

"""The store: SQLAlchemy Core over a SQLite file by default, PostgreSQL when scaled out.

It keeps ids, codes, ratings and the client's goal words; never note text. The SQLite
file is created with mode 0600 because goals in the client's words are PHI.
"""
from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from progress_plugin import effects as fx
from progress_plugin import tables as t
from progress_plugin.core import ClientState
from progress_plugin.core_time import as_date, as_dt, utc
from progress_plugin.errors import NotFound, PreconditionFailed
from progress_plugin.intake import Goal, Intake
from progress_plugin.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.vocabulary import Tag, Vocabulary, default

DEFAULT_URL = "sqlite:///progress.db"


def sqlite_path(url: sa.URL) -> str | None:
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


def create_private_file(path: str) -> None:
    """Create the SQLite file with mode 0600, through SQLite itself.

    The file is never opened outside SQLite: closing any descriptor of a database file drops
    every POSIX lock the process holds on it, SQLite's own included ("How To Corrupt An
    SQLite Database File", section 2.2). SQLite creates the file, and later its ``-wal`` and
    ``-shm`` files with the same mode, under a umask that leaves the group and others out."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    previous = os.umask(0o077)
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)             # by path: no descriptor of the file is opened


def make_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        if not os.path.exists(path):
            create_private_file(path)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # Deleted content is overwritten with zeros (freelist pages too), so no copy of a
            # client's words outlives its row in the database file (see Store.erase).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


class Store:
    """One clinic-scoped data store. Open with :meth:`open`; it migrates to the latest schema."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._built: dict[tuple[str, int], Vocabulary] = {}     # see _current_vocabulary

    @classmethod
    def open(cls, url: str = DEFAULT_URL, migrate: bool = True) -> "Store":
        store = cls(make_engine(url))
        if migrate and not store.at_head():
            from progress_plugin.migrate import upgrade
            upgrade(store.engine)
        return store

    def at_head(self) -> bool:
        """True when the schema is at the newest migration; False when behind, or when unsure.

        Read without alembic: its import costs a process about 10 MB of memory that a
        process only reading and writing rows (a worker, a backfill) never gets back."""
        heads = migration_heads()
        if len(heads) != 1:
            return False
        try:
            with self.engine.connect() as c:
                current = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
        except sa.exc.DBAPIError:        # no version table yet
            return False
        return current == list(heads)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- clinics and vocabularies -----------------------------------------------------------
    def ensure_clinic(self, clinic_id: str, now: datetime, name: str | None = None, conn: Connection | None = None) -> bool:
        """Create the clinic with the default vocabulary as version 1. True when it was new."""
        with self._conn(conn, write=True) as c:
            if c.execute(sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id)).first():
                return False
            try:
                with c.begin_nested():
                    c.execute(t.clinics.insert().values(clinic_id=clinic_id, name=name or clinic_id, created_at=utc(now)))
                    self._insert_vocabulary(c, clinic_id, default(), "system", "default vocabulary", now)
            except (sa.exc.IntegrityError, PreconditionFailed):   # another process created it first
                return False
            self.audit(c, clinic_id, "system", "clinic.create", f"clinic:{clinic_id}", "ok", now, None, 1)
            return True

    def clinic_exists(self, clinic_id: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id)).first() is not None

    def current_version(self, clinic_id: str, conn: Connection | None = None) -> int:
        with self._conn(conn) as c:
            version = c.execute(sa.select(sa.func.max(t.vocabulary_versions.c.version))
                                .where(t.vocabulary_versions.c.clinic_id == clinic_id)).scalar()
        if version is None:
            raise NotFound(f"no clinic {clinic_id!r}", clinic_id=clinic_id)
        return version

    def vocabulary(self, clinic_id: str, version: int | None = None, conn: Connection | None = None) -> Vocabulary:
        with self._conn(conn) as c:
            if version is None:
                version = self.current_version(clinic_id, c)
            row = c.execute(sa.select(t.vocabulary_versions.c.tags).where(
                t.vocabulary_versions.c.clinic_id == clinic_id, t.vocabulary_versions.c.version == version)).first()
        if row is None:
            raise NotFound(f"no vocabulary version {version} for clinic {clinic_id!r}", clinic_id=clinic_id)
        return Vocabulary(version, tuple(Tag(**d) for d in row.tags))

    def vocabularies(self, clinic_id: str, versions, conn: Connection | None = None) -> dict[int, Vocabulary]:
        versions = sorted(set(versions))
        if not versions:
            return {}
        with self._conn(conn) as c:
            rows = c.execute(sa.select(t.vocabulary_versions.c.version, t.vocabulary_versions.c.tags).where(
                t.vocabulary_versions.c.clinic_id == clinic_id, t.vocabulary_versions.c.version.in_(versions)))
            return {r.version: Vocabulary(r.version, tuple(Tag(**d) for d in r.tags)) for r in rows}

    def history(self, clinic_id: str) -> list[dict]:
        vv = t.vocabulary_versions
        with self.engine.connect() as c:
            rows = c.execute(sa.select(vv.c.version, vv.c.created_at, vv.c.created_by, vv.c.change)
                             .where(vv.c.clinic_id == clinic_id).order_by(vv.c.version))
            return [{"version": r.version, "at": utc(r.created_at), "by": r.created_by, "change": r.change} for r in rows]

    def save_vocabulary(self, clinic_id: str, vocabulary: Vocabulary, actor: str, change: str, now: datetime,
                        expected_version: int | None = None) -> Vocabulary:
        """Store ``vocabulary`` as the next version. With ``expected_version``, a stale one raises 412."""
        with self.begin() as c:
            current = self.current_version(clinic_id, c)
            if expected_version is not None and expected_version != current:
                raise PreconditionFailed(
                    f"vocabulary is at version {current}, not {expected_version}; reload and try again",
                    current=current)
            if vocabulary.version != current + 1:
                raise PreconditionFailed(f"vocabulary version {vocabulary.version} does not follow {current}",
                                         current=current)
            self._insert_vocabulary(c, clinic_id, vocabulary, actor, change, now)
            self.audit(c, clinic_id, actor, "vocabulary." + change.split(" ")[0], change, "ok", now,
                       current, vocabulary.version)
        return vocabulary

    def _insert_vocabulary(self, c, clinic_id, vocabulary, actor, change, now):
        try:
            c.execute(t.vocabulary_versions.insert().values(
                clinic_id=clinic_id, version=vocabulary.version, tags=[tag.as_dict() for tag in vocabulary.tags],
                created_at=utc(now), created_by=actor, change=change[:200]))
        except sa.exc.IntegrityError:
            raise PreconditionFailed(f"vocabulary version {vocabulary.version} was written concurrently") from None

    # -- client state ----------------------------------------------------------------------
    def load_state(self, clinic_id: str, client_id: str, settings=None, conn: Connection | None = None) -> ClientState:
        with self._conn(conn) as c:
            vocabulary = self.vocabulary(clinic_id, conn=c)
            intake = self._intake(c, clinic_id, client_id)
            notes = self._notes(c, clinic_id, client_id)
            used = {tag.vocabulary_version for n in notes.values() for tag in n.tags} - {vocabulary.version}
            kwargs = {"settings": settings} if settings is not None else {}
            return ClientState(clinic_id, client_id, vocabulary, self.vocabularies(clinic_id, used, c),
                               intake, notes, **kwargs)

    def load_states(self, clinic_id: str, notes_by_client: dict[str, list[str]],
                    conn: Connection | None = None) -> dict[str, ClientState]:
        """The state of each client in ``notes_by_client``, for handling those notes of it.

        A client with an intake gets its whole state, as :meth:`load_state` gives it: the
        review timing reads every note. A client without one gets the records of the named
        notes only, which is all the core reads of such a client's notes (a note's earlier
        record, for redeliveries and signed notes). A page of a backfill costs a handful of
        queries this way, however long the clients' histories are.
        """
        with self._conn(conn) as c:
            with_intake = set()
            for chunk in _chunks(list(notes_by_client), CHUNK):
                with_intake.update(r[0] for r in c.execute(_INTAKES_OF, {"clinic": clinic_id, "clients": chunk}))
            states = {cid: self.load_state(clinic_id, cid, conn=c) for cid in notes_by_client if cid in with_intake}
            rest = {cid: ids for cid, ids in notes_by_client.items() if cid not in with_intake}
            if not rest:
                return states
            vocabulary = self._current_vocabulary(c, clinic_id)
            notes = self._named_notes(c, clinic_id, rest)
            used = {tag.vocabulary_version for ns in notes.values() for n in ns.values() for tag in n.tags}
            vocabularies = self.vocabularies(clinic_id, used - {vocabulary.version}, c)
            for cid in rest:
                mine = notes.get(cid, {})
                versions = {tag.vocabulary_version for n in mine.values() for tag in n.tags} & vocabularies.keys()
                states[cid] = ClientState(clinic_id, cid, vocabulary, {v: vocabularies[v] for v in versions},
                                          None, mine)
            return states

    def _current_vocabulary(self, c, clinic_id: str) -> Vocabulary:
        """The clinic's current vocabulary. A version never changes once written, so each is built once."""
        version = c.execute(_CURRENT_VERSION, {"clinic": clinic_id}).scalar()
        if version is None:
            raise NotFound(f"no clinic {clinic_id!r}", clinic_id=clinic_id)
        vocabulary = self._built.get((clinic_id, version))
        if vocabulary is None:
            if len(self._built) > 32:
                self._built.clear()
            vocabulary = self._built[(clinic_id, version)] = self.vocabulary(clinic_id, version, conn=c)
        return vocabulary

    def _named_notes(self, c, clinic_id, wanted: dict[str, list[str]]) -> dict[str, dict[str, NoteProgress]]:
        """client id -> note id -> record, for the named notes each client has stored."""
        owner = {note_id: cid for cid, ids in wanted.items() for note_id in ids}
        rows, tags, ratings = [], {}, {}
        for chunk in _chunks(sorted(owner), CHUNK):
            found = [row for row in c.execute(_NOTES_NAMED, {"clinic": clinic_id, "ids": chunk})
                     if owner.get(row.note_id) == row.client_id]
            if not found:
                continue                   # tags and ratings are only ever read through their note
            rows += found
            params = {"clinic": clinic_id, "ids": [row.note_id for row in found],
                      "clients": sorted({row.client_id for row in found})}
            for row in c.execute(_TAGS_NAMED, params):
                tags.setdefault(row.note_id, []).append(AppliedTag(row.code, row.vocabulary_version, tuple(row.goal_ids)))
            for row in c.execute(_RATINGS_NAMED, params):
                if owner.get(row.source) == row.client_id:
                    ratings.setdefault(row.source, []).append(
                        Rating(row.goal_id, row.value, row.rater, row.level, row.source, utc(row.rated_at)))
        out: dict[str, dict[str, NoteProgress]] = {}
        for row in rows:
            out.setdefault(row.client_id, {})[row.note_id] = NoteProgress(
                row.note_id, row.client_id, utc(row.session_at), row.author, tuple(tags.get(row.note_id, ())),
                tuple(ratings.get(row.note_id, ())), row.signed)
        return out

    def _intake(self, c, clinic_id, client_id) -> Intake | None:
        row = c.execute(sa.select(t.intakes).where(t.intakes.c.clinic_id == clinic_id,
                                                   t.intakes.c.client_id == client_id)).first()
        if row is None:
            return None
        goal_rows = c.execute(sa.select(t.goals).where(t.goals.c.clinic_id == clinic_id, t.goals.c.client_id == client_id)
                              .order_by(t.goals.c.rank))
        goals = tuple(Goal(g.goal_id, g.words, g.whose, g.baseline, g.rank,
                           {int(k): v for k, v in g.gas_levels.items()} if g.gas_levels else None,
                           g.weight, g.status) for g in goal_rows)
        return Intake(row.intake_id, goals, row.review_cadence, row.agreed, as_date(row.agreed_on),
                      row.goals_reviewed, dict(row.answers), as_date(row.review_date), row.definition_version)

    def _notes(self, c, clinic_id, client_id) -> dict[str, NoteProgress]:
        n, nt, r = t.notes, t.note_tags, t.ratings
        rows = c.execute(sa.select(n).where(n.c.clinic_id == clinic_id, n.c.client_id == client_id)).all()
        if not rows:
            return {}
        tags: dict[str, list[AppliedTag]] = {}
        # By the note ids just read (the primary key), not a join: on PostgreSQL a join planned
        # before the tables' statistics catch up scans every tag of the clinic for each note.
        for row in c.execute(sa.select(nt).where(nt.c.clinic_id == clinic_id, nt.c.note_id.in_([row.note_id for row in rows]))
                             .order_by(nt.c.code)):
            tags.setdefault(row.note_id, []).append(AppliedTag(row.code, row.vocabulary_version, tuple(row.goal_ids)))
        ratings: dict[str, list[Rating]] = {}
        for row in c.execute(sa.select(r).where(r.c.clinic_id == clinic_id, r.c.client_id == client_id,
                                                r.c.source != "baseline")):
            ratings.setdefault(row.source, []).append(
                Rating(row.goal_id, row.value, row.rater, row.level, row.source, utc(row.rated_at)))
        return {row.note_id: NoteProgress(row.note_id, client_id, utc(row.session_at), row.author,
                                          tuple(tags.get(row.note_id, ())), tuple(ratings.get(row.note_id, ())),
                                          row.signed) for row in rows}

    def clients(self, clinic_id: str) -> list[str]:
        with self.engine.connect() as c:
            ids = {r[0] for r in c.execute(sa.select(t.intakes.c.client_id).where(t.intakes.c.clinic_id == clinic_id))}
            ids |= {r[0] for r in c.execute(sa.select(t.notes.c.client_id).where(t.notes.c.clinic_id == clinic_id).distinct())}
        return sorted(ids)

    # -- applying effects -----------------------------------------------------------------
    def apply(self, conn: Connection, effect: fx.Effect, actor: str, now: datetime) -> None:
        """Persist one effect inside the caller's transaction. Idempotent."""
        self.apply_all(conn, (effect,), actor, now)

    def apply_all(self, conn: Connection, effects, actor: str, now: datetime, audit_tags: bool = True) -> None:
        """Persist ``effects`` in order inside the caller's transaction. Idempotent.

        Runs of note tagging (and of audit-only effects) are written with one statement per
        table rather than several per note; any other effect, or a note met twice, ends a
        run first, so the writes land in the order of ``effects``. Each effect that changes
        what the store says about a client leaves an audit row (:func:`_audit_row`); with
        ``audit_tags`` False, tagged notes get none (the caller audits them together, as a
        backfill page does); rejections, refusals and every other effect keep theirs.
        """
        now = utc(now)
        run: list = []
        tagged: set = set()
        for effect in effects:
            if isinstance(effect, _BATCHED):
                if isinstance(effect, fx.TagNote):
                    key = (effect.clinic_id, effect.note.note_id)
                    if key in tagged:
                        _write_run(conn, run, actor, now, audit_tags)
                        run, tagged = [], set()
                    tagged.add(key)
                run.append(effect)
                continue
            if run:
                _write_run(conn, run, actor, now, audit_tags)
                run, tagged = [], set()
            write = _WRITERS.get(type(effect))
            if write is not None:
                write(conn, effect, now)
            row = _audit_row(effect, actor, now)
            if row is not None:
                conn.execute(t.audit_log.insert(), row)
        if run:
            _write_run(conn, run, actor, now, audit_tags)

    # -- audit and purge ------------------------------------------------------------------
    def audit(self, conn: Connection, clinic_id: str, actor: str, action: str, subject: str, outcome: str,
              now: datetime, old_version: int | None = None, new_version: int | None = None) -> None:
        conn.execute(t.audit_log.insert().values(**_audit_values(clinic_id, actor, action, subject, outcome, now,
                                                                 old_version, new_version)))

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
            return bool(self._waiting_events(c, clinic_id, client_id))

    def purge(self, clinic_id: str, client_id: str, actor: str, now: datetime, wait: float = 10.0,
              rebuild: bool = False) -> "Purged":
        """Remove everything stored about one client, then erase the freed copies (:meth:`erase`).

        The client is matched by equality in every table: its intake, goals, ratings, notes
        and their tags, its write-backs queued or sent (by the outbox's ``client_id``) and its
        events waiting in the inbox. An unknown clinic or client raises :class:`NotFound` and
        changes nothing. Two audit rows: ``client.purge`` with the counts, and
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
            for chunk in _chunks(self._waiting_events(c, clinic_id, client_id), CHUNK):
                counts["inbox"] += c.execute(t.inbox.delete().where(t.inbox.c.id.in_(chunk))).rowcount
            detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            self.audit(c, clinic_id, actor, "client.purge", f"client:{client_id} {detail}", "ok", now)
        erased = self.erase(wait, rebuild)
        with self.begin() as c:
            self.audit(c, clinic_id, actor, "client.erase", f"client:{client_id} {erased.detail}",
                       "ok" if erased.erased else "incomplete", now)
        return Purged(counts, erased.erased, erased.detail)

    @staticmethod
    def _waiting_events(c, clinic_id: str, client_id: str) -> list[int]:
        """Ids of the inbox rows not yet processed whose event is about this client.

        A processed row keeps no payload, so only waiting, failed or ignored rows can tell."""
        rows = c.execute(sa.select(t.inbox.c.id, t.inbox.c.payload).where(
            t.inbox.c.clinic_id == clinic_id, t.inbox.c.status != "done"))
        return [r.id for r in rows if isinstance(r.payload, dict) and r.payload.get("client_id") == client_id]

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

    @contextmanager
    def _conn(self, conn: Connection | None, write: bool = False):
        if conn is not None:
            yield conn
        elif write:
            with self.engine.begin() as c:
                yield c
        else:
            with self.engine.connect() as c:
                yield c


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


#: Tables keyed by (clinic_id, client_id) that purge empties for the client.
_CLIENT_TABLES = (t.notes, t.ratings, t.goals, t.intakes)
#: What erase() vacuums on PostgreSQL: (table, FULL?). FULL for the tables holding a client's words.
_VACUUMED = ((t.goals, True), (t.intakes, True), (t.outbox, True), (t.inbox, True),
             (t.notes, False), (t.note_tags, False), (t.ratings, False))
BUSY_TIMEOUT_MS = 30000

#: Effects :meth:`Store.apply_all` writes in runs: note tagging, and those that only write an audit row.
_BATCHED = (fx.TagNote, fx.RejectNote, fx.RefuseNote)
CHUNK = 500     # ids per IN list

# Statements of the batched paths, built once; lists go in through expanding parameters.
_CLINIC = sa.bindparam("clinic")
_IDS = sa.bindparam("ids", expanding=True)
_CLIENTS = sa.bindparam("clients", expanding=True)
_CURRENT_VERSION = sa.select(sa.func.max(t.vocabulary_versions.c.version)).where(
    t.vocabulary_versions.c.clinic_id == _CLINIC)
_INTAKES_OF = sa.select(t.intakes.c.client_id).where(t.intakes.c.clinic_id == _CLINIC, t.intakes.c.client_id.in_(_CLIENTS))
_NOTE_IDS = sa.select(t.notes.c.note_id).where(t.notes.c.clinic_id == _CLINIC, t.notes.c.note_id.in_(_IDS))
_NOTES_NAMED = sa.select(t.notes).where(t.notes.c.clinic_id == _CLINIC, t.notes.c.note_id.in_(_IDS))
_TAGS_NAMED = (sa.select(t.note_tags).where(t.note_tags.c.clinic_id == _CLINIC, t.note_tags.c.note_id.in_(_IDS))
               .order_by(t.note_tags.c.note_id, t.note_tags.c.code))
# By client first: the ratings' key starts with (clinic_id, client_id).
_RATINGS_NAMED = sa.select(t.ratings).where(t.ratings.c.clinic_id == _CLINIC, t.ratings.c.client_id.in_(_CLIENTS),
                                            t.ratings.c.source.in_(_IDS))
_TAGS_CLEAR = t.note_tags.delete().where(t.note_tags.c.clinic_id == _CLINIC, t.note_tags.c.note_id.in_(_IDS))
_RATED = (sa.select(t.ratings.c.client_id, t.ratings.c.source).distinct()
          .where(t.ratings.c.clinic_id == _CLINIC, t.ratings.c.client_id.in_(_CLIENTS), t.ratings.c.source.in_(_IDS)))
_RATINGS_CLEAR = t.ratings.delete().where(t.ratings.c.clinic_id == sa.bindparam("k_clinic"),
                                          t.ratings.c.client_id == sa.bindparam("k_client"),
                                          t.ratings.c.source == sa.bindparam("k_note"))
# SET takes the parameters named after columns; the key comes in through k_*.
_NOTE_UPDATE = t.notes.update().where(t.notes.c.clinic_id == sa.bindparam("k_clinic"),
                                      t.notes.c.note_id == sa.bindparam("k_note"))
_NOTE_DELETE = t.notes.delete().where(t.notes.c.clinic_id == sa.bindparam("k_clinic"),
                                      t.notes.c.note_id == sa.bindparam("k_note"))


def _insert_rows(c: Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) with one executemany.

    On SQLite the rows go straight to the driver, each value through its column type's own
    bind processor (so they are stored exactly as ``table.insert()`` stores them), without
    SQLAlchemy's per-row parameter handling, which costs more than SQLite's insert."""
    if c.dialect.name != "sqlite":
        c.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    processors = [table.c[k].type._cached_bind_processor(c.dialect) for k in columns]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    c.exec_driver_sql(sql, [tuple(row[k] if p is None else p(row[k]) for k, p in zip(columns, processors))
                            for row in rows])


def _write_run(c: Connection, run: list, actor: str, now: datetime, audit_tags: bool = True) -> None:
    """Write a run of note tagging and audit-only effects (no note twice) with one statement per table."""
    by_clinic: dict[str, list[fx.TagNote]] = {}
    for e in run:
        if isinstance(e, fx.TagNote):
            by_clinic.setdefault(e.clinic_id, []).append(e)
    for clinic_id, group in by_clinic.items():
        ids = [e.note.note_id for e in group]
        stored = set()
        for chunk in _chunks(ids, CHUNK):
            stored.update(row[0] for row in c.execute(_NOTE_IDS, {"clinic": clinic_id, "ids": chunk}))
        fresh, changed = [], []
        for e in group:
            n = e.note
            values = {"client_id": n.client_id, "session_at": utc(n.session_at), "author": n.author,
                      "signed": n.signed, "recorded_at": now}
            if n.note_id in stored:
                changed.append({"k_clinic": clinic_id, "k_note": n.note_id, **values})
            else:
                fresh.append({"clinic_id": clinic_id, "note_id": n.note_id, **values})
        if changed:
            c.execute(_NOTE_UPDATE, changed)
        if fresh:
            _insert_rows(c, t.notes, fresh)
        # Tags exist only with their note's row (written and removed together), so only a
        # stored note can have any to clear. A note's ratings are cleared by its client.
        for chunk in _chunks(sorted(stored), CHUNK):
            c.execute(_TAGS_CLEAR, {"clinic": clinic_id, "ids": chunk})
        pairs = {(e.note.client_id, e.note.note_id) for e in group}
        found = []
        for chunk in _chunks(ids, CHUNK):
            found += [{"k_clinic": clinic_id, "k_client": row.client_id, "k_note": row.source}
                      for row in c.execute(_RATED, {"clinic": clinic_id, "ids": chunk,
                                                    "clients": sorted({e.note.client_id for e in group})})
                      if (row.client_id, row.source) in pairs]
        if found:
            c.execute(_RATINGS_CLEAR, found)
        applied = [{"clinic_id": clinic_id, "note_id": e.note.note_id, "code": a.code,
                    "vocabulary_version": a.vocabulary_version, "goal_ids": list(a.goal_ids)}
                   for e in group for a in e.note.tags]
        if applied:
            _insert_rows(c, t.note_tags, applied)
    audited = [_audit_row(e, actor, now) for e in run if audit_tags or not isinstance(e, fx.TagNote)]
    if audited:
        c.execute(t.audit_log.insert(), audited)


def _write_intake(c: Connection, e: fx.RecordIntake, now: datetime) -> None:
    i = e.intake
    _upsert(c, t.intakes, {"clinic_id": e.clinic_id, "client_id": e.client_id}, dict(
        intake_id=i.intake_id, definition_version=i.definition_version, review_cadence=i.review_cadence,
        review_date=as_dt(i.review_date), agreed=i.agreed, agreed_on=as_dt(i.agreed_on),
        goals_reviewed=i.goals_reviewed, answers=_jsonable(i.answers), author=e.author, submitted_at=utc(e.at)))


def _write_goal(c: Connection, e: fx.UpsertGoal, now: datetime) -> None:
    g = e.goal
    _upsert(c, t.goals, {"clinic_id": e.clinic_id, "client_id": e.client_id, "goal_id": g.id}, dict(
        rank=g.rank, words=g.words, whose=g.whose, baseline=g.baseline,
        gas_levels={str(k): v for k, v in g.gas_levels.items()} if g.gas_levels else None,
        weight=g.weight, status=g.status, updated_at=now))


def _write_rating(c: Connection, e: fx.RecordRating, now: datetime) -> None:
    r = e.rating
    _upsert(c, t.ratings, {"clinic_id": e.clinic_id, "client_id": e.client_id, "goal_id": r.goal_id,
                           "source": r.note_id or "baseline", "rater": r.rater},
            {"value": r.value, "level": r.level, "rated_at": as_dt(r.at) or now})


def _write_untag(c: Connection, e: fx.UntagNote, now: datetime) -> None:
    c.execute(_TAGS_CLEAR, {"clinic": e.clinic_id, "ids": [e.note_id]})
    c.execute(_RATINGS_CLEAR, {"k_clinic": e.clinic_id, "k_client": e.client_id, "k_note": e.note_id})
    c.execute(_NOTE_DELETE, {"k_clinic": e.clinic_id, "k_note": e.note_id})


#: How each effect outside the batched runs is written (an effect not named writes nothing).
_WRITERS = {fx.RecordIntake: _write_intake, fx.UpsertGoal: _write_goal, fx.RecordRating: _write_rating,
            fx.UntagNote: _write_untag}


def _audit_row(e: fx.Effect, actor: str, now: datetime) -> dict | None:
    """The audit row an applied effect leaves (ids, codes and outcome; no words), or None."""
    if isinstance(e, fx.TagNote):
        n = e.note
        action, subject, outcome = ("note.sign" if n.signed else "note.tag",
                                    f"client:{n.client_id} note:{n.note_id} tags:{','.join(n.codes())}", "ok")
    elif isinstance(e, fx.RejectNote):
        action, subject, outcome = "note.reject", f"note:{e.note_id}", "rejected"
    elif isinstance(e, fx.RefuseNote):
        action, subject, outcome = ("note.refuse", f"client:{e.client_id} note:{e.note_id} type:{e.note_type}",
                                    e.reason)
    elif isinstance(e, fx.RecordIntake):
        action, subject, outcome = "intake.record", f"client:{e.client_id} intake:{e.intake.intake_id}", "ok"
    elif isinstance(e, fx.UntagNote):
        action, subject, outcome = "note.delete", f"client:{e.client_id} note:{e.note_id}", "ok"
    else:
        return None
    return _audit_values(e.clinic_id, actor, action, subject, outcome, now)


def _upsert(c: Connection, table: sa.Table, key: dict, values: dict) -> None:
    where = [table.c[k] == v for k, v in key.items()]
    if c.execute(table.update().where(*where).values(**values)).rowcount == 0:
        c.execute(table.insert().values(**key, **values))


def _audit_values(clinic_id, actor, action, subject, outcome, now, old_version=None, new_version=None) -> dict:
    return {"at": utc(now), "clinic_id": clinic_id, "actor": actor or "unknown", "action": action,
            "subject": subject[:300], "outcome": outcome, "old_version": old_version, "new_version": new_version}


_REVISION = re.compile(r"""^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:["']([^"'\n]+)["']|None)\s*$""", re.M)


@functools.lru_cache(maxsize=None)
def migration_heads() -> frozenset[str]:
    """The newest revision(s) of ``progress_plugin/migrations``, read from the files' text.

    A revision no other one names as its ``down_revision``. When a file cannot be read
    this way (a merge has a tuple of parents) the answer is empty, so :meth:`Store.at_head`
    says False and alembic decides."""
    revisions, parents = set(), set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        found = dict(m.group(1, 2) for m in _REVISION.finditer(path.read_text(encoding="utf-8")))
        if found.get("revision"):
            revisions.add(found["revision"])
            if "down_revision" not in found:
                return frozenset()
            if found["down_revision"]:
                parents.add(found["down_revision"])
    return frozenset(revisions - parents)


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _jsonable(answers: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in answers.items()}


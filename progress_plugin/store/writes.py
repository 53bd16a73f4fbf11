"""Persisting the core's effects: one path for every effect, inside the caller's transaction.

Note tagging (and effects that only leave an audit row) is written in runs, with one
statement per table however many notes a run holds; every other effect has one writer.
:meth:`Writes.apply` is :meth:`Writes.apply_all` of one effect.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin.core import effects as fx
from progress_plugin.store import client_versions
from progress_plugin.store import tables as t
from progress_plugin.core.dates import as_dt, utc
from progress_plugin.store.audit import audit_values
from progress_plugin.store.engine import CHUNK, StoreBase, chunks, keys_in

#: Effects :meth:`Store.apply_all` writes in runs: note tagging, and those that only write an audit row.
_BATCHED = (fx.TagNote, fx.RejectNote, fx.RefuseNote)

# Statements of the batched paths, built once; lists go in through expanding parameters.
_CLINIC = sa.bindparam("clinic")
_IDS = sa.bindparam("ids", expanding=True)
_CLIENTS = sa.bindparam("clients", expanding=True)
_NOTE_IDS = sa.select(t.notes.c.note_id).where(t.notes.c.clinic_id == _CLINIC,
                                               t.notes.c.note_id.in_(sa.bindparam("values", expanding=True)))
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


class Writes(StoreBase):
    """Applying effects."""

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
        effects = list(effects)
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
        client_versions.touch(conn, client_versions.changed_clients(effects))


def _insert_rows(c: Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) with one executemany.

    On SQLite the rows go straight to the driver, each value through its column type's own
    bind processor (so they are stored exactly as ``table.insert()`` stores them), without
    SQLAlchemy's per-row parameter handling, which costs more than SQLite's insert."""
    if c.dialect.name != "sqlite":
        c.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    processors = [_kept(table.c[k].type._cached_bind_processor(c.dialect)) if isinstance(table.c[k].type, sa.JSON)
                  else table.c[k].type._cached_bind_processor(c.dialect) for k in columns]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    values = [[row[k] for row in rows] if p is None else [p(row[k]) for row in rows]   # column by column
              for k, p in zip(columns, processors)]
    c.exec_driver_sql(sql, list(zip(*values)))


def _kept(process):
    """A JSON column's bind processor that encodes each distinct list of strings once per
    statement (a page's tags repeat a few goal-id lists); other values go through as they are."""
    if process is None:
        return None
    seen: dict = {}

    def encode(value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return process(value)
        key = tuple(value)
        if key not in seen:
            seen[key] = process(value)
        return seen[key]
    return encode


def _write_run(c: Connection, run: list, actor: str, now: datetime, audit_tags: bool = True) -> None:
    """Write a run of note tagging and audit-only effects (no note twice) with one statement per table."""
    by_clinic: dict[str, list[fx.TagNote]] = {}
    for e in run:
        if isinstance(e, fx.TagNote):
            by_clinic.setdefault(e.clinic_id, []).append(e)
    for clinic_id, group in by_clinic.items():
        ids = [e.note.note_id for e in group]
        stored = set()
        for chunk in chunks(ids, CHUNK):
            stored.update(keys_in(c, _NOTE_IDS, "notes", "note_id", clinic_id, chunk))
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
        for chunk in chunks(sorted(stored), CHUNK):
            c.execute(_TAGS_CLEAR, {"clinic": clinic_id, "ids": chunk})
        # A note's ratings are written after its row (RecordRating follows TagNote), so only a
        # stored note can have any: a page of new notes skips the look-up.
        pairs = {(e.note.client_id, e.note.note_id) for e in group}
        found = []
        for chunk in chunks(sorted(stored), CHUNK):
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
        status=g.status, replaces=g.replaces, replaced_by=g.replaced_by,
        since=None if g.since is None else utc(g.since), updated_at=now))


def _write_rating(c: Connection, e: fx.RecordRating, now: datetime) -> None:
    r = e.rating
    _upsert(c, t.ratings, {"clinic_id": e.clinic_id, "client_id": e.client_id, "goal_id": r.goal_id,
                           "source": r.note_id or "baseline", "rater": r.rater},
            {"value": r.value, "level": r.level, "rated_at": as_dt(r.at) or now, "origin": r.source})


def _write_checkin(c: Connection, e: fx.RecordCheckin, now: datetime) -> None:
    """The check-in's row (its session check, skipped items null) and its goal ratings, origin ``self``.
    A check-in already stored is left as it is: the first one with an id is kept."""
    k = e.checkin
    sc = t.session_checks
    if c.execute(sa.select(sc.c.checkin_id).where(sc.c.clinic_id == e.clinic_id, sc.c.client_id == e.client_id,
                                                  sc.c.checkin_id == k.checkin_id)).first() is not None:
        return
    values = k.session_check.values() if k.session_check is not None else {}
    c.execute(sc.insert().values(clinic_id=e.clinic_id, client_id=e.client_id, checkin_id=k.checkin_id,
                                 at=utc(k.at), revisit=k.revisit, **values))
    for r in k.ratings:
        _upsert(c, t.ratings, {"clinic_id": e.clinic_id, "client_id": e.client_id, "goal_id": r.goal_id,
                               "source": k.checkin_id, "rater": r.rater},
                {"value": r.value, "level": None, "rated_at": utc(k.at), "origin": "self"})


def _write_untag(c: Connection, e: fx.UntagNote, now: datetime) -> None:
    c.execute(_TAGS_CLEAR, {"clinic": e.clinic_id, "ids": [e.note_id]})
    c.execute(_RATINGS_CLEAR, {"k_clinic": e.clinic_id, "k_client": e.client_id, "k_note": e.note_id})
    c.execute(_NOTE_DELETE, {"k_clinic": e.clinic_id, "k_note": e.note_id})


#: How each effect outside the batched runs is written (an effect not named writes nothing).
_WRITERS = {fx.RecordIntake: _write_intake, fx.UpsertGoal: _write_goal, fx.RecordRating: _write_rating,
            fx.UntagNote: _write_untag, fx.RecordCheckin: _write_checkin}


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
    elif isinstance(e, fx.RecordCheckin):
        action, subject, outcome = "checkin.record", f"client:{e.client_id} checkin:{e.checkin.checkin_id}", "ok"
    elif isinstance(e, fx.RejectCheckin):
        action, subject, outcome = "checkin.reject", f"client:{e.client_id} checkin:{e.checkin_id}", "rejected"
    elif isinstance(e, fx.UntagNote):
        action, subject, outcome = "note.delete", f"client:{e.client_id} note:{e.note_id}", "ok"
    else:
        return None
    return audit_values(e.clinic_id, actor, action, subject, outcome, now)


def _upsert(c: Connection, table: sa.Table, key: dict, values: dict) -> None:
    where = [table.c[k] == v for k, v in key.items()]
    if c.execute(table.update().where(*where).values(**values)).rowcount == 0:
        c.execute(table.insert().values(**key, **values))


def _jsonable(answers: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in answers.items()}

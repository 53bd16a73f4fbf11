"""Checkpoints: where a long job (a backfill) got to, per clinic and job name.

A job saves its checkpoint in the same transaction as the work it covers, so a stopped job
resumes where it stopped and never does a part twice.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc


def read(conn: Connection, clinic_id: str, name: str) -> tuple[str | None, int]:
    """``(value, done)``: where the job goes on from (None when it has finished, or never
    started) and how many items it has done; ``(None, 0)`` when nothing is saved."""
    row = conn.execute(sa.select(t.checkpoints.c.value, t.checkpoints.c.done).where(_key(clinic_id, name))).first()
    return (row.value or None, row.done) if row else (None, 0)


def save(conn: Connection, clinic_id: str, name: str, value: str | None, done: int, now: datetime) -> None:
    """Save where the job goes on from (None: it has finished) and how many items it has done."""
    values = {"value": value or "", "done": done, "updated_at": utc(now)}
    if conn.execute(_UPDATE, {"k_clinic": clinic_id, "k_name": name, **values}).rowcount == 0:
        conn.execute(t.checkpoints.insert().values(clinic_id=clinic_id, name=name, **values))


def clear(conn: Connection, clinic_id: str, name: str) -> None:
    """Forget the checkpoint: the job starts again from the beginning."""
    conn.execute(t.checkpoints.delete().where(_key(clinic_id, name)))


def _key(clinic_id: str, name: str):
    return sa.and_(t.checkpoints.c.clinic_id == clinic_id, t.checkpoints.c.name == name)


# Built once: a backfill saves its checkpoint after every page. SET takes the parameters
# named after columns; the key comes in through k_*.
_UPDATE = t.checkpoints.update().where(t.checkpoints.c.clinic_id == sa.bindparam("k_clinic"),
                                       t.checkpoints.c.name == sa.bindparam("k_name"))

"""What the store knows about each clinic, for ``clinics list|show`` and the console's home page.

Clinics themselves are created by :meth:`~progress_plugin.store.vocabularies.VocabularyStore.ensure_clinic`
(with the default vocabulary as version 1). Only ids, names, counts and dates are read here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from progress_plugin.core.dates import utc
from progress_plugin.core.vocabulary import Tag
from progress_plugin.errors import NotFound
from progress_plugin.store import Store
from progress_plugin.store import tables as t
from progress_plugin.store.vocabularies import no_clinic


@dataclass(frozen=True)
class ClinicFacts:
    clinic_id: str
    name: str
    language: str | None
    created_at: datetime
    version: int                  # the current vocabulary version
    changed_at: datetime          # when that version was made
    changed_by: str
    active_tags: int
    retired_tags: int
    notes: int                    # notes recorded (tagged or not)
    tagged_notes: int
    clients: int                  # clients with an intake
    tokens: int                   # tokens not revoked

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _counted(table, *where, column=None):
    what = sa.func.count(sa.distinct(column)) if column is not None else sa.func.count()
    return sa.select(what).select_from(table).where(table.c.clinic_id == sa.bindparam("clinic"), *where).scalar_subquery()


# The four counts in one statement (one round trip), built once.
_COUNTS = sa.select(_counted(t.notes), _counted(t.note_tags, column=t.note_tags.c.note_id), _counted(t.intakes),
                    _counted(t.tokens, t.tokens.c.revoked_at.is_(None)))
_LATEST = (sa.select(t.vocabulary_versions.c.version, t.vocabulary_versions.c.created_at,
                     t.vocabulary_versions.c.created_by)
           .where(t.vocabulary_versions.c.clinic_id == sa.bindparam("clinic"))
           .order_by(t.vocabulary_versions.c.version.desc()).limit(1))


def facts(store: Store, clinic_id: str) -> ClinicFacts:
    """One clinic's facts; :class:`NotFound` naming the commands that create it when it does not exist."""
    with store.engine.connect() as c:
        clinic = c.execute(sa.select(t.clinics).where(t.clinics.c.clinic_id == clinic_id)).first()
        if clinic is None:
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        version = c.execute(_LATEST, {"clinic": clinic_id}).first()
        tags = store.vocabulary(clinic_id, version.version).tags     # committed: built once, then kept
        notes, tagged, clients, tokens = c.execute(_COUNTS, {"clinic": clinic_id}).one()
        return ClinicFacts(
            clinic_id, clinic.name, clinic.language, utc(clinic.created_at), version.version,
            utc(version.created_at), version.created_by,
            sum(tag.active for tag in tags), sum(not tag.active for tag in tags), notes, tagged, clients, tokens)


def listing(store: Store) -> list[ClinicFacts]:
    """Every clinic's facts, by id."""
    with store.engine.connect() as c:
        ids = [r[0] for r in c.execute(sa.select(t.clinics.c.clinic_id).order_by(t.clinics.c.clinic_id))]
    return [facts(store, clinic_id) for clinic_id in ids]


def notes_by_code(store: Store, clinic_id: str) -> dict[str, int]:
    """How many notes carry each tag code (under any vocabulary version)."""
    nt = t.note_tags
    with store.engine.connect() as c:
        rows = c.execute(sa.select(nt.c.code, sa.func.count()).where(nt.c.clinic_id == clinic_id)
                         .group_by(nt.c.code))
        return {code: n for code, n in rows}


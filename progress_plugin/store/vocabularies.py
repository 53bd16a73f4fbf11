"""Clinics and their vocabulary versions. A version is never changed once written: an edit
stores the next version, so old notes keep the meaning they were tagged with."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc
from progress_plugin.errors import NotFound, PreconditionFailed
from progress_plugin.store.audit import write_audit
from progress_plugin.store.engine import StoreBase
from progress_plugin.core.vocabulary import Tag, Vocabulary, default
from progress_plugin.core.words import msg

_CURRENT_VERSION = sa.select(sa.func.max(t.vocabulary_versions.c.version)).where(
    t.vocabulary_versions.c.clinic_id == sa.bindparam("clinic"))


def no_clinic(clinic_id: str) -> str:
    """What to say about a clinic that does not exist: the commands that create it."""
    return msg("no clinic '{clinic}'; create it with `progress-plugin clinics add {clinic}`, "
               "or list it in the config file and run `progress-plugin migrate`", clinic=clinic_id)


class VocabularyStore(StoreBase):
    """Clinics and vocabularies."""

    def __init__(self, engine: Engine):
        super().__init__(engine)
        self._built: dict[tuple[str, int], Vocabulary] = {}     # see _current_vocabulary

    def ensure_clinic(self, clinic_id: str, now: datetime, name: str | None = None, conn: Connection | None = None,
                      language: str | None = None) -> bool:
        """Create the clinic with the default vocabulary as version 1. True when it was new.

        ``language``, when given, is the clinic's default language, set on an existing clinic too
        (the configuration says it)."""
        with self._conn(conn, write=True) as c:
            row = c.execute(sa.select(t.clinics.c.clinic_id, t.clinics.c.language)
                            .where(t.clinics.c.clinic_id == clinic_id)).first()
            if row is not None:
                if language is not None and row.language != language:
                    c.execute(t.clinics.update().where(t.clinics.c.clinic_id == clinic_id).values(language=language))
                    write_audit(c, clinic_id, "system", "clinic.language", f"clinic:{clinic_id}", "ok", now, None, None)
                return False
            try:
                with c.begin_nested():
                    c.execute(t.clinics.insert().values(clinic_id=clinic_id, name=name or clinic_id, created_at=utc(now),
                                                        language=language))
                    self._insert_vocabulary(c, clinic_id, default(), "system", "default vocabulary", now)
            except (sa.exc.IntegrityError, PreconditionFailed):   # another process created it first
                return False
            write_audit(c, clinic_id, "system", "clinic.create", f"clinic:{clinic_id}", "ok", now, None, 1)
            return True

    def clinic_language(self, clinic_id: str, conn: Connection | None = None) -> str | None:
        """The clinic's default language, or None (English; also for a clinic not yet created)."""
        with self._conn(conn) as c:
            return c.execute(sa.select(t.clinics.c.language).where(t.clinics.c.clinic_id == clinic_id)).scalar()

    def clinic_exists(self, clinic_id: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id)).first() is not None

    def current_version(self, clinic_id: str, conn: Connection | None = None) -> int:
        with self._conn(conn) as c:
            version = c.execute(sa.select(sa.func.max(t.vocabulary_versions.c.version))
                                .where(t.vocabulary_versions.c.clinic_id == clinic_id)).scalar()
        if version is None:
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        return version

    def vocabulary(self, clinic_id: str, version: int | None = None, conn: Connection | None = None) -> Vocabulary:
        with self._conn(conn) as c:
            if version is None:
                version = self.current_version(clinic_id, c)
            row = c.execute(sa.select(t.vocabulary_versions.c.tags).where(
                t.vocabulary_versions.c.clinic_id == clinic_id, t.vocabulary_versions.c.version == version)).first()
        if row is None:
            raise NotFound(msg("no vocabulary version {version} for clinic '{clinic}'", version=version,
                               clinic=clinic_id), clinic_id=clinic_id)
        return Vocabulary(version, tuple(Tag.from_stored(d) for d in row.tags))

    def vocabularies(self, clinic_id: str, versions, conn: Connection | None = None) -> dict[int, Vocabulary]:
        versions = sorted(set(versions))
        if not versions:
            return {}
        with self._conn(conn) as c:
            rows = c.execute(sa.select(t.vocabulary_versions.c.version, t.vocabulary_versions.c.tags).where(
                t.vocabulary_versions.c.clinic_id == clinic_id, t.vocabulary_versions.c.version.in_(versions)))
            return {r.version: Vocabulary(r.version, tuple(Tag.from_stored(d) for d in r.tags)) for r in rows}

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
                raise PreconditionFailed(msg("vocabulary is at version {current}, not {expected}; reload and try "
                                             "again", current=current, expected=expected_version), current=current)
            if vocabulary.version != current + 1:
                raise PreconditionFailed(f"vocabulary version {vocabulary.version} does not follow {current}",
                                         current=current)
            self._insert_vocabulary(c, clinic_id, vocabulary, actor, change, now)
            write_audit(c, clinic_id, actor, "vocabulary." + change.split(" ")[0], change, "ok", now,
                        current, vocabulary.version)
        return vocabulary

    def _insert_vocabulary(self, c, clinic_id, vocabulary, actor, change, now):
        try:
            c.execute(t.vocabulary_versions.insert().values(
                clinic_id=clinic_id, version=vocabulary.version, tags=[tag.as_dict() for tag in vocabulary.tags],
                created_at=utc(now), created_by=actor, change=change[:200]))
        except sa.exc.IntegrityError:
            raise PreconditionFailed(f"vocabulary version {vocabulary.version} was written concurrently") from None

    def _current_vocabulary(self, c, clinic_id: str) -> Vocabulary:
        """The clinic's current vocabulary. A version never changes once written, so each is built once."""
        version = c.execute(_CURRENT_VERSION, {"clinic": clinic_id}).scalar()
        if version is None:
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        vocabulary = self._built.get((clinic_id, version))
        if vocabulary is None:
            if len(self._built) > 32:
                self._built.clear()
            vocabulary = self._built[(clinic_id, version)] = self.vocabulary(clinic_id, version, conn=c)
        return vocabulary

"""A client's state as the core reads it: vocabularies, intake and goals, notes with their
tags and ratings. Loading only: the writes are in :mod:`progress_plugin.store.writes`."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from progress_plugin.store import tables as t
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.handle import ClientState
from progress_plugin.core.dates import as_date, utc
from progress_plugin.core.intake import EARLIER_VERSIONS, Goal, Intake, upgrade_answers
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.store.engine import CHUNK, chunks, keys_in
from progress_plugin.core.vocabulary import Vocabulary
from progress_plugin.store.vocabularies import VocabularyStore

# Statements of the batched loads, built once; lists go in through expanding parameters.
_CLINIC = sa.bindparam("clinic")
_IDS = sa.bindparam("ids", expanding=True)
_CLIENTS = sa.bindparam("clients", expanding=True)
_INTAKES_OF = sa.select(t.intakes.c.client_id).where(t.intakes.c.clinic_id == _CLINIC,
                                                     t.intakes.c.client_id.in_(sa.bindparam("values", expanding=True)))
_NOTES_NAMED = sa.select(t.notes).where(t.notes.c.clinic_id == _CLINIC, t.notes.c.note_id.in_(_IDS))
_TAGS_NAMED = (sa.select(t.note_tags).where(t.note_tags.c.clinic_id == _CLINIC, t.note_tags.c.note_id.in_(_IDS))
               .order_by(t.note_tags.c.note_id, t.note_tags.c.code))
# By client first: the ratings' key starts with (clinic_id, client_id).
_RATINGS_NAMED = sa.select(t.ratings).where(t.ratings.c.clinic_id == _CLINIC, t.ratings.c.client_id.in_(_CLIENTS),
                                            t.ratings.c.source.in_(_IDS))

_ANY_NOTE = sa.select(t.notes.c.note_id).where(t.notes.c.clinic_id == _CLINIC,
                                               t.notes.c.client_id == sa.bindparam("client")).limit(1)


class StateStore(VocabularyStore):
    """Loading clients' states."""

    def load_state(self, clinic_id: str, client_id: str, settings=None, conn: Connection | None = None) -> ClientState:
        with self._conn(conn) as c:
            vocabulary = self._current_vocabulary(c, clinic_id)      # each version built once
            intake = self._intake(c, clinic_id, client_id)
            notes = self._notes(c, clinic_id, client_id)
            used = {tag.vocabulary_version for n in notes.values() for tag in n.tags} - {vocabulary.version}
            kwargs = {"settings": settings} if settings is not None else {}
            checkins, on = self._checkins(c, clinic_id, client_id)
            return ClientState(clinic_id, client_id, vocabulary, self.vocabularies(clinic_id, used, c),
                               intake, notes, checkins=checkins, checkins_on=on, **kwargs)

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
            for chunk in chunks(list(notes_by_client), CHUNK):
                with_intake.update(keys_in(c, _INTAKES_OF, "intakes", "client_id", clinic_id, chunk))
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

    def _named_notes(self, c, clinic_id, wanted: dict[str, list[str]]) -> dict[str, dict[str, NoteProgress]]:
        """client id -> note id -> record, for the named notes each client has stored."""
        owner = {note_id: cid for cid, ids in wanted.items() for note_id in ids}
        rows, tags, ratings = [], {}, {}
        for chunk in chunks(sorted(owner), CHUNK):
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
                        Rating(row.goal_id, row.value, row.rater, row.level, row.source, utc(row.rated_at),
                               row.origin))
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
        # gas_levels and weight of goals saved before 2.0.0 are left unread (no longer asked)
        goals = tuple(Goal(g.goal_id, g.words, g.whose, g.baseline, g.rank, status=g.status, replaces=g.replaces,
                           replaced_by=g.replaced_by, since=None if g.since is None else utc(g.since))
                      for g in goal_rows)
        answers = dict(row.answers)
        if row.definition_version in EARLIER_VERSIONS:     # an intake saved with an earlier section
            answers = upgrade_answers(row.definition_version, answers)
        return Intake(row.intake_id, goals, row.review_cadence, row.agreed, as_date(row.agreed_on),
                      row.goals_reviewed, answers, as_date(row.review_date), row.definition_version)

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
                Rating(row.goal_id, row.value, row.rater, row.level, row.source, utc(row.rated_at),
                       row.origin))
        return {row.note_id: NoteProgress(row.note_id, client_id, utc(row.session_at), row.author,
                                          tuple(tags.get(row.note_id, ())), tuple(ratings.get(row.note_id, ())),
                                          row.signed) for row in rows}

    def _checkins(self, c, clinic_id, client_id) -> tuple[dict[str, Checkin], bool]:
        """The client's check-ins (with their goal ratings, origin ``self``), and whether check-ins are
        on for them: a check-in came, or a check-in link was ever made for them."""
        sc, r = t.session_checks, t.ratings
        rows = c.execute(sa.select(sc).where(sc.c.clinic_id == clinic_id, sc.c.client_id == client_id)).all()
        if not rows:
            linked = c.execute(sa.select(t.checkin_links.c.link_id).where(
                t.checkin_links.c.clinic_id == clinic_id, t.checkin_links.c.client_id == client_id).limit(1)).first()
            return {}, linked is not None
        ratings: dict[str, list[Rating]] = {}
        for row in c.execute(sa.select(r).where(r.c.clinic_id == clinic_id, r.c.client_id == client_id,
                                                r.c.origin == "self").order_by(r.c.goal_id)):
            ratings.setdefault(row.source, []).append(
                Rating(row.goal_id, row.value, row.rater, row.level, row.source, utc(row.rated_at), row.origin))
        out = {}
        for row in rows:
            check = SessionCheck(row.heard, row.mattered, row.fits, row.overall)
            out[row.checkin_id] = Checkin(row.checkin_id, utc(row.at), tuple(ratings.get(row.checkin_id, ())),
                                          check if check.answered else None, bool(row.revisit))
        return out, True

    def intake_and_notes(self, clinic_id: str, client_id: str, conn: Connection | None = None
                         ) -> tuple[Intake | None, bool]:
        """The client's intake, and whether any note of theirs is stored, read together: what a page
        that shows the goals needs, without the whole state :meth:`load_state` reads."""
        with self._conn(conn) as c:
            intake = self._intake(c, clinic_id, client_id)
            return intake, c.execute(_ANY_NOTE, {"clinic": clinic_id, "client": client_id}).first() is not None

    def for_tagging(self, clinic_id: str, client_id: str, note_id: str, conn: Connection | None = None
                    ) -> tuple[Vocabulary, Intake | None, NoteProgress | None]:
        """The clinic's current vocabulary, the client's intake and the record of one of their notes
        (as :meth:`load_state` has it in ``notes``), read together: what the tagging page shows."""
        n, nt, r = t.notes, t.note_tags, t.ratings
        with self._conn(conn) as c:
            vocabulary = self._current_vocabulary(c, clinic_id)
            intake = self._intake(c, clinic_id, client_id)
            row = c.execute(sa.select(n).where(n.c.clinic_id == clinic_id, n.c.client_id == client_id,
                                               n.c.note_id == note_id)).first()
            if row is None:
                return vocabulary, intake, None
            tags = tuple(AppliedTag(x.code, x.vocabulary_version, tuple(x.goal_ids)) for x in c.execute(
                sa.select(nt).where(nt.c.clinic_id == clinic_id, nt.c.note_id == note_id).order_by(nt.c.code)))
            ratings = tuple(Rating(x.goal_id, x.value, x.rater, x.level, x.source, utc(x.rated_at), x.origin)
                            for x in c.execute(sa.select(r).where(r.c.clinic_id == clinic_id, r.c.client_id == client_id,
                                                                  r.c.source == note_id, r.c.source != "baseline")))
        return vocabulary, intake, NoteProgress(row.note_id, client_id, utc(row.session_at), row.author, tags,
                                                ratings, row.signed)

    def has_intake(self, clinic_id: str, client_id: str, conn: Connection | None = None) -> bool:
        """True when the client's intake is stored."""
        with self._conn(conn) as c:
            return c.execute(sa.select(t.intakes.c.client_id).where(
                t.intakes.c.clinic_id == clinic_id, t.intakes.c.client_id == client_id)).first() is not None

    def clients(self, clinic_id: str) -> list[str]:
        with self.engine.connect() as c:
            ids = {r[0] for r in c.execute(sa.select(t.intakes.c.client_id).where(t.intakes.c.clinic_id == clinic_id))}
            ids |= {r[0] for r in c.execute(sa.select(t.notes.c.client_id).where(t.notes.c.clinic_id == clinic_id).distinct())}
        return sorted(ids)

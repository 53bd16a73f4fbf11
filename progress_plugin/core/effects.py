"""Typed effects: what the core asks the adapters to do. Each is idempotent by its key."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from progress_plugin.core.checkin import Checkin
from progress_plugin.core.intake import Goal, Intake
from progress_plugin.core.notes import NoteProgress, Rating
from progress_plugin.core.progress import Progress
from progress_plugin.core.vocabulary import Vocabulary


@dataclass(frozen=True)
class Effect:
    clinic_id: str

    #: True when the host should hear of this effect (write-back through the outbox).
    host_bound = False

    def key(self) -> str:
        """Idempotency key: applying two effects with the same key twice changes nothing."""
        raise NotImplementedError


def client_of(effect: Effect) -> str | None:
    """The client an effect is about, or None for the clinic's own (vocabulary, questionnaire).

    Stored beside each queued write-back, so erasing a client matches its rows by equality,
    never by taking its keys apart (ids may hold ``/``, ``%`` or ``_``)."""
    if isinstance(effect, TagNote):
        return effect.note.client_id
    if isinstance(effect, ShowPanel):
        return effect.progress.client_id
    return getattr(effect, "client_id", None)


@dataclass(frozen=True)
class RecordIntake(Effect):
    """Store the intake, and write it back. A draft (:attr:`Intake.status`) is recorded too, as a
    draft: it is never rejected, and no review is timed from it."""

    client_id: str
    intake: Intake
    author: str
    at: datetime
    host_bound = True

    def key(self) -> str:
        return f"intake/{self.clinic_id}/{self.client_id}/{self.intake.intake_id}"


@dataclass(frozen=True)
class UpsertGoal(Effect):
    client_id: str
    goal: Goal
    achievement: str | None = None      # goal-achievement code, on discharge
    host_bound = True

    def key(self) -> str:
        return f"goal/{self.clinic_id}/{self.client_id}/{self.goal.id}/{self.goal.status}/{self.achievement or ''}"


@dataclass(frozen=True)
class RecordRating(Effect):
    client_id: str
    rating: Rating
    host_bound = True

    def key(self) -> str:
        r = self.rating
        return f"rating/{self.clinic_id}/{self.client_id}/{r.goal_id}/{r.note_id or 'baseline'}/{r.rater}/{r.value}/{r.level}"


@dataclass(frozen=True)
class RecordCheckin(Effect):
    """Store the client's check-in (its goal ratings, source ``self``; its session check and revisit
    request), and write it back. Once per check-in id."""

    client_id: str
    checkin: Checkin
    host_bound = True

    def key(self) -> str:
        return f"checkin/{self.clinic_id}/{self.client_id}/{self.checkin.checkin_id}"


@dataclass(frozen=True)
class RejectCheckin(Effect):
    """A check-in that does not fit the client's goals or the 0-10 scale: nothing stored, one audit row."""

    client_id: str
    checkin_id: str
    messages: dict          # marshmallow-shaped field errors

    def key(self) -> str:
        return f"reject-checkin/{self.clinic_id}/{self.checkin_id}"


@dataclass(frozen=True)
class TagNote(Effect):
    note: NoteProgress
    host_bound = True

    def key(self) -> str:
        # Signing a note with the tags it was saved with writes nothing new to the host.
        codes = ",".join(sorted(f"{t.code}@{t.vocabulary_version}" for t in self.note.tags))
        return f"tags/{self.clinic_id}/{self.note.note_id}/{codes}"


@dataclass(frozen=True)
class UntagNote(Effect):
    client_id: str
    note_id: str

    def key(self) -> str:
        return f"untag/{self.clinic_id}/{self.note_id}"


@dataclass(frozen=True)
class RejectNote(Effect):
    note_id: str
    messages: dict          # marshmallow-shaped field errors

    def key(self) -> str:
        return f"reject/{self.clinic_id}/{self.note_id}"


@dataclass(frozen=True)
class RefuseNote(Effect):
    """A note not read: a protected one (psychotherapy or SUD counselling), or of a type the
    clinic does not let the plugin read. Nothing stored, one audit row with ``reason`` as outcome."""

    client_id: str
    note_id: str
    note_type: str
    reason: str = "refused-protected"      # notes.REFUSED_PROTECTED or notes.REFUSED_NOT_READABLE

    def key(self) -> str:
        return f"refuse/{self.clinic_id}/{self.note_id}"


@dataclass(frozen=True)
class FlagReviewDue(Effect):
    client_id: str
    last_reviewed: datetime
    cadence: str
    host_bound = True

    def key(self) -> str:
        return f"review/{self.clinic_id}/{self.client_id}/{self.last_reviewed.isoformat()}"


@dataclass(frozen=True)
class PublishVocabulary(Effect):
    vocabulary: Vocabulary
    host_bound = True

    def key(self) -> str:
        return f"vocabulary/{self.clinic_id}/{self.vocabulary.version}"


@dataclass(frozen=True)
class ShowPanel(Effect):
    progress: Progress
    audience: str = "therapist"

    def key(self) -> str:
        return f"panel/{self.clinic_id}/{self.progress.client_id}/{self.audience}"

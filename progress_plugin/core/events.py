"""Typed events: what the host tells the plugin. Adapters build them from hook calls or webhooks."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from progress_plugin.core.checkin import Checkin
from progress_plugin.core.intake import Intake
from progress_plugin.core.notes import Rating, TagInput
from progress_plugin.core.vocabulary import Vocabulary


@dataclass(frozen=True)
class Event:
    clinic_id: str
    at: datetime          # when the host says it happened; the core never reads a clock


@dataclass(frozen=True)
class IntakeSubmitted(Event):
    client_id: str
    intake: Intake
    author: str


@dataclass(frozen=True)
class NoteSaved(Event):
    client_id: str
    note_id: str
    session_at: datetime
    author: str
    tags: tuple[TagInput, ...] = ()
    note_type: str | None = None
    ratings: tuple[Rating, ...] = ()     # per goal, no tag needed


@dataclass(frozen=True)
class NoteSigned(NoteSaved):
    pass


@dataclass(frozen=True)
class NoteDeleted(Event):
    client_id: str
    note_id: str


@dataclass(frozen=True)
class CheckinSubmitted(Event):
    """The client sent their own check-in (through a check-in link). ``checkin.checkin_id`` is the
    same for a re-submission within the same window, so a second one changes nothing."""

    client_id: str
    checkin: Checkin


@dataclass(frozen=True)
class ClientDischarged(Event):
    client_id: str


@dataclass(frozen=True)
class VocabularyChanged(Event):
    vocabulary: Vocabulary
    actor: str = ""


@dataclass(frozen=True)
class PanelRequested(Event):
    client_id: str
    audience: str = "therapist"      # therapist | client

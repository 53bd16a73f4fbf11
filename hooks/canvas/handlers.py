"""The plugin's handlers: each forwards one kind of Canvas event to the progress-plugin service."""
from canvas_sdk.events import EventType
from canvas_sdk.handlers.application import NoteApplication
from canvas_sdk.handlers.base import BaseHandler

from canvas.forward import UNAVAILABLE, answers, code_of, find_note, forward, modal, note_facts, post

#: Note states that sign a note (locked, signed, relocked) or delete it.
FORWARDED_STATES = ("LKD", "SGN", "RLK", "DLT")


class NoteStateForwarder(BaseHandler):
    """A note was locked, signed, relocked or deleted: its progress tags are final (or gone)."""

    # Canvas records a state change as a new NoteStateChangeEvent and may update it; both count.
    RESPONDS_TO = [EventType.Name(EventType.NOTE_STATE_CHANGE_EVENT_UPDATED),
                   EventType.Name(EventType.NOTE_STATE_CHANGE_EVENT_CREATED)]

    def compute(self):
        context = self.event.context
        state = context.get("state")
        if state not in FORWARDED_STATES:
            return []
        note = find_note(context.get("note_id"))
        payload = {"event": "NOTE_STATE_CHANGE_EVENT_UPDATED", "event_id": str(self.event.target.id),
                   "state": state, "patient_id": str(context.get("patient_id") or "")}
        if note is not None:
            payload.update(note_facts(note))
        else:
            payload["note_id"] = str(context.get("note_id") or "")
        return forward(self.secrets, payload)


class QuestionnaireForwarder(BaseHandler):
    """One of the plugin's questionnaires was committed: the intake section or a session's tags."""

    RESPONDS_TO = EventType.Name(EventType.QUESTIONNAIRE_COMMAND__POST_COMMIT)

    def compute(self):
        context = self.event.context
        found = answers(context.get("fields") or {})
        if not found:
            return []      # not one of ours: nothing leaves Canvas
        note = find_note((context.get("note") or {}).get("uuid"))
        if note is None:
            return []
        payload = {"event": "QUESTIONNAIRE_COMMAND__POST_COMMIT", "event_id": str(self.event.target.id),
                   "answers": found}
        payload.update(note_facts(note))
        return forward(self.secrets, payload)


class GoalForwarder(BaseHandler):
    """A goal was set or updated in Canvas: check whether it is time to look at progress together.

    Only the coded fields are sent (achievement status, priority); the goal's wording stays here.
    """

    RESPONDS_TO = [EventType.Name(EventType.GOAL_COMMAND__POST_COMMIT),
                   EventType.Name(EventType.UPDATE_GOAL_COMMAND__POST_COMMIT)]

    def compute(self):
        context = self.event.context
        fields = context.get("fields") or {}
        note = find_note((context.get("note") or {}).get("uuid"))
        patient = (context.get("patient") or {}).get("id")
        payload = {"event": self.event.name, "event_id": str(self.event.target.id),
                   "patient_id": str(patient or ""),
                   "goal": {"achievement_status": code_of(fields.get("achievement_status")),
                            "priority": code_of(fields.get("priority"))}}
        if note is not None:
            payload.update(note_facts(note))
        if not payload["patient_id"]:
            return []
        return forward(self.secrets, payload)


class ProgressPanel(NoteApplication):
    """The progress panel as a tab in the note: the service's self-contained HTML."""

    NAME = "Progress"
    IDENTIFIER = "progress_plugin__panel"

    def on_open(self):
        context = self.event.context
        patient = (context.get("patient") or {}).get("id") or context.get("patient_id") or self.event.target.id
        payload = {"event": "APPLICATION__ON_OPEN", "event_id": str(self.event.target.id or ""),
                   "patient_id": str(patient or "")}
        note = find_note((context.get("note") or {}).get("id") or context.get("note_id"))
        if note is not None:
            payload.update(note_facts(note))
        answer = post(self.secrets, payload) if payload["patient_id"] else None
        for item in (answer or {}).get("effects") or []:
            if item.get("type") == "modal":
                return [modal(item["title"], item["html"])]
        return [modal("Progress", "<p>" + UNAVAILABLE + "</p>")]

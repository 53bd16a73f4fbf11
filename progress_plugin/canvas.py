"""``POST /canvas/<clinic>``: the service end of the Canvas Medical plugin in ``hooks/canvas/``.

Canvas runs plugins in a sandbox that cannot load this package, so the plugin there only
forwards. It sends each event as ids, codes and dates, plus the answers to our own two
questionnaires; it signs the body (``X-Signature``: hex HMAC-SHA256 with the clinic's
secret); and it turns the effects in our answer into Canvas effects. Here the event is
verified, mapped to one of our events, run through the core within this request (Canvas
waits for the answer) and answered with the effects as JSON. Canvas applies those
write-backs itself, so nothing on this path goes to the outbox.

Checks run in the receiver's order: body size (413), content type (415), signature (401),
JSON (400), schema (422); then ``sent_at``, inside the signed body, must be within 5 minutes
of now (401). The clinic must be configured with the ``x-signature`` scheme.

Events:

- a note locked, signed or relocked: ``NoteSigned`` with the tags recorded for the note;
  deleted: ``NoteDeleted``;
- the "Defining progress together" questionnaire committed: ``IntakeSubmitted``;
- the "Progress this session" questionnaire committed: ``NoteSaved`` with its tags;
- a goal set or updated in Canvas: a check of whether it is time to look at progress together;
- the progress tab opened in a note: ``PanelRequested``.

The two questionnaires are generated here (:func:`questionnaires`) and ship in
``hooks/canvas/questionnaires/``; the question codes tie their answers to our fields.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

import marshmallow as ma
from flask import Blueprint, request
from marshmallow import fields, validate, validates_schema

from progress_plugin import effects as fx
from progress_plugin import events as ev
from progress_plugin import panel, schemas, signatures
from progress_plugin.app import answer
from progress_plugin.errors import ValidationError
from progress_plugin.intake import FIELDS, GOAL_FIELDS, MAX_GOALS, RATING_MAX, RATING_MIN
from progress_plugin.notes import Rating, TagInput, classify_note_type
from progress_plugin.receiver import read_signed_json
from progress_plugin.schema_fields import ID, AwareDateTime, FreeJSON, Inbound, Int, Text
from progress_plugin.vocabulary import Vocabulary, default

log = logging.getLogger("progress_plugin.canvas")
blueprint = Blueprint("canvas", __name__)

WIRE_VERSION = 1
INTAKE, SESSION = "pp-intake", "pp-session"
TAGS_KEY = "progress-plugin-tags"              #: note metadata key holding a note's tag codes
#: Protocol cards, one of each per patient: the review, the intake, the latest note's tags.
REVIEW_CARD = "progress-plugin-review"
INTAKE_CARD = "progress-plugin-intake"
TAGS_CARD = "progress-plugin-note-tags"
TAGS_TITLE, INTAKE_TITLE = "Progress tags", "Defining progress together"
SIGNED_STATES = ("LKD", "SGN", "RLK")
DELETED_STATE = "DLT"
GOAL_ACHIEVEMENT = ("in-progress", "improving", "worsening", "no-change", "achieved", "sustaining",
                    "not-achieved", "no-progress", "not-attainable")
GOAL_PRIORITY = ("high-priority", "medium-priority", "low-priority")
EVENTS = ("NOTE_STATE_CHANGE_EVENT_UPDATED", "QUESTIONNAIRE_COMMAND__POST_COMMIT", "GOAL_COMMAND__POST_COMMIT",
          "UPDATE_GOAL_COMMAND__POST_COMMIT", "APPLICATION__ON_OPEN")
#: Intake fields the Canvas questionnaire leaves out: the date comes from the note's date of
#: service, and the private reflection never goes into a note.
NOT_ASKED = ("goals", "agreed_on", "private_reflection")
YES_NO = (("yes", "Yes"), ("no", "No"))
MAX_EPOCH = 2 ** 37                 #: epoch seconds: about the year 6325


# -- the two questionnaires ---------------------------------------------------------------
def _question(code: str, content: str, kind: str, responses=()) -> dict:
    """One question. ``responses`` are (code, label) pairs; a TXT question gets its placeholder."""
    if kind == "TXT":
        responses = ((f"{code}.text", "TXT"),)
    return {"code_system": "INTERNAL", "code": code, "content": content, "responses_code_system": "INTERNAL",
            "responses_type": kind, "responses": [{"name": label, "code": c} for c, label in responses]}


def _when(question: dict, code: str, value: str) -> dict:
    question["enabled_behavior"] = "all"
    question["enabled_conditions"] = [{"question_code": code, "operator": "=", "value_code": value}]
    return question


RATINGS = tuple((str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1))


def intake_questions() -> list[dict]:
    """The intake section as Canvas questions: three goals, then the section's other fields."""
    out = []
    words, whose, baseline = (next(f for f in GOAL_FIELDS if f.id == i) for i in ("words", "whose", "baseline"))
    for rank in range(1, MAX_GOALS + 1):
        prefix = f"{INTAKE}.g{rank}"
        optional = "" if rank == 1 else " (optional)"
        out.append(_question(f"{prefix}.words", f"Goal {rank}{optional}: {words.label}", "TXT"))
        out.append(_question(f"{prefix}.whose", f"Goal {rank}: {whose.label}", "SING",
                             tuple((o.code, o.label) for o in whose.options)))
        out.append(_question(f"{prefix}.baseline", f"Goal {rank}: {baseline.label}", "SING", RATINGS))
    for field in FIELDS:
        if field.id in NOT_ASKED:
            continue
        code = f"{INTAKE}.{field.id}"
        if field.type == "choice":
            out.append(_question(code, field.label, "SING", tuple((o.code, o.label) for o in field.options)))
            if field.other_allowed:
                out.append(_when(_question(f"{code}_other", "In your own words", "TXT"), code, "other"))
        elif field.type == "boolean":
            out.append(_question(code, field.label, "SING", YES_NO))
        elif field.type == "date":
            out.append(_when(_question(code, f"{field.label} (YYYY-MM-DD)", "TXT"),
                             f"{INTAKE}.review_cadence", "at-review"))
        else:
            out.append(_question(code, field.label, "TXT"))
    return out


def session_questions(vocabulary: Vocabulary) -> list[dict]:
    """A session's progress: tags for the session, and per goal the tag that fits it and a 0-10 rating."""
    tags = tuple((t.code, t.label) for t in vocabulary.active())
    out = [_question(f"{SESSION}.tags", "Progress tags for this session", "MULT", tags)]
    for rank in range(1, MAX_GOALS + 1):
        out.append(_question(f"{SESSION}.g{rank}.tag", f"Goal {rank}: the tag that fits it today", "SING", tags))
        out.append(_question(f"{SESSION}.g{rank}.rating", f"Goal {rank}: the client's rating today, 0-10",
                             "SING", RATINGS))
    return out


def questionnaires(vocabulary: Vocabulary | None = None) -> dict[str, dict]:
    """The Canvas questionnaire templates, by file name. Tags come from ``vocabulary`` (the default)."""
    vocabulary = vocabulary or default()
    return {
        "defining_progress_together.yml": {
            "name": "Defining progress together", "form_type": "QUES", "code_system": "INTERNAL", "code": INTAKE,
            "can_originate_in_charting": True,
            "prologue": "Filled in together, early on. Goals are written in the client's own words; "
                        "goal 1 is required.",
            "questions": intake_questions()},
        "progress_this_session.yml": {
            "name": "Progress this session", "form_type": "QUES", "code_system": "INTERNAL", "code": SESSION,
            "can_originate_in_charting": True,
            "prologue": "Progress is not a straight line: setbacks, stirring up and holding steady count too.",
            "questions": session_questions(vocabulary)},
    }


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)    # a JSON string is a double-quoted YAML scalar


def _yaml(value, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _yaml(item, indent + 1)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            sub = _yaml(item, indent + 1)
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines += sub[1:]
        return lines
    return [pad + _scalar(value)]


def to_yaml(document: dict) -> str:
    return "# Generated by progress_plugin.canvas; do not edit by hand.\n" + "\n".join(_yaml(document)) + "\n"


def write_questionnaires(directory, vocabulary: Vocabulary | None = None) -> list[Path]:
    """Write the templates into ``directory`` (``hooks/canvas/questionnaires``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in questionnaires(vocabulary).items():
        (directory / name).write_text(to_yaml(document), encoding="utf-8")
        written.append(directory / name)
    return written


#: Each question's response type (SING, MULT or TXT), by question code.
ANSWER_TYPES = {q["code"]: q["responses_type"] for doc in questionnaires().values() for q in doc["questions"]}


# -- the wire format ----------------------------------------------------------------------
class NoteTypeSchema(Inbound):
    system = Text(load_default="", validate=validate.Length(max=200))
    code = Text(load_default="", validate=validate.Length(max=200))
    name = Text(load_default="", validate=validate.Length(max=200))


class GoalChangeSchema(Inbound):
    achievement_status = Text(allow_none=True, validate=validate.OneOf(GOAL_ACHIEVEMENT))
    priority = Text(allow_none=True, validate=validate.OneOf(GOAL_PRIORITY))


class CanvasEventSchema(Inbound):
    """One forwarded Canvas event. No field carries note text."""

    version = Int(required=True, strict=True, validate=validate.Equal(WIRE_VERSION))
    event = Text(required=True, validate=validate.OneOf(EVENTS))
    event_id = Text(required=True, validate=validate.Length(max=128))
    sent_at = Int(required=True, strict=True, validate=validate.Range(min=0, max=MAX_EPOCH))
    patient_id = Text(required=True, validate=ID)
    note_id = Text(validate=validate.Length(max=128))
    author = Text(validate=ID)
    session_at = AwareDateTime()
    note_type = fields.Nested(NoteTypeSchema)
    state = Text(validate=validate.Length(max=8))
    answers = fields.Dict(keys=Text(), values=FreeJSON())
    goal = fields.Nested(GoalChangeSchema)

    @validates_schema
    def check(self, data, **kwargs):
        problems = {}
        for code, value in (data.get("answers") or {}).items():
            kind = ANSWER_TYPES.get(code)
            if kind is None:
                problems[code] = ["Not a question of this plugin's questionnaires."]
            elif kind == "MULT":
                if not isinstance(value, list) or len(value) > 40 or \
                        not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
                    problems[code] = ["A list of up to 40 codes."]
            elif kind == "SING":
                if not isinstance(value, str) or not 0 < len(value) <= 64:
                    problems[code] = ["One code."]
            elif not isinstance(value, str) or not 0 < len(value) <= 4000:
                problems[code] = ["An answer of 1-4000 characters."]
        if problems:
            raise ma.ValidationError(problems, "answers")
        kinds = {code.split(".", 1)[0] for code in data.get("answers") or {}}
        if data.get("event") == "QUESTIONNAIRE_COMMAND__POST_COMMIT" and len(kinds) != 1:
            raise ma.ValidationError("Answers to exactly one of this plugin's questionnaires.", "answers")
        if data.get("event") in EVENTS[:2] and not data.get("note_id"):
            raise ma.ValidationError("Required for a note or questionnaire event.", "note_id")


canvas_event_schema = CanvasEventSchema()


# -- Canvas events -> our events ----------------------------------------------------------
def note_type(data: dict) -> str | None:
    """Our note type for Canvas's note type: its code, else its name, in normal form; a protected
    category when either is one (the one classification of every path; the core refuses it)."""
    kind = data.get("note_type")
    if not kind:
        return None
    return classify_note_type([kind["code"], kind["name"]]).kind


def stored_tags(record) -> tuple[TagInput, ...]:
    """The tags and ratings recorded for a note, as the tag input that records them again."""
    out, used = [], set()
    for tag in record.tags:
        ratings = tuple(Rating(r.goal_id, r.value, r.rater, r.level) for r in record.ratings
                        if r.goal_id in tag.goal_ids and (r.goal_id, r.rater) not in used)
        used.update((r.goal_id, r.rater) for r in ratings)
        out.append(TagInput(tag.code, tuple(tag.goal_ids), ratings))
    return tuple(out)


def _rating(code: str, where: str) -> int:
    if not (code.isascii() and code.isdigit() and RATING_MIN <= int(code) <= RATING_MAX):
        raise ValidationError({where: [f"Ratings are {RATING_MIN}-{RATING_MAX}."]})
    return int(code)


def session_tags(answers: dict) -> tuple[TagInput, ...]:
    """The tags of a "Progress this session" answer; a goal's tag links the goal and carries its rating."""
    picked: dict[str, tuple[list, list]] = {}
    problems = {}
    for rank in range(1, MAX_GOALS + 1):
        code = answers.get(f"{SESSION}.g{rank}.tag")
        rating = answers.get(f"{SESSION}.g{rank}.rating")
        if code is None:
            if rating is not None:
                problems[f"goal {rank}"] = ["Pick the tag that fits this goal today, to go with its rating."]
            continue
        goals, ratings = picked.setdefault(code, ([], []))
        goals.append(f"g{rank}")
        if rating is not None:
            ratings.append(Rating(f"g{rank}", _rating(rating, f"goal {rank}"), "client"))
    if problems:
        raise ValidationError(problems)
    for code in answers.get(f"{SESSION}.tags") or ():
        picked.setdefault(code, ([], []))
    return tuple(TagInput(code, tuple(goals), tuple(ratings)) for code, (goals, ratings) in picked.items())


def intake_payload(answers: dict, data: dict, at: datetime) -> dict:
    """The intake section, in the shape of :class:`~progress_plugin.schemas.IntakeSchema`."""
    payload: dict = {"goals": [], "intake_id": f"canvas-{data['event_id'] or data['note_id']}"[:128],
                     "agreed_on": (data.get("session_at") or at).date().isoformat()}
    for rank in range(1, MAX_GOALS + 1):
        goal = {k: answers[f"{INTAKE}.g{rank}.{k}"] for k in ("words", "whose", "baseline")
                if f"{INTAKE}.g{rank}.{k}" in answers}
        if goal:
            if "baseline" in goal:
                goal["baseline"] = _rating(goal["baseline"], f"goal {rank}")
            payload["goals"].append({"id": f"g{rank}", "rank": rank, **goal})
    booleans = {f.id for f in FIELDS if f.type == "boolean"}
    for code, value in answers.items():
        name = code.split(".", 1)[1]
        if "." in name:
            continue                            # a goal's answer, taken above
        if name in booleans:
            if value not in ("yes", "no"):
                raise ValidationError({name: ["Answer yes or no."]})
            value = value == "yes"
        payload[name] = value
    return payload


def _goals_by_rank(messages: dict, goals: list) -> dict:
    """Field errors with a goal's list index replaced by "goal <rank>", as the questionnaire says."""
    per_goal = messages.get("goals")
    if not isinstance(per_goal, dict):
        return messages
    out = {k: v for k, v in messages.items() if k != "goals"}
    for index, problems in per_goal.items():
        out[f"goal {goals[int(index)]['rank']}"] = problems
    return out


def to_event(clinic: str, data: dict, state_of) -> ev.Event | None:
    """Our event for a forwarded Canvas event; None when it is nothing for us (say, a note unlocked)."""
    at = datetime.fromtimestamp(data["sent_at"], tz=timezone.utc)
    client = data["patient_id"]
    kind = data["event"]
    if kind == "NOTE_STATE_CHANGE_EVENT_UPDATED":
        note_id = data["note_id"]
        if data.get("state") == DELETED_STATE:
            return ev.NoteDeleted(clinic, at, client, note_id)
        if data.get("state") not in SIGNED_STATES:
            return None
        record = state_of(client).notes.get(note_id)
        return ev.NoteSigned(clinic, at, client, note_id, data.get("session_at") or at, data.get("author") or "canvas",
                             stored_tags(record) if record else (), note_type(data))
    if kind == "QUESTIONNAIRE_COMMAND__POST_COMMIT":
        answers = data["answers"]
        if next(iter(answers)).startswith(INTAKE + "."):
            payload = intake_payload(answers, data, at)
            try:
                intake = schemas.load(schemas.intake_schema, payload)
            except ValidationError as exc:
                raise ValidationError(_goals_by_rank(exc.messages, payload["goals"])) from None
            return ev.IntakeSubmitted(clinic, at, client, intake, data.get("author") or "canvas")
        return ev.NoteSaved(clinic, at, client, data["note_id"], data.get("session_at") or at,
                            data.get("author") or "canvas", session_tags(answers), note_type(data))
    if kind == "APPLICATION__ON_OPEN":
        return ev.PanelRequested(clinic, at, client, "therapist")
    return None


# -- our effects -> what the plugin applies in Canvas -------------------------------------
def card(patient: str, key: str, title: str, narrative: str, status: str = "due") -> dict:
    return {"type": "protocol_card", "patient_id": patient, "key": key, "title": title,
            "narrative": narrative, "status": status}


def _flatten(messages, path=()) -> list[str]:
    if isinstance(messages, dict):
        return [m for key, value in messages.items() for m in _flatten(value, path + (key,))]
    if isinstance(messages, list):
        return [m for value in messages for m in _flatten(value, path)]
    where = " ".join(str(p) for p in path).replace("_", " ")
    return [f"{where}: {messages}" if where else str(messages)]


def cadence_label(code: str) -> str:
    field = next(f for f in FIELDS if f.id == "review_cadence")
    return next((o.label.lower() for o in field.options if o.code == code), code)


def review_card(svc, clinic: str, client: str, effects) -> dict | None:
    """The "look at progress together" card: due now, or satisfied (which clears an earlier one)."""
    due = next((e for e in effects if isinstance(e, fx.FlagReviewDue)), None)
    review = None if due else svc.runtime.progress(clinic, client).review
    if due is None and review is None:
        return None                          # no intake yet: nothing to review
    last, cadence = (due.last_reviewed, due.cadence) if due else (review.last_reviewed, review.cadence)
    if due or review.due:
        return card(client, REVIEW_CARD, "Look at progress together",
                    f"Time to look again at what progress means, together. Last looked at on "
                    f"{last.date().isoformat()}; agreed: {cadence_label(cadence)}.")
    return card(client, REVIEW_CARD, "Look at progress together",
                f"Next time to look at progress together: {review.next_due}.", "satisfied")


def instructions(svc, clinic: str, client: str, event, effects) -> tuple[str, list[dict]]:
    """The status and the Canvas-side effects for what the core answered."""
    out: list[dict] = []
    status = "ok"
    for effect in effects:
        if isinstance(effect, fx.TagNote):
            note = effect.note
            value = json.dumps({"codes": list(note.codes()), "vocabulary_version":
                                note.tags[0].vocabulary_version if note.tags else None, "signed": note.signed},
                               separators=(",", ":"))
            out.append({"type": "note_metadata", "note_id": note.note_id, "key": TAGS_KEY, "value": value})
            out.append(card(client, TAGS_CARD, TAGS_TITLE, f"Recorded for the session of "
                            f"{note.session_at.date().isoformat()}.", "satisfied"))
        elif isinstance(effect, fx.RejectNote):
            status = "rejected"
            out.append(card(client, TAGS_CARD, TAGS_TITLE,
                            "Not recorded: " + " ".join(_flatten(effect.messages))))
        elif isinstance(effect, fx.RefuseNote):
            status = "refused"
        elif isinstance(effect, fx.ShowPanel):
            state = svc.runtime.state(clinic, client)
            out.append({"type": "modal", "title": "Progress",
                        "html": panel.render_html(effect.progress, state.intake, effect.audience)})
        elif isinstance(effect, fx.RecordIntake):
            out.append(card(client, INTAKE_CARD, INTAKE_TITLE, f"Agreed on {effect.intake.agreed_on.isoformat()}; "
                            f"looking at it together: {cadence_label(effect.intake.review_cadence)}.", "satisfied"))
    if not isinstance(event, (ev.PanelRequested, ev.NoteDeleted)) and status == "ok":
        review = review_card(svc, clinic, client, effects)
        if review is not None:
            out.append(review)
    return status, out


# -- the endpoint -------------------------------------------------------------------------
def _answer(code: int, **body):
    return answer(code, **body)


@blueprint.post("/canvas/<clinic>")
def receive(clinic: str):
    from progress_plugin.app import services
    svc = services()
    cfg = svc.config
    clinic_cfg = cfg.clinics.get(clinic) if cfg else None
    if clinic_cfg is None or clinic_cfg.scheme != signatures.X_SIGNATURE:
        return _answer(404, error="unknown clinic, or not configured with the x-signature scheme")
    _, document, refusal = read_signed_json(cfg.max_body_bytes, ("application/json",), signatures.X_SIGNATURE,
                                            clinic_cfg.secrets, "canvas")
    if refusal is not None:
        return refusal
    try:
        data = schemas.load(canvas_event_schema, document)
    except ValidationError as exc:
        return _answer(422, json=exc.messages)
    now = svc.clock().timestamp()
    if abs(now - data["sent_at"]) > signatures.TOLERANCE:
        log.info("canvas refused clinic=%s reason=stale-sent-at", clinic)
        return _answer(401, error="sent_at is more than 5 minutes away from now")
    return _handle(svc, clinic, data)


def _handle(svc, clinic: str, data: dict):
    client = data["patient_id"]
    if data["event"] in ("GOAL_COMMAND__POST_COMMIT", "UPDATE_GOAL_COMMAND__POST_COMMIT"):
        review = review_card(svc, clinic, client, ())
        log.info("canvas goal change clinic=%s event=%s", clinic, data["event_id"])
        return _answer(200, status="ok", event=None, effects=[review] if review else [])
    try:
        event = to_event(clinic, data, lambda c: svc.runtime.state(clinic, c))
    except ValidationError as exc:
        problem = "Not recorded: " + " ".join(_flatten(exc.messages))
        if next(iter(data.get("answers") or {""}), "").startswith(INTAKE + "."):
            effect = card(client, INTAKE_CARD, INTAKE_TITLE, problem)
        else:
            effect = card(client, TAGS_CARD, TAGS_TITLE, problem)
        log.info("canvas event rejected clinic=%s event=%s type=%s", clinic, data["event_id"], data["event"])
        return _answer(200, status="rejected", event=None, effects=[effect])
    if event is None:
        return _answer(200, status="ignored", event=None, effects=[])
    effects = svc.runtime.dispatch(event)         # no outbox: Canvas applies these itself
    status, out = instructions(svc, clinic, client, event, effects)
    log.info("canvas event %s clinic=%s event=%s type=%s effects=%d", status, clinic, data["event_id"],
             type(event).__name__, len(out))
    return _answer(200, status=status, event=type(event).__name__, effects=out)


if __name__ == "__main__":            # python -m progress_plugin.canvas hooks/canvas/questionnaires
    for path in write_questionnaires(sys.argv[1] if len(sys.argv) > 1 else "hooks/canvas/questionnaires"):
        print(path)

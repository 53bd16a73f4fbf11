"""The Canvas plugin's handlers (hooks/canvas), with Canvas's own factories and a local service stand-in.

These run in the Canvas venv (``.venv-canvas``, made by ``scripts/canvas``): the ``canvas``
package pins Django, grpcio and PyJWT, which cannot share a venv with the service, and this
package cannot be imported there. ``scripts/canvas`` runs this file with that venv's pytest
(``--noconftest``, since tests/conftest.py imports the service). The service end is tested in
test_canvas_service.py; both ends together in test_canvas_e2e.py.

The stand-in service on 127.0.0.1 checks each request's ``X-Signature`` with its own HMAC
and answers with effects in the service's format.
"""
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import Mock

import pytest

pytest.importorskip("canvas_sdk", reason="runs in the Canvas venv through scripts/canvas (see the module docstring)")

import yaml  # noqa: E402
from canvas_sdk.effects import EffectType  # noqa: E402
from canvas_sdk.events import EventType  # noqa: E402
from canvas_sdk.questionnaires.utils import QuestionnaireConfig, _coding_errors, _enabled_condition_errors  # noqa: E402
from canvas_sdk.test_utils.factories import NoteFactory, NoteTypeFactory  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

HOOKS = Path(__file__).resolve().parent.parent / "hooks"
sys.path.insert(0, str(HOOKS))

from canvas import forward  # noqa: E402
from canvas.handlers import GoalForwarder, NoteStateForwarder, ProgressPanel, QuestionnaireForwarder  # noqa: E402

SECRET = "canvas-signing-secret-0123456789abcdef"
NOTE_TEXT = "The client talked about her sister"        # planted where a careless forwarder might look


class StandIn:
    """A service stand-in: records verified requests, answers with the next queued answer."""

    def __init__(self):
        self.requests, self.answers = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
                outer.requests.append({"path": self.path, "body": json.loads(body), "raw": body, "signed": ok,
                                       "type": self.headers["Content-Type"]})
                status, answer = outer.answers.pop(0) if outer.answers else (200, {"effects": []})
                data = json.dumps(answer).encode()
                self.send_response(status if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/progress"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    stand_in = StandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def secrets(service):
    return {"PROGRESS_SERVICE_URL": service.url, "PROGRESS_CLINIC_ID": "clinic-c", "PROGRESS_SIGNING_SECRET": SECRET}


@pytest.fixture
def note():
    kind = NoteTypeFactory.create(system="http://snomed.info/sct", code="448337001", name="Therapy session")
    return NoteFactory.create(note_type_version=kind, title=NOTE_TEXT)


def make_event(kind, context, target="target-1"):
    event = Mock()
    event.type = getattr(EventType, kind)
    event.name = kind
    event.context = context
    event.target = Mock(id=target)
    return event


def effect_types(effects):
    return [EffectType.Name(e.type) for e in effects]


TAGS = {"type": "note_metadata", "key": "progress-plugin-tags", "value": '{"codes":["setback"],"signed":true}'}


# -- note state ----------------------------------------------------------------------------
def test_a_locked_note_is_forwarded_as_ids_and_codes_and_tags_come_back_as_note_metadata(service, secrets, note):
    service.answers.append((200, {"effects": [dict(TAGS, note_id=str(note.id))]}))
    event = make_event("NOTE_STATE_CHANGE_EVENT_UPDATED",
                       {"state": "LKD", "note_id": str(note.id), "patient_id": str(note.patient.id)}, "nsce-1")
    effects = NoteStateForwarder(event=event, secrets=secrets).compute()

    (sent,) = service.requests
    assert sent["signed"] and sent["path"] == "/progress/canvas/clinic-c" and sent["type"] == "application/json"
    body = sent["body"]
    assert (body["event"], body["event_id"], body["state"]) == ("NOTE_STATE_CHANGE_EVENT_UPDATED", "nsce-1", "LKD")
    assert (body["note_id"], body["patient_id"], body["author"]) == (str(note.id), str(note.patient.id),
                                                                     str(note.provider.id))
    assert body["note_type"] == {"system": "http://snomed.info/sct", "code": "448337001", "name": "Therapy session"}
    assert body["session_at"] == note.datetime_of_service.isoformat() and body["version"] == 1
    assert NOTE_TEXT.encode() not in sent["raw"]
    assert sent["raw"] == forward.encode(body)                           # sorted keys, compact

    assert effect_types(effects) == ["UPSERT_NOTE_METADATA"]
    assert json.loads(effects[0].payload) == {"data": {"note_id": str(note.id), "key": TAGS["key"],
                                                       "value": TAGS["value"]}}


def test_the_note_may_be_named_by_its_database_number(service, secrets, note):
    event = make_event("NOTE_STATE_CHANGE_EVENT_CREATED", {"state": "SGN", "note_id": note.dbid,
                                                           "patient_id": str(note.patient.id)})
    NoteStateForwarder(event=event, secrets=secrets).compute()
    assert service.requests[0]["body"]["note_id"] == str(note.id)


@pytest.mark.parametrize("state", ["NEW", "ULK", "PSH", "BKD"])
def test_other_states_send_nothing(service, secrets, note, state):
    event = make_event("NOTE_STATE_CHANGE_EVENT_UPDATED", {"state": state, "note_id": str(note.id)})
    assert NoteStateForwarder(event=event, secrets=secrets).compute() == []
    assert service.requests == []


@pytest.mark.parametrize("status", [401, 422, 500])
def test_a_refusal_from_the_service_yields_no_effects(service, secrets, note, status):
    service.answers.append((status, {"effects": [dict(TAGS, note_id=str(note.id))]}))
    event = make_event("NOTE_STATE_CHANGE_EVENT_UPDATED", {"state": "LKD", "note_id": str(note.id)})
    assert NoteStateForwarder(event=event, secrets=secrets).compute() == []


def test_an_unreachable_service_yields_no_effects(secrets, note):
    secrets = dict(secrets, PROGRESS_SERVICE_URL="http://127.0.0.1:9/")     # discard port: refused
    event = make_event("NOTE_STATE_CHANGE_EVENT_UPDATED", {"state": "LKD", "note_id": str(note.id)})
    assert NoteStateForwarder(event=event, secrets=secrets).compute() == []


# -- questionnaires ------------------------------------------------------------------------
def questionnaire_fields(questions, answers):
    """``context.fields`` as Canvas sends it on QUESTIONNAIRE_COMMAND__POST_COMMIT."""
    extra = {"pk": 7, "name": "Progress this session", "questions": questions}
    return {"questionnaire": {"text": extra["name"], "extra": extra, "value": 7}, **answers}


SESSION_QUESTIONS = [
    {"pk": 40, "name": "question-40", "type": "MULT", "label": "Progress tags",
     "coding": {"code": "pp-session.tags", "system": "INTERNAL"},
     "options": [{"pk": 401, "code": "step-forward", "label": "Step forward", "value": ""},
                 {"pk": 402, "code": "setback", "label": "Setback", "value": ""},
                 {"pk": 403, "code": "holding-steady", "label": "Holding steady", "value": ""}]},
    {"pk": 41, "name": "question-41", "type": "SING", "label": "Goal 1: the tag",
     "coding": {"code": "pp-session.g1.tag", "system": "INTERNAL"},
     "options": [{"pk": 411, "code": "step-forward", "label": "Step forward", "value": ""}]},
    {"pk": 42, "name": "question-42", "type": "SING", "label": "Goal 1: rating",
     "coding": {"code": "pp-session.g1.rating", "system": "INTERNAL"},
     "options": [{"pk": 420 + n, "code": str(n), "label": str(n), "value": ""} for n in range(11)]},
    {"pk": 43, "name": "question-43", "type": "TXT", "label": "Anything else",         # not ours: never sent
     "coding": {"code": "QUES_OTHER", "system": "INTERNAL"}, "options": [{"pk": 430, "code": "x", "label": "x"}]},
]


def test_our_questionnaire_answers_are_sent_as_codes(service, secrets, note):
    service.answers.append((200, {"effects": [dict(TAGS, note_id=str(note.id)), {
        "type": "protocol_card", "patient_id": str(note.patient.id), "key": "progress-plugin-review",
        "title": "Look at progress together", "narrative": "Time to look again.", "status": "due"}]}))
    answers = {"question-40": [{"text": "Step forward", "value": 401, "comment": "", "selected": False},
                               {"text": "Setback", "value": 402, "comment": "", "selected": True},
                               {"text": "Holding steady", "value": 403, "comment": "", "selected": True}],
               "question-41": 411, "question-42": "426", "question-43": NOTE_TEXT}
    event = make_event("QUESTIONNAIRE_COMMAND__POST_COMMIT",
                       {"fields": questionnaire_fields(SESSION_QUESTIONS, answers), "note": {"uuid": str(note.id)}},
                       "cmd-1")
    effects = QuestionnaireForwarder(event=event, secrets=secrets).compute()

    body = service.requests[0]["body"]
    assert body["answers"] == {"pp-session.tags": ["setback", "holding-steady"], "pp-session.g1.tag": "step-forward",
                               "pp-session.g1.rating": "6"}
    assert (body["event_id"], body["note_id"], body["patient_id"]) == ("cmd-1", str(note.id), str(note.patient.id))
    assert NOTE_TEXT.encode() not in service.requests[0]["raw"]
    assert effect_types(effects) == ["UPSERT_NOTE_METADATA", "ADD_OR_UPDATE_PROTOCOL_CARD"]
    card = json.loads(effects[1].payload)
    assert (card["patient"], card["key"], card["data"]["status"], card["data"]["title"]) == (
        str(note.patient.id), "progress-plugin-review", "due", "Look at progress together")


@pytest.mark.parametrize("intake", ["pp-intake", "pp-intake-hi"])       # the English and the Hindi questionnaire
def test_intake_text_answers_are_sent_trimmed_and_empty_ones_left_out(service, secrets, note, intake):
    questions = [{"pk": 1, "name": "question-1", "type": "TXT", "label": "Goal 1",
                  "coding": {"code": f"{intake}.g1.words", "system": "INTERNAL"}, "options": []},
                 {"pk": 2, "name": "question-2", "type": "TXT", "label": "Better",
                  "coding": {"code": f"{intake}.better_looks_like", "system": "INTERNAL"}, "options": []},
                 {"pk": 3, "name": "question-3", "type": "SING", "label": "Agreed",
                  "coding": {"code": f"{intake}.agreed", "system": "INTERNAL"},
                  "options": [{"pk": 31, "code": "yes", "label": "Yes"}, {"pk": 32, "code": "no", "label": "No"}]}]
    fields = questionnaire_fields(questions, {"question-1": "  Sleep through most nights ", "question-2": "  ",
                                              "question-3": 31})
    event = make_event("QUESTIONNAIRE_COMMAND__POST_COMMIT", {"fields": fields, "note": {"uuid": str(note.id)}})
    QuestionnaireForwarder(event=event, secrets=secrets).compute()
    assert service.requests[0]["body"]["answers"] == {f"{intake}.g1.words": "Sleep through most nights",
                                                      f"{intake}.agreed": "yes"}


def test_another_questionnaire_never_leaves_canvas(service, secrets, note):
    import canvas_cli      # the CLI's own fixture: a committed tobacco questionnaire
    fixture = Path(canvas_cli.__file__).parent / "apps/emit/event_fixtures/QUESTIONNAIRE_COMMAND__POST_COMMIT.ndjson"
    context = json.loads(json.loads(fixture.read_text().splitlines()[0])["context"])
    context["note"]["uuid"] = str(note.id)
    event = make_event("QUESTIONNAIRE_COMMAND__POST_COMMIT", context)
    assert QuestionnaireForwarder(event=event, secrets=secrets).compute() == []
    assert service.requests == []


# -- goals -------------------------------------------------------------------------------
def test_goal_changes_send_codes_not_the_goal_wording(service, secrets, note):
    fields = {"goal_statement": NOTE_TEXT, "progress": NOTE_TEXT, "achievement_status":
              {"text": "Improving", "value": "improving"}, "priority": "high-priority", "start_date": "2026-01-12"}
    event = make_event("UPDATE_GOAL_COMMAND__POST_COMMIT",
                       {"fields": fields, "note": {"uuid": str(note.id)}, "patient": {"id": str(note.patient.id)}})
    GoalForwarder(event=event, secrets=secrets).compute()
    (sent,) = service.requests
    assert sent["body"]["goal"] == {"achievement_status": "improving", "priority": "high-priority"}
    assert sent["body"]["event"] == "UPDATE_GOAL_COMMAND__POST_COMMIT"
    assert NOTE_TEXT.encode() not in sent["raw"]


# -- the panel -----------------------------------------------------------------------------
def test_the_panel_shows_the_service_html_in_the_note(service, secrets, note):
    html = "<!doctype html><html><body><h1>Progress</h1></body></html>"
    service.answers.append((200, {"effects": [{"type": "modal", "title": "Progress", "html": html}]}))
    event = make_event("APPLICATION__ON_OPEN", {"note_id": note.dbid, "patient": {"id": str(note.patient.id)}},
                       "canvas.handlers:ProgressPanel")
    (effect,) = ProgressPanel(event=event, secrets=secrets).on_open()
    payload = json.loads(effect.payload)["data"]
    assert EffectType.Name(effect.type) == "LAUNCH_MODAL"
    assert (payload["content"], payload["target"], payload["url"]) == (html, "note", None)
    assert service.requests[0]["body"]["note_id"] == str(note.id)


def test_the_panel_says_so_when_the_service_is_down(service, secrets, note):
    service.answers.append((503, {}))
    event = make_event("APPLICATION__ON_OPEN", {"patient": {"id": str(note.patient.id)}})
    (effect,) = ProgressPanel(event=event, secrets=secrets).on_open()
    assert forward.UNAVAILABLE in json.loads(effect.payload)["data"]["content"]


# -- signing and the shipped questionnaires ------------------------------------------------
def test_signature_known_answer():
    # GitHub's published example: this secret and body give a digest starting 757107ea.
    assert forward.sign("It's a Secret to Everybody", b"Hello, World!").startswith("757107ea")


QUESTIONNAIRES = sorted(p.name for p in (HOOKS / "canvas" / "questionnaires").glob("*.yml"))


def test_each_language_ships_both_questionnaires():
    assert QUESTIONNAIRES == ["defining_progress_together.yml", "defining_progress_together_hi.yml",
                              "progress_this_session.yml", "progress_this_session_hi.yml"]


@pytest.mark.parametrize("name", QUESTIONNAIRES)
def test_questionnaires_fit_the_sdk_questionnaire_config(name):
    # The 0.261.0 wheel lacks schemas/questionnaire.json, so config_errors() cannot run here.
    # What can: the SDK's own TypedDicts (strict, no unknown keys) and its coding and
    # branching checks, plus the enumerations Canvas documents for those fields.
    config = yaml.safe_load((HOOKS / "canvas" / "questionnaires" / name).read_text())
    TypeAdapter(QuestionnaireConfig).validate_python(config)
    assert list(_coding_errors(config)) == [] and list(_enabled_condition_errors(config)) == []
    assert config["form_type"] in ("QUES", "SA", "EXAM", "ROS") and config["code_system"] == "INTERNAL"
    for question in config["questions"]:
        assert question["responses_type"] in ("SING", "MULT", "TXT")
        assert question["code"].startswith(forward.CODE_PREFIX) and question["code_system"] == forward.CODE_SYSTEM
        assert question["code"].startswith(config["code"] + ".")       # its own questionnaire's, in its language


def test_manifest_declares_the_handlers_the_variables_and_the_questionnaires():
    manifest = json.loads((HOOKS / "canvas" / "CANVAS_MANIFEST.json").read_text())
    variables = {v["name"]: v.get("sensitive", False) for v in manifest["variables"]}
    assert variables == {forward.SERVICE_URL: False, forward.CLINIC: False, forward.SECRET: True}
    for entry in manifest["components"]["questionnaires"]:
        assert (HOOKS / "canvas" / entry["template"]).is_file()
    responds = {e for cls in (NoteStateForwarder, QuestionnaireForwarder, GoalForwarder)
                for e in ([cls.RESPONDS_TO] if isinstance(cls.RESPONDS_TO, str) else cls.RESPONDS_TO)}
    assert {"NOTE_STATE_CHANGE_EVENT_UPDATED", "QUESTIONNAIRE_COMMAND__POST_COMMIT", "GOAL_COMMAND__POST_COMMIT",
            "UPDATE_GOAL_COMMAND__POST_COMMIT"} <= responds

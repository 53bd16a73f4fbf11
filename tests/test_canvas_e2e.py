"""End to end: Canvas's own plugin runner (``canvas run-plugins``) with the plugin from hooks/canvas,
events sent with ``canvas emit``, and our service on 127.0.0.1 answering the forwarded events.

The runner and the CLI come from the Canvas venv (``.venv-canvas``, made by ``scripts/canvas``);
the service runs here, in this process. The runner works offline: it keeps its data in a local
SQLite file (seeded below with Canvas's factories) and reads the plugin's variables from
``SECRETS.json`` in the plugin folder. It always listens on 127.0.0.1:50051.

The events are built the way Canvas sends them: the questionnaire commits carry
``context.fields["question-<pk>"]`` for the questions of the shipped YAML templates.
"""
import codecs
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from werkzeug.serving import make_server

from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app
from progress_plugin.store import Store

ROOT = Path(__file__).resolve().parent.parent
CANVAS = ROOT / ".venv-canvas" / "bin" / "canvas"
RUNNER_PORT = 50051                       # fixed in canvas's plugin runner
SECRET = "canvas-signing-secret-0123456789abcdef"
PATIENT, NOTE = "5350cd20de8a470aa570a852859ac87e", "b9a8c1b5-0f21-4d43-9a55-0c9d9f0d2a11"
GOAL_WORDS = "Sleep through most nights"

pytestmark = pytest.mark.skipif(not CANVAS.exists(), reason="needs the Canvas venv: run scripts/canvas first")

SEED = f'''
from canvas_sdk.test_utils.factories import NoteFactory, NoteTypeFactory, PatientFactory
kind = NoteTypeFactory.create(system="http://snomed.info/sct", code="448337001", name="Therapy session")
patient = PatientFactory.create(id="{PATIENT}")
NoteFactory.create(id="{NOTE}", patient=patient, note_type_version=kind, title="Session with a title")
'''


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def service(sqlite_url):
    from progress_plugin.service import settings
    config = settings.load({"store": {"url": sqlite_url},
                            "clinics": [{"id": "clinic-c", "scheme": "x-signature", "secrets": [SECRET]}]}, env={})
    app = create_app(Store.open(config.store_url), config=config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def runner(service, tmp_path):
    """``canvas run-plugins`` on a copy of hooks/canvas whose SECRETS.json points at our service."""
    if _listening(RUNNER_PORT):
        pytest.fail(f"127.0.0.1:{RUNNER_PORT} is taken; canvas run-plugins always listens there")
    plugin = tmp_path / "canvas"                       # the folder name is the plugin's name
    shutil.copytree(ROOT / "hooks" / "canvas", plugin, ignore=shutil.ignore_patterns("__pycache__"))
    (plugin / "SECRETS.json").write_text(json.dumps({
        "PROGRESS_SERVICE_URL": service[1], "PROGRESS_CLINIC_ID": "clinic-c", "PROGRESS_SIGNING_SECRET": SECRET}))
    (tmp_path / "seed.py").write_text(SEED)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PLUGIN_DIRECTORY")}
    env.update(CANVAS_NO_UPDATE_CHECK="1", PLUGIN_RUNNER_SIGNING_KEY="local-test-signing-key")
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(CANVAS), "run-plugins", "canvas", "--db-seed-file", "seed.py", "--reset-db"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while not (_listening(RUNNER_PORT) and b"Successfully loaded plugin" in log.read_bytes()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("canvas run-plugins did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    yield tmp_path, env, log
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def emit(runner, name: str, event_type: str, target: str, context: dict) -> list[dict]:
    """``canvas emit`` one event; the effects it prints, as ``{"type", "payload"}``."""
    folder, env, log = runner
    fixture = folder / f"{name}.ndjson"
    fixture.write_text(json.dumps({"EventType": event_type, "target": target, "context": json.dumps(context)}) + "\n")
    done = subprocess.run([str(CANVAS), "emit", str(fixture)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "ERROR" not in done.stdout, done.stdout + done.stderr
    effects = []
    for block in re.split(r"\n(?=type: )", done.stdout.strip()):
        kind = re.search(r"^type: (\w+)", block, re.M)
        payload = re.search(r'^payload: "(.*)"$', block, re.M)
        if kind and payload:      # protobuf text format: C escapes, octal for non-ASCII UTF-8 bytes
            text = codecs.escape_decode(payload.group(1).encode("ascii"))[0].decode("utf-8")
            effects.append({"type": kind.group(1), "payload": json.loads(text)})
    assert effects or "No effects returned" in done.stdout, done.stdout + log.read_text(errors="replace")[-2000:]
    return effects


def questionnaire_fields(template: str, answers: dict) -> dict:
    """``context.fields`` for a commit of the shipped template, as Canvas presents an installed questionnaire.

    ``answers`` maps a question code to an option code (SING), a list of them (MULT) or text (TXT).
    """
    config = yaml.safe_load((ROOT / "hooks" / "canvas" / "questionnaires" / template).read_text())
    questions, fields = [], {}
    for i, q in enumerate(config["questions"]):
        pk = 100 + i
        options = [{"pk": pk * 100 + j, "code": r["code"], "label": r["name"], "value": r.get("value", "")}
                   for j, r in enumerate(q["responses"])]
        questions.append({"pk": pk, "name": f"question-{pk}", "type": q["responses_type"], "label": q["content"],
                          "coding": {"code": q["code"], "system": q["code_system"]}, "options": options})
        by_code = {o["code"]: o["pk"] for o in options}
        answer = answers.get(q["code"])
        if q["responses_type"] == "TXT":
            fields[f"question-{pk}"] = answer or ""
        elif q["responses_type"] == "SING":
            fields[f"question-{pk}"] = by_code[answer] if answer else None
        else:
            fields[f"question-{pk}"] = [{"text": o["label"], "value": o["pk"], "comment": "",
                                         "selected": o["code"] in (answer or [])} for o in options]
    extra = {"pk": 9, "name": config["name"], "prologue": config.get("prologue", ""), "questions": questions}
    return {"questionnaire": {"text": config["name"], "extra": extra, "value": 9}, "result": "", **fields}


def test_run_plugins_and_emit_against_the_service(service, runner):
    app, _ = service
    intake = questionnaire_fields("defining_progress_together.yml", {
        "pp-intake.g1.words": GOAL_WORDS, "pp-intake.g1.whose": "client", "pp-intake.g1.baseline": "3",
        "pp-intake.review_cadence": "every-4-sessions", "pp-intake.agreed": "yes", "pp-intake.goals_reviewed": "yes"})
    effects = emit(runner, "intake", "QUESTIONNAIRE_COMMAND__POST_COMMIT", "cmd-intake",
                   {"fields": intake, "note": {"uuid": NOTE}})
    assert {e["type"] for e in effects} == {"ADD_OR_UPDATE_PROTOCOL_CARD"}
    state = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT)
    assert [(g.id, g.words, g.baseline) for g in state.intake.goals] == [("g1", GOAL_WORDS, 3)]

    tags = questionnaire_fields("progress_this_session.yml", {
        "pp-session.tags": ["holding-steady"], "pp-session.g1.tag": "step-forward", "pp-session.g1.rating": "5"})
    effects = emit(runner, "session", "QUESTIONNAIRE_COMMAND__POST_COMMIT", "cmd-session",
                   {"fields": tags, "note": {"uuid": NOTE}})
    (meta,) = [e for e in effects if e["type"] == "UPSERT_NOTE_METADATA"]
    value = json.loads(meta["payload"]["data"]["value"])
    assert meta["payload"]["data"]["note_id"] == NOTE and meta["payload"]["data"]["key"] == "progress-plugin-tags"
    assert (sorted(value["codes"]), value["signed"]) == (["holding-steady", "step-forward"], False)

    effects = emit(runner, "locked", "NOTE_STATE_CHANGE_EVENT_UPDATED", "nsce-1",
                   {"state": "LKD", "note_id": NOTE, "patient_id": PATIENT})
    (meta,) = [e for e in effects if e["type"] == "UPSERT_NOTE_METADATA"]
    value = json.loads(meta["payload"]["data"]["value"])
    assert meta["payload"]["data"]["note_id"] == NOTE
    assert (sorted(value["codes"]), value["signed"]) == (["holding-steady", "step-forward"], True)

    record = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes[NOTE]
    assert record.signed and record.author != "canvas"             # the author came from the seeded note
    assert record.session_at.year >= 2024
    with app.extensions["progress_plugin"].store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar() == 0

    effects = emit(runner, "panel", "APPLICATION__ON_OPEN", "progress_plugin__panel",
                   {"note_id": NOTE, "patient": {"id": PATIENT}})
    (modal,) = [e for e in effects if e["type"] == "LAUNCH_MODAL"]
    assert modal["payload"]["data"]["target"] == "note"
    assert modal["payload"]["data"]["content"].startswith("<!doctype html>")
    assert GOAL_WORDS in modal["payload"]["data"]["content"]

    log = runner[2].read_text(errors="replace")
    assert "progress service refused" not in log and "progress service unreachable" not in log
    assert GOAL_WORDS not in log                                    # the runner's log holds no client words

"""SMART App Launch end to end, in headless Chromium: the EHR stand-in (tests/smart_ehr.py, Authlib's
authorization server in front of the Medplum test host) shows its chart page with the app in a frame;
the app is launched with ``iss`` and ``launch``, the EHR authorizes it (PKCE S256, state, the
registered redirect URI, scopes), and the therapist, inside the frame, fills the intake, tags the
session's note with a goal rating and opens the panel.

Then the FHIR host itself is read: it holds the intake's QuestionnaireResponse, the Goal, the
Observations (the baseline and the session's rating) and the note's tag, and the note was never
sent back whole. The plugin's store holds the same. No token, code or state issued by the EHR appears
in any log line, cookie value or URL after the callback.
"""
from __future__ import annotations

import html
import logging
import threading

import pytest
import requests
from werkzeug.serving import make_server

from progress_plugin.service import settings
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, outbox
from progress_plugin.web.app import create_app

from tests.smart_app import TOKEN_KEY
from tests.test_smart_pages_browser import problems

CLINIC = "clinic-delhi"
CLIENT_ID = "progress-app"
REGISTERED = ["launch", "launch/patient", "openid", "fhirUser", "online_access", "patient/Patient.rs",
              "patient/Goal.crus", "patient/Observation.crus", "patient/QuestionnaireResponse.crus",
              "patient/DocumentReference.rus", "user/Questionnaire.rs"]


class _Later:
    """A WSGI app filled in once the server's port (the app's public URL) is known."""
    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class Chart:
    """The EHR's chart page, on its own address (as an EHR's web front end is not its FHIR API): it
    shows the app, launched with ``iss`` and ``launch``, in a frame."""

    def __init__(self):
        self.launch_url = ""
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ, start_response):
        body = (f'<!doctype html><html lang="en"><title>Chart</title><h1>Chart</h1><iframe title="Progress" '
                f'src="{html.escape(self.launch_url)}" style="width:1200px;height:2400px"></iframe>').encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    def open(self, page, launch_url: str) -> None:
        self.launch_url = launch_url
        page.goto(self.origin + "/chart")

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def world(tmp_path, smart_ehr, now):
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    chart = Chart()
    config = settings.load({
        "store": {"url": f"sqlite:///{tmp_path / 'progress.db'}"},
        "clinics": [{"id": CLINIC, "scheme": "standard-webhooks",
                     "secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="]}],
        "smart": {"public_url": base,
                  "ehrs": [{"id": "stand-in", "clinic": CLINIC, "iss": [smart_ehr.fhir_base], "client_id": CLIENT_ID,
                            "scopes": REGISTERED, "frame_ancestors": [chart.origin], "embedded": False}]},
    }, env={"PROGRESS_PLUGIN_SMART_KEY": TOKEN_KEY})
    store = Store.open(config.store_url)
    later.app = create_app(store, config=config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    smart_ehr.register_client(CLIENT_ID, auth="none", redirect_uris=[base + "/smart/callback"], scopes=REGISTERED)
    yield base, smart_ehr, store, chart
    chart.stop()
    server.shutdown()
    thread.join(5)
    store.close()


def choose(frame, name: str, value: str) -> None:
    frame.check(f'input[name="{name}"][value="{value}"]')


def fhir(ehr, path: str) -> list[dict]:
    """Resources straight from the FHIR host (Medplum), not through the app."""
    bundle = requests.get(f"{ehr.medplum_url}/{path}", timeout=10).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_launch_authorize_fill_the_intake_tag_the_note_and_open_the_panel(world, page, caplog, artifacts_dir):
    base, ehr, store, chart = world
    caplog.set_level(logging.DEBUG)
    patient = ehr.seed_patient(family="Kapoor", given="Meera")
    encounter = ehr.seed_encounter(patient)
    note = ehr.seed_note(patient, encounter=encounter)
    launch = ehr.launch(patient, encounter=encounter, document_reference=note)
    page.set_viewport_size({"width": 1280, "height": 900})

    chart.open(page, f"{base}/smart/launch?iss={ehr.fhir_base}&launch={launch}")
    frame = page.frame_locator("iframe")
    frame.get_by_role("link", name="Intake").first.click()
    app = next(f for f in page.frames if f.url.startswith(base))
    app.wait_for_url(base + "/smart/app/intake")
    app.fill("#hopes", "To feel less tired")
    app.fill("#goals-0-words", "Sleep through most nights")
    choose(app, "goals-0-whose", "client")
    choose(app, "goals-0-baseline", "3")
    choose(app, "review_cadence", "every-4-sessions")
    app.check("#agreed")
    app.check("#goals_reviewed")
    app.get_by_role("button", name="Save").first.click()
    app.get_by_text("Saved as agreed.").wait_for()
    assert problems(app) == []

    app.get_by_role("link", name="Tags and ratings").click()
    app.get_by_label("Step forward").check()
    app.locator('label[for^="rating-"][for$="-6"]').first.click()
    app.get_by_role("button", name="Save tags and ratings").click()
    app.get_by_text("Saved on this session's note.").wait_for()

    app.get_by_role("link", name="Progress").click()
    app.wait_for_url(base + "/smart/app/panel")
    app.get_by_text("Sleep through most nights").first.wait_for()
    assert app.get_by_text("Step forward").count() >= 1
    page.screenshot(path=str(artifacts_dir / "smart-e2e-panel-en-1280.png"), full_page=True)

    # The FHIR host holds what the therapist did, written with the launch's token.
    responses = fhir(ehr, f"QuestionnaireResponse?subject=Patient/{patient}")
    assert len(responses) == 1 and responses[0]["status"] == "completed"
    goals = fhir(ehr, f"Goal?subject=Patient/{patient}")
    assert [g["description"]["text"] for g in goals] == ["Sleep through most nights"]
    observations = fhir(ehr, f"Observation?subject=Patient/{patient}")
    assert sorted(o["valueInteger"] for o in observations) == [3, 6]
    assert all(o["focus"][0]["identifier"] == goals[0]["identifier"][0] for o in observations)   # the goal, by its key
    tagged = requests.get(f"{ehr.medplum_url}/DocumentReference/{note}", timeout=10).json()
    assert "step-forward" in [t["code"] for t in tagged["meta"].get("tag", [])]
    assert not [r for r in ehr.fhir_log if r.get("method") == "PUT" and "DocumentReference" in r.get("path", "")]
    # ... and every FHIR call the app made carried a token for this patient only.
    assert ehr.fhir_log and all(r.get("patient") in (None, patient) for r in ehr.fhir_log)

    with store.engine.connect() as conn:                           # nothing waits: the EHR took every write
        rows = outbox.rows(conn)
    assert rows and {(r["status"], r["target"]) for r in rows} == {("done", "smart:stand-in")}

    # The plugin's store saw the same: the panel, prompts and other adapters read it.
    seen = Runtime(store).state(CLINIC, patient)
    assert [g.words for g in seen.intake.goals] == ["Sleep through most nights"]
    assert [sorted(t.code for t in n.tags) for n in seen.notes.values()] == [["step-forward"]]

    # No token, code or state after the callback: not in a log line, a cookie or a URL.
    issued = ehr.issued_tokens()
    assert issued
    logged = "\n".join(r.getMessage() for r in caplog.records)
    cookies = " ".join(c["value"] for c in page.context.cookies())
    urls = " ".join(f.url for f in page.frames)
    for secret in issued:
        assert secret not in logged and secret not in cookies and secret not in urls

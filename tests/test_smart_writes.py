"""What the SMART app's pages do when the EHR refuses a write (progress_plugin.service.smart_writes):
the therapist reads the EHR's reason, the row waits in the outbox for the launch's EHR (never the
worker's), "Try again" or the next page load sends it, and a 401 goes up untouched."""
from __future__ import annotations

import html as html_mod

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.errors import HostAuthError
from progress_plugin.service import smart_writes
from progress_plugin.store import outbox
from progress_plugin.store import tables as t

from tests.smart_app import form_token, read, smart  # noqa: F401  (fixture)
from tests.test_smart_pages import of_patient, rows, send_intake, send_tags

REASON = "Questionnaire https://progress-plugin.org/fhir/Questionnaire/defining-progress-together is not known here"


def test_a_refused_write_shows_the_ehrs_reason_waits_for_this_ehr_and_try_again_sends_it(smart, medplum, sqlite_url):
    medplum.fault(status=422, method="PUT", path="QuestionnaireResponse", code="processing", text=REASON)
    client, answer = send_intake(smart)
    page = html_mod.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200 and "Saved as agreed." in page
    assert "Not yet in your notes system" in page and "The intake answers" in page and REASON in page
    assert 'name="page" value="intake"' in page and "Try again" in page

    (waiting,) = rows(smart, status="pending")
    assert waiting["target"] == "smart:ehr1" and waiting["kind"] == "upsert" and waiting["attempts"] == 1
    assert REASON in waiting["last_error"] and "HostRejected status=422" in waiting["last_error"]
    assert of_patient(smart, "QuestionnaireResponse") == [] and len(of_patient(smart, "Goal")) == 2
    assert smart.app.extensions["progress_plugin"].runtime.state("clinic-a", smart.launch.patient).intake

    with smart.store.begin() as c:                                 # the worker never takes a launch's row
        assert outbox.claim(c, "worker", smart.app.extensions["progress_plugin"].clock(), 30, 50) == []
    listed = CliRunner().invoke(main, ["--store", sqlite_url, "outbox", "list", "--status", "pending"])
    assert listed.exit_code == 0 and "smart:ehr1" in listed.output and "pending=1" in listed.output

    token = form_token(page)
    again = client.post("/smart/app/retry", data={"csrf_token": token, "page": "intake"})
    text = again.get_data(as_text=True)
    assert again.status_code == 200 and "Sent to your notes system." in text and "Not yet in your notes" not in text
    assert 'href="/smart/app/intake"' in text
    assert len(of_patient(smart, "QuestionnaireResponse")) == 1 and rows(smart, status="pending") == []


def test_the_next_page_load_sends_what_the_ehr_refused_before(smart, medplum):
    client, _ = send_intake(smart)
    medplum.fault(status=403, method="PATCH", path="DocumentReference", code="forbidden",
                  text="Tags on this note need the author's sign-off")
    answer = send_tags(smart, client)
    page = html_mod.unescape(answer.get_data(as_text=True))
    assert "The note's progress tags" in page and "Tags on this note need the author's sign-off" in page
    note_id = smart.launch.note.split("/")[1]
    assert "tag" not in read(smart.base, f"DocumentReference/{note_id}").get("meta", {})
    (waiting,) = rows(smart, status="pending")
    assert waiting["kind"] == "tags" and waiting["target"] == "smart:ehr1"

    home = client.get("/smart/app/").get_data(as_text=True)
    assert "Not yet in your notes system" not in home and rows(smart, status="pending") == []
    assert {c["code"] for c in read(smart.base, f"DocumentReference/{note_id}")["meta"]["tag"]} == {
        "step-forward", "stirring-up"}


def test_a_refused_token_goes_up_and_leaves_the_rows_untouched(smart, medplum):
    @smart.app.errorhandler(HostAuthError)
    def _ended(exc):                       # the launch side's handler ends the session here
        return f"ended {exc.status_code}", 401

    medplum.fault(status=401, method="PUT", path="Goal")
    client, answer = send_intake(smart)
    assert answer.status_code == 401 and answer.get_data(as_text=True) == "ended 401"
    waiting = rows(smart, status="pending")
    assert waiting and all(r["lease_owner"] is None and r["claims"] == 0 for r in waiting)
    assert all(r["last_error"] is None for r in waiting)
    assert client.get("/smart/app/").status_code == 200 and rows(smart, status="pending") == []


def test_an_ehr_that_does_not_answer_is_tried_later_not_refused(smart, medplum):
    medplum.fault(status=503, method="PUT", path="QuestionnaireResponse", count=5)
    _, answer = send_intake(smart)
    page = answer.get_data(as_text=True)
    assert "Your notes system did not answer. It is tried again shortly." in page
    (waiting,) = rows(smart, status="pending")
    with smart.store.engine.connect() as c:
        due = c.execute(sa.select(t.outbox.c.next_attempt_at).where(t.outbox.c.id == waiting["id"])).scalar()
    assert due is not None and waiting["attempts"] == 1


def test_a_row_refused_too_often_stops_and_try_again_puts_it_back(smart, medplum):
    medplum.fault(status=422, method="PUT", path="QuestionnaireResponse", count=5, text="still no")
    client, _ = send_intake(smart)
    for _ in range(4):                                              # max_attempts = 5 in tests/smart_app.py
        client.get("/smart/app/panel")
    (stopped,) = rows(smart, status="dead")
    assert stopped["attempts"] == 5 and stopped["target"] == "smart:ehr1"
    page = client.get("/smart/app/").get_data(as_text=True)
    assert "Stopped after several tries." in page
    again = client.post("/smart/app/retry", data={"csrf_token": form_token(page), "page": "home"})
    assert "Sent to your notes system." in again.get_data(as_text=True) and rows(smart, status="dead") == []


@pytest.mark.parametrize("body, said", [
    ('{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "a"}, {"details": {"text": "b"}}]}', "a; b"),
    ('{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "same"}, {"diagnostics": "same"}]}', "same"),
    ('{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "line\\none\\u0007"}]}', "line one"),
    ('{"resourceType": "Patient"}', ""), ("<html>oops</html>", ""), ("", ""), ('[1]', ""),
])
def test_the_ehrs_reason_is_its_operation_outcomes_words(body, said):
    assert smart_writes.ehr_reason(body) == said


def test_a_long_reason_is_cut():
    body = '{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "%s"}]}' % ("x" * 1000)
    assert len(smart_writes.ehr_reason(body)) == smart_writes.REASON_CHARS


def test_the_questionnaire_is_published_only_with_a_scope_that_may_create_one():
    from progress_plugin.service.smart_writes import may_publish
    patient_only = {"launch", "patient/QuestionnaireResponse.crus", "user/Questionnaire.rs"}
    assert not may_publish(patient_only) and not may_publish(())
    assert may_publish(patient_only | {"user/Questionnaire.cru"})
    assert may_publish({"system/*.cruds"}) and may_publish({"user/Questionnaire.write"})     # v2, v1

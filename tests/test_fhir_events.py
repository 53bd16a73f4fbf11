from datetime import datetime, timezone

import pytest

from progress_plugin.core import events as ev
from progress_plugin import schemas
from progress_plugin.fhir import resources as fhir
from progress_plugin.fhir import inbound as fhir_events
from progress_plugin.core.vocabulary import SYSTEM

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def doc(**extra):
    base = {"resourceType": "DocumentReference", "id": "d1", "subject": {"reference": "Patient/p1"},
            "date": "2026-01-04T10:00:00Z", "status": "current", "docStatus": "final",
            "meta": {"versionId": "3", "lastUpdated": "2026-01-04T11:00:00Z",
                     "tag": [{"system": SYSTEM, "code": "setback"}, {"system": "http://other", "code": "x"}]},
            "content": [{"attachment": {"data": "bm90ZSB0ZXh0"}}]}
    base.update(extra)
    return base


def test_keep_drops_content():
    kept = fhir_events.keep(doc())
    assert "content" not in kept and kept["meta"]["versionId"] == "3"


def test_final_document_is_a_signed_note_with_our_tags_only():
    event = fhir_events.document_event("clinic-a", fhir_events.keep(doc()), NOW)
    assert isinstance(event, ev.NoteSigned)
    assert (event.client_id, event.note_id) == ("p1", "d1") and [t.code for t in event.tags] == ["setback"]
    assert event.session_at == datetime(2026, 1, 4, 10, tzinfo=timezone.utc)


def test_preliminary_is_saved_and_entered_in_error_is_deleted():
    assert type(fhir_events.document_event("c", doc(docStatus="preliminary"), NOW)) is ev.NoteSaved
    assert type(fhir_events.document_event("c", doc(status="entered-in-error"), NOW)) is ev.NoteDeleted


def test_psychotherapy_type_is_marked_protected_and_carries_no_tags():
    event = fhir_events.document_event("c", doc(type={"coding": [{"system": "http://loinc.org", "code": "34746-8"}]}), NOW)
    assert event.note_type == "psychotherapy-note" and event.tags == ()
    event = fhir_events.document_event("c", doc(type={"text": "Psychotherapy note"}), NOW)
    assert event.note_type == "psychotherapy-note"


@pytest.mark.parametrize("spelling", ["Psychotherapy Note", "psychotherapy_note", "psychotherapy", "sud-counseling"])
def test_every_spelling_of_a_protected_type_is_protected_as_code_or_text(spelling):
    for kind in ({"text": spelling}, {"coding": [{"system": "urn:host:note-types", "code": spelling}]}):
        event = fhir_events.document_event("c", doc(type=kind), NOW)
        assert event.note_type in ("psychotherapy-note", "sud-counseling-note") and event.tags == ()


def test_a_type_that_only_mentions_psychotherapy_is_read_as_on_the_other_paths():
    event = fhir_events.document_event("c", doc(type={"text": "Psychotherapy progress note"}), NOW)
    assert event.note_type == "psychotherapy-progress-note" and [t.code for t in event.tags] == ["setback"]


def test_document_without_a_patient_is_ignored():
    assert fhir_events.document_event("c", doc(subject={"reference": "Group/g"}), NOW) is None


def test_questionnaire_response_round_trips_to_an_intake(intake):
    qr = fhir.questionnaire_response("clinic-a", "p1", intake, "t1", NOW)
    event = fhir_events.intake_event("clinic-a", {**qr, "id": "qr1"}, NOW)
    assert event.client_id == "p1"
    assert [(g.id, g.words, g.baseline) for g in event.intake.goals] == [(g.id, g.words, g.baseline) for g in intake.goals]
    assert event.intake.review_cadence == intake.review_cadence
    assert "private_reflection" not in event.intake.answers


def test_other_questionnaires_are_ignored():
    assert fhir_events.intake_event("c", {"questionnaire": "http://x/Questionnaire/phq9"}, NOW) is None


class Host:
    """A FHIR host that answers reads of its DocumentReferences (metadata only is asked for)."""

    def __init__(self, docs):
        self.docs = {d["id"]: d for d in docs}

    def read(self, rtype, rid, elements=None):
        assert rtype == "DocumentReference" and elements == fhir_events.NOTE_ELEMENTS
        return dict(self.docs[rid])


def test_the_worker_refuses_fhir_notes_of_types_the_clinic_does_not_list(service_config):
    import dataclasses

    from progress_plugin.store import inbox
    from progress_plugin.store import Store
    from progress_plugin.service.worker import Worker
    clinic = dataclasses.replace(service_config.clinics["clinic-a"], readable_note_types=frozenset({"11506-3"}))
    cfg = dataclasses.replace(service_config, clinics={"clinic-a": clinic})
    progress = {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]}
    docs = [doc(id="d-ok", type=progress), doc(id="d-other", type={"text": "Therapy session"}),
            doc(id="d-psy", type={"text": "Psychotherapy Note"})]
    store = Store.open(cfg.store_url)
    with store.begin() as conn:
        for d in docs:
            inbox.put(conn, "clinic-a", d["id"], "fhir.focus", {"focus": f"DocumentReference/{d['id']}"}, NOW)
    worker = Worker(store, cfg, clock=lambda: NOW, client=Host(docs))
    while worker.process_inbox():
        pass
    assert set(store.load_state("clinic-a", "p1").notes) == {"d-ok"}
    outcomes = {a["subject"].split()[1]: a["outcome"] for a in store.audit_rows("clinic-a") if a["action"] == "note.refuse"}
    assert outcomes == {"note:d-other": "refused-not-readable", "note:d-psy": "refused-protected"}
    store.close()


def test_a_draft_intake_is_an_in_progress_response_and_comes_back_a_draft(intake_payload):
    from fhir.resources.R4B import get_fhir_model_class
    draft = schemas.load(schemas.intake_schema, intake_payload(agreed=False, hopes="To sleep again"))
    qr = fhir.questionnaire_response("clinic-a", "p1", draft, "t1", NOW)
    get_fhir_model_class("QuestionnaireResponse").model_validate(qr)
    assert qr["status"] == "in-progress"
    assert {"linkId": "hopes", "answer": [{"valueString": "To sleep again"}]} in qr["item"]
    back = fhir_events.intake_event("clinic-a", {**qr, "id": "qr1"}, NOW).intake
    assert back.status == "draft" and back.answers["hopes"] == "To sleep again"
    agreed = schemas.load(schemas.intake_schema, intake_payload())
    assert fhir.questionnaire_response("clinic-a", "p1", agreed, "t1", NOW)["status"] == "completed"


def test_a_response_to_the_earlier_version_keeps_its_version_and_answers(intake_payload):
    old = schemas.load(schemas.intake_schema, intake_payload(definition_version="1.0.0", small_shift="One good night"))
    qr = fhir.questionnaire_response("clinic-a", "p1", old, "t1", NOW)
    assert qr["questionnaire"].endswith("|1.0.0")
    back = fhir_events.intake_event("clinic-a", {**qr, "id": "qr1"}, NOW).intake
    assert back.definition_version == "1.0.0" and back.answers["small_shift"] == "One good night"
    from progress_plugin.errors import ValidationError
    with pytest.raises(ValidationError) as caught:
        fhir_events.intake_event("clinic-a", {**qr, "id": "qr1", "questionnaire": qr["questionnaire"][:-5] + "9.9.9"}, NOW)
    assert "definition_version" in caught.value.messages

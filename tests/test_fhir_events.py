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


# -- QuestionnaireResponses as SDC form renderers write them -----------------------------------
CANONICAL = "https://progress-plugin.org/fhir/Questionnaire/defining-progress-together"


def coded(field, code, display=None):
    coding = {"system": f"https://progress-plugin.org/fhir/CodeSystem/{field}", "code": code}
    return {"valueCoding": {**coding, "display": display} if display else coding}


def answered(link, *answers, text=None, **extra):
    return {"linkId": link, **({"text": text} if text else {}), "answer": list(answers), **extra}


def goal_group(words, whose="client", baseline=3, rank=None, display=None):
    items = [answered("goals.words", {"valueString": words}, text="In your own words, what is this goal?"),
             answered("goals.whose", coded("whose", whose, display)),
             answered("goals.baseline", {"valueInteger": baseline})]
    if rank is not None:
        items.append(answered("goals.rank", {"valueInteger": rank}))
    return {"linkId": "goals", "text": "What would you like to work on?", "item": items}


def rendered(**overrides):
    """A response shaped as LHC-Forms writes one: its own meta tag and profile, item texts, the goals
    group repeated with one linkId, codings with and without display, the follow-up under its answer."""
    qr = {
        "resourceType": "QuestionnaireResponse", "id": "qr-7",
        "meta": {"profile": ["http://hl7.org/fhir/4.0/StructureDefinition/QuestionnaireResponse"],
                 "tag": [{"code": "lformsVersion: 40.1.3"}]},
        "status": "completed", "authored": "2026-01-05T10:15:42.067Z",
        "questionnaire": f"{CANONICAL}|2.0.0",
        "subject": {"reference": "Patient/p1", "display": "A client"},
        "item": [
            goal_group("Sleep through most nights", display="The client's", rank=1),
            goal_group("रात को पूरी नींद सोना", whose="carer", baseline=2),
            answered("saying_not_working", {**coded("saying_not_working", "other", "Another way"), "item": [
                answered("saying_not_working_other", {"valueString": "एक मैसेज, अगले दिन"})]}),
            answered("review_cadence", coded("review_cadence", "at-review")),
            answered("review_date", {"valueDate": "2026-03-15"}),
            answered("agreed", {"valueBoolean": True}),
            answered("agreed_on", {"valueDate": "2026-01-05"}),
            answered("goals_reviewed", {"valueBoolean": True}),
        ],
    }
    qr.update(overrides)
    return qr


def test_a_response_as_a_renderer_writes_it_is_the_intake_with_the_clients_words_exact():
    event = fhir_events.intake_event("clinic-a", rendered(), NOW)
    assert isinstance(event, ev.IntakeSubmitted) and event.client_id == "p1"
    assert [(g.id, g.words, g.whose, g.baseline, g.rank) for g in event.intake.goals] == [
        ("g1", "Sleep through most nights", "client", 3, 1), ("g2", "रात को पूरी नींद सोना", "carer", 2, 2)]
    assert event.intake.answers == {"saying_not_working": "other", "saying_not_working_other": "एक मैसेज, अगले दिन"}
    assert (event.intake.review_cadence, event.intake.review_date.isoformat()) == ("at-review", "2026-03-15")
    assert event.intake.is_agreed and event.intake.intake_id == "qr-7"
    assert event.at == datetime(2026, 1, 5, 10, 15, 42, 67000, tzinfo=timezone.utc) and event.author == "host"


def test_goal_answers_nested_under_the_groups_answer_and_fhir_datetimes_and_decimals_are_read():
    qr = rendered()
    first = qr["item"][0]
    qr["item"][0] = {"linkId": "goals", "answer": [{"item": first["item"]}]}     # nested one level down
    qr["item"][4] = answered("review_date", {"valueDateTime": "2026-03-15T00:00:00+05:30"})
    qr["item"][1]["item"][2] = answered("goals.baseline", {"valueDecimal": 2.0})
    event = fhir_events.intake_event("clinic-a", qr, NOW)
    assert [g.words for g in event.intake.goals] == ["Sleep through most nights", "रात को पूरी नींद सोना"]
    assert event.intake.review_date.isoformat() == "2026-03-15" and event.intake.goals[1].baseline == 2


def test_our_own_response_nests_the_follow_up_and_comes_back_the_same(intake_payload):
    given = schemas.load(schemas.intake_schema, intake_payload(
        saying_not_working="other", saying_not_working_other="A text the day after"))
    qr = fhir.questionnaire_response("clinic-a", "p1", given, "t1", NOW)
    (choice,) = [i for i in qr["item"] if i["linkId"] == "saying_not_working"]
    assert choice["answer"][0]["item"] == [{"linkId": "saying_not_working_other",
                                            "answer": [{"valueString": "A text the day after"}]}]
    assert "saying_not_working_other" not in [i["linkId"] for i in qr["item"]]
    back = fhir_events.intake_event("clinic-a", {**qr, "id": "qr1"}, NOW)
    assert back.intake.answers["saying_not_working_other"] == "A text the day after" and back.author == "t1"
    assert back.intake.goals == given.goals


@pytest.mark.parametrize("canonical, version", [(CANONICAL, "2.0.0"), (f"{CANONICAL}|2.0.0", "2.0.0")])
def test_the_canonical_may_carry_its_version_or_none(canonical, version):
    event = fhir_events.intake_event("clinic-a", rendered(questionnaire=canonical), NOW)
    assert event.intake.definition_version == version


@pytest.mark.parametrize("canonical", [f"{CANONICAL}-v2|2.0.0", "Questionnaire/defining-progress-together", None, 7])
def test_another_questionnaire_is_not_ours(canonical):
    assert fhir_events.intake_event("clinic-a", rendered(questionnaire=canonical), NOW) is None


@pytest.mark.parametrize("reference, client", [
    ("Patient/p1", "p1"), ("https://ehr.example/fhir/Patient/p1", "p1"), ("Patient/p1/_history/3", "p1"),
    ("Group/g1", None), ("Patient/", None), ("Patient/a/b", None), ("urn:uuid:1234", None)])
def test_the_subject_is_read_from_any_form_of_patient_reference(reference, client):
    event = fhir_events.intake_event("clinic-a", rendered(subject={"reference": reference}), NOW)
    assert (event.client_id if event else None) == client


def replace_item(link, new):
    qr = rendered()
    qr["item"] = [new if i["linkId"] == link else i for i in qr["item"]]
    return qr


@pytest.mark.parametrize("qr, path", [
    (rendered(item="goals"), ["item"]),
    (rendered(item=[{"answer": []}]), ["item", 0, "linkId"]),
    (rendered(item=[{"linkId": "hopes", "answer": {"valueString": "x"}}]), ["item", 0, "answer"]),
    (rendered(subject="Patient/p1"), ["subject"]),
    (rendered(authored=20260105), ["authored"]),
    (replace_item("review_cadence", answered("review_cadence", {"valueCoding": {"display": "Monthly"}})),
     ["review_cadence"]),
    (replace_item("review_cadence", answered("review_cadence", coded("review_cadence", "weekly"))), ["review_cadence"]),
    (replace_item("review_date", answered("review_date", {"valueDate": "2026-03"})), ["review_date"]),
    (replace_item("agreed", answered("agreed", {"valueBoolean": True}, {"valueBoolean": False})), ["agreed"]),
    (replace_item("agreed", answered("agreed", {"valueAttachment": {"url": "x"}})), ["agreed"]),
    (rendered(item=[*rendered()["item"], answered("agreed", {"valueBoolean": False})]), ["agreed"]),
    (rendered(item=[goal_group("Sleep", baseline=11)]), ["goals", 0, "baseline"]),
    (rendered(item=[goal_group("a"), goal_group("b"), goal_group("c"), goal_group("d")]), ["goals"]),
    (rendered(item=[{"linkId": "goals", "item": [*goal_group("a")["item"], answered("goals.words", {"valueString": "b"})]}]),
     ["goals", 0, "words"]),
    (rendered(item=[answered("hopes", {"valueString": "x", "item": [answered("a", {"valueString": "b", "item": [
        answered("c", {"valueString": "d", "item": [answered("e", {"valueString": "f", "item": [
            answered("g", {"valueString": "h", "item": [answered("i", {"valueString": "j"})]})]})]})]})]})]),
     ["item", 0, "answer", 0, "item"]),
    (rendered(item=[*rendered()["item"], answered("favourite_colour", {"valueString": "blue"})]), ["favourite_colour"]),
])
def test_bad_input_is_a_validation_error_naming_the_field(qr, path):
    from progress_plugin.errors import ValidationError
    with pytest.raises(ValidationError) as caught:
        fhir_events.intake_event("clinic-a", qr, NOW)
    where = caught.value.messages
    for step in path:
        assert step in where, (path, caught.value.messages)
        where = where[step]


@pytest.mark.parametrize("qr", [None, [], "QuestionnaireResponse", {"questionnaire": CANONICAL}])
def test_what_is_not_a_response_to_our_questionnaire_is_none(qr):
    assert fhir_events.intake_event("clinic-a", qr, NOW) is None

"""The client's check-in in FHIR: the "Between sessions" Questionnaire (SDC), and a check-in written
back as its QuestionnaireResponse and as Observations performed by the Patient; validated with
fhir.resources, and sent through the outbox to Medplum's in-memory FHIR server."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin import schemas
from progress_plugin.core import events as ev
from progress_plugin.core import effects as fx
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.notes import Rating
from progress_plugin.fhir import between_sessions as bs
from progress_plugin.fhir import questionnaire as sdc
from progress_plugin.fhir import writeback
from progress_plugin.hosts import artifacts
from progress_plugin.service.worker import Worker
from progress_plugin.store import Store
from progress_plugin.store import outbox

from tests.test_fhir_questionnaire import control, items, translations, value

AT = datetime(2026, 2, 3, 19, 30, tzinfo=timezone.utc)
CHECKIN = Checkin("checkin:k1", AT, (Rating("g1", 7, "client", None, "checkin:k1", AT, "self"),),
                  SessionCheck(8, None, 5, 6), True)


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def test_the_questionnaire_is_valid_and_carries_its_rules():
    q = valid(bs.questionnaire())
    assert (q["url"], q["version"], q["language"]) == (bs.URL, bs.VERSION, "en")
    assert q["meta"]["profile"] == [sdc.SDC_PROFILE]
    found = items(q)
    ratings = ["goals.rating", "session_check.heard", "session_check.mattered", "session_check.fits",
               "session_check.overall"]
    for link in ratings:
        assert found[link]["type"] == "integer" and control(found[link]) == "slider"
        assert (value(found[link], sdc.EXT_MIN_VALUE), value(found[link], sdc.EXT_MAX_VALUE)) == (0, 10)
        assert [control(found[f"{link}.{side}"]) for side in ("lower", "upper")] == ["lower", "upper"]
    assert value(found["goals"], sdc.EXT_MAX_OCCURS) == 3 and found["goals"]["repeats"] is True
    assert found["goals.goal"]["type"] == "reference" and value(found["goals.goal"], bs.EXT_REFERENCE_RESOURCE) == "Goal"
    assert found["session_check"]["enableWhen"] == [{"question": "had_session", "operator": "=", "answerBoolean": True}]
    assert found["revisit"]["type"] == "boolean"
    # every text in Hindi too, through the translation extension
    texts = [q] + [i for i in found.values()]
    key = {id(q): "title"}
    for element in texts:
        said = translations(element.get("_" + key.get(id(element), "text")))
        assert said.get("hi"), element.get("linkId", "title")
    assert translations(q["_title"]) == {"hi": "दो सेशन के बीच"}


def test_schemas_export_holds_it():
    assert artifacts.artifacts()["fhir/Questionnaire-between-sessions.json"] == bs.questionnaire()


def test_a_checkin_is_written_as_its_response_and_observations_by_the_patient():
    effect = fx.RecordCheckin("clinic-a", "p1", CHECKIN)
    ops = writeback.operations(effect, {})
    kinds = [(key.rsplit("/", 2)[-2:] if kind == "upsert" else key, kind) for key, kind, _ in ops]
    assert kinds[0] == ("questionnaire/between-sessions/1.0.0", "questionnaire")
    assert [k for k, _ in kinds[1:]] == [["checkin:k1", "response"], ["rating", "g1"], ["check", "heard"],
                                          ["check", "fits"], ["check", "overall"]]     # skipped: not written
    resources = [valid(payload["resource"]) for _, _, payload in ops]
    qr = resources[1]
    assert qr["questionnaire"] == f"{bs.URL}|{bs.VERSION}" and qr["author"] == {"reference": "Patient/p1"}
    assert qr["identifier"] == {"system": bs.CHECKIN_ID_SYSTEM, "value": "clinic-a/p1/checkin:k1"}
    q_links = set(items(bs.questionnaire()))
    answered = [i["linkId"] for i in qr["item"]] + [c["linkId"] for i in qr["item"] for c in i.get("item", [])]
    assert set(answered) <= q_links                                  # every answer is to one of its items
    for obs in resources[2:]:
        assert obs["performer"] == [{"reference": "Patient/p1"}]
        assert obs["derivedFrom"] == [{"type": "QuestionnaireResponse", "identifier": qr["identifier"]}]
    assert resources[2]["code"]["coding"][0]["code"] == "goal-rating" and resources[2]["valueInteger"] == 7
    assert [(o["code"]["coding"][0]["code"], o["valueInteger"]) for o in resources[3:]] == [
        ("session-check-heard", 8), ("session-check-fits", 5), ("session-check-overall", 6)]
    assert len({o["identifier"][0]["value"] for o in resources[2:]}) == 4


def test_a_session_note_rating_still_derives_from_its_note():
    from progress_plugin.fhir.resources import observation_resource
    obs = observation_resource("clinic-a", "p1", Rating("g1", 5, "client", None, "n1", AT))
    assert obs["derivedFrom"] == [{"reference": "DocumentReference/n1"}] and "category" not in obs


# -- through the outbox to Medplum ------------------------------------------------------------------
def drain(worker, rounds=20):
    for _ in range(rounds):
        if not worker.run_once():
            return
    raise AssertionError("worker did not drain")


def test_checkin_flow_to_medplum(service_config, medplum, intake_payload):
    cfg = dataclasses.replace(service_config, host_url=medplum.base_url, lease_seconds=2)
    store = Store.open(cfg.store_url)
    worker = Worker(store, cfg, clock=lambda: AT)
    intake = schemas.load(schemas.intake_schema, intake_payload())
    worker.runtime.dispatch(ev.IntakeSubmitted("clinic-a", AT, "p7", intake, "t1"))
    drain(worker)
    with store.engine.connect() as c:
        before = outbox.counts(c)["done"]
    medplum.reset()
    submitted = ev.CheckinSubmitted("clinic-a", AT, "p7", Checkin(
        "checkin:m1", AT, (Rating("g1", 6), Rating("g2", None)), SessionCheck(9, 8, None, 7), False))
    worker.runtime.dispatch(submitted)
    worker.runtime.dispatch(submitted)                       # the same check-in again: nothing more
    drain(worker)
    with store.engine.connect() as c:
        assert outbox.counts(c) == {"done": before + 6}      # questionnaire, response, 1 rating, 3 of 4 checks
    stats = medplum.stats()["counts"]
    assert stats.get("POST Questionnaire") == 1 and stats.get("PUT QuestionnaireResponse") == 1
    assert stats.get("PUT Observation") == 4
    base = medplum.base_url
    bundle = requests.get(f"{base}/QuestionnaireResponse", timeout=5,
                          params={"identifier": f"{bs.CHECKIN_ID_SYSTEM}|clinic-a/p7/checkin:m1"}).json()
    (qr,) = [valid(e["resource"]) for e in bundle["entry"]]
    assert qr["questionnaire"] == f"{bs.URL}|{bs.VERSION}" and qr["subject"] == {"reference": "Patient/p7"}
    observations = requests.get(f"{base}/Observation", params={"subject": "Patient/p7", "_count": 50},
                                timeout=5).json()["entry"]
    mine = [valid(e["resource"]) for e in observations if "/checkin:m1" in e["resource"]["identifier"][0]["value"]]
    codes = sorted((o["code"]["coding"][0]["code"], o["valueInteger"]) for o in mine)
    assert codes == [("goal-rating", 6), ("session-check-heard", 9), ("session-check-mattered", 8),
                     ("session-check-overall", 7)]
    assert all(o["performer"] == [{"reference": "Patient/p7"}] for o in mine)
    q = requests.get(f"{base}/Questionnaire", params={"url": bs.URL}, timeout=5).json()["entry"]
    assert [e["resource"]["version"] for e in q] == [bs.VERSION]
    # sent again (a replayed outbox): nothing new on the host
    medplum.reset()
    for key, kind, payload in writeback.operations(fx.RecordCheckin("clinic-a", "p7", dataclasses.replace(
            submitted.checkin, ratings=(Rating("g1", 6, "client", None, "checkin:m1", AT, "self"),))), {}):
        assert writeback.apply(worker.client, kind, payload).action in ("exists", "unchanged")
    store.close()

"""schemas/ is generated from the code: a test regenerates it and fails on any difference."""
import json
from pathlib import Path

import jsonschema
import pytest
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin import schemas
from progress_plugin.hosts import artifacts as export
from progress_plugin.fhir import resources as fhir
from progress_plugin.core import intake
from progress_plugin.core.vocabulary import default

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def test_schemas_folder_is_in_sync_with_the_code():
    stale = export.stale(SCHEMAS)
    assert stale == [], f"run `progress-plugin schemas export`; out of date: {stale}"


def test_no_stray_files_in_schemas_folder():
    expected = set(export.artifacts())
    present = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.json")}
    assert present == expected


@pytest.mark.parametrize("name", sorted(schemas.BOUNDARY))
def test_json_schema_is_valid_and_refuses_unknown_fields(name):
    doc = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["additionalProperties"] is False


def test_json_schema_agrees_with_marshmallow_on_a_sample(intake_payload):
    doc = json.loads((SCHEMAS / "intake.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(doc)
    assert list(validator.iter_errors(intake_payload())) == []
    bad = intake_payload(goals=[{"words": "x", "whose": "client", "baseline": 11}])
    assert [e.json_path for e in validator.iter_errors(bad)] == ["$.goals[0].baseline"]


@pytest.mark.parametrize("path", sorted(p for p in export.artifacts() if p.startswith("fhir/")))
def test_fhir_artifacts_validate_with_fhir_resources(path):
    data = json.loads((SCHEMAS / path).read_text())
    model = get_fhir_model_class(data["resourceType"]).model_validate(data)
    assert model.id == data["id"]


def test_questionnaire_covers_every_field_and_marks_who_answers():
    q = fhir.questionnaire()
    link_ids = [item["linkId"] for item in q["item"]]
    assert link_ids == [f.id for f in intake.FIELDS]
    assert q["url"] == intake.SECTION_URL and q["version"] == intake.SECTION_VERSION
    private = next(i for i in q["item"] if i["linkId"] == "private_reflection")
    assert {"url": fhir.EXT_THERAPIST_ONLY, "valueBoolean": True} in private["extension"]
    goals = next(i for i in q["item"] if i["linkId"] == "goals")
    assert goals["repeats"] and [c["linkId"] for c in goals["item"]][:3] == ["goals.words", "goals.whose", "goals.baseline"]


def test_every_code_is_in_its_value_set():
    """fhir.resources checks structure, not bindings: check codes against the value sets here."""
    cs, vs = fhir.codesystem(default()), fhir.valueset(default())
    cs_codes = {c["code"] for c in cs["concept"]}
    (include,) = vs["compose"]["include"]
    assert include["system"] == cs["url"]
    assert {c["code"] for c in include["concept"]} <= cs_codes
    directions = {p["valueCode"] for c in cs["concept"] for p in c["property"] if p["code"] == "direction"}
    assert directions <= {"toward", "steady", "mixed", "away", "none"}
    q = fhir.questionnaire()
    for item in q["item"]:
        field = next(f for f in intake.FIELDS if f.id == item["linkId"])
        if field.options:
            assert [o["valueCoding"]["code"] for o in item["answerOption"]] == [o.code for o in field.options]


def test_value_set_leaves_out_retired_codes_but_code_system_keeps_them():
    v2 = default().retire("setback")
    assert "setback" in {c["code"] for c in fhir.codesystem(v2)["concept"]}
    assert "setback" not in {c["code"] for c in fhir.valueset(v2)["compose"]["include"][0]["concept"]}
    status = next(p["valueCode"] for c in fhir.codesystem(v2)["concept"] if c["code"] == "setback"
                  for p in c["property"] if p["code"] == "status")
    assert status == "retired"


def test_write_back_resources_validate(intake):
    from progress_plugin.core.notes import Rating
    goal = fhir.goal_resource("clinic-a", "c1", intake.goals[0], "improving")
    obs = fhir.observation_resource("clinic-a", "c1", Rating("g1", 7, "client", 1, "n1", None))
    for res in (goal, obs):
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    assert goal["expressedBy"] == {"reference": "Patient/c1"} and goal["description"]["text"] == intake.goals[0].words
    assert obs["valueInteger"] == 7 and obs["derivedFrom"] == [{"reference": "DocumentReference/n1"}]

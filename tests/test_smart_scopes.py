"""The scopes a SMART launch asks for: only what the app uses, within the EHR's registration, v2 or v1."""
from progress_plugin.fhir import smart_scopes as s


def test_without_a_registration_the_app_asks_for_what_it_uses_in_v2():
    asked = s.requested(())
    assert asked[0] == "launch" and "patient/Goal.crus" in asked and "patient/DocumentReference.rus" in asked
    assert not any(".cruds" in x or x.endswith(".d") for x in asked)          # it never deletes
    assert "user/Questionnaire.rs" not in asked


def test_v1_gives_read_and_write_and_standalone_asks_for_a_patient():
    asked = s.requested((), "v1", standalone=True)
    assert asked[0] == "launch/patient" and "launch" not in asked
    assert {"patient/Goal.read", "patient/Goal.write", "patient/Patient.read"} <= set(asked)
    assert "patient/Patient.write" not in asked


def test_the_registration_narrows_what_is_asked():
    asked = s.requested(["launch", "openid", "fhirUser", "patient/*.cruds", "user/Questionnaire.read"])
    assert "patient/Observation.crus" in asked and "user/Questionnaire.rs" in asked
    assert "online_access" not in asked
    asked = s.requested(["launch", "patient/Goal.read", "patient/Goal.write"])
    assert asked == ["launch", "patient/Goal.crus"]
    assert s.requested(["patient/Goal.rs"]) == ["launch"]


def test_coverage_and_what_the_ehr_does_not_support():
    assert s.covered("patient/Goal.rs", ["patient/Goal.cruds"])
    assert not s.covered("patient/Goal.crus", ["patient/Goal.rs"])
    assert s.uncovered(["patient/Goal.crus", "launch", "x"], ["patient/*.cruds", "launch"]) == ["x"]
    assert s.parse("patient/Observation.rs?category=vital-signs") is None
    assert s.parse("patient/Goal.sr") is None                                  # letters out of order

"""The app registered at the SMART EHR stand-in (tests/smart_ehr.py), and the ``[smart]`` section that
points the app at it: shared by the launch, refusal, check and log tests."""
from __future__ import annotations

REDIRECT = "https://app.example/smart/callback"
CLIENT_ID = "progress-app"
EHR_ID = "ehr"
#: What the app asks for with no scopes configured (progress_plugin/fhir/smart_scopes.py), EHR and
#: standalone launch: the registration the README tells an administrator to make.
APP_SCOPES = ("launch launch/patient openid fhirUser online_access patient/Patient.rs patient/Goal.crus "
              "patient/Observation.crus patient/QuestionnaireResponse.crus patient/DocumentReference.rus").split()


def register_app(ehr, auth: str = "none", **kwargs):
    """Register the app at ``ehr`` (a public client unless ``auth`` says otherwise)."""
    return ehr.register_client(CLIENT_ID, auth=auth, redirect_uris=[REDIRECT], scopes=APP_SCOPES, **kwargs)


def smart_section(ehr, **overrides) -> dict:
    """A ``[smart]`` section with one EHR ``ehr`` (public client) for the stand-in ``ehr``; ``overrides``
    go to that EHR's entry."""
    entry = {"id": EHR_ID, "clinic": "clinic-a", "iss": [ehr.fhir_base], "client_id": CLIENT_ID,
             "frame_ancestors": ["https://ehr.example"], "standalone": True}
    entry.update(overrides)
    return {"public_url": "https://app.example", "ehrs": [entry]}

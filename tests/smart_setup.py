"""The app registered at the SMART EHR stand-in (tests/smart_ehr.py), and the ``[smart]`` section that
points the app at it: shared by the launch, refusal, check and log tests."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SECRET

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


def smart_toml(iss: str, *, public_url: str = "https://app.example", clinic: str = "clinic-a",
               ehr_id: str = EHR_ID, client_id: str = CLIENT_ID, **entry) -> str:
    """The ``[smart]`` section as config-file text: one EHR whose FHIR base is ``iss``; ``entry`` adds
    keys to that EHR's entry (``embedded=False``)."""
    fields = {"id": ehr_id, "clinic": clinic, "iss": [iss], "client_id": client_id, **entry}
    return (f'\n[smart]\npublic_url = "{public_url}"\n\n[[smart.ehrs]]\n'
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in fields.items()))


def write_config(folder: Path, iss: str, *, more: str = "", **entry) -> Path:
    """``progress-plugin.toml`` in ``folder``: a SQLite store there, clinic-a on Standard Webhooks,
    ``more`` (other sections), and :func:`smart_toml` for ``iss`` with ``entry``."""
    path = folder / "progress-plugin.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{folder}/p.db"\n{more}\n[[clinics]]\nid = "clinic-a"\n'
                    f'scheme = "standard-webhooks"\nsecrets = ["{SECRET}"]\n' + smart_toml(iss, **entry))
    return path

"""The SMART app's pages under test without the launch side: a service on a real SQLite store file,
with one configured EHR (the Medplum test host) and a ``before_request`` that puts a launch on
``g.smart_launch`` as the launch side does, whose FHIR client talks to Medplum.

``SmartApp.launch`` can be changed between requests (another note, no note, an encounter only).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace

import pytest
import requests
from flask import g

from progress_plugin.fhir.client import FHIRClient
from progress_plugin.service import settings
from progress_plugin.store import Store
from progress_plugin.web.smart import pages
from progress_plugin.web.smart.context import Launch

CLINIC = "clinic-a"
EHR = "ehr1"
FRAMER = "https://ehr.example.org"
TOKEN_KEY = "uJ8Cz3wVq9vE2h7m0QnB6kX1sRtYpLdA4fGiHjKlMno="
PSYCHOTHERAPY = {"coding": [{"system": "http://loinc.org", "code": "34746-8"}], "text": "Psychotherapy note"}
PROGRESS_NOTE = {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}],
                 "text": "Progress note"}
NOTE_TEXT = "Client spoke about her sister at length"


def config(store_url: str, fhir_base: str, **ehr):
    return settings.load({
        "store": {"url": store_url},
        "clinics": [{"id": CLINIC, "scheme": "standard-webhooks",
                     "secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="]}],
        "worker": {"max_attempts": 5},
        "smart": {"public_url": "https://progress.example.org",
                  "ehrs": [{"id": EHR, "clinic": CLINIC, "iss": [fhir_base], "client_id": "progress-app",
                            "frame_ancestors": [FRAMER], "embedded": False, **ehr}]},
    }, env={"PROGRESS_PLUGIN_SMART_KEY": TOKEN_KEY})


def create(base: str, resource: dict) -> dict:
    response = requests.post(f"{base}/{resource['resourceType']}", json=resource, timeout=10,
                             headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    return response.json()


def read(base: str, path: str) -> dict:
    response = requests.get(f"{base}/{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def search(base: str, path: str) -> list[dict]:
    return [e["resource"] for e in read(base, path).get("entry") or []]


def note(base: str, patient: str, *, kind=PROGRESS_NOTE, encounter: str | None = None, status="current",
         doc_status="preliminary") -> dict:
    import base64
    resource = {"resourceType": "DocumentReference", "status": status, "docStatus": doc_status, "type": kind,
                "subject": {"reference": f"Patient/{patient}"}, "date": "2026-03-02T10:00:00+00:00",
                "content": [{"attachment": {"contentType": "text/plain",
                                            "data": base64.b64encode(NOTE_TEXT.encode()).decode()}}]}
    if encounter:
        resource["context"] = {"encounter": [{"reference": f"Encounter/{encounter}"}]}
    return create(base, resource)


@dataclass
class SmartApp:
    app: object
    store: Store
    base: str                 # the EHR's FHIR base (Medplum)
    launch: Launch

    def client(self):
        return self.app.test_client()

    def use(self, **changes) -> None:
        self.launch = replace(self.launch, **changes)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found.group(1)


def build(store_url: str, medplum, *, frame_ancestors=(FRAMER,), embedded=False, blueprints=None,
          patient_name="Asha Verma") -> SmartApp:
    from progress_plugin.web.app import create_app
    cfg = config(store_url, medplum.base_url, frame_ancestors=list(frame_ancestors), embedded=embedded)
    store = Store.open(store_url)
    app = create_app(store, config=cfg, blueprints=[pages.blueprint] if blueprints is None else blueprints)
    patient = create(medplum.base_url, {"resourceType": "Patient", "name": [{"text": patient_name}]})["id"]
    encounter = create(medplum.base_url, {"resourceType": "Encounter", "status": "in-progress",
                                          "class": {"code": "AMB"}, "subject": {"reference": f"Patient/{patient}"}})["id"]
    doc = note(medplum.base_url, patient, encounter=encounter)
    launch = Launch(session_key="k" + uuid.uuid4().hex, ehr_id=EHR, clinic_id=CLINIC, fhir_base=medplum.base_url,
                    patient=patient, encounter=encounter, fhir_user="Practitioner/dr-meera",
                    fhir_context=(f"DocumentReference/{doc['id']}",), scopes=frozenset({"launch"}),
                    client=lambda: FHIRClient(medplum.base_url, backoff_factor=0.01, retries=1, timeout=(2, 10)))
    smart = SmartApp(app, store, medplum.base_url, launch)

    @app.before_request
    def _launched():                      # as the launch side does for paths under /smart/app/
        from flask import request
        if request.path.startswith("/smart/app/") and smart.launch is not None:
            g.smart_launch = smart.launch
    return smart


@pytest.fixture
def smart(sqlite_url, medplum):
    built = build(sqlite_url, medplum)
    yield built
    built.store.close()

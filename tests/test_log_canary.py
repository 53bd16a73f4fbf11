"""Client words planted in payloads never appear in any log line, at any level, from any logger."""
import dataclasses
import logging
import uuid

import requests

from progress_plugin.app import create_app
from progress_plugin.store import Store
from progress_plugin.worker import Worker

CANARY = "CANARY-7c1e-client-words"


def test_client_words_never_reach_the_logs(service_config, medplum, signed, caplog):
    caplog.set_level(logging.DEBUG)                     # every logger, every level, incl. urllib3
    cfg = dataclasses.replace(service_config, host_url=medplum.base_url)
    store = Store.open(cfg.store_url)
    app = create_app(store, config=cfg)
    http = app.test_client()
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = requests.post(f"{medplum.base_url}/DocumentReference", timeout=5, json={
        "resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "title": CANARY}}]}).json()["id"]
    intake = {"client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z", "intake": {
        "goals": [{"words": f"{CANARY} goal", "whose": "client", "baseline": 2}],
        "better_looks_like": CANARY, "small_shift": CANARY, "if_stirred_up": CANARY, "therapist_view": CANARY,
        "private_reflection": CANARY, "review_cadence": "every-session", "agreed": True,
        "agreed_on": "2026-01-05", "goals_reviewed": True}}
    note = {"client_id": client_id, "note_id": doc_id, "session_at": "2026-01-12T10:00:00Z", "author": "t1",
            "at": "2026-01-12T10:00:00Z",
            "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}]}
    bad = {**note, "text": CANARY}                       # refused at the schema
    protected = {**note, "note_type": "psychotherapy-note", "text": CANARY}
    for event_type, data in [("intake.submitted", intake), ("note.signed", note), ("note.saved", bad),
                             ("note.signed", protected)]:
        headers, body = signed(event_type, data)
        assert http.post("/webhooks/clinic-a", data=body, headers=headers).status_code in (200, 202, 422)
    worker = Worker(store, cfg)
    while worker.run_once():
        pass
    assert store.load_state("clinic-a", client_id).notes    # the path really ran
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 10
    assert not [line for line in lines if CANARY in line]

"""Backfill through a real FHIR server's paged search, with checkpoints."""
import uuid
from datetime import datetime, timezone

import requests

from progress_plugin.service import backfill
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.core.vocabulary import SYSTEM


def seed(base, n, patient):
    http = requests.Session()
    for i in range(n):
        http.post(f"{base}/DocumentReference", timeout=5, json={
            "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
            "subject": {"reference": f"Patient/{patient}"}, "date": f"2026-01-{i + 1:02d}T10:00:00Z",
            "meta": {"tag": [{"system": SYSTEM, "code": "holding-steady"}]},
            "content": [{"attachment": {"data": "bm90ZQ=="}}]})


def test_backfill_reads_every_page_resumes_and_is_idempotent(sqlite_store, medplum):
    patient = "bf-" + uuid.uuid4().hex[:8]
    seed(medplum.base_url, 23, patient)
    client = FHIRClient(medplum.base_url)
    now = lambda: datetime.now(timezone.utc)       # noqa: E731
    params = {"subject": f"Patient/{patient}"}
    pages = []
    done = backfill.run(sqlite_store, client, "clinic-a", now, page_size=10, params=params, max_pages=1,
                        on_page=lambda n, total: pages.append(n))
    assert done == 10 and pages == [10]
    assert backfill.checkpoint(sqlite_store, "clinic-a")[0] is not None
    done = backfill.run(sqlite_store, client, "clinic-a", now, page_size=10, params=params,
                        on_page=lambda n, total: pages.append(n))
    assert done == 23 and pages == [10, 20, 23]
    assert backfill.checkpoint(sqlite_store, "clinic-a") == (None, 23)
    state = sqlite_store.load_state("clinic-a", patient)
    assert len(state.notes) == 23 and all(n.signed and n.codes() == ("holding-steady",) for n in state.notes.values())
    assert backfill.run(sqlite_store, client, "clinic-a", now, page_size=10, params=params) == 23   # finished
    backfill.reset(sqlite_store, "clinic-a")
    assert backfill.run(sqlite_store, client, "clinic-a", now, page_size=10, params=params) == 23
    assert len(sqlite_store.load_state("clinic-a", patient).notes) == 23

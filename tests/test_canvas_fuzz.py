"""Hypothesis fuzz of ``POST /canvas/<clinic>``: correctly signed hostile events (tests/fuzz.py)
are never answered 5xx or with a traceback; nothing accepted breaks the client's panel."""
import itertools
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.web.signatures import sign_hex

from tests.fuzz import bodies, check_answer, fuzz_settings
from tests.test_canvas_service import CANVAS_SECRET, INTAKE_ANSWERS, PATIENT, note_facts

LIMIT = 64 * 1024
_ids = itertools.count(1)
SESSION_ANSWERS = {"pp-session.tags": ["holding-steady"], "pp-session.g1.tag": "step-forward",
                   "pp-session.g1.rating": "5"}
KINDS = [
    ("QUESTIONNAIRE_COMMAND__POST_COMMIT", {"answers": INTAKE_ANSWERS, **note_facts()}),
    ("QUESTIONNAIRE_COMMAND__POST_COMMIT", {"answers": SESSION_ANSWERS, **note_facts()}),
    ("NOTE_STATE_CHANGE_EVENT_UPDATED", {"state": "LKD", **note_facts()}),
    ("APPLICATION__ON_OPEN", {}),
    ("GOAL_COMMAND__POST_COMMIT", {"goal": {"achievement_status": "improving", "priority": "high-priority"}}),
]


def template(kind: int) -> dict:
    """A forwarded event the endpoint accepts, stamped now (sent_at must be within 5 minutes)."""
    name, facts = KINDS[kind]
    return {"version": 1, "event": name, "event_id": f"evt-{next(_ids)}", "sent_at": int(time.time()),
            "patient_id": PATIENT, **facts}


@pytest.fixture(scope="module")
def client(tmp_path_factory, app_factory):
    from progress_plugin.service import settings
    path = tmp_path_factory.mktemp("canvas-fuzz") / "p.db"
    cfg = settings.load({"store": {"url": f"sqlite:///{path}"}, "max_body_bytes": LIMIT,
                         "clinics": [{"id": "clinic-c", "scheme": "x-signature", "secrets": [CANVAS_SECRET]}]},
                        env={})
    return app_factory(config=cfg).test_client()


def post(client, body: bytes):
    return client.post("/canvas/clinic-c", data=body,
                       headers={"Content-Type": "application/json", "X-Signature": sign_hex(CANVAS_SECRET, body)})


@fuzz_settings(300)
@given(data=st.data(), kind=st.integers(0, len(KINDS) - 1))
def test_signed_hostile_events_are_never_5xx(client, fuzz_counts, data, kind):
    r = post(client, data.draw(bodies(template(kind), LIMIT)))
    check_answer("canvas", r.status_code, r.get_data())
    if r.status_code == 200:        # whatever was accepted, the panel still opens
        shown = post(client, json.dumps(template(3)).encode())
        check_answer("canvas: panel after an accepted event", shown.status_code, shown.get_data())
        assert shown.status_code == 200

"""Hypothesis fuzz of the pluggy hooks a Python host calls: hostile arguments (tests/fuzz.py, as
Python data) either come back as field errors or raise the documented ``ValidationError``,
never another exception; results are plain data that encodes as UTF-8; and whatever was
recorded, the client's chart panel and the admin page still render."""
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.hosts import plugin
from progress_plugin.errors import ValidationError
from progress_plugin.hosts.manager import make_manager
from progress_plugin.store import Store

from tests.fuzz import VALUES, check_answer, fuzz_settings, mutated, python

CLINIC, CLIENT, SECTION = "clinic-a", "c1", "defining-progress-together"
AT = "2026-01-05T09:00:00+00:00"
INTAKE = {"goals": [{"words": "Sleep through most nights", "whose": "client", "baseline": 3, "rank": 1},
                    {"words": "Say no to my boss \u202eonce\u202c", "whose": "client", "baseline": 2, "rank": 2}],
          "better_looks_like": "Waking up less tired", "review_cadence": "every-4-sessions",
          "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True, "private_reflection": "rescue"}
NOTE = {"clinic_id": CLINIC, "client_id": CLIENT, "note_id": "n1", "session_at": AT, "author": "t1", "at": AT,
        "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 6}]}]}
CALLS = {
    "intake_sections": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "audience": "therapist"},
    "validate_intake": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "section_id": SECTION, "answers": INTAKE},
    "intake_submitted": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "section_id": SECTION, "answers": INTAKE,
                         "author": "t1", "at": AT},
    "note_fields": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "note_type": None},
    "validate_note": {"locale": None, "note": NOTE},
    "note_saved": {"locale": None, "note": NOTE},
    "note_signed": {"locale": None, "note": NOTE},
    "note_deleted": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "note_id": "n1", "at": AT},
    "chart_panels": {"locale": None, "clinic_id": CLINIC, "client_id": CLIENT, "audience": "client"},
    "admin_pages": {"locale": None, "clinic_id": CLINIC},
}


@pytest.fixture(scope="module")
def pm(tmp_path_factory):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('hooks-fuzz') / 'p.db'}")
    pm = make_manager()
    pm.get_plugin("progress").setup(store=store, clock=lambda: datetime(2026, 3, 2, tzinfo=timezone.utc))
    pm.hook.intake_submitted(**CALLS["intake_submitted"])
    yield pm
    plugin.reset()
    store.close()


def plain_text(result) -> str:
    """The result as UTF-8 JSON text (fails on a lone surrogate, a NaN or a non-plain value)."""
    return json.dumps(result, ensure_ascii=False, allow_nan=False).encode("utf-8").decode("utf-8")


def call(pm, boundary: str, name: str, kwargs: dict):
    try:
        result = getattr(pm.hook, name)(**kwargs)
    except ValidationError as exc:             # the documented refusal of malformed host input
        check_answer(boundary, 422, plain_text(exc.messages))
        return None
    check_answer(boundary, 200, plain_text(result))
    return result


@fuzz_settings(300)
@given(name=st.sampled_from(sorted(CALLS)), data=st.data())
def test_hostile_hook_arguments(pm, fuzz_counts, name, data):
    kwargs = dict(CALLS[name])
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(kwargs)))
        kwargs[key] = python(data.draw(VALUES))
    else:
        for key in ("note", "answers"):
            if key in kwargs:
                kwargs[key] = python(data.draw(mutated(kwargs[key])))
    call(pm, "hooks: arguments", name, kwargs)
    # whatever that recorded, the views of the clinic and client still render
    for after in ("chart_panels", "admin_pages", "intake_sections"):
        (shown,) = call(pm, "hooks: views after a call", after, CALLS[after])
        assert shown is not None

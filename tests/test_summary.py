"""The clinic summary: counts that agree with the core, over a date range, without client words."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from progress_plugin import schemas
from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.core.progress import compute
from progress_plugin.service.summary import DEFAULT_DAYS, clinic_summary

from tests.test_panel import START, seed_client

CANARIES = ("CANARY-GOAL-ONE-a81", "CANARY-GOAL-TWO-a82", "CANARY-GOAL-THREE-a83")
PRIVATE = "CANARY-REFLECTION-a84"


@pytest.fixture
def clinic(runtime, intake_payload, note_payload):
    """clinic-a: a 40-note client with canary words, an intake-only client, a notes-only client,
    and a client whose goals were not agreed; clinic-b: one more client that must not be counted."""
    seed_client(runtime, "clinic-a", "c-canary", 40, words=CANARIES, private=PRIVATE)
    runtime.dispatch(IntakeSubmitted("clinic-a", START, "c-intake", schemas.load(
        schemas.intake_schema, intake_payload(better_looks_like="CANARY-BETTER-a85")), "t1"))
    runtime.dispatch(IntakeSubmitted("clinic-a", START, "c-unagreed", schemas.load(
        schemas.intake_schema, intake_payload(agreed=False)), "t1"))
    runtime.dispatch(schemas.load(schemas.note_schema, note_payload(
        [{"code": "setback"}, {"code": "strain-noticed"}], client_id="c-notes", note_id="x1", day=20)))
    seed_client(runtime, "clinic-b", "c-other", 6)
    return runtime


def expected_counts(runtime, clinic_id, start, end):
    by_category: dict[str, int] = {}
    due = 0
    for client in runtime.store.clients(clinic_id):
        state = runtime.state(clinic_id, client)
        progress = compute(client, state.intake, state.notes.values(), state.all_vocabularies(), runtime.clock())
        due += bool(progress.review and progress.review.due)
        for m in progress.markers:
            if start <= m.at.date() <= end:
                by_category[m.category] = by_category.get(m.category, 0) + 1
    return by_category, due


def test_counts_agree_with_the_core_and_hold_no_client_words(clinic):
    start, end = date(2025, 6, 1), date(2026, 12, 31)
    summary = clinic_summary(clinic, "clinic-a", start, end)
    by_category, due = expected_counts(clinic, "clinic-a", start, end)
    assert summary["clients"] == 4
    assert summary["clients_with_agreed_goals"] == 2          # c-canary and c-intake; not c-unagreed, not c-notes
    assert summary["reviews_due"] == due
    assert {k: v for k, v in summary["tags_by_category"].items() if v} == by_category
    assert summary["tags_in_range"] == sum(by_category.values()) == sum(summary["tags_by_direction"].values())
    assert summary["tags_by_category"]["therapist"] == 8      # let-go-of-fixing on every 5th of 40 notes
    assert summary["sessions_in_range"] == 41 and summary["clients_seen_in_range"] == 2
    assert summary["range"] == {"from": "2025-06-01", "to": "2026-12-31"}

    text = json.dumps(summary)
    for secret in CANARIES + (PRIVATE, "CANARY-BETTER-a85", "c-canary", "c-intake", "c-notes", "c-other"):
        assert secret not in text


def test_the_range_limits_the_tag_counts(clinic):
    first_ten = clinic_summary(clinic, "clinic-a", START.date(), (START + timedelta(days=70)).date())
    by_category, _ = expected_counts(clinic, "clinic-a", START.date(), (START + timedelta(days=70)).date())
    assert first_ten["sessions_in_range"] == 10
    assert {k: v for k, v in first_ten["tags_by_category"].items() if v} == by_category
    nothing = clinic_summary(clinic, "clinic-a", date(2020, 1, 1), date(2020, 12, 31))
    assert nothing["tags_in_range"] == 0 and set(nothing["tags_by_category"].values()) == {0}
    assert nothing["clients_with_agreed_goals"] == 2            # not limited by the range


def test_default_range_is_the_last_ninety_days(clinic, now):
    summary = clinic_summary(clinic, "clinic-a")
    assert summary["range"] == {"from": (now.date() - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
                                "to": now.date().isoformat()}


def test_bad_range_and_unknown_clinic(clinic):
    with pytest.raises(ValidationError) as err:
        clinic_summary(clinic, "clinic-a", date(2026, 2, 1), date(2026, 1, 1))
    assert "from" in err.value.messages
    with pytest.raises(NotFound):
        clinic_summary(clinic, "no-such-clinic")

"""``progress-plugin demo``: one client's course through the core, on the embedded SQLite store."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from progress_plugin import schemas
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.service.runtime import Runtime
from progress_plugin.service.clock import utcnow

CLINIC = "demo-clinic"
THERAPIST = "therapist-demo"

# Each session: days after intake, then (code, goals, ratings{goal: value}).
SESSIONS = [
    (7, [("holding-steady", ["g1"], {"g1": 3}), ("moment-of-connection", [], {})]),
    (14, [("stirring-up", ["g1", "g2"], {"g1": 2, "g2": 4}), ("feeling-more", [], {})]),
    (21, [("setback", ["g2"], {"g2": 3}), ("strain-noticed", [], {})]),
    (28, [("came-back", [], {}), ("repair", [], {}), ("let-go-of-fixing", [], {})]),
    (35, [("step-forward", ["g1"], {"g1": 5}), ("breathing-space", [], {})]),
    (42, [("small-shift", ["g1", "g2"], {"g1": 6, "g2": 6}), ("responded-not-reacted", [], {})]),
    (49, [("step-forward", ["g1"], {"g1": 7}), ("more-honesty", [], {})]),
]


def intake_payload(agreed_on: date) -> dict:
    return {
        "goals": [
            {"words": "Get through a work meeting without my chest going tight", "whose": "client",
             "baseline": 2, "rank": 1},
            {"words": "Talk to my sister again, even briefly", "whose": "client", "baseline": 3, "rank": 2},
        ],
        "better_looks_like": "Mornings where I don't dread opening email",
        "small_shift": "Saying one thing in a meeting",
        "holding_steady_counts": "yes",
        "if_stirred_up": "Knowing it is expected and we can slow down",
        "saying_not_working": "rating-scale",
        "review_cadence": "every-4-sessions",
        "therapist_view": "More room between the trigger and the shutdown",
        "agreed": True, "agreed_on": agreed_on.isoformat(), "goals_reviewed": True,
        "private_reflection": "Notice my pull to reassure",
    }


def run(store, echo, now: datetime | None = None) -> str:
    """Walk one client through intake and seven tagged sessions. Returns the client id."""
    now = now or utcnow()
    start = now - timedelta(days=56)
    runtime = Runtime(store, clock=lambda: now)
    client_id = "client-" + uuid.uuid4().hex[:12]
    echo(f"client: {client_id}")
    intake = schemas.load(schemas.intake_schema, intake_payload(start.date()))
    runtime.dispatch(IntakeSubmitted(CLINIC, start, client_id, intake, THERAPIST))
    echo(f"intake: {len(intake.goals)} goals agreed on {start.date().isoformat()}, "
         f"review {intake.review_cadence}")
    for n, (day, tags) in enumerate(SESSIONS, start=1):
        at = start + timedelta(days=day)
        payload = {
            "clinic_id": CLINIC, "client_id": client_id, "note_id": f"{client_id}-note-{n}",
            "session_at": at.isoformat(), "author": THERAPIST, "at": at.isoformat(), "signed": True,
            "tags": [{"code": code, "goals": goals,
                      "ratings": [{"goal": g, "value": v} for g, v in ratings.items()]}
                     for code, goals, ratings in tags],
        }
        effects = runtime.dispatch(schemas.load(schemas.note_schema, payload))
        kinds = sorted({type(e).__name__ for e in effects})
        echo(f"session {n} ({at.date().isoformat()}): {', '.join(c for c, _, _ in tags)} -> {', '.join(kinds)}")
    report(runtime.progress(CLINIC, client_id), echo)
    return client_id


def report(progress, echo) -> None:
    for goal in progress.goals:
        series = " ".join(f"s{p.session}:{p.value}" for p in goal.client)
        echo(f"goal {goal.rank} ({goal.goal_id}): {series}")
        delta = "" if goal.change.delta is None else f" ({goal.change.delta:+d})"
        echo(f"  change: {goal.change.status}{delta}")
    for prompt in progress.prompts:
        echo(f"prompt [{prompt.kind}]: {prompt.message}")
    if not progress.prompts:
        echo("prompts: none open")
    if progress.review is not None:
        echo(f"review: {'due now' if progress.review.due else 'next ' + progress.review.next_due}")

"""The clinic summary for the admin: counts only, never a client's words or ids.

- how many clients there are, and how many have goals agreed together;
- how many reviews ("looking at progress together") are due now;
- how often tags were applied over a date range, by category and by direction;
- how many conversation-starter prompts are open, by kind.
"""
from __future__ import annotations

from datetime import date, timedelta

from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.service.runtime import Runtime
from progress_plugin.store.vocabularies import no_clinic
from progress_plugin.core.vocabulary import CATEGORIES, DIRECTIONS
from progress_plugin.core.words import msg

DEFAULT_DAYS = 90


def date_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The range asked for; by default the last :data:`DEFAULT_DAYS` days up to ``today``, inclusive."""
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationError({"from": [msg("Must not be after 'to' ({to}).", to=end.isoformat())]})
    return start, end


def clinic_summary(runtime: Runtime, clinic_id: str, start: date | None = None, end: date | None = None) -> dict:
    """The summary of ``clinic_id``; tag counts cover sessions dated ``start``..``end`` inclusive."""
    store = runtime.store
    if not store.clinic_exists(clinic_id):
        raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
    now = runtime.clock()
    start, end = date_range(start, end, now.date())
    by_category = {c: 0 for c in CATEGORIES}
    by_direction = {d: 0 for d in DIRECTIONS}
    prompts: dict[str, int] = {}
    clients = agreed = due = sessions = tagged = active = 0
    for client_id in store.clients(clinic_id):
        clients += 1
        state = runtime.state(clinic_id, client_id)
        progress = state.progress(now)
        intake = state.intake
        if intake is not None and intake.is_agreed and any(g.status != "dropped" for g in intake.goals):
            agreed += 1
        if progress.review is not None and progress.review.due:
            due += 1
        for p in progress.prompts:
            prompts[p.kind] = prompts.get(p.kind, 0) + 1
        in_range = {note_id for note_id, at in progress.sessions if start <= at.date() <= end}
        sessions += len(in_range)
        active += bool(in_range)
        for m in progress.markers:
            if m.note_id in in_range:
                tagged += 1
                by_category[m.category] = by_category.get(m.category, 0) + 1
                by_direction[m.direction] = by_direction.get(m.direction, 0) + 1
    return {
        "clinic_id": clinic_id,
        "as_of": now.isoformat(),
        "clients": clients,
        "clients_with_agreed_goals": agreed,
        "reviews_due": due,
        "open_prompts": dict(sorted(prompts.items())),
        "range": {"from": start.isoformat(), "to": end.isoformat()},
        "sessions_in_range": sessions,
        "clients_seen_in_range": active,
        "tags_in_range": tagged,
        "tags_by_category": by_category,
        "tags_by_direction": by_direction,
    }

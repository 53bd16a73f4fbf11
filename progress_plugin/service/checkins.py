"""The client's check-in, from wherever it arrives (the check-in page, a hook), into the core and,
when a host is configured, the outbox: one transaction, so a check-in is never stored without its
write-back queued."""
from __future__ import annotations

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.fhir import writeback
from progress_plugin.service.runtime import Runtime


def submit(runtime: Runtime, event: ev.CheckinSubmitted, queue: bool, actor: str = "client") -> list[fx.Effect]:
    """Dispatch ``event``; returns the core's effects: :class:`~progress_plugin.core.effects.RecordCheckin`
    (stored), :class:`~progress_plugin.core.effects.RejectCheckin` (nothing stored), or none (a check-in
    with this id is already stored: a re-submission in the same window, received and changing nothing).

    With ``queue`` (a host is configured), the check-in's host writes (its QuestionnaireResponse and
    Observations, the Questionnaire once) are queued in the same transaction for the worker to send.
    """
    with runtime.store.begin() as conn:
        effects = runtime.dispatch(event, actor, conn=conn)
        if queue:
            writeback.enqueue(conn, effects, {}, runtime.clock())
    return effects

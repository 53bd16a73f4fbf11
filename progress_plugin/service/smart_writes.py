"""What a SMART launch's pages write: recorded in the store like any event, and sent to the EHR
with the launch's token.

:func:`record` dispatches the event through the runtime (state and effects, as every adapter
does) and, in the same transaction, queues the host-bound effects' writes in the outbox for the
launch's target (``smart:<ehr>``; the worker leaves those rows alone). :func:`send` then claims
that target's due rows and sends each with the launch's FHIR client, through the same mapping as
the write-back (:func:`progress_plugin.fhir.writeback.apply`):

- taken by the EHR: the row is done;
- refused (any 4xx but 401, and a conflict that stayed one after a re-read): the row stays
  pending, due at once, with the EHR's reason (the OperationOutcome's diagnostics or text); the
  page shows it and a person may try again; dead after ``max_attempts`` refusals (then
  ``progress-plugin outbox retry`` or the page's "Try again" puts it back);
- no answer (a timeout, 5xx, 429): rescheduled with backoff, as the worker does;
- 401: the token is no longer good. Every claimed row not yet sent is handed back untouched and
  the error goes up (the launch side ends the session).

Logs carry row ids, kinds, statuses and the EHR's request id; never the EHR's reason (it may
quote what was sent), never a token.
"""
from __future__ import annotations

import json
import logging
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Callable

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.errors import HostAPIError, HostUnavailable, ValidationError
from progress_plugin.fhir import smart_scopes, writeback
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import leases, outbox
from progress_plugin.store import tables as t

log = logging.getLogger(__name__)

#: How many rows one page load sends at most; the rest wait for the next.
BATCH = 50
LEASE_SECONDS = 60.0
REASON_CHARS = 300


@dataclass(frozen=True)
class Refusal:
    row_id: int
    what: str                # the resource type written (DocumentReference: the note's tags)
    status: int | None
    reason: str              # the EHR's own words, or "" when it gave none


@dataclass
class Sent:
    """What :func:`send` did."""

    done: int = 0
    refused: list[Refusal] = field(default_factory=list)
    later: int = 0           # the EHR did not answer: rescheduled


def record(runtime: Runtime, event: ev.Event, target: str, scopes=()) -> list[fx.Effect]:
    """Dispatch ``event`` and queue its host writes for ``target``, in one transaction.

    The intake's Questionnaire is published only when ``scopes`` (those the EHR granted) allow
    creating one; otherwise the QuestionnaireResponse names it by its canonical URL alone, as the
    SMART app of a patient's chart is not the one to publish a clinic's forms."""
    store = runtime.store
    with store.begin() as conn:
        effects = runtime.dispatch(event, conn=conn)
        versions = {tag.vocabulary_version for e in effects if isinstance(e, fx.TagNote) for tag in e.note.tags}
        vocabularies = store.vocabularies(event.clinic_id, versions, conn=conn) if versions else {}
        skip = frozenset() if may_publish(scopes) else frozenset({"questionnaire"})
        queued = writeback.enqueue(conn, effects, vocabularies, runtime.clock(), target=target, skip=skip)
    log.info("smart event recorded clinic=%s event=%s effects=%d queued=%d target=%s", event.clinic_id,
             type(event).__name__, len(effects), queued, target)
    return effects


def may_publish(scopes) -> bool:
    """Whether granted ``scopes`` allow creating a Questionnaire (user/ or system/, Questionnaire or *)."""
    return any(smart_scopes.covered(f"{context}/Questionnaire.c", scopes) for context in ("user", "system"))


def send(store, client: Callable[[], FHIRClient], target: str, clock: Callable, *, max_attempts: int = 12,
         limit: int = BATCH) -> Sent:
    """Send ``target``'s due rows with ``client()`` (made only when there is something to send)."""
    owner = f"smart-{uuid.uuid4().hex[:12]}"
    with store.engine.connect() as conn:           # a page's usual case: nothing due, no claim to make
        if not outbox.any_due(conn, clock(), target):
            return Sent()
    with store.begin() as conn:
        rows = outbox.claim(conn, owner, clock(), LEASE_SECONDS, limit, max_claims=max_attempts, target=target)
    sent = Sent()
    if not rows:
        return sent
    with client() as fhir:
        for i, row in enumerate(rows):
            try:
                writeback.apply(fhir, row["kind"], row["payload"])
            except HostAPIError as exc:
                if exc.status_code == 401:
                    _hand_back(store, owner, [r["id"] for r in rows[i:]])
                    log.warning("smart write stopped: token refused row=%s target=%s", row["id"], target)
                    raise
                _failed(store, owner, row, exc, clock, max_attempts, sent)
            except ValidationError as exc:         # a payload of ours the client would not send
                with store.begin() as conn:
                    outbox.dead(conn, row, owner, clock(), f"{exc.__class__.__name__}: ours")
                log.warning("smart write dead row=%s kind=%s error=%s", row["id"], row["kind"],
                            exc.__class__.__name__)
            except BaseException:
                _hand_back(store, owner, [r["id"] for r in rows[i:]])
                raise
            else:
                with store.begin() as conn:
                    outbox.done(conn, row["id"], owner, clock())
                sent.done += 1
                log.info("smart write done row=%s kind=%s target=%s", row["id"], row["kind"], target)
    return sent


def _failed(store, owner: str, row: dict, exc: HostAPIError, clock, max_attempts: int, sent: Sent) -> None:
    if isinstance(exc, HostUnavailable):
        with store.begin() as conn:
            state = outbox.reschedule(conn, row, owner, clock(), error_text(exc, ""), exc.context.get("retry_after"),
                                      max_attempts)
        sent.later += 1
        log.warning("smart write %s row=%s kind=%s status=%s", "dead" if state == outbox.DEAD else "rescheduled",
                    row["id"], row["kind"], exc.status_code)
        return
    reason = ehr_reason(exc.body)
    with store.begin() as conn:
        state = outbox.kept(conn, row, owner, clock(), error_text(exc, reason), max_attempts)
    sent.refused.append(Refusal(row["id"], outbox.what(row.get("payload"), row["kind"]), exc.status_code, reason))
    log.warning("smart write refused row=%s kind=%s status=%s request_id=%s kept=%s", row["id"], row["kind"],
                exc.status_code, exc.request_id or "-", state)


def _hand_back(store, owner: str, ids: list[int]) -> None:
    with store.begin() as conn:
        leases.release(conn, t.outbox, owner, ids)


def retry(store, target: str, clinic_id: str, now) -> int:
    """Put the target's dead rows of the clinic back in the queue; :func:`send` then sends them."""
    with store.begin() as conn:
        return outbox.retry(conn, now, clinic_id=clinic_id, target=target)


def unsent(store, target: str, clinic_id: str) -> list[dict]:
    """The target's rows of the clinic not yet in the EHR, each with ``reason`` (the EHR's words) and
    ``unanswered`` (the EHR did not answer its last try)."""
    with store.begin() as conn:
        rows = outbox.unsent(conn, target, clinic_id)
    for row in rows:
        row["reason"] = reason_of(row.get("last_error"))
        row["unanswered"] = (row.get("last_error") or "").startswith(HostUnavailable.__name__)
    return rows


# -- the EHR's reason -----------------------------------------------------------------------------
SEPARATOR = " :: "


def error_text(exc: HostAPIError, reason: str) -> str:
    """The row's ``last_error``: the error's class and status, then the EHR's reason."""
    return f"{exc.__class__.__name__} status={exc.status_code}{SEPARATOR}{reason}" if reason else \
        f"{exc.__class__.__name__} status={exc.status_code}"


def reason_of(last_error: str | None) -> str:
    """The EHR's reason kept in a row's ``last_error`` by :func:`error_text` ("" for none)."""
    return (last_error or "").partition(SEPARATOR)[2]


def ehr_reason(body: str | None) -> str:
    """What the EHR said in an OperationOutcome: each issue's diagnostics, else its details' text,
    once each, in order; control characters dropped; at most :data:`REASON_CHARS`. "" for a body
    that is not one."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return ""
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return ""
    said: list[str] = []
    for issue in data.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        for text in (issue.get("diagnostics"), details.get("text")):
            if isinstance(text, str):
                text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text).strip()
                if text and text not in said:
                    said.append(text)
                    break
    joined = "; ".join(said)
    return joined if len(joined) <= REASON_CHARS else joined[:REASON_CHARS - 1] + "…"

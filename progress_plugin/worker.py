"""The worker: inbox -> core -> outbox, then outbox -> host.

Each inbox row is applied in one transaction together with the outbox rows it causes and
the mark that it is done, and only while this worker still holds its lease; a worker
killed mid-batch loses nothing, since its leases expire and the rows are claimed again.
Host writes happen outside any database transaction.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

import sqlalchemy as sa

from progress_plugin import events as ev
from progress_plugin import fhir_events, inbox, outbox, schemas, writeback
from progress_plugin import tables as t
from progress_plugin.errors import (HostAPIError, HostConflict, HostUnavailable, ProgressPluginError,
                                    ValidationError)
from progress_plugin.runtime import Runtime, utcnow
from progress_plugin.store import utc as _utc

log = logging.getLogger("progress_plugin.worker")

EVENT_SCHEMAS = {
    "intake.submitted": schemas.intake_submitted_schema,
    "note.saved": schemas.note_schema,
    "note.signed": schemas.note_schema,
    "note.deleted": schemas.note_deleted_schema,
    "client.discharged": schemas.client_discharged_schema,
}
DEFER_SECONDS = 5.0
MAX_DEFER_BACKOFF = 300.0
#: How long a note may wait for its client's intake (webhooks can arrive out of order).
WAIT_FOR_INTAKE = timedelta(hours=24)


class LostLease(ProgressPluginError):
    """Another worker took this row after our lease expired; our transaction is rolled back."""


class Worker:
    def __init__(self, store, config, clock=utcnow, client=None, owner: str | None = None):
        self.store = store
        self.config = config
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.runtime = Runtime(store, clock=clock, on_effects=self._queue)
        self._client = client
        self.stopping = threading.Event()

    @property
    def client(self):
        if self._client is None:
            from progress_plugin.hostlink import client
            self._client = client(self.config)
        return self._client

    # -- inbox ------------------------------------------------------------------------
    def _queue(self, conn, effects, state) -> None:
        outbox.enqueue(conn, effects, state.all_vocabularies(), self.clock())

    def process_inbox(self) -> int:
        with self.store.begin() as conn:
            rows = inbox.claim(conn, self.owner, self.clock(), self.config.lease_seconds, self.config.batch)
        for row in rows:
            if self.stopping.is_set():
                break
            self._one(row)
        return len(rows)

    def _one(self, row: dict) -> None:
        now = self.clock()
        try:
            events = self._events(row, now)
        except HostUnavailable as exc:
            self._defer(row, now, f"host unavailable: {exc.status_code}")
            return
        except (ValidationError, HostAPIError) as exc:
            with self.store.begin() as conn:
                inbox.finish(conn, row["id"], self.owner, now, inbox.FAILED, f"{exc.__class__.__name__}")
            log.warning("inbox row failed id=%s type=%s error=%s", row["id"], row["event_type"], exc.__class__.__name__)
            return
        try:
            with self.store.begin() as conn:
                for event in events:
                    if self._waits_for_intake(conn, event) and now - _utc(row["received_at"]) < WAIT_FOR_INTAKE:
                        raise _Defer("note arrived before its intake")
                    self.runtime.dispatch(event, conn=conn)
                    if isinstance(event, ev.IntakeSubmitted):
                        inbox.wake_deferred(conn, event.clinic_id)
                if not inbox.finish(conn, row["id"], self.owner, now):
                    raise LostLease(f"lease on inbox row {row['id']} lost")
        except _Defer as exc:
            self._defer(row, now, str(exc))
            return
        except LostLease:
            log.warning("inbox row lease lost id=%s", row["id"])
            return
        log.info("inbox row done id=%s type=%s event=%s", row["id"], row["event_type"], row["event_id"])

    def _defer(self, row, now, reason) -> None:
        with self.store.begin() as conn:
            delay = min(MAX_DEFER_BACKOFF, DEFER_SECONDS * 2 ** min(row["attempts"], 10))
            inbox.defer(conn, row["id"], self.owner, now + timedelta(seconds=delay), reason)
        log.info("inbox row deferred id=%s reason=%s", row["id"], reason)

    def _waits_for_intake(self, conn, event) -> bool:
        if not isinstance(event, ev.NoteSaved) or not any(t_.goal_ids for t_ in event.tags):
            return False
        return conn.execute(sa.select(t.intakes.c.client_id).where(
            t.intakes.c.clinic_id == event.clinic_id, t.intakes.c.client_id == event.client_id)).first() is None

    def _events(self, row: dict, now) -> list[ev.Event]:
        kind, payload, clinic = row["event_type"], row["payload"], row["clinic_id"]
        if kind in EVENT_SCHEMAS:
            return [schemas.load(EVENT_SCHEMAS[kind], payload)]
        if kind == "fhir.focus":
            event = self._focus(clinic, payload["focus"], now)
            return [event] if event is not None else []
        if kind == "fhir.catch-up":
            return self._catch_up(clinic, now)
        return []

    def _focus(self, clinic, focus: str, now):
        rtype, _, rid = focus.partition("/")
        if rtype == "DocumentReference":
            doc = fhir_events.keep(self.client.read(rtype, rid, elements=fhir_events.NOTE_ELEMENTS))
            return fhir_events.document_event(clinic, doc, now)
        if rtype == "QuestionnaireResponse":
            return fhir_events.intake_event(clinic, self.client.read(rtype, rid), now)
        return None

    def _catch_up(self, clinic, now) -> list[ev.Event]:
        """After a gap in a subscription: re-read recently changed notes (metadata only)."""
        since = (now - timedelta(days=1)).isoformat()
        out = []
        for doc in self.client.search("DocumentReference", {"_lastUpdated": f"gt{since}", "_count": "50",
                                                            "_elements": ",".join(fhir_events.NOTE_ELEMENTS)}):
            event = fhir_events.document_event(clinic, fhir_events.keep(doc), now)
            if event is not None:
                out.append(event)
        return out

    # -- outbox -----------------------------------------------------------------------
    def process_outbox(self) -> int:
        with self.store.begin() as conn:
            rows = outbox.claim(conn, self.owner, self.clock(), self.config.lease_seconds, self.config.batch)
        for row in rows:
            if self.stopping.is_set():
                break
            self._send(row)
        return len(rows)

    def _send(self, row: dict) -> None:
        try:
            result = writeback.apply(self.client, row["kind"], row["payload"])
        except HostUnavailable as exc:
            with self.store.begin() as conn:
                state = outbox.reschedule(conn, row, self.owner, self.clock(), str(exc),
                                          exc.context.get("retry_after"), self.config.max_attempts)
            log.warning("outbox row %s id=%s kind=%s error=%s", "dead" if state == outbox.DEAD else "rescheduled",
                        row["id"], row["kind"], exc)
            return
        except (HostConflict, HostAPIError, ValidationError) as exc:
            with self.store.begin() as conn:
                outbox.dead(conn, row, self.owner, self.clock(), f"{exc.__class__.__name__}: {exc}")
            log.warning("outbox row dead id=%s kind=%s error=%s", row["id"], row["kind"], exc.__class__.__name__)
            return
        except Exception as exc:             # a fault of ours: keep the row, back off, surface it in `outbox list`
            with self.store.begin() as conn:
                outbox.reschedule(conn, row, self.owner, self.clock(), exc.__class__.__name__, None,
                                  self.config.max_attempts)
            log.exception("outbox row failed id=%s kind=%s", row["id"], row["kind"])
            return
        with self.store.begin() as conn:
            outbox.done(conn, row["id"], self.owner, self.clock())
        log.info("outbox row done id=%s kind=%s action=%s", row["id"], row["kind"], result.action)

    # -- loop -------------------------------------------------------------------------
    def run_once(self) -> int:
        return self.process_inbox() + self.process_outbox()

    def run(self) -> None:
        log.info("worker started owner=%s", self.owner)
        while not self.stopping.is_set():
            try:
                busy = self.run_once()
            except Exception:                    # keep the loop alive; the row's lease will expire
                log.exception("worker iteration failed")
                busy = 0
            if not busy:
                self.stopping.wait(self.config.poll_seconds)
        log.info("worker stopped owner=%s", self.owner)

    def stop(self) -> None:
        self.stopping.set()


class _Defer(Exception):
    pass

"""The worker: inbox -> core -> outbox, then outbox -> host.

Each inbox row is applied in one transaction together with the outbox rows it causes and
the mark that it is done, and only while this worker still holds its lease; a worker
killed mid-batch loses nothing, since its leases expire and the rows are claimed again.
While a worker lives it renews the leases of the batch in hand (:class:`LeaseKeeper`), so
no other worker takes a row it is still sending. Host writes happen outside any database
transaction.

**Poison rows.** Whatever goes wrong with one inbox row (the core raises on its payload,
the store refuses a value, the host refuses a read) is caught and counted against that
row, never against the loop: the row is rescheduled with backoff, or failed once it has
failed ``inbox_max_attempts`` times, with an error code (a class name) and no message
text. Failures that say nothing about the row are not counted: a note deferred until its
intake, a host that does not answer (deferred), a lease lost to another worker, and an
``OperationalError`` of the store (locked, connection lost), after which the row is handed
back with a full lease to wait. A row that kills the process outright cannot be counted
while it is handled; its claims are (see :mod:`progress_plugin.store.leases`): it is then
claimed alone, and after as many claims with no outcome it fails with ``LeaseExpired``.
A good row a kill -9 happened to catch in hand is charged one claim, which the next claim
clears by finishing it. Outbox rows are bounded the same way (``max_attempts``).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from progress_plugin.core import events as ev
from progress_plugin import schemas
from progress_plugin.fhir import inbound as fhir_events
from progress_plugin.service import hostlink
from progress_plugin.store import inbox
from progress_plugin.store import leases
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback
from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc as _utc
from progress_plugin.errors import (HostAPIError, HostConflict, HostUnavailable, ProgressPluginError,
                                    ValidationError)
from progress_plugin.service.runtime import Runtime
from progress_plugin.service.upkeep import Upkeep, host_error
from progress_plugin.service.clock import utcnow

log = logging.getLogger(__name__)

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
        self.runtime = Runtime(store, clock=clock, on_effects=self._queue,
                               readable_note_types=config.readable_note_types)
        self._client = client
        self.stopping = threading.Event()
        self.keeper: LeaseKeeper | None = None     # started by run(); see LeaseKeeper
        self.upkeep = Upkeep(store, config, clock)  # counts for /metrics, the periodic prune

    @property
    def client(self):
        if self._client is None:
            self._client = hostlink.client(self.config)
        return self._client

    # -- inbox ------------------------------------------------------------------------
    def _queue(self, conn, effects, state) -> None:
        if not self.config.host_url:          # no host: nothing to send, so nothing is queued (said at start)
            return
        writeback.enqueue(conn, effects, state.all_vocabularies(), self.clock())

    def process_inbox(self) -> int:
        with self.store.begin() as conn:
            rows = inbox.claim(conn, self.owner, self.clock(), self.config.lease_seconds, self.config.batch,
                               max_claims=self.config.inbox_max_attempts)
        self.upkeep.count("claims:inbox", len(rows))
        self._work(t.inbox, rows, self._one)
        return len(rows)

    def _one(self, row: dict) -> None:
        now = self.clock()
        try:
            events = self._events(row, now)
        except HostUnavailable as exc:
            self.upkeep.count(host_error(exc))
            self._defer(row, now, f"host unavailable: {exc.status_code}")
            return
        except (ValidationError, HostAPIError) as exc:      # refused for good: no second try
            if isinstance(exc, HostAPIError):
                self.upkeep.count(host_error(exc))
            self._fail(row, now, exc, permanent=True)
            return
        except sa.exc.OperationalError:
            raise                                           # the store's trouble, not the row's: see _work
        except Exception as exc:                            # a fault of ours: counted, bounded
            self._fail(row, now, exc)
            return
        try:
            with self.store.begin() as conn:
                for event in events:
                    if self._waits_for_intake(conn, event) and now - _utc(row["received_at"]) < WAIT_FOR_INTAKE:
                        raise _Defer(inbox.waiting_for_intake(event.client_id), event.client_id)
                    self.runtime.dispatch(event, conn=conn)
                    if isinstance(event, ev.IntakeSubmitted):
                        inbox.wake_deferred(conn, event.clinic_id, event.client_id)
                if not inbox.finish(conn, row["id"], self.owner, now):
                    raise LostLease(f"lease on inbox row {row['id']} lost")
        except _Defer as exc:
            self._defer(row, now, exc.args[0], waits_for=exc.args[1])
            return
        except LostLease:
            log.warning("inbox row lease lost id=%s", row["id"])
            return
        except sa.exc.OperationalError:
            raise
        except Exception as exc:            # the core or the store raised on this row: counted, bounded
            self._fail(row, now, exc)
            return
        log.info("inbox row done id=%s type=%s event=%s", row["id"], row["event_type"], row["event_id"])

    def _fail(self, row: dict, now, exc: Exception, permanent: bool = False) -> None:
        """Count a failed attempt: the row is rescheduled with backoff, or failed when it was
        the last allowed one (or the failure is permanent). Logs ids and the error code only."""
        code = error_code(exc)
        with self.store.begin() as conn:
            state = inbox.fail(conn, row, self.owner, now, code, 1 if permanent else self.config.inbox_max_attempts)
        if state is None:
            log.warning("inbox row lease lost id=%s", row["id"])
            return
        log.warning("inbox row %s id=%s type=%s error=%s attempts=%s", "failed" if state == inbox.FAILED else
                    "rescheduled", row["id"], row["event_type"], code, row["attempts"] + 1)

    def _defer(self, row, now, reason, waits_for: str | None = None) -> None:
        """Park a row for a while. A note parked until ``waits_for``'s intake is checked again
        after parking, under the lock that waking takes: an intake another worker applied in
        the meantime either wakes this row or is seen here, never neither.

        A deferral is not a failed attempt. The wait grows with the row's age (5 s at first,
        then about as long as the row has waited so far, at most 5 minutes)."""
        with self.store.begin() as conn:
            if waits_for is not None:
                inbox.lock_wakes(conn, row["clinic_id"])
            age = (_utc(now) - _utc(row["received_at"])).total_seconds()
            delay = min(MAX_DEFER_BACKOFF, max(DEFER_SECONDS, age))
            inbox.defer(conn, row["id"], self.owner, now + timedelta(seconds=delay), reason)
            if waits_for is not None and self.store.has_intake(row["clinic_id"], waits_for, conn=conn):
                inbox.wake_deferred(conn, row["clinic_id"], waits_for)
        log.info("inbox row deferred id=%s reason=%s", row["id"], reason)

    def _waits_for_intake(self, conn, event) -> bool:
        if not isinstance(event, ev.NoteSaved) or not any(t_.goal_ids for t_ in event.tags):
            return False
        return not self.store.has_intake(event.clinic_id, event.client_id, conn=conn)

    def _events(self, row: dict, now) -> list[ev.Event]:
        kind, payload, clinic = row["event_type"], row["payload"], row["clinic_id"]
        if kind in schemas.EVENT_TYPES:
            return [schemas.load(schemas.EVENT_TYPES[kind], payload)]
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
        """Send a claimed batch; the rows the host took are marked done together, in one
        transaction at the end of the batch. A worker killed before that leaves them leased:
        another worker re-sends them, and the idempotent writes find nothing to change."""
        if not self.config.host_url:          # rows queued while a host was configured wait for one
            return 0
        with self.store.begin() as conn:
            rows = outbox.claim(conn, self.owner, self.clock(), self.config.lease_seconds, self.config.batch,
                                max_claims=self.config.max_attempts)
        self.upkeep.count("claims:outbox", len(rows))
        sent: list[int] = []
        try:
            self._work(t.outbox, rows, lambda row: self._send(row, sent))
        finally:
            if sent:
                with self.store.begin() as conn:
                    outbox.done_many(conn, sent, self.owner, self.clock())
                for row_id in sent:
                    log.info("outbox row done id=%s", row_id)
        return len(rows)

    # -- leases -----------------------------------------------------------------------
    def _work(self, table: sa.Table, rows: list[dict], handle) -> None:
        """Handle claimed rows one by one, only while their leases hold.

        While the batch is in hand the keeper (when running) renews its leases. Rows not
        reached (the worker is stopping, or renewals stalled) are handed back at once. A row
        whose handling raised is handed back with a full lease still to run, so it is tried
        again later, not in a tight loop, and no worker holds it meanwhile.
        """
        if not rows:
            return
        ids = [r["id"] for r in rows]
        if self.keeper is not None:
            self.keeper.hold(table, ids)
        untouched = set(ids)
        try:
            for row in rows:
                if self.stopping.is_set() or not (self.keeper is None or self.keeper.fresh()):
                    break
                untouched.discard(row["id"])
                try:
                    handle(row)
                except Exception:
                    self._release(table, [row["id"]], hold_for=self.config.lease_seconds)
                    raise
        finally:
            if self.keeper is not None:
                self.keeper.release()
            if untouched:
                self._release(table, sorted(untouched))

    def _release(self, table: sa.Table, ids: list[int], hold_for: float = 0.0) -> None:
        try:
            with self.store.begin() as conn:
                leases.release(conn, table, self.owner, ids,
                               _utc(self.clock()) + timedelta(seconds=hold_for) if hold_for else None)
        except Exception as exc:                 # the leases then simply run out
            log.warning("lease release failed owner=%s error=%s", self.owner, exc.__class__.__name__)

    def _send(self, row: dict, sent: list[int]) -> None:
        try:
            result = writeback.apply(self.client, row["kind"], row["payload"])
        except HostUnavailable as exc:
            self.upkeep.count(host_error(exc))
            with self.store.begin() as conn:
                state = outbox.reschedule(conn, row, self.owner, self.clock(), str(exc),
                                          exc.context.get("retry_after"), self.config.max_attempts)
            log.warning("outbox row %s id=%s kind=%s error=%s", "dead" if state == outbox.DEAD else "rescheduled",
                        row["id"], row["kind"], exc)
            return
        except (HostConflict, HostAPIError, ValidationError) as exc:
            if isinstance(exc, HostAPIError):
                self.upkeep.count(host_error(exc))
            with self.store.begin() as conn:
                outbox.dead(conn, row, self.owner, self.clock(), f"{exc.__class__.__name__}: {exc}")
            log.warning("outbox row dead id=%s kind=%s error=%s", row["id"], row["kind"], exc.__class__.__name__)
            return
        except Exception as exc:             # a fault of ours: keep the row, back off, surface it in `outbox list`
            with self.store.begin() as conn:
                state = outbox.reschedule(conn, row, self.owner, self.clock(), error_code(exc), None,
                                          self.config.max_attempts)
            log.warning("outbox row %s id=%s kind=%s error=%s", "dead" if state == outbox.DEAD else "rescheduled",
                        row["id"], row["kind"], error_code(exc))
            return
        log.info("outbox row sent id=%s kind=%s action=%s", row["id"], row["kind"], result.action)
        if row["kind"] == "questionnaire":       # some hosts count a repeated conditional create: mark it now
            with self.store.begin() as conn:
                outbox.done(conn, row["id"], self.owner, self.clock())
            log.info("outbox row done id=%s", row["id"])
        else:
            sent.append(row["id"])

    # -- loop -------------------------------------------------------------------------
    def run_once(self) -> int:
        return self.process_inbox() + self.process_outbox()

    def run(self) -> None:
        log.info("worker started owner=%s", self.owner)
        if not self.config.host_url:
            hostlink.say_no_host(log)
        self.keeper = LeaseKeeper(self)
        self.keeper.start()
        while not self.stopping.is_set():
            try:
                busy = self.run_once()
                self.upkeep.tick()
            except Exception as exc:             # keep the loop alive; the row's lease will expire
                log.warning("worker iteration failed error=%s", error_code(exc))   # a code: no SQL parameters
                busy = 0
            if not busy:
                self.stopping.wait(self.config.poll_seconds)
        self.upkeep.flush()
        log.info("worker stopped owner=%s", self.owner)

    def stop(self) -> None:
        self.stopping.set()


class _Defer(Exception):
    pass


def error_code(exc: BaseException) -> str:
    """A short code for an error: its class name, and the driver's for a database error.
    Never the message, which may quote a value (a person's words)."""
    code = exc.__class__.__name__
    orig = getattr(exc, "orig", None)
    if orig is not None and orig is not exc:
        code += "/" + orig.__class__.__name__
    return code[:100]


class LeaseKeeper:
    """Renews the leases on the batch a running worker has in hand.

    A batch is leased for ``lease_seconds`` when it is claimed, but working through it can
    take longer: twenty host writes against a slow host, or a single call that sleeps on a
    ``Retry-After``. Once a lease runs out another worker may claim the row, and if this
    worker is still alive both would send the same write. So while a batch is in hand this
    thread pushes its leases forward every third of the lease time. A worker killed with
    kill -9 stops renewing, and its rows are claimed again once their leases run out.
    Rows left behind by a failed iteration are not renewed either (only the batch in hand is).
    """

    def __init__(self, worker: Worker):
        self.worker = worker
        self.lease = float(worker.config.lease_seconds)
        self._lock = threading.Lock()
        self._held: tuple | None = None
        self._renewed = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hold(self, table: sa.Table, ids: list[int]) -> None:
        with self._lock:
            self._held = (table, tuple(ids))
            self._renewed = time.monotonic()      # the claim itself just set the leases

    def release(self) -> None:
        with self._lock:
            self._held = None

    def fresh(self) -> bool:
        """True while the leases in hand were set or renewed within two thirds of the lease time."""
        with self._lock:
            return time.monotonic() - self._renewed < self.lease * 2 / 3

    def _run(self) -> None:
        while not self.worker.stopping.wait(self.lease / 3):
            with self._lock:
                held = self._held
            if held is None:
                continue
            table, ids = held
            started = time.monotonic()
            try:
                with self.worker.store.begin() as conn:
                    leases.renew(conn, table, self.worker.owner, ids,
                                 _utc(self.worker.clock()) + timedelta(seconds=self.lease))
            except Exception as exc:             # the store is unreachable: the batch loop stops when stale
                log.warning("lease renewal failed owner=%s error=%s", self.worker.owner, exc.__class__.__name__)
                continue
            with self._lock:
                if self._held is held:
                    self._renewed = started

"""A sample webhook sender: what a notes platform does to feed progress-plugin.

It builds one client's course as webhook envelopes (an intake, six tagged session notes with
a "stirring up" and a setback and their re-ratings, then the last note signed), signs each
request with Standard Webhooks and posts it to the plugin's receiver::

    python -m examples.webhook_sender http://127.0.0.1:8000/webhooks/demo-clinic \\
        --secret whsec_...            # or $PROGRESS_PLUGIN_WEBHOOK_SECRET
    python -m examples.webhook_sender URL --secret whsec_... --dry-run
    python -m examples.webhook_sender --new-secret

Each request is ``POST`` with ``Content-Type: application/json``, the three Standard Webhooks
headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) and the body
``{"type": ..., "timestamp": ..., "data": {...}}``. A retry carries the same ``webhook-id``
with a fresh timestamp and signature; the receiver deduplicates by that id. Failures that a
real sender retries (network errors, 408, 429 and 5xx) are retried a bounded number of times,
honouring ``Retry-After``.

:func:`deliver` is the reusable part: tests call it to send many events with duplicates and
re-orderings, and the local FHIR host (``examples.fhir_host``) exposes it as ``POST /__send``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets as secrets_mod
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import click
import requests
from standardwebhooks.webhooks import Webhook

from progress_plugin.service import demo

STANDARD_WEBHOOKS = "standard-webhooks"
X_SIGNATURE = "x-signature"
SCHEMES = (STANDARD_WEBHOOKS, X_SIGNATURE)
SECRET_ENV = "PROGRESS_PLUGIN_WEBHOOK_SECRET"

#: Statuses a sender retries; anything else that is not 2xx is final.
RETRY_STATUSES = frozenset({408, 425, 429})
MAX_ATTEMPTS = 5
RETRY_AFTER_MAX = 5.0
THERAPIST = "therapist-1"

# Six sessions of the demo's course: days after the intake, then (code, goals, ratings {goal: 0-10}).
SESSIONS = demo.SESSIONS[:6]


# -- the events ---------------------------------------------------------------------------
def envelope(event_type: str, at: datetime, data: dict) -> dict:
    """One webhook body: ``{"type", "timestamp", "data"}``."""
    return {"type": event_type, "timestamp": _iso(at), "data": data}


def intake_submitted(client_id: str, at: datetime, author: str = THERAPIST) -> dict:
    """An ``intake.submitted`` envelope with two goals in the client's words."""
    return envelope("intake.submitted", at, {"client_id": client_id, "author": author, "at": _iso(at),
                                             "intake": demo.intake_payload(at.date())})


def note_event(event_type: str, client_id: str, note_id: str, session_at: datetime,
               tags: list, *, at: datetime | None = None, author: str = THERAPIST,
               note_type: str | None = "progress-note") -> dict:
    """A ``note.saved`` or ``note.signed`` envelope. ``tags`` holds ``(code, goals, ratings)``."""
    at = at or session_at
    data = {"client_id": client_id, "note_id": note_id, "session_at": _iso(session_at),
            "author": author, "at": _iso(at),
            "tags": [{"code": code, "goals": list(goals),
                      "ratings": [{"goal": g, "value": v} for g, v in ratings.items()]}
                     for code, goals, ratings in tags]}
    if note_type is not None:
        data["note_type"] = note_type
    return envelope(event_type, at, data)


def client_story(client_id: str | None = None, start: datetime | None = None,
                 author: str = THERAPIST) -> list[dict]:
    """One client's course: intake, six tagged notes saved weekly, the last one then signed.

    Note ids are ``<client_id>-note-<n>``; the host's DocumentReference for a note has that id.
    """
    client_id = client_id or "client-" + uuid.uuid4().hex[:12]
    start = (start or datetime.now(timezone.utc) - timedelta(days=49)).replace(microsecond=0)
    events = [intake_submitted(client_id, start, author)]
    for n, (day, tags) in enumerate(SESSIONS, start=1):
        session_at = start + timedelta(days=day)
        events.append(note_event("note.saved", client_id, f"{client_id}-note-{n}", session_at,
                                 tags, at=session_at + timedelta(hours=1), author=author))
    last_day, last_tags = SESSIONS[-1]
    last_at = start + timedelta(days=last_day)
    events.append(note_event("note.signed", client_id, f"{client_id}-note-{len(SESSIONS)}",
                             last_at, last_tags, at=last_at + timedelta(days=1), author=author))
    return events


# -- signing ------------------------------------------------------------------------------
def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets_mod.token_bytes(32)).decode("ascii")


def body_of(event: dict) -> bytes:
    """The exact bytes sent (and signed) for an envelope."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_id(event: dict) -> str:
    """A stable ``webhook-id`` for an envelope: the same event always gets the same id."""
    return "msg_" + hashlib.sha256(body_of(event)).hexdigest()[:32]


def sign(secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None,
         scheme: str = STANDARD_WEBHOOKS) -> dict:
    """The headers of one signed request (``Content-Type`` included)."""
    headers = {"Content-Type": "application/json"}
    if scheme == STANDARD_WEBHOOKS:
        stamp = int(time.time()) if timestamp is None else int(timestamp)
        when = datetime.fromtimestamp(stamp, tz=timezone.utc)
        headers.update({
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode("utf-8")),
        })
    elif scheme == X_SIGNATURE:
        headers["X-Signature"] = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    return headers


# -- delivery -----------------------------------------------------------------------------
def plan(events: list[dict], *, ids: list[str] | None = None, duplicate_every: int = 0,
         shuffle_seed: int | None = None, shuffle_window: int | None = None) -> list[dict]:
    """The deliveries to make, in sending order.

    Every ``duplicate_every``-th event (1-based) is delivered twice, with the same id and body.
    With ``shuffle_seed`` the deliveries are shuffled, all together or within consecutive
    windows of ``shuffle_window``.
    """
    if ids is not None and len(ids) != len(events):
        raise ValueError("ids must have one id per event")
    out = []
    for index, event in enumerate(events):
        item = {"index": index, "id": ids[index] if ids else event_id(event),
                "type": event.get("type"), "body": body_of(event), "duplicate": False}
        out.append(item)
        if duplicate_every and (index + 1) % duplicate_every == 0:
            out.append({**item, "duplicate": True})
    if shuffle_seed is not None:
        rng = random.Random(shuffle_seed)
        window = shuffle_window or len(out) or 1
        for start in range(0, len(out), window):
            chunk = out[start:start + window]
            rng.shuffle(chunk)
            out[start:start + window] = chunk
    return out


def deliver(url: str, secret: str, events: list[dict], *, ids: list[str] | None = None,
            duplicate_every: int = 0, shuffle_seed: int | None = None,
            shuffle_window: int | None = None, scheme: str = STANDARD_WEBHOOKS,
            max_attempts: int = MAX_ATTEMPTS, backoff: float = 0.1, max_backoff: float = 2.0,
            retry_after_max: float = RETRY_AFTER_MAX, timeout: float = 10.0,
            concurrency: int = 1, session: requests.Session | None = None) -> list[dict]:
    """Post ``events`` to ``url`` signed with ``secret``; return one report per delivery.

    Deliveries follow :func:`plan`. Each is retried on a network error, 408, 425, 429 or 5xx,
    up to ``max_attempts`` tries in all, re-signed each time with the same id. The wait is
    ``Retry-After`` when given (capped at ``retry_after_max``), else an exponential backoff.
    A report is ``{"index", "id", "type", "duplicate", "attempts", "statuses", "status",
    "ok", "error"}``, in sending order.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    deliveries = plan(events, ids=ids, duplicate_every=duplicate_every,
                      shuffle_seed=shuffle_seed, shuffle_window=shuffle_window)
    options = dict(scheme=scheme, max_attempts=max_attempts, backoff=backoff,
                   max_backoff=max_backoff, retry_after_max=retry_after_max, timeout=timeout)
    if concurrency <= 1:
        own = session is None
        session = session or requests.Session()
        try:
            return [_deliver_one(session, url, secret, item, **options) for item in deliveries]
        finally:
            if own:
                session.close()
    local = threading.local()
    opened: list[requests.Session] = []

    def one(item):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            opened.append(local.session)
        return _deliver_one(local.session, url, secret, item, **options)

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, deliveries))
    finally:
        for s in opened:
            s.close()


def _deliver_one(session, url, secret, item, *, scheme, max_attempts, backoff, max_backoff,
                 retry_after_max, timeout) -> dict:
    report = {"index": item["index"], "id": item["id"], "type": item["type"],
              "duplicate": item["duplicate"], "attempts": 0, "statuses": [], "status": None,
              "ok": False, "error": None}
    for attempt in range(1, max_attempts + 1):
        report["attempts"] = attempt
        headers = sign(secret, item["id"], item["body"], scheme=scheme)
        wait = None
        try:
            response = session.post(url, data=item["body"], headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            report["statuses"].append(None)
            report["status"], report["error"] = None, exc.__class__.__name__
        else:
            report["statuses"].append(response.status_code)
            report["status"], report["error"] = response.status_code, None
            if 200 <= response.status_code < 300:
                report["ok"] = True
                return report
            if not _retryable(response.status_code):
                return report
            wait = _retry_after(response.headers.get("Retry-After"), retry_after_max)
        if attempt < max_attempts:
            time.sleep(wait if wait is not None else min(max_backoff, backoff * 2 ** (attempt - 1)))
    return report


def _retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(cap, seconds))


def summary(reports: list[dict]) -> dict:
    """Counts over :func:`deliver`'s reports."""
    return {"deliveries": len(reports), "ok": sum(r["ok"] for r in reports),
            "failed": sum(not r["ok"] for r in reports),
            "attempts": sum(r["attempts"] for r in reports),
            "events": len({r["id"] for r in reports})}


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# -- command line -------------------------------------------------------------------------
@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url", required=False)
@click.option("--secret", envvar=SECRET_ENV, help=f"whsec_... secret (or ${SECRET_ENV}).")
@click.option("--client-id", help="The client's id in your system (default: a new one).")
@click.option("--scheme", type=click.Choice(SCHEMES), default=STANDARD_WEBHOOKS, show_default=True)
@click.option("--duplicate-every", type=int, default=0, help="Send every k-th event twice.")
@click.option("--shuffle-seed", type=int, default=None, help="Shuffle the sending order.")
@click.option("--dry-run", is_flag=True, help="Print the signed requests instead of sending.")
@click.option("--new-secret", "make_secret", is_flag=True, help="Print a new secret and exit.")
def main(url, secret, client_id, scheme, duplicate_every, shuffle_seed, dry_run, make_secret):
    """Send one client's course to URL, e.g. http://127.0.0.1:8000/webhooks/demo-clinic."""
    if make_secret:
        click.echo(new_secret())
        return
    if not url:
        raise click.UsageError("URL is required")
    if not secret:
        raise click.UsageError(f"give --secret or set ${SECRET_ENV}")
    events = client_story(client_id)
    if dry_run:
        for item in plan(events, duplicate_every=duplicate_every, shuffle_seed=shuffle_seed):
            click.echo(f"POST {url}")
            for name, value in sign(secret, item["id"], item["body"], scheme=scheme).items():
                click.echo(f"{name}: {value}")
            click.echo("")
            click.echo(item["body"].decode("utf-8"))
            click.echo("")
        return
    reports = deliver(url, secret, events, duplicate_every=duplicate_every,
                      shuffle_seed=shuffle_seed, scheme=scheme)
    for r in reports:
        outcome = r["status"] if r["status"] is not None else r["error"]
        click.echo(f"{r['type']:<18} {r['id']} attempts={r['attempts']} -> {outcome}")
    counts = summary(reports)
    click.echo(f"sent {counts['deliveries']} deliveries of {counts['events']} events: "
               f"{counts['ok']} ok, {counts['failed']} failed")
    sys.exit(0 if counts["failed"] == 0 else 1)


if __name__ == "__main__":
    main()

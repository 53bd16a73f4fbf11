"""The control API under ``/__``: stats, reset, faults, seeds, configuration, sending.

Never counted and never faulted. JSON in and out; errors are ``{"error": text}``.
"""
from __future__ import annotations

import json
import threading
import uuid

from werkzeug.wrappers import Request, Response

from examples import webhook_sender
from examples.fhir_host.common import FHIRError

SEED_KEYS = {"clinic", "notes", "patients", "start", "protected_every"}
SEND_OPTIONS = ("ids", "duplicate_every", "shuffle_seed", "shuffle_window", "scheme",
                "max_attempts", "backoff", "max_backoff", "retry_after_max", "timeout",
                "concurrency")


def handle(host, request: Request) -> Response:
    path, method = request.path.rstrip("/"), request.method
    try:
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise FHIRError(400, "invalid", "body is not JSON") from None
        if path == "/__stats" and method == "GET":
            return _json(200, host.stats())
        if path == "/__reset" and method == "POST":
            host.reset(data=bool(_object(body).get("data")))
            return _json(200, {"ok": True})
        if path == "/__faults":
            if method == "GET":
                return _json(200, {"faults": host.faults()})
            if method == "POST":
                return _json(200, {"faults": host.add_faults(body)})
            if method == "DELETE":
                host.fault_queue.clear()
                return _json(200, {"faults": []})
        if path == "/__seed":
            if method == "GET":
                return _json(200, {"seeds": [s.describe() for s in host.store.seeds.values()]})
            if method == "POST":
                spec = _object(body)
                if set(spec) - SEED_KEYS or "clinic" not in spec or "notes" not in spec:
                    raise FHIRError(400, "invalid", "seed takes clinic, notes, patients, start "
                                    "and protected_every")
                return _json(200, {"seeded": host.seed(**spec)})
        if path == "/__config":
            if method == "GET":
                return _json(200, dict(host.config))
            if method == "POST":
                return _json(200, host.configure(**_object(body)))
        if path == "/__notes" and method == "POST":
            notes = _object(body).get("notes")
            if not isinstance(notes, list):
                raise FHIRError(400, "invalid", 'give {"notes": [...]}')
            return _json(200, {"registered": host.register_notes(notes)})
        if path == "/__send" and method == "POST":
            return _send(host, _object(body))
        if path.startswith("/__send/") and method == "GET":
            with host.lock:
                job = host.jobs.get(path.rsplit("/", 1)[1])
            if job is None:
                raise FHIRError(404, "not-found", "no such send job")
            return _json(200, dict(job))
        raise FHIRError(404, "not-found", "no such control endpoint")
    except FHIRError as exc:
        return _json(exc.status, {"error": exc.text})


def _send(host, spec: dict) -> Response:
    unknown = set(spec) - {"url", "secret", "events", "register", "wait", *SEND_OPTIONS}
    if unknown:
        raise FHIRError(400, "invalid", f"unknown send keys: {', '.join(sorted(unknown))}")
    url, secret, events = spec.get("url"), spec.get("secret"), spec.get("events")
    if not isinstance(url, str) or not isinstance(secret, str) or not isinstance(events, list):
        raise FHIRError(400, "invalid", "send needs url, secret and a list of events")
    options = {k: spec[k] for k in SEND_OPTIONS if k in spec}
    register = bool(spec.get("register", True))
    try:                                       # reject bad input before sending anything
        webhook_sender.plan(events, ids=options.get("ids"))
        webhook_sender.sign(secret, "msg_check", b"{}",
                            scheme=options.get("scheme", webhook_sender.STANDARD_WEBHOOKS))
    except Exception as exc:
        raise FHIRError(400, "invalid", f"cannot send: {exc.__class__.__name__}: {exc}") from None
    if spec.get("wait", True):
        return _json(200, host.send(url, secret, events, register=register, **options))
    job_id = uuid.uuid4().hex
    with host.lock:
        host.jobs[job_id] = {"job": job_id, "done": False}

    def work():
        try:
            result = {"done": True, **host.send(url, secret, events, register=register, **options)}
        except Exception as exc:  # reported to whoever polls the job
            result = {"done": True, "error": f"{exc.__class__.__name__}: {exc}"}
        with host.lock:
            host.jobs[job_id] = {"job": job_id, **result}

    threading.Thread(target=work, name=f"send-{job_id[:8]}", daemon=True).start()
    return _json(202, {"job": job_id})


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise FHIRError(400, "invalid", "expected a JSON object")
    return body


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status,
                    content_type="application/json")

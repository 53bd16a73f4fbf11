"""The example FHIR host as a WSGI app: request counting, faults, and the FHIR interactions."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import sys
import time
import traceback
import uuid
from collections import OrderedDict
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlencode

from werkzeug.wrappers import Request, Response

from examples import webhook_sender
from examples.fhir_host import control
from examples.fhir_host.common import (FHIR_JSON, ID_RE, JSON_PATCH, TYPE_RE, FHIRError,
                                       outcome, parse_instant, pattern, rss_bytes, version_of)
from examples.fhir_host.faults import Faults
from examples.fhir_host.patch import PatchError, PatchTestFailed, apply_patch
from examples.fhir_host.search import (DATE_PARAMS, SEARCH_PARAMS, SORTS, elements_only,
                                       parse_filters)
from examples.fhir_host.store import Store

DEFAULT_COUNT = 20
MAX_COUNT = 5000
LOG_LIMIT = 10_000
IDEMPOTENCY_LIMIT = 10_000
#: Set in the WSGI environ when the client's connection was dropped on purpose.
DROPPED = "fhir_host.dropped"
LISTED_TYPES = ("Patient", "Practitioner", "Questionnaire", "QuestionnaireResponse", "Goal",
                "Observation", "Flag", "DocumentReference", "Composition", "CodeSystem",
                "ValueSet", "Subscription", "Encounter")


class FHIRHost:
    """The in-memory FHIR host as a WSGI app; thread-safe."""

    def __init__(self, *, base_path: str = "/fhir", meta_add: bool = True,
                 idempotency: bool = False, validate: bool = False, log_limit: int = LOG_LIMIT):
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.config = {"meta_add": bool(meta_add), "idempotency": bool(idempotency),
                       "validate": bool(validate)}
        self.log_limit = log_limit
        self.store = Store(self.config)
        self.lock = self.store.lock
        self.jobs: dict[str, dict] = {}
        self.fault_queue = Faults()
        self._clear_counters()

    # -- the Python face of the control API -------------------------------------------
    def _clear_counters(self) -> None:
        with self.lock:
            self._stats = {"total": 0, "counts": {}, "statuses": {}, "methods": {}}
            self._log: list[dict] = []
            self._log_dropped = 0
            self._replies: OrderedDict = OrderedDict()
            self.store.clear_ledger()
            self.fault_queue.clear()

    def reset(self, data: bool = False) -> None:
        """Clear counters, the log, the write ledger and faults; with ``data`` also resources."""
        with self.lock:
            self._clear_counters()
            if data:
                self.store.clear_data()

    def configure(self, **options) -> dict:
        """Switch ``meta_add``, ``idempotency`` or ``validate``; returns the configuration."""
        unknown = set(options) - set(self.config)
        if unknown:
            raise FHIRError(400, "invalid", f"unknown options: {', '.join(sorted(unknown))}")
        with self.lock:
            self.config.update({k: bool(v) for k, v in options.items()})
            return dict(self.config)

    def seed(self, clinic: str, notes: int, patients: int = 100, start: str | None = None,
             protected_every: int = 0) -> dict:
        """Serve ``notes`` synthetic DocumentReferences for ``clinic`` (0 removes them)."""
        return self.store.seed(clinic, notes, patients, start, protected_every)

    def add_faults(self, specs) -> list[dict]:
        return self.fault_queue.add(specs)

    def faults(self) -> list[dict]:
        return self.fault_queue.pending()

    def get(self, rtype: str, rid: str) -> dict | None:
        return self.store.get(rtype, rid)

    def register_notes(self, notes: list[dict]) -> int:
        return self.store.register_notes(notes)

    def register_events(self, events: list[dict]) -> int:
        return self.store.register_events(events)

    def send(self, url: str, secret: str, events: list[dict], *, register: bool = True,
             **options) -> dict:
        """Post ``events`` signed, as :func:`examples.webhook_sender.deliver` does, after
        registering the notes they name (a platform has its notes before announcing them)."""
        if register:
            self.register_events(events)
        reports = webhook_sender.deliver(url, secret, events, **options)
        return {**webhook_sender.summary(reports), "reports": reports}

    def stats(self) -> dict:
        """Everything ``GET /__stats`` answers, as a fresh copy."""
        with self.lock:
            snapshot = {**self._stats, "log": self._log, "log_dropped": self._log_dropped,
                        **self.store.ledger(),
                        "seeds": [s.describe() for s in self.store.seeds.values()],
                        "config": self.config, "resources": self.store.sizes(),
                        "rss_bytes": rss_bytes(), "pid": os.getpid()}
            return json.loads(json.dumps(snapshot))

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if request.path.startswith("/__"):
                response = control.handle(self, request)
            else:
                response = self._fhir(request, environ)
        except Exception as exc:  # a bug here must answer 500, never hang the caller
            traceback.print_exc(file=sys.stderr)
            response = answer(500, outcome("exception", exc.__class__.__name__))
        return response(environ, start_response)

    def _fhir(self, request: Request, environ) -> Response:
        path, base = request.path, self.base_path
        if base and path != base and not path.startswith(base + "/"):
            return answer(404, outcome("not-found", f"the FHIR base is {base}"))
        rel = path[len(base):].strip("/")
        parts = rel.split("/") if rel else []
        method = request.method
        request_id = request.headers.get("X-Request-Id") or str(uuid.uuid4())
        entry = {"method": method, "pattern": pattern(method, parts),
                 "path": request.full_path.rstrip("?"),
                 "idempotency_key": request.headers.get("Idempotency-Key"),
                 "if_match": request.headers.get("If-Match"), "request_id": request_id,
                 "status": None, "fault": False}
        counters = self._arrive(entry, method, parts)
        raw = request.get_data(cache=True)
        fault = self.fault_queue.take(method, rel, path)
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000)
        failing = fault is not None and bool(fault.get("status") or fault.get("reset"))
        if failing and not fault.get("after"):
            return self._faulted(fault, entry, counters, environ, request_id)
        status, body, headers = self._run(method, parts, request, raw, entry)
        if failing:                          # "after": carried out, then the answer is lost
            return self._faulted(fault, entry, counters, environ, request_id)
        self._finish(entry, counters, status)
        return answer(status, body, {"X-Request-Id": request_id, **headers})

    def _run(self, method, parts, request, raw, entry) -> tuple[int, dict | bytes | None, dict]:
        key = entry["idempotency_key"] if method in ("POST", "PUT", "PATCH") else None
        replaying = bool(key) and self.config["idempotency"]
        fingerprint = (method, entry["path"], hashlib.sha1(raw).hexdigest())
        if replaying:
            with self.lock:
                seen = self._replies.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    return 422, outcome("business-rule", "Idempotency-Key reused for a "
                                        "different request"), {}
                entry["replayed"] = True
                return seen[1]
        try:
            result = self._dispatch(method, parts, request, raw)
        except FHIRError as exc:
            result = (exc.status, outcome(exc.code, exc.text), exc.headers)
        if replaying and result[0] < 500:
            with self.lock:
                self._replies[key] = (fingerprint, result)
                if len(self._replies) > IDEMPOTENCY_LIMIT:
                    self._replies.popitem(last=False)
        return result

    def _faulted(self, fault, entry, counters, environ, request_id) -> Response:
        entry["fault"] = True
        if fault.get("reset"):
            self._finish(entry, counters, "reset")
            return _drop(environ)
        headers = {"X-Request-Id": request_id}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        self._finish(entry, counters, fault["status"])
        return answer(fault["status"], outcome("transient", f"injected {fault['status']}"), headers)

    def _arrive(self, entry: dict, method: str, parts: list[str]) -> dict:
        """Count a request on arrival. Returns the counters it went to, so that a reset
        while it is in flight leaves the new counters clean."""
        with self.lock:
            stats = self._stats
            stats["total"] += 1
            stats["counts"][entry["pattern"]] = stats["counts"].get(entry["pattern"], 0) + 1
            by_type = stats["methods"].setdefault(method, {})
            rtype = parts[0] if parts else ""
            by_type[rtype] = by_type.get(rtype, 0) + 1
            self._log.append(entry)
            if len(self._log) > self.log_limit:
                drop = len(self._log) - self.log_limit
                del self._log[:drop]
                self._log_dropped += drop
            return stats

    def _finish(self, entry: dict, counters: dict, status) -> None:
        with self.lock:
            entry["status"] = status
            by_status = counters["statuses"].setdefault(entry["pattern"], {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    # -- FHIR interactions ------------------------------------------------------------
    def _dispatch(self, method: str, parts: list[str], request: Request, raw: bytes):
        if parts == ["metadata"] and method == "GET":
            return 200, self.capability(request), {}
        if not parts:
            raise FHIRError(404, "not-supported", "batch and transaction are not supported")
        rtype = parts[0]
        if not TYPE_RE.match(rtype):
            raise FHIRError(404, "not-found", f"unknown resource type {rtype!r}")
        if len(parts) == 1:
            handler = {"GET": self._search, "POST": self._create, "PUT": self._conditional_update,
                       "DELETE": self._conditional_delete}.get(method)
            if handler is None:
                raise FHIRError(405, "not-supported", f"{method} on a type is not supported")
            return handler(rtype, request, raw)
        rid = parts[1]
        if not ID_RE.match(rid):
            raise FHIRError(404, "not-found", f"unsupported path {'/'.join(parts)}")
        if len(parts) == 2:
            handler = {"GET": self._read, "PUT": self._update, "PATCH": self._patch,
                       "DELETE": self._delete}.get(method)
            if handler is None:
                raise FHIRError(405, "not-supported", f"{method} on a resource is not supported")
            return handler(rtype, rid, request, raw)
        if len(parts) == 3 and parts[2] == "$meta-add" and method == "POST":
            return self._meta_add(rtype, rid, request, raw)
        if len(parts) == 4 and parts[2] == "_history" and method == "GET":
            return self._vread(rtype, rid, parts[3], request)
        raise FHIRError(404, "not-found", f"unsupported path {'/'.join(parts)}")

    def capability(self, request: Request) -> dict:
        interactions = [{"code": c} for c in ("read", "vread", "update", "patch", "delete",
                                              "create", "search-type")]
        search = [{"name": n, "type": "date" if n in DATE_PARAMS else "token"}
                  for n in sorted([*SEARCH_PARAMS, *DATE_PARAMS])]
        operations = ([{"name": "meta-add", "definition":
                        "http://hl7.org/fhir/OperationDefinition/Resource-meta-add"}]
                      if self.config["meta_add"] else [])
        return {
            "resourceType": "CapabilityStatement", "status": "active",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
            "patchFormat": [JSON_PATCH],
            "software": {"name": "progress-plugin example FHIR host"},
            "implementation": {"description": "in-memory FHIR R4 host for tests",
                               "url": self._base_url(request)},
            "rest": [{"mode": "server", "resource": [
                {"type": t, "interaction": interactions, "versioning": "versioned",
                 "readHistory": False, "updateCreate": True, "conditionalCreate": True,
                 "conditionalUpdate": True, "conditionalDelete": "single",
                 "searchParam": search, "operation": operations} for t in LISTED_TYPES]}],
        }

    def _base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + self.base_path

    def _read(self, rtype, rid, request, raw):
        current = self.store.get(rtype, rid)
        if current is None:
            if self.store.is_gone(rtype, rid):
                raise FHIRError(410, "deleted", f"{rtype}/{rid} was deleted")
            raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
        elements = [e for e in (request.args.get("_elements") or "").split(",") if e]
        return self._resource_answer(200, elements_only(current, elements), request)

    def _vread(self, rtype, rid, vid, request):
        current = self.store.get(rtype, rid)
        if current is None or version_of(current) != vid:
            raise FHIRError(404, "not-found", f"{rtype}/{rid} has no version {vid} here "
                            "(only the current version is kept)")
        return self._resource_answer(200, current, request)

    def _create(self, rtype, request, raw):
        body = _body(rtype, request, raw)
        condition = request.headers.get("If-None-Exist")
        with self.lock:
            if condition:
                found = self.store.find(rtype, parse_qsl(condition.lstrip("?"), keep_blank_values=True))
                if len(found) > 1:
                    raise FHIRError(412, "duplicate", "If-None-Exist matched several resources")
                if found:
                    self.store.record(rtype, found[0], found[0], changed=False)
                    return self._resource_answer(200, found[0], request)
            stored, _ = self.store.commit(rtype, str(uuid.uuid4()), body, None)
        return self._resource_answer(201, stored, request)

    def _update(self, rtype, rid, request, raw):
        body = _body(rtype, request, raw)
        if body.get("id") not in (None, rid):
            raise FHIRError(400, "invalid", "the body's id differs from the URL's")
        with self.lock:
            current = self.store.get(rtype, rid)
            _if_match(request, current)
            stored, _ = self.store.commit(rtype, rid, body, current)
        return self._resource_answer(200 if current is not None else 201, stored, request)

    def _conditional_update(self, rtype, request, raw):
        body = _body(rtype, request, raw)
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        with self.lock:
            found = self.store.find(rtype, pairs)
            if len(found) > 1:
                raise FHIRError(412, "duplicate", "the condition matched several resources")
            current = found[0] if found else None
            if current is not None:
                if body.get("id") not in (None, current["id"]):
                    raise FHIRError(400, "invalid", "the body's id differs from the match")
                _if_match(request, current)
            elif body.get("id") and self.store.get(rtype, body["id"]) is not None:
                raise FHIRError(400, "invalid", "the body's id names a resource that does not "
                                "match the condition")
            rid = current["id"] if current is not None else body.get("id") or str(uuid.uuid4())
            stored, _ = self.store.commit(rtype, rid, body, current)
        return self._resource_answer(200 if current is not None else 201, stored, request)

    def _patch(self, rtype, rid, request, raw):
        if request.mimetype != JSON_PATCH:
            raise FHIRError(415, "not-supported", f"PATCH takes {JSON_PATCH}")
        try:
            operations = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FHIRError(400, "invalid", "body is not JSON") from None
        with self.lock:
            current = self.store.get(rtype, rid)
            if current is None:
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            _if_match(request, current)
            try:
                patched = apply_patch(current, operations)
            except PatchTestFailed as exc:
                raise FHIRError(400, "conflict", str(exc)) from None
            except PatchError as exc:
                raise FHIRError(400, "invalid", f"JSON Patch: {exc}") from None
            if not isinstance(patched, dict) or patched.get("resourceType") != rtype \
                    or patched.get("id") != rid:
                raise FHIRError(400, "invalid", "a patch may not change resourceType or id")
            stored, _ = self.store.commit(rtype, rid, patched, current)
        return self._resource_answer(200, stored, request)

    def _meta_add(self, rtype, rid, request, raw):
        if not self.config["meta_add"]:
            raise FHIRError(404, "not-supported", "$meta-add is not supported by this server")
        body = _body("Parameters", request, raw)
        meta_in = next((p.get("valueMeta") for p in body.get("parameter") or []
                        if isinstance(p, dict) and p.get("name") == "meta"), None)
        if not isinstance(meta_in, dict):
            raise FHIRError(400, "invalid", "$meta-add needs a 'meta' parameter with valueMeta")
        with self.lock:
            current = self.store.get(rtype, rid)
            if current is None:
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            meta = dict(current.get("meta") or {})
            for field in ("tag", "security"):
                have = list(meta.get(field) or [])
                for coding in meta_in.get(field) or []:
                    if isinstance(coding, dict) and not any(
                            c.get("system") == coding.get("system")
                            and c.get("code") == coding.get("code") for c in have):
                        have.append(coding)
                if have:
                    meta[field] = have
            profiles = list(meta.get("profile") or [])
            profiles += [p for p in meta_in.get("profile") or [] if p not in profiles]
            if profiles:
                meta["profile"] = profiles
            # Tags change without a new version, as FHIR servers commonly do for $meta-add.
            stored, _ = self.store.commit(rtype, rid, {**current, "meta": meta}, current, bump=False)
        return 200, {"resourceType": "Parameters",
                     "parameter": [{"name": "return", "valueMeta": stored.get("meta") or {}}]}, {}

    def _delete(self, rtype, rid, request, raw):
        with self.lock:
            current = self.store.get(rtype, rid)
            if current is None:
                if self.store.is_gone(rtype, rid):
                    return 200, outcome("informational", "already deleted", "information"), {}
                raise FHIRError(404, "not-found", f"{rtype}/{rid} is not known")
            _if_match(request, current)
            self.store.delete(rtype, current)
        return 200, outcome("informational", f"deleted {rtype}/{rid}", "information"), {}

    def _conditional_delete(self, rtype, request, raw):
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        with self.lock:
            found = self.store.find(rtype, pairs)
            if len(found) > 1:
                raise FHIRError(412, "duplicate", "the condition matched several resources")
            if found:
                self.store.delete(rtype, found[0])
        text = f"deleted {rtype}/{found[0]['id']}" if found else "nothing matched"
        return 200, outcome("informational", text, "information"), {}

    def _search(self, rtype, request, raw):
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        args = dict(pairs)
        try:
            count = min(MAX_COUNT, int(args.get("_count", DEFAULT_COUNT)))
            offset = int(args.get("_offset", 0))
        except ValueError:
            raise FHIRError(400, "invalid", "_count and _offset are integers") from None
        if count < 0 or offset < 0:
            raise FHIRError(400, "invalid", "_count and _offset are not negative")
        if args.get("_sort", "") not in SORTS:
            raise FHIRError(400, "not-supported", "results come in creation order, which is "
                            "_lastUpdated order; _sort may only name that")
        if args.get("_summary") == "count":
            count = 0
        elements = [e for e in (args.get("_elements") or "").split(",") if e]
        total, page = self.store.select(rtype, parse_filters(pairs), offset, count)
        base = self._base_url(request)
        links = [{"relation": "self",
                  "url": f"{base}/{rtype}" + (f"?{urlencode(pairs)}" if pairs else "")}]
        if count and offset + count < total:
            following = [(k, v) for k, v in pairs if k not in ("_offset", "_count")]
            following += [("_count", str(count)), ("_offset", str(offset + count))]
            links.append({"relation": "next", "url": f"{base}/{rtype}?{urlencode(following)}"})
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
        if not page:
            return 200, bundle, {}
        # Entries are encoded one by one; unwritten seeded notes come from templates.
        safe_base, wanted = json.dumps(base)[1:-1], tuple(elements)
        entries = [item[0].entry_json(item[1], safe_base, wanted) if isinstance(item, tuple)
                   else json.dumps({"fullUrl": f"{base}/{rtype}/{item['id']}",
                                    "resource": elements_only(item, elements),
                                    "search": {"mode": "match"}}, separators=(",", ":"))
                   for item in page]
        head = json.dumps(bundle, separators=(",", ":"))
        return 200, f'{head[:-1]},"entry":[{",".join(entries)}]}}'.encode("utf-8"), {}

    def _resource_answer(self, status: int, resource: dict, request: Request) -> tuple:
        meta = resource.get("meta") or {}
        location = f"{self._base_url(request)}/{resource['resourceType']}/{resource['id']}"
        headers = {"Content-Location": location}
        if meta.get("versionId"):
            headers["ETag"] = f'W/"{meta["versionId"]}"'
            headers["Content-Location"] = f"{location}/_history/{meta['versionId']}"
        if status == 201:
            headers["Location"] = headers["Content-Location"]
        when = parse_instant(meta.get("lastUpdated"))
        if when is not None:
            headers["Last-Modified"] = format_datetime(when, usegmt=True)
        prefer = (request.headers.get("Prefer") or "").replace(" ", "")
        if "return=minimal" in prefer:
            return status, None, headers
        if "return=OperationOutcome" in prefer:
            return status, outcome("informational", "done", "information"), headers
        return status, resource, headers


def make_app(**options) -> FHIRHost:
    """The host as a WSGI app: ``base_path``, ``meta_add``, ``idempotency``, ``validate``."""
    return FHIRHost(**options)


def answer(status: int, body: dict | bytes | None = None, headers: dict | None = None,
           content_type: str = FHIR_JSON) -> Response:
    if isinstance(body, bytes):
        payload = body
    else:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(payload, status=status, headers=headers or {}, content_type=content_type)


def _body(rtype: str, request: Request, raw: bytes) -> dict:
    if request.mimetype not in ("application/fhir+json", "application/json"):
        raise FHIRError(415, "not-supported", "send application/fhir+json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FHIRError(400, "invalid", "body is not JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != rtype:
        raise FHIRError(400, "invalid", f"body must be a {rtype} resource")
    return body


def _if_match(request: Request, current: dict | None) -> None:
    wanted = request.headers.get("If-Match")
    if not wanted:
        return
    match = re.fullmatch(r'\s*(?:W/)?"?([^"]*)"?\s*', wanted)
    if current is None or match is None or match.group(1) != version_of(current):
        raise FHIRError(412, "conflict", "If-Match names a version that is not current")


def _drop(environ) -> Response:
    """Drop the client's connection without an answer."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("this server does not expose its socket; cannot drop a connection")
    environ[DROPPED] = True
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=500)      # never reaches the client

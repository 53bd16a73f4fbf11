"""The EHR stand-in's FHIR side (tests/smart_ehr.py): discovery, the CapabilityStatement, and the
proxy to Medplum behind Authlib's ResourceProtector, with SMART scopes and the patient compartment
enforced (tests/smart_scopes.py). See tests/smart_ehr.py for what each answer means."""
from __future__ import annotations

import json

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Response, jsonify, request

from tests import smart_scopes

FORWARD_REQUEST = ("Content-Type", "Accept", "If-None-Exist", "If-Match", "If-None-Match", "If-Modified-Since",
                   "Prefer", "Idempotency-Key")
FORWARD_RESPONSE = ("Content-Type", "ETag", "Location", "Last-Modified", "Content-Location")
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Validator(BearerTokenValidator):
    def __init__(self, ehr):
        super().__init__()
        self.ehr = ehr

    def authenticate_token(self, token_string):
        return self.ehr.tokens.get(token_string)


def outcome(status: int, code: str, text: str, headers=None) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code,
                                                           "diagnostics": text}]}
    return Response(json.dumps(body), status=status, mimetype="application/fhir+json", headers=headers or {})


def interaction(method: str, parts: list[str]) -> str | None:
    """The SMART letter of a request to ``/<parts>``, or None for what the stand-in does not proxy."""
    if not parts or not parts[0][:1].isupper():
        return None
    if method == "GET":
        if len(parts) == 1:
            return "s"
        plain = not parts[1].startswith(("$", "_"))
        return "r" if plain and (len(parts) == 2 or (len(parts) == 4 and parts[2] == "_history")) else None
    if method == "POST":
        if len(parts) == 1:
            return "c"
        if len(parts) == 2 and parts[1] == "_search":
            return "s"
        if len(parts) == 3 and parts[2] == "$meta-add":
            return "u"
        return None
    return {"PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method)


def proxy_blueprint(ehr) -> Blueprint:
    bp = Blueprint("smart_fhir", __name__, url_prefix="/fhir/R4")
    protector = ResourceProtector()
    protector.register_token_validator(_Validator(ehr))

    @bp.get("/.well-known/smart-configuration")
    def smart_configuration():
        if not ehr.discovery_enabled:
            return outcome(404, "not-found", "no SMART configuration here")
        return jsonify(ehr.smart_configuration())

    @bp.get("/metadata")
    def metadata():
        return jsonify({
            "resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01", "kind": "instance",
            "fhirVersion": "4.0.1", "format": ["json"],
            "rest": [{"mode": "server", "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": OAUTH_URIS, "extension": [
                    {"url": "authorize", "valueUri": ehr.authorize_endpoint},
                    {"url": "token", "valueUri": ehr.token_endpoint}]}]}}]})

    def medplum(method: str, path: str, **kwargs):
        return ehr.http.request(method, f"{ehr.medplum_url}/{path}", timeout=15, **kwargs)

    def owner_of(path: str) -> str | None | bool:
        """Whose the stored resource at ``path`` is; False when there is none."""
        r = medplum("GET", path)
        return smart_scopes.patient_of(r.json()) if r.status_code == 200 else False

    @bp.route("/", defaults={"rest": ""}, methods=METHODS)
    @bp.route("/<path:rest>", methods=METHODS)
    def fhir(rest: str):
        entry = {"method": request.method, "path": rest, "query": request.query_string.decode()}
        ehr.fhir_log.append(entry)
        try:
            token = protector.acquire_token()
        except OAuth2Error as error:
            entry["status"] = 401
            return outcome(401, "login", f"token refused: {error.error}",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        entry.update(client_id=token.client_id, patient=token.context.get("patient"))
        parts = rest.split("/")
        letter = interaction(request.method, parts)
        if letter is None:
            entry["status"] = 403
            return outcome(403, "not-supported", "the stand-in does not proxy this interaction")
        kind = parts[0]
        verdict = smart_scopes.decide(token.scope, kind, letter)
        entry.update(letter=letter, verdict=verdict)
        refused = None
        if verdict is None:
            refused = f"no granted scope allows {kind}.{letter}"
        elif verdict == "patient":
            refused = compartment_refusal(token.context.get("patient"), kind, letter, parts)
        if refused:
            entry["status"] = 403
            return outcome(403, "forbidden", refused)
        headers = {h: request.headers[h] for h in FORWARD_REQUEST if h in request.headers}
        upstream = medplum(request.method, rest, params=request.args.to_dict(flat=False), data=request.get_data(),
                           headers=headers)
        body = upstream.content.replace(ehr.medplum_url.encode(), ehr.fhir_base.encode())
        if verdict == "patient" and upstream.status_code == 200 and not shown_in_compartment(
                token.context.get("patient"), body):
            entry["status"] = 403
            return outcome(403, "forbidden", "the resource is outside the launch's patient compartment")
        entry["status"] = upstream.status_code
        out = Response(body, status=upstream.status_code)
        for h in FORWARD_RESPONSE:
            if h in upstream.headers:
                out.headers[h] = upstream.headers[h].replace(ehr.medplum_url, ehr.fhir_base)
        return out

    def compartment_refusal(patient: str | None, kind: str, letter: str, parts: list[str]) -> str | None:
        """Why a ``patient/`` token may not do this, before it reaches Medplum; None when it may."""
        if not patient:
            return "a patient/ scope without a patient in the launch context"
        outside = "the resource is outside the launch's patient compartment"
        if letter == "s":
            params = request.args.to_dict(flat=False)
            if request.method == "POST":
                for k, v in request.form.to_dict(flat=False).items():
                    params.setdefault(k, []).extend(v)
            return None if smart_scopes.search_patient(kind, params) == patient else (
                "a search with a patient/ scope must be constrained to the launch's patient")
        if letter == "r":
            return None if kind != "Patient" or parts[1] == patient else outside   # others: checked on the way back
        if letter in "cu" and request.method in ("POST", "PUT") and len(parts) <= 2:
            try:
                resource = json.loads(request.get_data() or b"null")
            except ValueError:
                return "the body is not JSON"
            if not isinstance(resource, dict) or smart_scopes.patient_of(resource) != patient:
                return outside
            if request.method == "POST" or len(parts) == 1:     # a create, or a conditional update
                return None
        if len(parts) < 2:
            return "a conditional patch or delete is not allowed with a patient/ scope"
        owner = owner_of(f"{kind}/{parts[1]}")  # PUT, PATCH, DELETE, $meta-add on an existing resource
        return None if owner in (patient, False) else outside

    def shown_in_compartment(patient: str, body: bytes) -> bool:
        try:
            resource = json.loads(body)
        except ValueError:
            return False
        if resource.get("resourceType") == "Bundle":
            found = [e.get("resource") or {} for e in resource.get("entry") or []
                     if (e.get("search") or {}).get("mode", "match") == "match"]
        else:
            found = [resource]
        return all(smart_scopes.patient_of(r) == patient for r in found if r.get("resourceType") != "OperationOutcome")

    return bp

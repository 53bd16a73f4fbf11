"""The admin HTTP API for the tag vocabulary: a Flask blueprint, and its OpenAPI document.

Every route is under ``/clinics/<clinic>/vocabulary`` and needs a bearer token of that clinic
(:mod:`progress_plugin.auth`): ``viewer`` reads, ``admin`` edits. Every response carries the
clinic's current vocabulary version as its ``ETag``; every write must send that version in
``If-Match`` (428 without it, 412 when another change came first; nothing is lost, reload and
apply again). Bad input answers 422 ``{"json": {field: [messages]}}``. Each change is a new
vocabulary version and leaves an audit row naming the token.

``/openapi.json`` describes these routes; it is public.
"""
from __future__ import annotations

import re

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify, request, url_for
from marshmallow import fields, validate

from progress_plugin import __version__, auth, fhir_vocabulary, jsonio, vocab_io
from progress_plugin.app import services
from progress_plugin.errors import PreconditionFailed, PreconditionRequired, ValidationError
from progress_plugin.schema_fields import Int, Text
from progress_plugin.schemas import (TagEditSchema, TagSchema, Version, VocabularyFileSchema, load, tag_edit_schema,
                                     tag_schema)
from progress_plugin.vocabulary import Vocabulary

blueprint = Blueprint("admin", __name__)
BASE = "/clinics/<clinic>/vocabulary"
TAG = BASE + "/tags/<code>"


# -- query and response schemas (responses are documented in /openapi.json) ----------------
class Query(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class VersionQuerySchema(Query):
    version = Int(validate=Version,
                  metadata={"description": "A past version; the current one when omitted."})


class DiffQuerySchema(Query):
    from_ = Int(data_key="from", validate=Version,
                metadata={"description": "Defaults to the version before 'to'."})
    to = Int(validate=Version, metadata={"description": "Defaults to the current version."})


class ExportQuerySchema(Query):
    format = Text(load_default="json", validate=validate.OneOf(fhir_vocabulary.FORMATS),
                  metadata={"description": "json: our vocabulary file; fhir: a Bundle of CodeSystem "
                                           "and ValueSet."})


class VocabularySchema(ma.Schema):
    clinic_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "The version shown."})
    current_version = fields.Integer(required=True)
    tags = fields.List(fields.Nested(TagSchema), required=True)


class TagResultSchema(ma.Schema):
    clinic_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "The version the tag is shown from."})
    tag = fields.Nested(TagSchema, required=True)


class VersionEntrySchema(ma.Schema):
    version = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    by = fields.String(required=True, metadata={"description": "Who made it: token:<id>, a CLI actor, or system."})
    change = fields.String(required=True)


class HistorySchema(ma.Schema):
    clinic_id = fields.String(required=True)
    current_version = fields.Integer(required=True)
    versions = fields.List(fields.Nested(VersionEntrySchema), required=True)


class EditedSchema(ma.Schema):
    code = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.List(fields.String()),
                          required=True, metadata={"description": "field -> [old value, new value]"})


class DiffSchema(ma.Schema):
    clinic_id = fields.String(required=True)
    from_ = fields.Integer(data_key="from", required=True)
    to = fields.Integer(required=True)
    added = fields.List(fields.String(), required=True)
    removed = fields.List(fields.String(), required=True)
    retired = fields.List(fields.String(), required=True)
    restored = fields.List(fields.String(), required=True)
    edited = fields.List(fields.Nested(EditedSchema), required=True)


class ImportResultSchema(ma.Schema):
    clinic_id = fields.String(required=True)
    version = fields.Integer(required=True)
    changed = fields.Boolean(required=True, metadata={"description": "False when the file matched the current "
                                                                     "version (no new version)."})
    kind = fields.String(required=True, validate=validate.OneOf(("json", "fhir-bundle", "fhir-codesystem")))


class ErrorSchema(ma.Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)


class ValidationErrorSchema(ma.Schema):
    json = fields.Dict(required=True, metadata={"description": "field path -> list of messages"})


version_query = VersionQuerySchema()
diff_query = DiffQuerySchema()
export_query = ExportQuerySchema()

#: Our vocabulary file, or FHIR (a Bundle of CodeSystem and ValueSet, or a bare CodeSystem).
EITHER_FILE = {"oneOf": [{"$ref": "#/components/schemas/VocabularyFile"},
                         {"type": "object", "required": ["resourceType"],
                          "description": "A FHIR R4 Bundle holding the CodeSystem (and its ValueSet), "
                                         "or the CodeSystem alone.",
                          "properties": {"resourceType": {"type": "string", "enum": ["Bundle", "CodeSystem"]}}}]}

#: OpenAPI operation details by endpoint name; filled by :func:`describe`.
OPERATIONS: dict[str, dict] = {}


def describe(summary: str, *, write: bool = False, query=None, body=None, response=None, status: int = 200):
    """Record how a view appears in ``/openapi.json``."""
    def decorator(view):
        OPERATIONS[f"{blueprint.name}.{view.__name__}"] = dict(
            summary=summary, write=write, query=query, body=body, response=response, status=status,
            description=(view.__doc__ or "").strip())
        return view
    return decorator


# -- helpers ------------------------------------------------------------------------------
def _query(schema: ma.Schema) -> dict:
    return load(schema, request.args.to_dict())


def _body(schema: ma.Schema):
    if not request.is_json:
        raise ValidationError({"_schema": ["Expected a JSON object body (Content-Type: application/json)."]})
    return load(schema, jsonio.loads(request.get_data()))


ETAG_RE = re.compile(r'^(?:W/)?"?(\d+)"?$')


def _if_match(clinic: str) -> int:
    """The version named by ``If-Match``: 428 without one, 412 when it is not the current version."""
    header = request.headers.get("If-Match", "").strip()
    current = services().store.current_version(clinic)
    if not header or header == "*":
        raise PreconditionRequired(f"Send If-Match with the vocabulary version you edit (now {current}).",
                                   current=current)
    named = [m.group(1) for m in (ETAG_RE.match(v.strip()) for v in header.split(",")) if m]
    if str(current) not in named:
        raise PreconditionFailed(f"The vocabulary is at version {current}, not {header}; reload and try again.",
                                 current=current)
    return current


def _reply(body: dict, clinic: str, status: int = 200, headers: dict | None = None):
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(services().store.current_version(clinic)))
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _save(clinic: str, new: Vocabulary, change: str, expected: int) -> Vocabulary:
    svc = services()
    now = svc.clock()
    svc.store.save_vocabulary(clinic, new, auth.actor(), change, now, expected_version=expected)
    _published(clinic, new)
    return new


def _published(clinic: str, vocabulary: Vocabulary) -> None:
    """Tell the core of the new version; with a host configured, the CodeSystem and ValueSet it asks for are queued."""
    svc = services()
    vocab_io.changed(svc.runtime, clinic, vocabulary, auth.actor(), svc.clock(),
                     queue=bool(svc.config is not None and svc.config.host_url))


def _tag_result(clinic: str, vocabulary: Vocabulary, code: str) -> dict:
    return {"clinic_id": clinic, "version": vocabulary.version, "tag": vocabulary.resolve(code).as_dict()}


@blueprint.errorhandler(PreconditionFailed)
@blueprint.errorhandler(PreconditionRequired)
def _precondition(exc):
    response = jsonify(error=exc.__class__.__name__, message=str(exc))
    response.status_code = exc.status
    if exc.context.get("current") is not None:
        response.set_etag(str(exc.context["current"]))
    return response


# -- reads --------------------------------------------------------------------------------
@blueprint.get(BASE)
@auth.require("viewer")
@describe("List the tags of the current (or a past) version", query=VersionQuerySchema, response="Vocabulary")
def list_tags(clinic):
    """Every tag, active and retired, in vocabulary order."""
    args = _query(version_query)
    store = services().store
    vocabulary = store.vocabulary(clinic, args.get("version"))
    return _reply({"clinic_id": clinic, "version": vocabulary.version,
                   "current_version": store.current_version(clinic),
                   "tags": [t.as_dict() for t in vocabulary.tags]}, clinic)


@blueprint.get(TAG)
@auth.require("viewer")
@describe("Show one tag", query=VersionQuerySchema, response="TagResult")
def show_tag(clinic, code):
    """A tag as it reads in the current (or a past) version; retired tags too."""
    args = _query(version_query)
    vocabulary = services().store.vocabulary(clinic, args.get("version"))
    return _reply(_tag_result(clinic, vocabulary, code), clinic)


@blueprint.get(BASE + "/history")
@auth.require("viewer")
@describe("List the versions, with who made each and when", response="History")
def history(clinic):
    """Every version, oldest first."""
    store = services().store
    versions = [{**row, "at": row["at"].isoformat()} for row in store.history(clinic)]
    return _reply({"clinic_id": clinic, "current_version": store.current_version(clinic), "versions": versions},
                  clinic)


@blueprint.get(BASE + "/diff")
@auth.require("viewer")
@describe("What changed between two versions", query=DiffQuerySchema, response="Diff")
def diff(clinic):
    """Codes added, removed, retired and restored, and edited fields with old and new values."""
    args = _query(diff_query)
    store = services().store
    to = args.get("to") or store.current_version(clinic)
    frm = args.get("from_") or max(to - 1, 1)
    changes = store.vocabulary(clinic, frm).diff(store.vocabulary(clinic, to))
    return _reply({"clinic_id": clinic, "from": frm, "to": to, **changes}, clinic)


@blueprint.get(BASE + "/export")
@auth.require("viewer")
@describe("Export the current vocabulary", query=ExportQuerySchema, response=EITHER_FILE)
def export(clinic):
    """``format=json`` gives our vocabulary file; ``format=fhir`` a FHIR Bundle (CodeSystem with retired codes,
    ValueSet of the active ones). Either can be imported again."""
    args = _query(export_query)
    vocabulary = services().store.vocabulary(clinic)
    response = _reply(fhir_vocabulary.export(vocabulary, clinic, args["format"]), clinic)
    if args["format"] == "fhir":
        response.mimetype = "application/fhir+json"
    return response


# -- writes -------------------------------------------------------------------------------
@blueprint.post(BASE + "/tags")
@auth.require("admin")
@describe("Add a tag", write=True, body="Tag", response="TagResult", status=201)
def add_tag(clinic):
    """A new, active tag. Codes are never reused, even those of retired tags."""
    tag = _body(tag_schema)
    expected = _if_match(clinic)
    new, change = vocab_io.change(services().store.vocabulary(clinic), "add", tag.code, tag=tag)
    _save(clinic, new, change, expected)
    location = url_for(".show_tag", clinic=clinic, code=tag.code)
    return _reply(_tag_result(clinic, new, tag.code), clinic, 201, {"Location": location})


@blueprint.patch(TAG)
@auth.require("admin")
@describe("Edit a tag's label, description, category, direction or audience", write=True, body="TagEdit",
          response="TagResult")
def edit_tag(clinic, code):
    """Notes tagged under earlier versions keep the meaning they had; codes never change."""
    changes = _body(tag_edit_schema)
    expected = _if_match(clinic)
    new, change = vocab_io.change(services().store.vocabulary(clinic), "edit", code, changes=changes)
    _save(clinic, new, change, expected)
    return _reply(_tag_result(clinic, new, code), clinic)


@blueprint.post(TAG + "/retire")
@auth.require("admin")
@describe("Retire a tag", write=True, response="TagResult")
def retire_tag(clinic, code):
    """A retired tag can no longer be applied; notes that carry it keep it."""
    return _status_change(clinic, code, "retire")


@blueprint.post(TAG + "/restore")
@auth.require("admin")
@describe("Restore a retired tag", write=True, response="TagResult")
def restore_tag(clinic, code):
    """The tag can be applied again."""
    return _status_change(clinic, code, "restore")


def _status_change(clinic, code, op):
    expected = _if_match(clinic)
    new, change = vocab_io.change(services().store.vocabulary(clinic), op, code)
    _save(clinic, new, change, expected)
    return _reply(_tag_result(clinic, new, code), clinic)


@blueprint.post(BASE + "/import")
@auth.require("admin")
@describe("Import a vocabulary file or a FHIR Bundle/CodeSystem", write=True, body=EITHER_FILE,
          response="ImportResult")
def import_(clinic):
    """The whole file is checked first; any problem answers 422 with all of them and changes nothing.
    Codes the file does not name stay, retired. The same content twice makes one version."""
    expected = _if_match(clinic)
    store = services().store
    parsed = fhir_vocabulary.read(request.get_data(), store.vocabulary(clinic))
    vocabulary, changed = vocab_io.apply(store, clinic, parsed, auth.actor(), services().clock(), expected)
    if changed:
        _published(clinic, vocabulary)
    return _reply({"clinic_id": clinic, "version": vocabulary.version, "changed": changed, "kind": parsed.kind},
                  clinic)


# -- OpenAPI ------------------------------------------------------------------------------
@blueprint.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of the admin API (public: it holds no clinic data)."""
    doc = current_app.extensions.get("progress_plugin.openapi")
    if doc is None:
        doc = current_app.extensions["progress_plugin.openapi"] = openapi(current_app)
    return jsonify(doc)


COMPONENTS = {
    "Tag": TagSchema, "TagEdit": TagEditSchema, "VocabularyFile": VocabularyFileSchema,
    "Vocabulary": VocabularySchema, "TagResult": TagResultSchema, "History": HistorySchema,
    "Diff": DiffSchema, "ImportResult": ImportResultSchema, "Error": ErrorSchema,
    "ValidationError": ValidationErrorSchema,
}


def openapi(app) -> dict:
    """Build the OpenAPI 3.0 document from the app's URL map and the marshmallow schemas."""
    names = {cls: name for name, cls in COMPONENTS.items()}
    plugin = MarshmallowPlugin(schema_name_resolver=lambda s: names.get(s if isinstance(s, type) else type(s)))
    spec = APISpec(title="progress-plugin admin API", version=__version__, openapi_version="3.0.3",
                   plugins=[plugin], info={"description": (__doc__ or "").strip()})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "A clinic token from `progress-plugin tokens create`."})
    for name, cls in COMPONENTS.items():
        spec.components.schema(name, schema=cls)
    for field, text in [("ETag", "The clinic's current vocabulary version; send it back in If-Match.")]:
        spec.components.header(field, {"description": text, "schema": {"type": "string"}})

    def error(text, schema="Error"):
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        meta = OPERATIONS.get(rule.endpoint)
        if meta is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{([^}]+)}", path)]
        if meta["query"] is not None:
            params.append({"in": "query", "schema": meta["query"]})
        if meta["write"]:
            params.append({"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
                           "description": "The vocabulary version this change is based on (the ETag)."})
        responses = {str(meta["status"]): {
            "description": "OK", "headers": {"ETag": "ETag"},
            "content": {"application/json": {"schema": meta["response"]}}}}
        responses["401"] = error("No valid bearer token.")
        responses["404"] = error("No such clinic, version or tag (also for another clinic's token).")
        responses["422"] = error("Invalid input: every problem by field.", "ValidationError")
        if meta["write"]:
            responses["403"] = error("The token's role may not edit.")
            responses["412"] = error("If-Match names a version that is no longer current.")
            responses["428"] = error("If-Match is missing.")
        operation = {"summary": meta["summary"], "description": meta["description"],
                     "operationId": rule.endpoint.split(".")[-1].rstrip("_"),
                     "parameters": params, "responses": responses, "security": [{"bearer": []}]}
        if meta["body"] is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": meta["body"]}}}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    return spec.to_dict()

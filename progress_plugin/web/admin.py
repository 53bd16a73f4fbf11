"""The admin HTTP API for the tag vocabulary: a Flask blueprint, and its OpenAPI document.

Every route is under ``/clinics/<clinic>/vocabulary`` and needs a bearer token of that clinic
(:mod:`progress_plugin.web.auth`): ``viewer`` reads, ``admin`` edits. Every response carries the
clinic's current vocabulary version as its ``ETag``; every write must send that version in
``If-Match`` (428 without it, 412 when another change came first; nothing is lost, reload and
apply again). Bad input answers 422 ``{"json": {field: [messages]}}``. Each change is a new
vocabulary version and leaves an audit row naming the token.

``/openapi.json`` describes these routes; it is public.
"""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields
from flask import Blueprint, current_app, jsonify, request, url_for

from progress_plugin.core.words import N_, msg
from progress_plugin.web import auth, i18n
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.schemas import jsonio
from progress_plugin.web import openapi
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.errors import PreconditionFailed, PreconditionRequired, ValidationError
from progress_plugin.web.openapi import EITHER_FILE, describe
from progress_plugin.schemas.field_types import Int, Text
from progress_plugin.schemas import Version, load, tag_add_schema, tag_edit_schema, validate
from progress_plugin.core.vocabulary import Vocabulary
from progress_plugin.web.context import services

blueprint = Blueprint("admin", __name__)
BASE = "/clinics/<clinic>/vocabulary"
TAG = BASE + "/tags/<code>"


# -- query schemas (the responses are documented in progress_plugin.web.openapi) --------------
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


class ImportQuerySchema(Query):
    new_category = fields.Boolean(load_default=False, metadata={
        "description": "true: categories the vocabulary does not have yet are made on purpose. Else each is "
                       "refused, naming the closest known one."})


class ExportQuerySchema(Query):
    format = Text(load_default="json", validate=validate.OneOf(fhir_vocabulary.FORMATS),
                  metadata={"description": "json: our vocabulary file; fhir: a Bundle of CodeSystem "
                                           "and ValueSet."})


version_query = VersionQuerySchema()
diff_query = DiffQuerySchema()
export_query = ExportQuerySchema()
import_query = ImportQuerySchema()


# -- helpers ------------------------------------------------------------------------------
def _query(schema: ma.Schema) -> dict:
    return load(schema, request.args.to_dict())


def _body(schema: ma.Schema):
    if not request.is_json:
        raise ValidationError({"_schema": [N_("Expected a JSON object body (Content-Type: application/json).")]})
    return load(schema, jsonio.loads(request.get_data()))


ETAG_RE = re.compile(r'^(?:W/)?"?(\d+)"?$')


def _if_match(clinic: str) -> int:
    """The version named by ``If-Match``: 428 without one, 412 when it is not the current version."""
    header = request.headers.get("If-Match", "").strip()
    current = services().store.current_version(clinic)
    if not header or header == "*":
        raise PreconditionRequired(msg("Send If-Match with the vocabulary version you edit (now {current}).",
                                       current=current), current=current)
    named = [m.group(1) for m in (ETAG_RE.match(v.strip()) for v in header.split(",")) if m]
    if str(current) not in named:
        raise PreconditionFailed(msg("The vocabulary is at version {current}, not {header}; reload and try again.",
                                     current=current, header=header), current=current)
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
    response = i18n.said(exc.status, error=exc.__class__.__name__, message=str(exc))
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
@describe("Add a tag", write=True, body="TagAdd", response="TagResult", status=201)
def add_tag(clinic):
    """A new, active tag. Codes are never reused, even those of retired tags. Its category must be a default
    one or one the vocabulary has, unless ``"new_category": true``."""
    tag, new_category = _body(tag_add_schema)
    expected = _if_match(clinic)
    new, change = vocab_io.change(services().store.vocabulary(clinic), "add", tag.code, tag=tag,
                                  new_category=new_category)
    _save(clinic, new, change, expected)
    location = url_for(".show_tag", clinic=clinic, code=tag.code)
    return _reply(_tag_result(clinic, new, tag.code), clinic, 201, {"Location": location})


@blueprint.patch(TAG)
@auth.require("admin")
@describe("Edit a tag's label, description, category, direction, audience or role", write=True, body="TagEdit",
          response="TagResult")
def edit_tag(clinic, code):
    """Notes tagged under earlier versions keep the meaning they had; codes never change. A category the
    vocabulary does not have yet needs ``"new_category": true``."""
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
@describe("Import a vocabulary file or a FHIR Bundle/CodeSystem", write=True, query=ImportQuerySchema,
          body=EITHER_FILE, response="ImportResult")
def import_(clinic):
    """The whole file is checked first; any problem answers 422 with all of them and changes nothing.
    Codes the file does not name stay, retired. The same content twice makes one version. A category
    the vocabulary does not have yet needs ``?new_category=true``."""
    new_categories = _query(import_query)["new_category"]
    expected = _if_match(clinic)
    store = services().store
    parsed = fhir_vocabulary.read(request.get_data(), store.vocabulary(clinic), new_categories)
    vocabulary, changed = vocab_io.apply(store, clinic, parsed, auth.actor(), services().clock(), expected,
                                         new_categories)
    if changed:
        _published(clinic, vocabulary)
    return _reply({"clinic_id": clinic, "version": vocabulary.version, "changed": changed, "kind": parsed.kind},
                  clinic)


# -- OpenAPI ------------------------------------------------------------------------------
@blueprint.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of the admin API (public: it holds no clinic data)."""
    doc = current_app.extensions.get("progress_plugin.web.openapi")
    if doc is None:
        doc = current_app.extensions["progress_plugin.web.openapi"] = openapi.document(current_app, __doc__ or "")
    return jsonify(doc)

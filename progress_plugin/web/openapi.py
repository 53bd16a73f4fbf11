"""The admin API's OpenAPI 3 document, served at ``/openapi.json`` by :mod:`progress_plugin.web.admin`.

It is built (with apispec) from the app's URL map, the description each view gives with
:func:`describe`, and the marshmallow schemas: those of the requests, and the response
schemas below, which only document (the views answer with plain dicts).
"""
from __future__ import annotations

import re

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields, validate

from progress_plugin import __version__
from progress_plugin.schemas import TagAddSchema, TagEditSchema, TagSchema, VocabularyFileSchema


# -- response schemas ---------------------------------------------------------------------
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


#: Our vocabulary file, or FHIR (a Bundle of CodeSystem and ValueSet, or a bare CodeSystem).
EITHER_FILE = {"oneOf": [{"$ref": "#/components/schemas/VocabularyFile"},
                         {"type": "object", "required": ["resourceType"],
                          "description": "A FHIR R4 Bundle holding the CodeSystem (and its ValueSet), "
                                         "or the CodeSystem alone.",
                          "properties": {"resourceType": {"type": "string", "enum": ["Bundle", "CodeSystem"]}}}]}

# -- the document --------------------------------------------------------------------------
#: The named schemas of the document.
COMPONENTS = {
    "Tag": TagSchema, "TagAdd": TagAddSchema, "TagEdit": TagEditSchema, "VocabularyFile": VocabularyFileSchema,
    "Vocabulary": VocabularySchema, "TagResult": TagResultSchema, "History": HistorySchema,
    "Diff": DiffSchema, "ImportResult": ImportResultSchema, "Error": ErrorSchema,
    "ValidationError": ValidationErrorSchema,
}


def describe(summary: str, *, write: bool = False, query=None, body=None, response=None, status: int = 200):
    """Record how a view appears in ``/openapi.json``, on the view itself (a wrapper made with
    :func:`functools.wraps`, as :func:`progress_plugin.web.auth.require` makes, carries it along).

    ``query`` is a query schema class; ``body`` and ``response`` name a component of
    :data:`COMPONENTS` or are a JSON Schema; ``write`` adds ``If-Match`` and the answers of a write."""
    def decorator(view):
        view.openapi_operation = dict(summary=summary, write=write, query=query, body=body, response=response,
                                      status=status, description=(view.__doc__ or "").strip())
        return view
    return decorator


def document(app, description: str) -> dict:
    """The OpenAPI 3.0 document of the views in ``app``'s URL map that :func:`describe` describes."""
    names = {cls: name for name, cls in COMPONENTS.items()}
    plugin = MarshmallowPlugin(schema_name_resolver=lambda s: names.get(s if isinstance(s, type) else type(s)))
    spec = APISpec(title="progress-plugin admin API", version=__version__, openapi_version="3.0.3",
                   plugins=[plugin], info={"description": description.strip()})
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
        meta = getattr(app.view_functions.get(rule.endpoint), "openapi_operation", None)
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

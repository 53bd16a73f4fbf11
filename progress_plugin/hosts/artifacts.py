"""Generates the artifacts in ``schemas/``: JSON Schema from the marshmallow schemas, and FHIR resources."""
from __future__ import annotations

import json
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from progress_plugin import schemas
from progress_plugin.fhir import between_sessions
from progress_plugin.fhir import resources as fhir
from progress_plugin.core import vocabulary

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://progress-plugin.org/schemas/"


def json_schema(name: str, schema) -> dict:
    """A standalone JSON Schema (2020-12) for one marshmallow schema, nested schemas under ``$defs``."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda s: _name(s))
    spec = APISpec("progress-plugin", "1", "3.1.0", plugins=[plugin])
    root = _name(schema)
    spec.components.schema(root, schema=type(schema))
    components = spec.to_dict()["components"]["schemas"]
    text = json.dumps(components).replace("#/components/schemas/", "#/$defs/")
    defs = json.loads(text)
    body = defs.pop(root)
    doc = {"$schema": JSON_SCHEMA_DIALECT, "$id": f"{ID_BASE}{name}.json",
           "title": root, "description": (type(schema).__doc__ or "").strip().split("\n")[0]}
    doc.update(body)
    if defs:
        doc["$defs"] = dict(sorted(defs.items()))
    return doc


def _name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") else name


def artifacts() -> dict[str, dict]:
    """Every generated file, by its path relative to ``schemas/``."""
    out = {f"{name}.schema.json": json_schema(name, schema) for name, schema in schemas.BOUNDARY.items()}
    vocab = vocabulary.default()
    out["fhir/Questionnaire-defining-progress-together.json"] = fhir.questionnaire()
    out["fhir/Questionnaire-between-sessions.json"] = between_sessions.questionnaire()
    out["fhir/CodeSystem-progress-tags.json"] = fhir.codesystem(vocab)
    out["fhir/ValueSet-progress-tags.json"] = fhir.valueset(vocab)
    return out


def render(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(folder: Path, docs: dict[str, dict] | None = None) -> list[Path]:
    written = []
    for rel, doc in (artifacts() if docs is None else docs).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(doc), encoding="utf-8")
        written.append(path)
    return written


def stale(folder: Path, docs: dict[str, dict] | None = None) -> list[str]:
    """Paths under ``folder`` whose content differs from what the code generates now."""
    bad = []
    for rel, doc in (artifacts() if docs is None else docs).items():
        path = folder / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != render(doc):
            bad.append(rel)
    return bad

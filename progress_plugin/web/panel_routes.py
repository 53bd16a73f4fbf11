"""The progress view over HTTP: a Flask blueprint.

- ``GET /clinics/<clinic>/clients/<client>/progress.html|.json|.svg`` with
  ``?view=therapist`` (default) or ``?view=client`` (for sharing with the client: no
  therapist-only tags, no private reflection, no prompts);
- ``GET /clinics/<clinic>/summary.json?from=YYYY-MM-DD&to=YYYY-MM-DD``: the clinic summary
  (counts only);
- ``GET /clinics/<clinic>/clients/<client>/ending.html|.pdf`` with ``?audience=client`` (default)
  or ``?audience=record``: the ending summary, printable HTML or its PDF (rendered on demand;
  a 406 when the service was installed without the ``pdf`` extra);
- ``POST /clinics/<clinic>/tag-labels`` with ``{"pairs": [{"code", "version"}, ...]}``: what
  each tag meant at that vocabulary version (as the ``tag_labels`` hook answers), so a host
  never shows a raw code. Bad input is a 422 naming the field; an unknown code or version is
  reported in its own entry.

Every route needs a bearer token of the clinic (:func:`progress_plugin.web.auth.require`,
``viewer`` or above). A client the clinic has no record of is a 404, like another clinic.
Responses are never stored by HTTP caches (they carry health information): ``no-store``.
The panel's HTML and SVG carry an ETag, which changes with every write to the client's
state (and with the day, the audience, the language and the release): a host that keeps its
copy and sends the ETag back in ``If-None-Match`` gets ``304 Not Modified`` after one row is
read. A panel drawn once is kept by the process (:mod:`progress_plugin.service.panel_cache`).

The progress panel answers in the language of ``?lang=``, else the best of ``Accept-Language``
the catalogs carry, else the clinic's default language, else English
(:func:`progress_plugin.web.i18n.words`), and says which in ``Content-Language``, with
``Vary: Accept-Language``. The client's own words are never translated.
"""
from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, Response, jsonify, request
from marshmallow import fields, validate

from progress_plugin.web import auth, i18n
from progress_plugin.view import panel
from progress_plugin.view import ending as ending_view
from progress_plugin.service import ending
from progress_plugin.core.handle import handle
from progress_plugin.errors import NotFound
from progress_plugin.core.events import PanelRequested
from progress_plugin.schemas import jsonio, load, tag_labels_request_schema
from progress_plugin.schemas.field_types import LANGUAGE_TAG
from progress_plugin.core.vocabulary import labels_at
from progress_plugin.errors import ValidationError
from progress_plugin.service.panel_cache import panels
from progress_plugin.service.summary import clinic_summary
from progress_plugin.web.context import services

blueprint = Blueprint("panel", __name__)

#: Only the panel's own inline script may run and nothing may be fetched. Framing stays
#: allowed: a host may show the panel in an iframe.
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{panel.TOOLTIP_JS_HASH}'; "
       "base-uri 'none'; form-action 'none'")


class PanelQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    view = fields.String(load_default="therapist", validate=validate.OneOf(panel.AUDIENCES))
    lang = fields.String(load_default=None, validate=LANGUAGE_TAG,
                         metadata={"description": "A language tag (en, hi, hi-IN); one the catalogs lack falls "
                                                  "back to Accept-Language, then the clinic's default language."})


class SummaryQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)


panel_query = PanelQuerySchema()
summary_query = SummaryQuerySchema()


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _said(response: Response, words) -> Response:
    """The panel's language on ``response``: which it is, and that it follows Accept-Language."""
    response.headers["Content-Language"] = words.code
    response.vary.add("Accept-Language")
    return _private(response)


def _shown(clinic: str, client: str):
    """The panel's progress, intake, audience and words for this request; 404 for an unknown client."""
    audience = load(panel_query, request.args.to_dict())["view"]
    svc = services()
    state = svc.runtime.state(clinic, client)
    if state.intake is None and not state.notes:
        raise NotFound("no such client", clinic_id=clinic)
    (shown,) = handle(PanelRequested(clinic, svc.clock(), client, audience), state)
    return shown.progress, state.intake, shown.audience, i18n.words(clinic)


def _strain(clinic: str, audience: str) -> bool:
    """Whether the client view shows strain tags: the clinic's ``client_view_shows_strain`` opt-in."""
    config = services().config
    listed = config.clinics.get(clinic) if config is not None else None
    return audience == "client" and bool(listed and listed.client_view_shows_strain)


def _cached(clinic: str, client: str, kind: str, draw) -> Response:
    """The panel drawn by ``draw(progress, intake, audience, words, strain)``: 304 when the request's
    ``If-None-Match`` holds its ETag, the kept copy when there is one, else drawn now and kept."""
    audience = load(panel_query, request.args.to_dict())["view"]
    words, strain, svc = i18n.words(clinic), _strain(clinic, audience), services()
    key = panels.key(svc.store, clinic, client, svc.clock(), kind, audience, words.code, strain)
    etag = panels.etag(key) if key is not None else None
    if etag is not None and request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        body = panels.get(key)
        if body is None:
            progress, intake, audience, words = _shown(clinic, client)
            body = draw(progress, intake, audience, words, strain)
            panels.put(key, body)
        response = Response(body, mimetype="text/html" if kind == "html" else "image/svg+xml")
    if etag is not None:
        response.set_etag(etag)
    return _said(response, words)


@blueprint.get("/clinics/<clinic>/clients/<client>/progress.html")
@auth.require("viewer")
def progress_html(clinic, client):
    response = _cached(clinic, client, "html", lambda progress, intake, audience, words, strain: panel.render_html(
        progress, intake, audience, words=words, show_strain=strain))
    response.headers["Content-Security-Policy"] = CSP
    return response


@blueprint.get("/clinics/<clinic>/clients/<client>/progress.json")
@auth.require("viewer")
def progress_json(clinic, client):
    progress, intake, audience, words = _shown(clinic, client)
    return _said(jsonify(panel.panel_data(progress, intake, audience, words,
                                          show_strain=_strain(clinic, audience))), words)


@blueprint.get("/clinics/<clinic>/clients/<client>/progress.svg")
@auth.require("viewer")
def progress_svg(clinic, client):
    response = _cached(clinic, client, "svg", lambda progress, intake, audience, words, strain: panel.render_svg(
        progress, intake, audience, words, show_strain=strain))
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@blueprint.get("/clinics/<clinic>/summary.json")
@auth.require("viewer")
def summary(clinic):
    args = load(summary_query, request.args.to_dict())
    return _private(jsonify(clinic_summary(services().runtime, clinic, args["from_"], args["to"])))


@blueprint.post("/clinics/<clinic>/tag-labels")
@auth.require("viewer")
def tag_labels(clinic):
    if not request.is_json:
        raise ValidationError({"_schema": ["Expected a JSON object body (Content-Type: application/json)."]})
    pairs = load(tag_labels_request_schema, jsonio.loads(request.get_data()))["pairs"]
    found = services().store.vocabularies(clinic, {v for _, v in pairs})
    return _private(jsonify(labels=labels_at(found, pairs)))


# -- an ending in their words ------------------------------------------------------------
class EndingQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    audience = fields.String(load_default="client", validate=validate.OneOf(ending_view.AUDIENCES),
                             metadata={"description": "client: to give to the client; record: for the record."})
    lang = PanelQuerySchema._declared_fields["lang"]


ending_query = EndingQuerySchema()
#: The ending page runs no script and fetches nothing; it may print.
ENDING_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _ending(clinic: str, client: str):
    audience = load(ending_query, request.args.to_dict())["audience"]
    svc = services()
    words = i18n.words(clinic)
    return ending.html(svc.runtime, clinic, client, audience, words, show_strain=_strain(clinic, audience)), words


@blueprint.get("/clinics/<clinic>/clients/<client>/ending.html")
@auth.require("viewer")
def ending_html(clinic, client):
    page, words = _ending(clinic, client)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = ENDING_CSP
    return _said(response, words)


@blueprint.get("/clinics/<clinic>/clients/<client>/ending.pdf")
@auth.require("viewer")
def ending_pdf(clinic, client):
    page, words = _ending(clinic, client)
    response = Response(ending.pdf(page), mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'inline; filename="ending.pdf"'
    return _said(response, words)

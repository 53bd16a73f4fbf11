"""``POST /clinics/<clinic>/clients/<client>/checkin-links``: a check-in link for one client.

Body (optional, JSON): ``{"expires": "7d"}`` (``12h``, ``30m``; default ``[checkin] link_days``).
Answer 201: ``{"link_id", "url", "expires_at", "qr_svg"}``; the URL holds the link's token and is
shown only now. The URL starts with ``[checkin] public_url``, else with this request's host.

A **viewer** token may make links: therapists hold viewer tokens, and giving a client a link
changes nothing in the clinic's settings. An unknown client is a 404, like another clinic's.
``GET .../checkin-links`` lists the client's links (never a token); ``POST
/clinics/<clinic>/checkin-links/<link_id>/revoke`` ends one (viewer too).
"""
from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, g, request
from marshmallow import fields, validate

from progress_plugin.schemas import jsonio, load
from progress_plugin.service import checkin_links
from progress_plugin.service.checkin_settings import CheckinConfig
from progress_plugin.errors import ValidationError
from progress_plugin.store import checkins
from progress_plugin.web import auth
from progress_plugin.web.context import answer, services

blueprint = Blueprint("checkin_api", __name__)


class LinkRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    expires = fields.String(load_default=None, validate=validate.Length(max=10),
                            metadata={"description": "How long the link lasts: 7d, 12h or 30m."})


link_request = LinkRequestSchema()


def _config() -> CheckinConfig:
    config = services().config
    return config.checkin if config is not None else CheckinConfig()


def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _body() -> dict:
    raw = request.get_data()
    if not raw:
        return {}
    if not request.is_json:
        raise ValidationError({"_schema": ["Expected a JSON object body (Content-Type: application/json)."]})
    return load(link_request, jsonio.loads(raw))


@blueprint.post("/clinics/<clinic>/clients/<client>/checkin-links")
@auth.require("viewer")
def create_link(clinic, client):
    cfg, svc = _config(), services()
    expires = checkin_links.parse_expires(_body().get("expires"), cfg.link_days)
    base = cfg.public_url or request.host_url.rstrip("/")
    made = checkin_links.make_link(svc.store, clinic, client, svc.clock(), expires, base, g.principal.actor)
    return _private(answer(201, **made))


@blueprint.get("/clinics/<clinic>/clients/<client>/checkin-links")
@auth.require("viewer")
def list_links(clinic, client):
    now = services().clock()
    links = [{"link_id": link.link_id, "status": link.status(now), "created_at": link.created_at.isoformat(),
              "expires_at": link.expires_at.isoformat(), "created_by": link.created_by,
              "used_at": link.used_at.isoformat() if link.used_at else None}
             for link in checkins.list_links(services().store, clinic, client)]
    return _private(answer(200, links=links))


@blueprint.post("/clinics/<clinic>/checkin-links/<link_id>/revoke")
@auth.require("viewer")
def revoke_link(clinic, link_id):
    svc = services()
    link = checkins.revoke_link(svc.store, link_id, svc.clock(), g.principal.actor, clinic_id=clinic)
    return _private(answer(200, link_id=link.link_id, status=link.status(svc.clock())))

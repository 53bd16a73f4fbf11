"""The Flask app factory of the service. gunicorn runs ``progress_plugin.web.app:create_app()``."""
from __future__ import annotations

import json
import logging
import traceback
from typing import Callable

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from progress_plugin.web import accesslog
from progress_plugin.web import admin
from progress_plugin.web import canvas
from progress_plugin.web import cds
from progress_plugin.web import checkin
from progress_plugin.web import console
from progress_plugin.web import html
from progress_plugin.web import i18n
from progress_plugin.web import metrics
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.web import panel_routes as panel_http
from progress_plugin.web import webhooks as receiver
from progress_plugin.web.smart import launch as smart_launch
from progress_plugin.web.smart import pages as smart_pages
from progress_plugin.service import settings
from progress_plugin.errors import ProgressPluginError, ValidationError
from progress_plugin.service.hostlink import check_host, say_no_host
from progress_plugin.service.runtime import Runtime
from progress_plugin.service.clock import utcnow
from progress_plugin.service.settings import ServiceConfig
from progress_plugin.store import Store
from progress_plugin.web.context import Services
from progress_plugin.core.words import N_

log = logging.getLogger(__name__)


def create_app(store: Store | None = None, *, config: ServiceConfig | None = None, store_url: str | None = None,
               clock: Callable = utcnow, blueprints=None) -> Flask:
    """Build the app on ``store`` (or one opened from the configuration).

    With no arguments (as gunicorn calls it: ``progress_plugin.web.app:create_app()``) the
    configuration comes from ``$PROGRESS_PLUGIN_CONFIG`` or ``./progress-plugin.toml`` and
    the environment, and is validated before the app starts. ``blueprints`` limits which
    blueprints are mounted (tests mount one alone); by default all are.
    """
    if config is None and store is None:
        config = settings.from_files(store_flag=store_url)
    if store is None:
        store = Store.open(config.store_url)
    if config is not None:
        for clinic in config.clinics.values():
            store.ensure_clinic(clinic.id, clock(), clinic.name or None, language=clinic.language)
        if not config.host_url:
            say_no_host(log)
    accesslog.install()                  # no query string (a link code) in any access log line
    app = Flask("progress_plugin")
    i18n.install(app)
    html.install(app)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes if config else 1024 * 1024
    runtime = Runtime(store, clock=clock, readable_note_types=config.readable_note_types if config else None)
    app.extensions["progress_plugin"] = Services(store, runtime, clock, config)

    for bp in blueprints if blueprints is not None else all_blueprints():
        app.register_blueprint(bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        svc = app.extensions["progress_plugin"]
        problems = readiness(svc)
        body = dict(status="not ready" if problems else "ready", problems=problems, failed_rows=failed_rows(svc))
        return jsonify(body), 503 if problems else 200

    # Errors reach a person in the request's language (web.i18n); ``error`` stays a code.
    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        return i18n.said(422, json=exc.messages)

    @app.errorhandler(ProgressPluginError)
    def _error(exc: ProgressPluginError):
        return i18n.said(exc.status, error=exc.__class__.__name__, message=str(exc))   # a msg() stays sayable

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code is None or exc.code < 400:     # redirects pass as they are
            return exc
        response = exc.get_response()               # keeps headers such as Allow
        words = i18n.words(clinic_default=False)    # maybe before any check of the caller
        default = exc.description == type(exc).description
        message = words.say(HTTP_MESSAGES.get(exc.code, exc.description) if default else exc.description)
        response.set_data(json.dumps({"error": exc.name, "message": message}))
        response.mimetype = "application/json"
        return i18n.speaks(response, words)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        _log_crash(exc)
        return i18n.said(500, clinic_default=False, error="InternalServerError",
                         message=N_("The request could not be completed; the failure has been logged."))

    return app


#: What a person reads for an HTTP error werkzeug raised with its own description (a route
#: unknown, a method not taken, a body too large): what happened and what to do, briefly.
HTTP_MESSAGES = {
    400: N_("The request could not be read; check its headers and body."),
    401: N_("Sign in first: this needs a valid token."),
    403: N_("You do not have access to this."),
    404: N_("Nothing is here; check the address."),
    405: N_("This address does not take this method; the Allow header lists the ones it takes."),
    413: N_("The request is too large; send less at a time."),
    415: N_("This content type is not taken here; send JSON."),
    500: N_("The request could not be completed; the failure has been logged."),
}


def failed_rows(svc: Services) -> dict[str, int] | None:
    """Rows set aside for a person to look at: failed inbox rows (events the worker could not
    apply) and dead outbox rows (write-backs the host refused). Reported by ``/readyz`` under
    ``failed_rows``, but they never make it 503: a failed row does not stop the service taking
    webhooks, and a load balancer that dropped the service for one would refuse every other
    event. ``progress-plugin check`` warns about them. None when the store cannot be read."""
    try:
        with svc.store.engine.connect() as conn:
            return {"inbox": inbox.count(conn, inbox.FAILED), "outbox": outbox.count(conn, outbox.DEAD)}
    except Exception:                     # the store's trouble is already among the problems
        return None


def _log_crash(exc: BaseException) -> None:
    """Log an unexpected failure by its class and where it happened. Not its message, which may quote
    the request's data (logs carry ids and codes only), and never into the answer."""
    frames = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                       for f in traceback.extract_tb(exc.__traceback__)[-8:])
    log.error("unhandled %s in %s %s at %s", exc.__class__.__name__, request.method,
              request.url_rule.rule if request.url_rule else "-", frames)


def readiness(svc: Services) -> list[str]:
    """What keeps the service from doing its job: an unreachable store or host."""
    problems = []
    try:
        svc.store.ping()
    except Exception as exc:              # any driver error means "not ready"
        problems.append(f"store: {exc.__class__.__name__}")
    if svc.config is not None and svc.config.host_url:
        problem = check_host(svc.config)
        if problem:
            problems.append(f"host: {problem}")
    return problems


def all_blueprints() -> list:
    """Every blueprint the service mounts."""
    return [receiver.blueprint, admin.blueprint, panel_http.blueprint, cds.blueprint, canvas.blueprint,
            console.blueprint, checkin.blueprint, checkin.api_blueprint, smart_launch.blueprint,
            smart_pages.blueprint, metrics.blueprint]

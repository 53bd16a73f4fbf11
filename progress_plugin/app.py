"""The Flask app factory of the service. gunicorn runs ``progress_plugin.app:create_app()``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import Flask, current_app, jsonify

from progress_plugin.errors import ProgressPluginError, ValidationError
from progress_plugin.runtime import Runtime, utcnow
from progress_plugin.store import Store


@dataclass
class Services:
    """What every blueprint reaches through :func:`services`."""

    store: Store
    runtime: Runtime
    clock: Callable = utcnow


def services() -> Services:
    return current_app.extensions["progress_plugin"]


def create_app(store: Store | None = None, *, store_url: str | None = None, clock: Callable = utcnow,
               blueprints=None) -> Flask:
    """Build the app on ``store`` (or one opened from ``store_url``).

    ``blueprints`` limits which blueprints are mounted (tests mount one alone); by default all are.
    """
    if store is None:
        from progress_plugin.store import DEFAULT_URL
        store = Store.open(store_url or DEFAULT_URL)
    app = Flask("progress_plugin")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["progress_plugin"] = Services(store, Runtime(store, clock=clock), clock)

    for bp in blueprints if blueprints is not None else all_blueprints():
        app.register_blueprint(bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        return jsonify(json=exc.messages), 422

    @app.errorhandler(ProgressPluginError)
    def _error(exc: ProgressPluginError):
        return jsonify(error=exc.__class__.__name__, message=str(exc)), exc.status

    return app


def all_blueprints() -> list:
    """Every blueprint the service mounts."""
    return []

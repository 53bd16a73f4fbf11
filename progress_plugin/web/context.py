"""What every blueprint of the service shares: its services, its JSON answers, the JSON content types.

The blueprints import this module, never :mod:`progress_plugin.web.app`; the app imports the
blueprints and this module, so no import runs in a circle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import Response, current_app, jsonify

from progress_plugin.schemas.jsonio import plain_keys
from progress_plugin.service.runtime import Runtime, utcnow
from progress_plugin.service.settings import ServiceConfig
from progress_plugin.store import Store

#: The content types a JSON body may come with (FHIR's own among them).
JSON_TYPES = ("application/json", "application/fhir+json")


@dataclass
class Services:
    """What every blueprint reaches through :func:`services`."""

    store: Store
    runtime: Runtime
    clock: Callable = utcnow
    config: ServiceConfig | None = None


def services() -> Services:
    """The current app's :class:`Services`."""
    return current_app.extensions["progress_plugin"]


def answer(code: int, /, **body) -> Response:
    """The one way a view answers JSON: every key in ``body`` made text first, so sorting the keys
    never fails (marshmallow's messages put ``int`` list positions beside ``str`` field names)."""
    response = jsonify(plain_keys(body))
    response.status_code = code
    return response


def only_for(app, scope: str, install) -> None:
    """Run ``install(app)`` (an extension's ``init_app``) and move the request hooks it adds for every
    request to blueprint ``scope`` only: Flask-Limiter hooks every request of an app, and the
    webhooks and the API need not pay for a limiter only the console and the check-in pages use."""
    hooks = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    had = [len(funcs.get(None, ())) for funcs in hooks]
    install(app)
    for funcs, n in zip(hooks, had):
        added = funcs.get(None, [])[n:]
        del funcs.setdefault(None, [])[n:]
        funcs.setdefault(scope, []).extend(added)

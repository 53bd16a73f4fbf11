"""The client's check-in: a link a therapist gives, opened on the client's phone (:mod:`.views`,
:mod:`.pages`), and the HTTP API that makes those links (:mod:`.api`).

``blueprint`` (the pages) and ``api_blueprint`` are mounted by the service
(:func:`progress_plugin.web.app.all_blueprints`).
"""
from __future__ import annotations

from progress_plugin.web.checkin import views  # noqa: F401  (register the pages on the blueprint)
from progress_plugin.web.checkin.api import blueprint as api_blueprint
from progress_plugin.web.checkin.pages import blueprint

__all__ = ["api_blueprint", "blueprint"]

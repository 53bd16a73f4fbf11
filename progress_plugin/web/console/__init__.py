"""The admin console: server-rendered pages at ``/admin/`` for a clinic's practice manager.

Sign in by pasting a clinic token once (:mod:`.session`); then the clinic's home and its tokens
(:mod:`.views`), and its tags: add, edit, retire, restore, and the picker as a therapist sees it
(:mod:`.tags`), in English or Hindi. Every page is plain HTML and one same-origin stylesheet under a
strict CSP (:mod:`.pages`), with no script.

``blueprint`` is mounted by the service (:func:`progress_plugin.web.app.all_blueprints`).
"""
from __future__ import annotations

from progress_plugin.web.console import tags, views  # noqa: F401  (register the pages on the blueprint)
from progress_plugin.web.console.pages import blueprint

__all__ = ["blueprint"]

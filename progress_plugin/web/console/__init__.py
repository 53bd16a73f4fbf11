"""The admin console: server-rendered pages at ``/admin/`` for a clinic's practice manager.

Sign in by pasting a clinic token once (:mod:`.session`); then the clinic's home and its tokens
(:mod:`.views`); its tags: add, edit, retire, restore, and the picker as a therapist sees it
(:mod:`.tags`); the vocabulary's history and any two versions side by side (:mod:`.history`); and
export and import of vocabulary files (:mod:`.files`), in English or Hindi. Every page is plain
HTML and one same-origin stylesheet under a strict CSP (:mod:`.pages`), with no script.

``blueprint`` is mounted by the service (:func:`progress_plugin.web.app.all_blueprints`);
:func:`mount` puts it in a Python host's own Flask app, behind the host's login (:mod:`.host`).
"""
from __future__ import annotations

from progress_plugin.web.console import tags, views  # noqa: F401  (register the pages on the blueprint)
from progress_plugin.web.console import files, history  # noqa: F401  (likewise)
from progress_plugin.web.console.host import mount
from progress_plugin.web.console.pages import blueprint

__all__ = ["blueprint", "mount"]

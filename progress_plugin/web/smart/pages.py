"""The SMART app's pages, inside the EHR's frame, for the launch's patient: home and the progress
panel (:mod:`.home`), the intake (:mod:`.intake`), the note's tags and ratings (:mod:`.tags`).
What they share (the launch, headers, form tokens, rendering, the writes waiting for the EHR) is
in :mod:`.page_kit`.

``blueprint`` is mounted by the service (:func:`progress_plugin.web.app.all_blueprints`). Its
stylesheet is at ``/smart/static/smart.css``; its templates' ``smart/base.html`` is the base of
the launch side's pages too (:func:`render` gives a template what the base needs).
"""
from __future__ import annotations

from progress_plugin.web.smart import home, intake, tags  # noqa: F401  (register the pages on the blueprint)
from progress_plugin.web.smart.page_kit import blueprint, problem, render

__all__ = ["blueprint", "problem", "render"]

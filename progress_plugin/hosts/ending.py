"""The ``ending_summary`` hook: one client's ending summary as printable HTML and a PDF.

:mod:`progress_plugin.hosts.plugin` (the module the entry point loads) makes the hook with
:func:`make_hook`, handing over how it finds its runtime and its words, so this module needs
nothing from it and the two import no circle.
"""
from __future__ import annotations

from typing import Callable

import pluggy

from progress_plugin import hookspecs, schemas
from progress_plugin.service import ending as ending_mod
from progress_plugin.service import settings
from progress_plugin.view.ending import check_audience
from progress_plugin.core.words import N_

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


def shows_strain(clinic_id: str) -> bool:
    """Whether the clinic opted in to strain tags in the client's views (its ``[[clinics]]`` table)."""
    return ending_mod.shows_strain(settings.read_file(settings.config_path()), clinic_id)


def make_hook(runtime: Callable, words_for: Callable):
    """The ``ending_summary`` hook implementation, over ``runtime()`` and ``words_for(rt, clinic, locale)``."""

    @hookimpl
    def ending_summary(clinic_id, client_id, audience, locale):
        req = schemas.load(schemas.client_request_schema, {"clinic_id": clinic_id, "client_id": client_id})
        check_audience(audience)
        rt = runtime()
        words = words_for(rt, req["clinic_id"], locale)
        page = ending_mod.html(rt, req["clinic_id"], req["client_id"], audience, words,
                               show_strain=audience == "client" and shows_strain(req["clinic_id"]))
        try:
            pdf = ending_mod.pdf(page)
        except ending_mod.PdfUnavailable:
            pdf = None
        title = words(N_("Ending summary for the record") if audience == "record"
                      else N_("Looking back on our work together"))
        return {"id": "ending", "title": title, "language": words.code, "audience": audience,
                "html": page, "pdf": pdf}

    return ending_summary

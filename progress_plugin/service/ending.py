"""An ending in their words, from the store: the summary of one client's course of work as
printable HTML (:mod:`progress_plugin.view.ending`) or as a PDF rendered by WeasyPrint.

It is rendered on demand from what is stored, at any time and after a discharge
(``ClientDischarged``) alike: nothing is stored for it, so it always says what the record holds.

WeasyPrint (the ``pdf`` extra) turns the same HTML and print stylesheet into a PDF with no
browser: it is well kept, lays out with Pango (so Devanagari is shaped by HarfBuzz) and never
fetches anything here (its URL fetcher refuses every URL).

A clinic shows strain tags in the client's version only when its ``[[clinics]]`` table in the
config file says ``client_view_shows_strain = true`` (:func:`shows_strain`).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from progress_plugin.core.checkin import SESSION_CHECK_ITEMS, SessionCheck
from progress_plugin.core.handle import handle
from progress_plugin.core.events import PanelRequested
from progress_plugin.core.words import ENGLISH, Words
from progress_plugin.errors import NotFound, ProgressPluginError
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import tables as t
from progress_plugin.store.vocabularies import no_clinic
from progress_plugin.view import ending as view


class PdfUnavailable(ProgressPluginError):
    """WeasyPrint (the ``pdf`` extra) or the Pango library it needs is not installed: the PDF is not
    available here (the HTML is)."""

    status = 406


def shows_strain(raw_config: dict | None, clinic_id: str) -> bool:
    """Whether ``clinic_id`` opted in to strain tags in the client's views: ``client_view_shows_strain``
    in its ``[[clinics]]`` table of a parsed config file (validated when the service loads it)."""
    for clinic in (raw_config or {}).get("clinics") or []:
        if isinstance(clinic, dict) and clinic.get("id") == clinic_id:
            return clinic.get("client_view_shows_strain") is True
    return False


def session_checks(store, clinic_id: str, client_id: str, conn=None) -> list[tuple[datetime, SessionCheck]]:
    """The client's session checks, oldest first, as ``(when, SessionCheck)``; none is an empty list."""
    c = t.session_checks.c
    query = (sa.select(c.at, *(c[item] for item in SESSION_CHECK_ITEMS))
             .where(c.clinic_id == clinic_id, c.client_id == client_id).order_by(c.at, c.checkin_id))
    if conn is None:
        with store.begin() as conn:
            rows = conn.execute(query).all()
    else:
        rows = conn.execute(query).all()
    out = []
    for row in rows:
        check = SessionCheck(**{item: row._mapping[item] for item in SESSION_CHECK_ITEMS})
        if check.answered:
            out.append((row.at, check))
    return out


def html(runtime: Runtime, clinic_id: str, client_id: str, audience: str = "client",
         words: Words = ENGLISH, *, show_strain: bool = False) -> str:
    """The ending summary of one client, computed now, as a printable HTML page in ``words``' language.
    Raises NotFound for a client (or clinic) the store has no record of."""
    view.check_audience(audience)
    state = runtime.state(clinic_id, client_id)
    if state.intake is None and not state.notes:
        if not runtime.store.clinic_exists(clinic_id):
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        raise NotFound(f"no client {client_id!r} in clinic {clinic_id!r}", clinic_id=clinic_id)
    now = runtime.clock()
    (shown,) = handle(PanelRequested(clinic_id, now, client_id, "therapist"), state)
    vocabularies = state.all_vocabularies()
    labels = {}
    for m in shown.progress.markers:
        tag = next((x for x in vocabularies.get(m.vocabulary_version, _NONE).tags if x.code == m.code), None)
        if tag is not None:
            labels[(m.code, m.vocabulary_version)] = tag.label_in(words.code)
    checks = session_checks(runtime.store, clinic_id, client_id)
    return view.render_html(shown.progress, state.intake, audience, checks=checks, labels=labels, words=words,
                            show_strain=show_strain, today=now.date())


def pdf(page: str) -> bytes:
    """``page`` (an ending summary's HTML) as a PDF. Fetches nothing. Raises :class:`PdfUnavailable`
    without WeasyPrint."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:          # OSError: Pango's shared libraries are missing
        raise PdfUnavailable("the PDF needs WeasyPrint and Pango: pip install 'progress-plugin[pdf]' "
                             f"(and Debian's libpango-1.0-0 libpangoft2-1.0-0): {exc}") from None

    def refuse(url, *args, **kwargs):
        raise ValueError("the ending summary fetches nothing")

    return weasyprint.HTML(string=page, url_fetcher=refuse).write_pdf()


class _NoVocabulary:
    tags = ()


_NONE = _NoVocabulary()

"""Which language the service answers in, and the catalogs for its templates (flask-babel).

A page or JSON answer is in the language of ``?lang=``, else the best of ``Accept-Language``
the catalogs carry, else the clinic's default language (``[[clinics]] language``, kept in the
store so every process agrees), else English. The client's own words are never translated.
"""
from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import Babel

from progress_plugin import lang
from progress_plugin.core.words import Words
from progress_plugin.web.context import services


def accepted() -> list[str]:
    """The request's ``Accept-Language`` tags, best first (werkzeug orders them by quality)."""
    return [tag for tag, quality in request.accept_languages if quality > 0]


def clinic_language(clinic_id: str | None) -> str | None:
    return services().store.clinic_language(clinic_id) if clinic_id else None


def language(clinic_id: str | None = None) -> str:
    """The language this request is answered in (see the module's docstring)."""
    if not has_request_context():
        return lang.choose(None, (), clinic_language(clinic_id))
    cached = g.get("pp_language")
    if cached is not None and cached[0] == clinic_id:
        return cached[1]
    # a page may name the clinic whose language it speaks (the admin console: the signed-in one)
    clinic = clinic_id or g.get("pp_clinic") or (request.view_args or {}).get("clinic")
    code = lang.choose(request.args.get("lang"), accepted(), clinic_language(clinic))
    g.pp_language = (clinic_id, code)
    return code


def words(clinic_id: str | None = None) -> Words:
    """The words of :func:`language`."""
    return lang.words(language(clinic_id))


def install(app: Flask) -> None:
    """flask-babel on ``app``: templates' ``_()`` and ``format_*`` use the request's language."""
    Babel(app, locale_selector=lambda: language(), default_translation_directories=str(lang.CATALOGS),
          default_domain=lang.DOMAIN)
    app.jinja_env.globals.update(pp_languages=lang.NAMES)

"""Which language the service answers in, and the catalogs for its templates (flask-babel).

A page or JSON answer is in the language of ``?lang=``, else the best of ``Accept-Language``
the catalogs carry, else the clinic's default language (``[[clinics]] language``, kept in the
store so every process agrees), else English. The client's own words are never translated.

An answer to a caller not yet known to act for the clinic (a refused token, an unverified
webhook) is said without the clinic's default language (``clinic_default=False``), so it is the
same whether the clinic exists or not.

:func:`said` answers JSON with what a person reads in it (``message``, ``reason``, field errors)
in that language, and ``Content-Language`` says which; a JSON error answer that was not said
(only machine codes, or English as written) carries ``Content-Language: en``.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_translations
from jinja2 import pass_eval_context
from markupsafe import Markup

from progress_plugin import lang
from progress_plugin.core.words import Words
from progress_plugin.schemas.jsonio import str_problem
from progress_plugin.web.context import answer, services

log = logging.getLogger(__name__)

#: The keys of a JSON answer whose values a person reads: sentences and field error trees (said,
#: keys kept). Every other key (``error``, ``code``, ``reason_code``, ids, counts) is for machines.
SAID_KEYS = frozenset({"message", "reason", "json", "errors"})
READS = frozenset({"GET", "HEAD"})


def accepted() -> list[str]:
    """The request's ``Accept-Language`` tags, best first (werkzeug orders them by quality)."""
    return [tag for tag, quality in request.accept_languages if quality > 0]


def clinic_language(clinic_id: str | None) -> str | None:
    """The clinic's default language; None for no clinic, an id no clinic can have, or a store
    that cannot answer (a language is never worth failing an answer for)."""
    if not isinstance(clinic_id, str) or not 0 < len(clinic_id) <= 128 or str_problem(clinic_id):
        return None
    # read once per GET (a page asks for it more than once); a POST may change it, so it reads anew
    kept = g.setdefault("pp_clinic_languages", {}) if has_request_context() and request.method in READS else None
    if kept is not None and clinic_id in kept:
        return kept[clinic_id]
    try:
        found = services().store.clinic_language(clinic_id)
    except Exception as exc:             # the answer goes out in the asked language, or English
        log.warning("clinic language not read error=%s", exc.__class__.__name__)
        return None
    if kept is not None:
        kept[clinic_id] = found
    return found


def read_with(clinic_id: str, language: str | None) -> None:
    """The clinic's default language as a read of this GET found it with other rows (a console
    session is read with it): :func:`clinic_language` answers it without reading it again."""
    if has_request_context() and request.method in READS:
        g.setdefault("pp_clinic_languages", {}).setdefault(clinic_id, language)


def clinic_fallback(clinic_id: str | None) -> str | None:
    """The clinic's default language when the catalogs carry it (what a page shows where a tag has
    no words in the page's language); read as :func:`clinic_language` reads it."""
    return lang.supported(clinic_language(clinic_id))


def language(clinic_id: str | None = None, *, clinic_default: bool = True) -> str:
    """The language this request is answered in (see the module's docstring). ``clinic_id``
    defaults to the URL's ``<clinic>``; ``clinic_default=False`` leaves the clinic's language out."""
    if not has_request_context():
        return lang.choose(None, (), clinic_language(clinic_id) if clinic_default else None)
    key = (clinic_id, clinic_default)
    cached = g.get("pp_language")
    if cached is not None and cached[0] == key:
        return cached[1]
    # a page may name the clinic whose language it speaks (the admin console: the signed-in one)
    clinic = clinic_id or g.get("pp_clinic") or (request.view_args or {}).get("clinic")
    code = lang.choose(request.args.get("lang"), accepted(), clinic_language(clinic) if clinic_default else None)
    g.pp_language = (key, code)
    return code


def words(clinic_id: str | None = None, *, clinic_default: bool = True) -> Words:
    """The words of :func:`language`."""
    return lang.words(language(clinic_id, clinic_default=clinic_default))


def said(code: int, /, *, clinic_id: str | None = None, clinic_default: bool = True, **body) -> Response:
    """A JSON answer (:func:`~progress_plugin.web.context.answer`) with the values under
    :data:`SAID_KEYS` said in the request's language (:func:`words`), and ``Content-Language``."""
    chosen = words(clinic_id, clinic_default=clinic_default)
    return speaks(answer(code, **{k: chosen.say(v) if k in SAID_KEYS else v for k, v in body.items()}), chosen)


def speaks(response: Response, chosen: Words) -> Response:
    """``response`` labelled as said in ``chosen``'s language, which the request chose."""
    response.headers["Content-Language"] = chosen.code
    response.vary.add("Accept-Language")
    return response


def _english_unless_said(response: Response) -> Response:
    if response.status_code >= 400 and response.is_json and "Content-Language" not in response.headers:
        response.headers["Content-Language"] = lang.DEFAULT_LANGUAGE
    return response


def _catalog():
    """The request's catalog (flask-babel's outside a request). Kept with the language it was
    chosen for: a template asks for it once per string, and :func:`language` may choose anew."""
    if not has_request_context():
        return get_translations()
    chosen = g.get("pp_language")
    kept = g.get("pp_catalog")
    if kept is not None and chosen is not None and kept[0] is chosen:
        return kept[1]
    catalog = lang.words(language()).translations
    g.pp_catalog = (g.pp_language, catalog)
    return catalog


#: A template's ``_("...")`` without values, as said: per catalog (one per language, kept for the
#: process), the marked-up string Jinja's newstyle gettext gives for it. Bounded.
_SAID: dict = {}
_SAID_MAX = 4096


@pass_eval_context
def _gettext(eval_ctx, string, /, **variables):
    """Jinja's newstyle ``_()`` / ``gettext`` (the same answer, escaping and formatting), with the
    request's catalog (:func:`_catalog`): a string without values is said once per catalog. It takes
    the evaluation context, not the template's, so a call in a block or loop derives no context."""
    catalog = _catalog()
    if not eval_ctx.autoescape:
        return catalog.gettext(string) % variables
    if variables:
        return Markup(catalog.gettext(string)) % variables
    said = _SAID.get(catalog)
    if said is None:
        if len(_SAID) >= 16:
            _SAID.clear()
        said = _SAID[catalog] = {}
    found = said.get(string)
    if found is None:
        if len(said) >= _SAID_MAX:
            said.clear()
        found = said[string] = Markup(catalog.gettext(string)) % {}
    return found


@pass_eval_context
def _ngettext(eval_ctx, singular, plural, num, /, **variables):
    variables.setdefault("num", num)
    said = _catalog().ngettext(singular, plural, num)
    return (Markup(said) if eval_ctx.autoescape else said) % variables


@pass_eval_context
def _pgettext(eval_ctx, context, string, /, **variables):
    variables.setdefault("context", context)
    said = _catalog().pgettext(context, string)
    return (Markup(said) if eval_ctx.autoescape else said) % variables


@pass_eval_context
def _npgettext(eval_ctx, context, singular, plural, num, /, **variables):
    variables.setdefault("context", context)
    variables.setdefault("num", num)
    said = _catalog().npgettext(context, singular, plural, num)
    return (Markup(said) if eval_ctx.autoescape else said) % variables


def install(app: Flask) -> None:
    """flask-babel on ``app``: templates' ``_()`` and ``format_*`` use the request's language."""
    Babel(app, locale_selector=lambda: language(), default_translation_directories=str(lang.CATALOGS),
          default_domain=lang.DOMAIN)
    # the templates' _() / gettext: Jinja's newstyle callables over the catalog flask-babel would
    # load for the request's language (the one :mod:`progress_plugin.lang` keeps), found without
    # its per-call lookups, and called straight (not through Jinja's ``_`` alias of ``gettext``)
    app.jinja_env.globals.update(_=_gettext, gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext,
                                 npgettext=_npgettext, pp_languages=lang.NAMES)
    app.after_request(_english_unless_said)

"""What the service's HTML pages share (the admin console, the check-in pages and the SMART app):
their shared templates, links that keep the page's language, the language switch, and the headers of a page that shows
clinic data.

Every page's answer carries its Content-Security-Policy, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``; a page that may not be framed also ``X-Frame-Options: DENY``
(the SMART app is framed by the EHRs its CSP names instead). Every answer but a stylesheet is
``Cache-Control: no-store``: no clinic data stays in a browser's or a proxy's cache.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request, url_for

from progress_plugin import lang


#: The templates every page shares (``web/templates/pages/``: the language switch), for
#: ``{% include "pages/..." %}`` from the console's, the check-in's and the SMART app's templates.
_SHARED = Blueprint("pp_pages", __name__, template_folder="templates")


def install(app: Flask) -> None:
    """Make the shared templates findable in ``app`` (the service's own, or a host's that mounts the console)."""
    if _SHARED.name not in app.blueprints:
        app.register_blueprint(_SHARED)


def asked_language() -> str | None:
    """The language ``?lang=`` asks for, when the catalogs carry it: links keep it."""
    return lang.supported(request.args.get("lang"))


#: Links as built, kept per app by endpoint, values, the request's root and host: a page builds the
#: same few on every load, and a URL is a pure function of them and the app's routes (which do not
#: change once it serves). Bounded; only string values.
_LINKS_MAX = 4096


def link(endpoint: str, **values) -> str:
    """``url_for`` that keeps the page's ``?lang=``."""
    code = asked_language()
    if code and "lang" not in values:
        values["lang"] = code
    if not all(type(v) is str for v in values.values()):
        return url_for(endpoint, **values)
    kept = current_app.extensions.setdefault("pp_links", {})
    base = g.get("pp_link_base")
    if base is None:
        base = g.pp_link_base = (request.script_root, request.host)
    key = (base, endpoint, tuple(sorted(values.items())))
    built = kept.get(key)
    if built is None:
        built = url_for(endpoint, **values)
        if len(kept) >= _LINKS_MAX:
            kept.clear()
        kept[key] = built
    return built


def language_switch(endpoint: str, values: dict, words) -> list[tuple[str, str, str, bool]]:
    """``(code, name, href, here)`` for each language the catalogs carry: the same page in it."""
    return [(code, name, link(endpoint, **values, lang=code), code == words.code)
            for code, name in lang.NAMES.items()]


def protect(response, csp: str, static_endpoint: str, *, deny_framing: bool = True):
    """The headers of a page showing clinic data (see the module's docstring)."""
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if deny_framing:
        response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != static_endpoint:
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    return response


def kept(name: str, key: tuple, draw, limit: int = 64):
    """What ``draw()`` gives for ``key``, kept in the app under ``name`` (a bounded number of keys).
    ``key`` must hold everything the drawing reads: a change to any of it is a new key."""
    found = current_app.extensions.setdefault(name, {})
    value = found.get(key)
    if value is None:
        value = draw()
        if len(found) >= limit:
            found.clear()
        found[key] = value
    return value

"""What the service's HTML pages share (the admin console, the check-in pages and the SMART app):
links that keep the page's language, the language switch, and the headers of a page that shows
clinic data.

Every page's answer carries its Content-Security-Policy, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``; a page that may not be framed also ``X-Frame-Options: DENY``
(the SMART app is framed by the EHRs its CSP names instead). Every answer but a stylesheet is
``Cache-Control: no-store``: no clinic data stays in a browser's or a proxy's cache.
"""
from __future__ import annotations

from flask import request, url_for

from progress_plugin import lang


def asked_language() -> str | None:
    """The language ``?lang=`` asks for, when the catalogs carry it: links keep it."""
    return lang.supported(request.args.get("lang"))


def link(endpoint: str, **values) -> str:
    """``url_for`` that keeps the page's ``?lang=``."""
    code = asked_language()
    if code and "lang" not in values:
        values["lang"] = code
    return url_for(endpoint, **values)


def language_switch(endpoint: str, values: dict, words) -> list[tuple[str, str, str, bool]]:
    """``(code, name, href, here)`` for each language the catalogs carry: the same page in it."""
    return [(code, name, url_for(endpoint, **values, lang=code), code == words.code)
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

"""The host's languages: which one a page is in, and the host's own message catalog.

A page is in the language of ``?lang=`` (kept in every link and form of the page), else the
best of the browser's ``Accept-Language``, else the clinic's default (``--language``). The
host passes that language to every hook as ``locale=``, so what the plugin returns (labels,
help, the panel, messages) is in the same language as the host's own words around it.

The host's own words (titles, buttons, headings, its messages) come from its own catalog,
``translations/<language>/LC_MESSAGES/notes_host.po``, kept apart from the plugin's as a
separate host's would be; ``scripts/translations`` extracts, updates, compiles and checks it
with the plugin's. The client's own words are never translated.
"""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from pathlib import Path

from babel import Locale
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import Babel, format_date, format_time
from markupsafe import Markup

#: The languages the host speaks, each by its name in itself (for the language switch).
LANGUAGES = {"en": "English", "hi": "हिन्दी"}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "notes_host"
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def supported(tag: str | None) -> str | None:
    """The host's language for a language tag (``hi``, ``hi-IN`` give ``hi``), or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def asked() -> str | None:
    """The language ``?lang=`` asks for, when the host speaks it."""
    return supported(request.args.get("lang")) if has_request_context() else None


def language() -> str:
    """The language of this request's page (see the module's docstring)."""
    default = current_app.config.get("NOTES_HOST_LANGUAGE", DEFAULT_LANGUAGE)
    if not has_request_context():
        return default
    return asked() or request.accept_languages.best_match(list(LANGUAGES)) or default


def direction(code: str) -> str:
    return Locale.parse(code).text_direction


def switch_url(code: str) -> str:
    """This page in another language: the same address and query, with ``lang`` changed."""
    args = request.args.to_dict()
    args["lang"] = code
    return url_for(request.endpoint or "clients", **(request.view_args or {}), **args)


def _keep_language(endpoint: str, values: dict) -> None:
    """Every link the page makes keeps the ``?lang=`` it was asked with (not needed for files)."""
    code = asked()
    if code and endpoint != "static" and "lang" not in values:
        values["lang"] = code


def embed(html: str) -> Markup:
    """A fragment a plugin returns, placed in the page as it is; its inline scripts are allowed
    by their hash in this page's Content-Security-Policy, and no other inline script is."""
    hashes = g.setdefault("notes_host_script_hashes", set())
    for script in INLINE_SCRIPT.findall(html or ""):
        hashes.add("'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'")
    return Markup(html or "")


def csp() -> str:
    """The page's policy: scripts and styles from the host itself (plus the hashed scripts of the
    fragments it embeds), nothing from anywhere else."""
    scripts = " ".join(["'self'", *sorted(g.get("notes_host_script_hashes", ()))])
    return ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src {scripts}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def when(value: str) -> str:
    """A session's date and time as the page's language writes them; as stored if unreadable."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    return f"{format_date(moment, 'medium')}, {format_time(moment, 'short')}"


def install(app: Flask, default_language: str = DEFAULT_LANGUAGE) -> None:
    """The host's catalog on ``app`` (flask-babel), the language switch and the page's policy."""
    app.config["NOTES_HOST_LANGUAGE"] = supported(default_language) or DEFAULT_LANGUAGE
    Babel(app, locale_selector=language, default_translation_directories=str(TRANSLATIONS),
          default_domain=DOMAIN)
    app.url_defaults(_keep_language)
    app.jinja_env.filters.update(embed=embed, when=when)

    @app.context_processor
    def page_language():
        code = language()
        return {"languages": LANGUAGES, "language": code, "direction": direction(code), "switch_url": switch_url}

    @app.after_request
    def policy(response):
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = csp()
            response.headers["Content-Language"] = language()
            response.vary.add("Accept-Language")
        return response

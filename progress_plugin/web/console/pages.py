"""The console's blueprint and what every page shares: its headers, links that keep the language,
rendering with the common context, and the pages that say no (400, 403, 404, 429).

Every answer carries a strict Content-Security-Policy (no script at all: the pages are plain
forms and links; styles from the one same-origin stylesheet), ``X-Content-Type-Options``,
``Referrer-Policy: no-referrer`` and ``X-Frame-Options``; every answer but the stylesheet also
``Cache-Control: no-store``, so no clinic data stays in a browser's or a proxy's cache.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from progress_plugin.core.words import N_
from progress_plugin.web import i18n
from progress_plugin.web.html import asked_language, kept, language_switch, link, protect

__all__ = ["CSP", "asked_language", "blueprint", "link", "problem", "render"]

blueprint = Blueprint("console", __name__, url_prefix="/admin", template_folder="templates",
                      static_folder="static", static_url_path="/static")

#: How a page names a token's role.
TOKEN_ROLES = {"admin": N_("admin"), "viewer": N_("viewer")}
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@blueprint.after_request
def _headers(response):
    return protect(response, CSP, "console.static")


def render(template: str, status: int = 200, page: tuple[str, dict] | None = None, **context):
    """Render ``console/<template>`` with what every page shows: who is signed in, the language
    switch and the words for numbers and dates. The switch links to ``page`` (a GET endpoint and
    its values); by default to this URL when it was a GET, else to the sign-in page."""
    words = i18n.words()
    if page is None:
        page = ((request.endpoint, dict(request.view_args or {})) if request.method == "GET" and request.endpoint
                else ("console.index", {}))
    endpoint, values = page
    switch = language_switch(endpoint, values, words)
    who = g.get("console_session")
    return render_template(f"console/{template}", w=words, lang_code=words.code, lang_dir=words.direction,
                           switch=switch, link=link, who=who, token_roles=TOKEN_ROLES,
                           header=_header(words, switch, who), **context), status


#: Stands in for the form token in a kept header (no name, link or word holds a NUL).
_TOKEN = "\x00csrf\x00"


def _header(words, switch, who) -> Markup | None:
    """The page's header (``console/_header.html``), drawn once per everything it shows: the
    language, the switch's links, who is signed in (name, role, clinic), the page it marks
    current, the app's root and host and the asked ``?lang=`` its links keep. The sign-out form's
    token is put in per request. None in a host's app (its own Babel says the words there)."""
    console = current_app.extensions.get("progress_plugin_console")       # web/console/session.py's
    if console is None or console.host is not None:
        return None
    person = None if who is None else (who.name, type(who.principal), who.principal.role, who.principal.clinic_id)
    key = (words.code, tuple(switch), person, request.endpoint, request.script_root, request.host, asked_language())
    drawn = kept("pp_console_headers", key, lambda: render_template(
        "console/_header.html", switch=switch, link=link, who=who, token_roles=TOKEN_ROLES,
        console_host=None, csrf_token=lambda: _TOKEN), limit=256)
    return Markup(drawn.replace(_TOKEN, generate_csrf())) if _TOKEN in drawn else Markup(drawn)


# -- pages that say no -----------------------------------------------------------------------
NOT_FOUND = (N_("Page not found"), N_("There is nothing here, or it is not yours to see. Check the address, "
                                      "or go back to your clinic's console."))
FORBIDDEN = (N_("Only a clinic admin can do this"), N_("You are signed in with a viewer token, which can read "
                                                      "the console but not change anything. Ask your clinic's "
                                                      "admin."))
BAD_FORM = (N_("This form had expired"), N_("Nothing was changed. The page was open too long, or was sent from "
                                            "somewhere else. Go back, reload the page and try again."))
TOO_MANY = (N_("Too many failed sign-ins"), N_("Sign-in is paused for this address after several tokens that did "
                                               "not work. Wait a few minutes, then try again."))


def problem(status: int, what: tuple[str, str]):
    """A short page saying what happened and what to do. It names nothing from the URL (a 404 for
    another clinic's page reads the same as one for a clinic that does not exist)."""
    title, text = what
    return render("problem.html", status, page=("console.index", {}), title=title, text=text)


"""The check-in pages' blueprint and what they share: headers, the session cookie, the form token,
the rate limits, rendering, and the pages that say no.

- **Cookie.** ``pp_checkin``: a random session id (the store keeps its SHA-256), HttpOnly,
  ``SameSite=Lax``, Secure on https (always with ``[checkin] https_only``), limited to
  ``/checkin/``, ``Max-Age`` the session's life. Lax, not Strict: a link is often opened from
  another app or site (a message, a mail), and the browser then treats the whole navigation,
  redirect included, as cross-site; a Strict cookie set on ``/c/<token>`` would not come back with
  the redirect to ``/checkin/`` and the client would land on "this link has ended". Lax still keeps
  the cookie off cross-site POSTs, and every form also carries a form token.
- **Form token.** HMAC-SHA256 of the session id (the key: it only ever lives in the HttpOnly
  cookie) over a fixed label. A form from another session, or one sent after the session ended,
  is refused. Flask-WTF is not used here: it keeps its token in Flask's session cookie, which
  the admin console claims for ``/admin/`` alone; a token bound to the check-in session also ends
  with it, with nothing more stored.
- **Rate limits** (Flask-Limiter, per client address): opening links that do not work
  (``open_limit``) and sending forms (``form_limit``); see
  :mod:`progress_plugin.service.checkin_settings`.

Every answer carries a strict CSP (no script; the one same-origin stylesheet), ``nosniff``,
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``
(except the stylesheet).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Blueprint, current_app, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from progress_plugin.core.words import N_
from progress_plugin.service.checkin_settings import CheckinConfig
from progress_plugin.store import checkins
from progress_plugin.web import i18n
from progress_plugin.web.context import only_for, services
from progress_plugin.web.html import language_switch, link, protect

__all__ = ["blueprint", "link", "problem", "render"]

blueprint = Blueprint("checkin", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/checkin/static")

COOKIE = "pp_checkin"
COOKIE_PATH = "/checkin/"
EXTENSION = "progress_plugin_checkin"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
_FORM_LABEL = b"progress-plugin check-in form"


def config() -> CheckinConfig:
    return current_app.extensions[EXTENSION]["config"]


def limiter() -> Limiter:
    return current_app.extensions[EXTENSION]["limiter"]


@blueprint.record_once
def _install(state) -> None:
    app = state.app
    svc = app.extensions["progress_plugin"]
    cfg = svc.config.checkin if svc.config is not None else CheckinConfig()
    found = Limiter(get_remote_address, storage_uri=cfg.rate_limit_storage, strategy="moving-window")
    only_for(app, state.name, found.init_app)
    app.extensions[EXTENSION] = {"config": cfg, "limiter": found}


@blueprint.after_request
def _headers(response):
    return protect(response, g.get("checkin_csp", CSP), "checkin.static")


# -- the session -----------------------------------------------------------------------------
def secure() -> bool:
    return config().https_only or request.is_secure


def lifetime() -> timedelta:
    return timedelta(minutes=config().session_minutes)


def current() -> checkins.Session | None:
    """The request's live check-in session, else None. Names its clinic for the page's language."""
    if "checkin_session" not in g:
        svc = services()
        g.checkin_session = checkins.find_session(svc.store, request.cookies.get(COOKIE), svc.clock())
        if g.checkin_session is not None:
            g.pp_clinic = g.checkin_session.clinic_id
            i18n.read_with(g.checkin_session.clinic_id, g.checkin_session.language)
    return g.checkin_session


def set_cookie(response, session_id: str, max_age: int) -> None:
    response.set_cookie(COOKIE, session_id, max_age=max_age, path=COOKIE_PATH, httponly=True,
                        samesite="Lax", secure=secure())


def clear_cookie(response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=secure())


def form_token() -> str:
    """The form token of this request's session (empty without one)."""
    session_id = request.cookies.get(COOKIE) or ""
    if not session_id:
        return ""
    return hmac.new(session_id.encode("utf-8"), _FORM_LABEL, hashlib.sha256).hexdigest()


def form_token_ok(sent: str | None) -> bool:
    expected = form_token()
    return bool(expected) and hmac.compare_digest(expected.encode("ascii"), (sent or "").encode("utf-8", "replace"))


# -- rendering -------------------------------------------------------------------------------
def render(template: str, status: int = 200, page: str = "checkin.form", **context):
    """Render ``checkin/<template>`` with the words, and the language switch (to ``page``) when the
    browser has a session (a page that says no offers none: its address may hold a token)."""
    words = i18n.words()
    switch = language_switch(page, {}, words) if current() is not None else []
    return render_template(f"checkin/{template}", w=words, lang_code=words.code, lang_dir=words.direction,
                           switch=switch, link=link, **context), status


# -- pages that say no -----------------------------------------------------------------------
ENDED = (N_("This link has ended"), N_("Check-in links last a few days, and your therapist can end one early. "
                                       "Nothing was sent. Ask your therapist for a new link."))
NOT_A_LINK = (N_("This link does not work"), N_("Check that you copied all of it, or scan the code again. "
                                                "Nothing was sent. Your therapist can give you a new link."))
NO_SESSION = (N_("Please open your link again"), N_("This page opens from the check-in link your therapist gave "
                                                    "you, for a short while. Nothing was sent. Open the link "
                                                    "again, or ask for a new one."))
BAD_FORM = (N_("This form had expired"), N_("Nothing was sent. The page was open too long, or was sent from "
                                            "somewhere else. Open your link again and fill it in once more."))
UNREADABLE = (N_("This form could not be read"), N_("Nothing was sent. Go back and choose from the numbers "
                                                    "shown, then send it again."))
TOO_MANY = (N_("Please wait a little"), N_("There were too many tries from here in a short time. Wait a few "
                                           "minutes, then try again."))


def problem(status: int, what: tuple[str, str]):
    """A short page saying what happened and what to do; it names nothing from the URL."""
    title, text = what
    return render("problem.html", status, title=title, text=text)

"""Signing in to the console: the session cookie, the pages that need it, and the app-wide parts the
console installs when its blueprint is registered (form tokens, the sign-in rate limit, the key).

- **Session.** A clinic token, pasted once, is exchanged for a random session id in an opaque
  cookie (``pp_console``: HttpOnly, SameSite=Strict, Secure on https, limited to ``/admin/``,
  ``Max-Age`` the absolute lifetime). The store keeps only its digest
  (:mod:`progress_plugin.store.console_sessions`), so sign-out really ends it, and revoking the
  token ends every session it opened.
- **Forms.** Every POST carries a Flask-WTF form token (CSRF), kept in Flask's signed session
  cookie ``pp_console_form`` with the same flags (see :mod:`progress_plugin.web.form_tokens`).
- **Rate limit.** Failed sign-ins are counted per client address by Flask-Limiter (see
  :mod:`progress_plugin.service.console_settings` for the limit and its storage).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import current_app, g, redirect, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from progress_plugin.service.console_settings import ConsoleConfig
from progress_plugin.store import console_sessions
from progress_plugin.web.console.pages import FORBIDDEN, NOT_FOUND, blueprint, link, problem
from progress_plugin.web import form_tokens, i18n
from progress_plugin.web.context import only_for, services

COOKIE = "pp_console"
FORM_COOKIE = "pp_console_form"
EXTENSION = "progress_plugin_console"

csrf = form_tokens.csrf


@dataclass(frozen=True)
class Console:
    """What the console keeps on the app."""

    config: ConsoleConfig
    limiter: Limiter
    host: Any = None       # a host's own login (:class:`~progress_plugin.web.console.host.HostLogin`), when mounted


def console() -> Console:
    return current_app.extensions[EXTENSION]


def secure() -> bool:
    """Whether cookies are marked Secure: always with ``https_only``, else when this request came
    over https (as the server says: gunicorn believes ``X-Forwarded-Proto`` only from
    ``--forwarded-allow-ips``)."""
    return console().config.https_only or request.is_secure


@blueprint.record_once
def _install(state) -> None:
    app = state.app
    svc = app.extensions["progress_plugin"]
    config = svc.config.console if svc.config is not None else ConsoleConfig()
    scope = form_tokens.CookieScope((state.url_prefix or "") + "/", FORM_COOKIE, lambda: "Strict",
                                    lambda: EXTENSION in app.extensions and secure())
    form_tokens.install(app, svc.store, svc.clock(), scope, config.max_hours * 3600)
    limiter = Limiter(get_remote_address, storage_uri=config.rate_limit_storage, strategy="moving-window")
    only_for(app, state.name, limiter.init_app)
    app.extensions[EXTENSION] = Console(config, limiter)


@blueprint.before_request
def _forms():
    """Every form sent to the console carries its form token: 400 without it, nothing changed."""
    form_tokens.check()


@blueprint.context_processor
def _context() -> dict:
    return {"max_hours": console().config.max_hours}


# -- the session cookie ----------------------------------------------------------------------
def lifetime() -> timedelta:
    return timedelta(hours=console().config.max_hours)


def current():
    """The request's live console session, else None. In a host's app, whoever the host's login says."""
    if "console_found" not in g and console().host is not None:
        g.console_found = console().host.session()
    if "console_found" not in g:
        svc = services()
        g.console_found = found = console_sessions.find(svc.store, request.cookies.get(COOKIE), svc.clock(),
                                                        timedelta(minutes=console().config.idle_minutes))
        if found is not None:
            i18n.read_with(found.principal.clinic_id, found.language)
    return g.console_found


def set_cookie(response, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, max_age=int(lifetime().total_seconds()), path=url_for("console.index"),
                        httponly=True, samesite="Strict", secure=secure())


def clear_cookie(response) -> None:
    response.delete_cookie(COOKIE, path=url_for("console.index"), httponly=True, samesite="Strict", secure=secure())


def signed_in(role: str = "viewer"):
    """Decorator for a page under ``/admin/clinics/<clinic>/``: it needs a live session (else a
    redirect to sign in), of that clinic (else 404, the same page as for a clinic that does not
    exist), whose token has ``role`` (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapper(clinic, **kwargs):
            found = current()
            if found is None and console().host is not None:
                return console().host.refuse()
            if found is None:
                response = redirect(link("console.index"), 303)
                if COOKIE in request.cookies:                 # an ended session: forget its cookie too
                    clear_cookie(response)
                return response
            g.pp_clinic = found.principal.clinic_id          # the console speaks the signed-in clinic's language
            g.console_session = found
            if found.principal.clinic_id != clinic:
                return problem(404, NOT_FOUND)
            if not found.principal.may(role):
                return problem(403, FORBIDDEN)
            return view(clinic, **kwargs)

        wrapper.console_role = role
        return wrapper

    return decorator

"""Form tokens (CSRF) for the service's forms, with Flask-WTF: the admin console's and the SMART app's.

Flask-WTF keeps the raw token in Flask's signed session cookie and signs it with the app's secret
key. The service's app has none of its own, so it uses a random key the store makes once and
shares (:func:`~progress_plugin.store.console_sessions.key`): every gunicorn worker and every
machine on one store agree on it without a setting, and a key read from the store unlocks nothing
more than the store itself holds (no session id is signed with it). An app that has its own
secret key keeps it, and its own session cookie.

With the store's key, the session cookie holds only the form token and is opened only under the
paths that asked for it (:func:`install`), each path with its own cookie name and flags: every
other request (webhooks, the API) skips it. Forms are checked only where a blueprint calls
:func:`check` (``WTF_CSRF_CHECK_DEFAULT`` is off). The pages send no Referer
(``Referrer-Policy: no-referrer``), so Flask-WTF's https Referer check, which would refuse every
form, is off too: the form token and the cookies' SameSite are the check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from progress_plugin.store import console_sessions

#: The name of the store's shared key (first made for the console; the name stays so a key made
#: before keeps working).
KEY_NAME = "console"

csrf = CSRFProtect()


@dataclass(frozen=True)
class CookieScope:
    """The form cookie of the pages under one path."""

    path: str                                   # e.g. "/admin/"; the cookie is limited to it
    name: str
    samesite: Callable[[], str]
    secure: Callable[[], bool]
    partitioned: Callable[[], bool] = lambda: False


class FormCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, opened only under the paths of its :class:`CookieScope`\\ s,
    each with its own name and flags."""

    def __init__(self):
        self.scopes: list[CookieScope] = []

    def scope(self) -> CookieScope | None:
        if not has_request_context():
            return None
        return next((s for s in self.scopes if request.path.startswith(s.path)), None)

    def open_session(self, app, request):
        if self.scope() is None:
            return None                                   # Flask gives this request a null session
        return super().open_session(app, request)

    def get_cookie_name(self, app) -> str:
        found = self.scope()
        return found.name if found else app.config["SESSION_COOKIE_NAME"]

    def get_cookie_path(self, app) -> str:
        found = self.scope()
        return found.path if found else super().get_cookie_path(app)

    def get_cookie_httponly(self, app) -> bool:
        return True

    def get_cookie_samesite(self, app) -> str | None:
        found = self.scope()
        return found.samesite() if found else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app) -> bool:
        found = self.scope()
        return bool(app.config["SESSION_COOKIE_SECURE"]) or bool(found and found.secure())

    def get_cookie_partitioned(self, app) -> bool:
        found = self.scope()
        return bool(found and found.partitioned())


def install(app, store, now, scope: CookieScope, time_limit_seconds: int) -> None:
    """Form tokens for the pages under ``scope.path`` of ``app`` (see the module's docstring).
    ``time_limit_seconds``: how long a form stays valid, unless the app already set
    ``WTF_CSRF_TIME_LIMIT`` (the first blueprint installed sets it)."""
    if not app.secret_key:
        app.secret_key = console_sessions.key(store, KEY_NAME, now)
        if type(app.session_interface) is SecureCookieSessionInterface:
            app.session_interface = FormCookies()
    if isinstance(app.session_interface, FormCookies):
        app.session_interface.scopes.append(scope)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", time_limit_seconds)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    if "csrf" not in app.extensions:
        csrf.init_app(app)


def check() -> None:
    """Refuse (400, :class:`flask_wtf.csrf.CSRFError`) a form sent without this session's form token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()

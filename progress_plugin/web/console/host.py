"""The console in a Python host's own Flask app, behind the host's own login: :func:`mount`.

A notes platform written in Python (see the ``admin_pages`` hook, whose ``data["console"]`` names
this function) mounts the console's pages in its app, and says who is signed in with a callable
of its own, instead of the console's token sign-in::

    from progress_plugin.web.console import mount

    def who():                          # the host's login: None when nobody may administer
        user = current_user()
        if user is None or not user.is_practice_manager:
            return None
        return {"clinic_id": user.clinic_id, "role": "admin", "user": user.id, "name": user.name}

    mount(app, principal=who, store="sqlite:///progress.db", url_prefix="/admin",
          sign_in_url="/login", home_url="/")

The pages are then at ``<url_prefix>/clinics/<clinic_id>/``. ``role`` is ``admin`` (edits) or
``viewer`` (reads). A request without a principal is sent to ``sign_in_url`` (303), or answered 404
without one; a principal of another clinic gets 404, a viewer 403 for a change, as with tokens.
Every form still carries its form token (CSRF, Flask-WTF): signed with the host's own
``SECRET_KEY`` when it has one, kept in the host's session cookie. The console's token sign-in and
sign-out are not offered: the host's login is the only way in, and its sign-out the way out.
Changes are recorded as made by ``host:<user>``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import marshmallow as ma
from flask import Flask, redirect, request
from flask_babel import Domain

from progress_plugin.errors import ValidationError
from progress_plugin.schemas import load, validate
from progress_plugin.schemas.field_types import ID, Text
from progress_plugin.service import settings
from progress_plugin.service.clock import utcnow
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store
from progress_plugin.store.console_sessions import Session
from progress_plugin.store.tokens import ROLES, Principal
from progress_plugin.web import html, i18n
from progress_plugin.web.console.pages import NOT_FOUND, blueprint, link, problem
from progress_plugin.web.console.session import EXTENSION, console, current
from progress_plugin.web.context import Services, services

log = logging.getLogger(__name__)

#: The pages of the console's own sign-in, which a host's login replaces.
SIGN_IN_PAGES = ("console.index", "console.sign_in", "console.sign_out")


class HostPrincipalSchema(ma.Schema):
    """What a host's ``principal`` callable returns for the signed-in person."""

    class Meta:
        unknown = ma.RAISE

    clinic_id = Text(required=True, validate=ID)
    role = Text(required=True, validate=validate.OneOf(ROLES))
    user = Text(load_default="host", validate=ID)          # for the audit log and history: host:<user>
    name = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


host_principal_schema = HostPrincipalSchema()


@dataclass(frozen=True)
class HostPrincipal(Principal):
    """A person the host signed in: recorded as ``host:<user>``."""

    user: str = "host"

    @property
    def actor(self) -> str:
        return f"host:{self.user}"


@dataclass(frozen=True)
class HostLogin:
    """The host's login, in place of the console's sessions."""

    principal: Callable[[], Mapping | None]
    sign_in_url: str | None = None
    home_url: str | None = None

    def session(self) -> Session | None:
        """Who the host says is signed in, as a console session; None when nobody (or a malformed answer,
        which is logged by its fields and refused)."""
        given = self.principal()
        if given is None:
            return None
        try:
            data = load(host_principal_schema, dict(given))
        except (ValidationError, TypeError, ValueError) as exc:
            fields = sorted(exc.messages) if isinstance(exc, ValidationError) else [exc.__class__.__name__]
            log.warning("console host principal refused fields=%s", ",".join(map(str, fields)))
            return None
        now = services().clock()
        principal = HostPrincipal(f"host:{data['user']}", data["clinic_id"], data["role"], data["user"])
        return Session(principal, data["name"] or data["user"], now, now)

    def refuse(self):
        """Nobody signed in: to the host's sign-in page, or 404."""
        if self.sign_in_url:
            return redirect(self.sign_in_url, 303)
        return problem(404, NOT_FOUND)


class _Said:
    """The console's words, as flask-babel's templates ask for them (``_()`` and ``ngettext``)."""

    def __init__(self, words):
        self.words = words

    def ugettext(self, message):
        return self.words.gettext(message)

    def ungettext(self, singular, plural, n):
        return self.words.ngettext(singular, plural, n)

    gettext, ngettext = ugettext, ungettext


class _ConsoleDomain(Domain):
    """The plugin's catalogs in the console's language, whatever the host's own Babel is set up with."""

    def get_translations(self):
        return _Said(i18n.words())


DOMAIN = _ConsoleDomain()


@blueprint.before_request
def _host_sign_in():
    """In a host's app the host's login stands in for the console's sign-in and sign-out pages."""
    host = console().host
    if host is None or request.endpoint not in SIGN_IN_PAGES:
        return None
    found = current()
    if found is None:
        return host.refuse()
    if request.endpoint == "console.index":
        return redirect(link("console.home", clinic=found.principal.clinic_id), 303)
    return problem(404, NOT_FOUND)


@blueprint.context_processor
def _host_context() -> dict:
    host = console().host
    if host is not None:
        DOMAIN.as_default()              # the templates' _() say the plugin's words, not the host's
    return {"console_host": host}


def mount(app: Flask, *, principal: Callable[[], Mapping | None], store: Store | str | None = None,
          url_prefix: str = "/admin", sign_in_url: str | None = None, home_url: str | None = None,
          clock: Callable = utcnow) -> str:
    """Mount the console's pages in ``app`` at ``url_prefix``, behind the host's login; returns the prefix.

    :param principal: called on each request with no arguments; returns None when nobody may use the
        console, else ``{"clinic_id": ..., "role": "admin" | "viewer", "user": <the host's user id>,
        "name": <shown as who is signed in; optional>}``.
    :param store: the plugin's store: an open :class:`~progress_plugin.store.Store`, a store URL, or None
        for the one the hooks would open (``$PROGRESS_PLUGIN_STORE``, the config file, else
        ``sqlite:///progress.db``). Give the URL the host gives the ``configure`` hook.
    :param sign_in_url: where a request without a principal is sent; without it, such a request gets 404.
    :param home_url: the host's page the console links back to.
    """
    if EXTENSION in app.extensions:
        raise ValueError("the progress plugin's console is already mounted on this app")
    if "progress_plugin" not in app.extensions:
        if not isinstance(store, Store):
            store = Store.open(store or settings.store_url(None, settings.read_file(settings.config_path())))
        app.extensions["progress_plugin"] = Services(store, Runtime(store, clock=clock), clock, None)
    if "babel" not in app.extensions:
        i18n.install(app)
    html.install(app)
    app.register_blueprint(blueprint, url_prefix=url_prefix)
    app.extensions[EXTENSION] = replace(app.extensions[EXTENSION],
                                        host=HostLogin(principal, sign_in_url, home_url))
    return url_prefix

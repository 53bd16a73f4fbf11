"""The console's pages: sign in and out, the clinic's home and its tokens (the tags are :mod:`.tags`).

Pages live under ``/admin/clinics/<clinic>/`` and need a signed-in session of that clinic
(:func:`~progress_plugin.web.console.session.signed_in`). A viewer token reads; only an admin
token sees and sends the forms that change something (create and revoke viewer tokens).
"""
from __future__ import annotations

import logging

from flask import flash, redirect, request, session
from flask_wtf.csrf import CSRFError

from progress_plugin.core.words import N_
from progress_plugin.errors import NotFound
from progress_plugin.schemas.jsonio import str_problem
from progress_plugin.store import clinics, console_sessions, tokens
from progress_plugin.web import auth, i18n
from progress_plugin.web.console.pages import BAD_FORM, NOT_FOUND, TOO_MANY, blueprint, link, problem, render
from progress_plugin.web.console.session import (COOKIE, clear_cookie, console, current, lifetime, set_cookie,
                                                 signed_in)
from progress_plugin.web.console.who import token_names, who_said
from progress_plugin.web.context import services

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 200
CATEGORY_NAMES = {"movement": N_("Movement"), "awareness": N_("Awareness"), "action": N_("Action"),
                  "relationship": N_("Relationship"), "therapist": N_("Therapist")}
DIRECTION_NAMES = {"toward": N_("step toward"), "steady": N_("holding steady"), "mixed": N_("mixed"),
                   "away": N_("step back"), "none": N_("no direction")}
TAG_ROLES = {"review": N_("review (the review clock starts again)"), "strain": N_("strain (stays open until a repair)"),
              "repair": N_("repair (closes a strain)")}


@blueprint.errorhandler(CSRFError)
def _bad_form(exc):
    log.info("console form refused endpoint=%s reason=csrf", request.endpoint)
    return problem(400, BAD_FORM)


@blueprint.errorhandler(429)
def _too_many(exc):
    page, status = problem(429, TOO_MANY)
    return page, status, {"Retry-After": "60"}


@blueprint.errorhandler(NotFound)
def _not_found(exc):
    return problem(404, NOT_FOUND)


# -- signing in and out ----------------------------------------------------------------------
@blueprint.get("/")
def index():
    """The sign-in page, or the signed-in clinic's home."""
    found = current()
    if found is not None:
        return redirect(link("console.home", clinic=found.principal.clinic_id), 303)
    return render("sign_in.html")


@blueprint.post("/sign-in")
def sign_in():
    """Exchange a pasted clinic token for a session. Failed tries are rate-limited per address."""
    svc, config = services(), console().config
    with console().limiter.limit(config.sign_in_limit, deduct_when=lambda response: response.status_code == 401):
        w = i18n.words()
        token = (request.form.get("token") or "").strip()
        if not token:
            return render("sign_in.html", 422, page=("console.index", {}), error=w(N_("Paste your clinic token.")))
        checked = tokens.check(svc.store, token)
        if checked.principal is None:
            log.warning("console sign-in refused token=%s reason=%s", checked.label, checked.reason)
            try:
                tokens.record_failure(svc.store, checked.token_clinic or "*", checked, svc.clock())
            except Exception as exc:      # counting must never turn a 401 into a 500
                log.warning("token failure not counted error=%s", exc.__class__.__name__)
            return render("sign_in.html", 401, page=("console.index", {}),
                          error=w(N_("This token does not work. Check that you pasted all of it, or ask your "
                                     "clinic's admin for a new one.")))
    principal = checked.principal
    console_sessions.end(svc.store, request.cookies.get(COOKIE), svc.clock())     # one session per browser
    session_id = console_sessions.start(svc.store, principal, svc.clock(), lifetime())
    auth.used(svc, checked)
    session.clear()                                   # a new form token for the signed-in browser
    log.info("console sign-in clinic=%s token=%s role=%s", principal.clinic_id, principal.token_id, principal.role)
    response = redirect(link("console.home", clinic=principal.clinic_id), 303)
    set_cookie(response, session_id)
    return response


@blueprint.post("/sign-out")
def sign_out():
    """End the session (its row is deleted: the cookie no longer opens anything) and forget the cookie."""
    svc = services()
    found = current()
    console_sessions.end(svc.store, request.cookies.get(COOKIE), svc.clock())
    if found is not None:
        log.info("console sign-out clinic=%s token=%s", found.principal.clinic_id, found.principal.token_id)
    session.clear()
    flash(i18n.words()(N_("You have signed out.")))
    response = redirect(link("console.index"), 303)
    clear_cookie(response)
    return response


# -- the clinic ------------------------------------------------------------------------------
@blueprint.get("/clinics/<clinic>/")
@signed_in()
def home(clinic):
    """The clinic's name, its vocabulary version (who made it, said as the history says it) and counts,
    and where to go next."""
    svc = services()
    facts = clinics.facts(svc.store, clinic)
    w = i18n.words()
    counts = [w.plural("{n} tag in use", "{n} tags in use", facts.active_tags),
              w.plural("{n} retired tag", "{n} retired tags", facts.retired_tags),
              w.plural("{n} note recorded", "{n} notes recorded", facts.notes),
              w.plural("{n} note with tags", "{n} notes with tags", facts.tagged_notes),
              w.plural("{n} client with an intake", "{n} clients with an intake", facts.clients),
              w.plural("{n} active token", "{n} active tokens", facts.tokens)]
    return render("home.html", facts=facts, counts=counts, made_by=who_said(facts.changed_by,
                                                                            token_names(svc.store, clinic), w))


# -- tokens ----------------------------------------------------------------------------------
def _tokens_page(clinic: str, status: int = 200, **context):
    listed = [t for t in tokens.list_tokens(services().store, clinic)]
    listed.sort(key=lambda t: (t["revoked_at"] is not None, t["role"] != "viewer", t["name"].lower()))
    return render("tokens.html", status, page=("console.tokens_page", {"clinic": clinic}), tokens=listed,
                  **context)


@blueprint.get("/clinics/<clinic>/tokens")
@signed_in("admin")
def tokens_page(clinic):
    """The clinic's tokens (never a secret), and a form to make a viewer token for a therapist."""
    return _tokens_page(clinic)


@blueprint.post("/clinics/<clinic>/tokens")
@signed_in("admin")
def create_token(clinic):
    """Make a viewer token and show its secret, once: it is not kept, logged or shown again."""
    name = (request.form.get("name") or "").strip()
    w, error = i18n.words(), None
    if not name:
        error = w(N_("Enter a name: who or what the token is for."))
    elif len(name) > MAX_NAME_CHARS:
        error = w(N_("A name is at most {n} characters."), n=MAX_NAME_CHARS)
    elif str_problem(name):
        error = w(N_("A name cannot hold control characters."))
    if error:
        return _tokens_page(clinic, 422, error=error, name=name)
    svc = services()
    principal = current().principal
    token_id, secret = tokens.create(svc.store, clinic, "viewer", name, svc.clock(), actor=principal.actor)
    log.info("console token created clinic=%s token=%s role=viewer by=%s", clinic, token_id, principal.token_id)
    return render("token_created.html", 201, page=("console.tokens_page", {"clinic": clinic}), name=name,
                  secret=secret)


@blueprint.post("/clinics/<clinic>/tokens/<token_id>/revoke")
@signed_in("admin")
def revoke_token(clinic, token_id):
    """Revoke a viewer token of this clinic: it stops working at once. Admin tokens are revoked with
    the command line (``progress-plugin tokens revoke``), so no one locks the clinic out here."""
    svc = services()
    found = next((t for t in tokens.list_tokens(svc.store, clinic) if t["token_id"] == token_id), None)
    if found is None:
        return problem(404, NOT_FOUND)
    if found["role"] != "viewer":
        return _tokens_page(clinic, 403, error=i18n.words()(N_("Admin tokens are revoked with the command line: "
                                                              "progress-plugin tokens revoke.")))
    principal = current().principal
    tokens.revoke(svc.store, token_id, svc.clock(), actor=principal.actor, clinic_id=clinic)
    log.info("console token revoked clinic=%s token=%s by=%s", clinic, token_id, principal.token_id)
    flash(i18n.words()(N_("The token for {name} is revoked. It no longer works."), name=found["name"]))
    return redirect(link("console.tokens_page", clinic=clinic), 303)

"""A SMART launch's browser session: the cookie, the loader that runs before every app page, the
token refresh, and the end of the session when the EHR stops accepting its token.

- **Cookie** ``pp_smart``: a random id (32 bytes; the store keeps its SHA-256), HttpOnly, limited
  to ``/smart/``, ``Max-Age`` the session's life. For an EHR that shows the app in its frame
  (``embedded``, another site) it is ``SameSite=None; Secure; Partitioned``: a Lax cookie would
  not come back inside a cross-site frame, and Partitioned (CHIPS) keeps it to that EHR's frame.
  Otherwise ``SameSite=Lax`` (it must survive the redirect back from the EHR), Secure when the
  app's ``public_url`` or the request is https. The tokens never leave the server.
- **Loader.** Before every request under ``/smart/app/`` (:func:`load`): find the session, open
  its tokens, refresh the access token when it has ended and a refresh token exists (Authlib),
  and set ``g.smart_launch`` (:class:`~progress_plugin.web.smart.context.Launch`). Without a live
  session the answer is a page (401) and the request never reaches the app's view.
- **The EHR says no.** A FHIR call answered 401 raises :class:`~progress_plugin.errors.HostAuthError`;
  :func:`refused` ends the session (row deleted, cookie cleared) and says to open the app from the
  chart again. A 403 keeps the session and says the app's access does not cover it.
- **Forms.** A POST under ``/smart/`` carries :func:`form_token` (HMAC of the session id), which
  :func:`form_token_ok` checks: with a ``SameSite=None`` cookie the browser sends it on cross-site
  POSTs too, so the cookie alone proves nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from datetime import datetime, timedelta

from flask import current_app, g, request

from progress_plugin.core.dates import utc
from progress_plugin.errors import HostAPIError, HostAuthError
from progress_plugin.fhir.smart_discovery import discover
from progress_plugin.service.smart_vault import Unreadable, Vault
from progress_plugin.store import smart as rows
from progress_plugin.web import i18n
from progress_plugin.web.context import services
from progress_plugin.web.smart import ehr_pool, oauth, refusals
from progress_plugin.web.smart.context import Launch

log = logging.getLogger(__name__)

COOKIE = "pp_smart"
APP_PREFIX = "/smart/app/"
#: An access token this close to its end is refreshed before use.
SKEW = timedelta(seconds=30)
_FORM_LABEL = b"progress-plugin smart form"


def smart():
    svc = current_app.extensions["progress_plugin"]
    return svc.config.smart if svc.config is not None else None


def vault() -> Vault:
    found = current_app.extensions.get("progress_plugin_smart_vault")
    if found is None:
        found = current_app.extensions["progress_plugin_smart_vault"] = Vault(smart().token_keys)
    return found


def redirect_uri() -> str:
    return smart().public_url + "/smart/callback"


def cookie_path() -> str:
    return (request.script_root or "") + "/smart/"


def secure(ehr) -> bool:
    return ehr.embedded or smart().public_url.startswith("https://") or request.is_secure


def set_cookie(response, session_id: str, ehr, max_age: int) -> None:
    response.set_cookie(COOKIE, session_id, max_age=max_age, path=cookie_path(), httponly=True,
                        samesite="None" if ehr.embedded else "Lax", secure=secure(ehr), partitioned=ehr.embedded)


def clear_cookie(response, ehr=None) -> None:
    embedded = ehr is None or ehr.embedded
    response.delete_cookie(COOKIE, path=cookie_path(), httponly=True, samesite="None" if embedded else "Lax",
                           secure=True if embedded else secure(ehr), partitioned=embedded)


def form_token() -> str:
    """The form token of this request's session (empty without one)."""
    session_id = request.cookies.get(COOKIE) or ""
    return hmac.new(session_id.encode("utf-8"), _FORM_LABEL, hashlib.sha256).hexdigest() if session_id else ""


def form_token_ok(sent: str | None) -> bool:
    expected = form_token()
    return bool(expected) and hmac.compare_digest(expected.encode("ascii"), (sent or "").encode("utf-8", "replace"))


# -- the tokens of one session ------------------------------------------------------------------
class Tokens:
    """A session's tokens, refreshed when the access token has ended (once per process at a time)."""

    def __init__(self, found: rows.Session, ehr, opened: dict):
        self.found, self.ehr, self.opened = found, ehr, opened

    def expired(self, now: datetime) -> bool:
        ends = self.found.token_expires_at
        return ends is not None and utc(ends) - SKEW <= utc(now)

    def access(self) -> str:
        """The access token, refreshed first when it has ended. Raises HostAuthError (401) when it
        cannot be (no refresh token, or the EHR refused the refresh)."""
        svc = services()
        if self.expired(svc.clock()):
            self.refresh(svc)
        return self.opened["access_token"]

    def refresh(self, svc) -> None:
        refresh_token = self.opened.get("refresh_token")
        if not refresh_token:
            raise HostAuthError("the access token has ended and there is no refresh token", status_code=401,
                                reason="expired")
        conf = discover(self.found.context.get("iss") or self.ehr.iss[0])
        try:
            raw = oauth.refresh(self.ehr, conf, redirect_uri(), refresh_token)
            token = oauth.read_token(raw)
        except (oauth.TokenRefused, oauth.BadToken) as exc:
            raise HostAuthError("the EHR refused the refresh", status_code=401,
                                reason=getattr(exc, "error", None) or getattr(exc, "reason", "refused")) from None
        opened = {"access_token": token["access_token"],
                  "refresh_token": token.get("refresh_token") or refresh_token,
                  "id_token": self.opened.get("id_token")}
        ends = expiry(svc.clock(), token.get("expires_in"))
        sealed = vault().seal(opened)
        scopes = token.get("scope") or None
        if rows.replace_tokens(svc.store, self.found.key, self.found.tokens, sealed, ends, scopes):
            log.info("smart token refreshed ehr=%s", self.ehr.id)
            self.found = dataclasses.replace(self.found, tokens=sealed, token_expires_at=ends,
                                             scopes=self.found.scopes if scopes is None else scopes[:rows.MAX_SCOPES])
            self.opened = opened
            return
        again = rows.read_session(svc.store, self.found.key)       # another process refreshed first
        if again is None:
            raise HostAuthError("the session has ended", status_code=401, reason="ended")
        self.found, self.opened = again, vault().open(again.tokens)


def expiry(now: datetime, expires_in) -> datetime | None:
    return utc(now) + timedelta(seconds=int(expires_in)) if expires_in is not None else None


def launch_of(found: rows.Session, tokens: Tokens) -> Launch:
    ctx = found.context or {}
    base = ctx.get("iss") or tokens.ehr.iss[0]
    return Launch(found.key, found.ehr_id, found.clinic_id, base, ctx.get("patient"), ctx.get("encounter"),
                  ctx.get("fhirUser"), tuple(ctx.get("fhirContext") or ()), frozenset(found.scopes.split()),
                  client=lambda: ehr_pool.client(base, tokens.access()))


# -- the loader and the error handler ---------------------------------------------------------
def load():
    """``before_request`` of the whole app: a live launch for every request under ``/smart/app/``."""
    if not request.path.startswith(APP_PREFIX):
        return None
    if smart() is None:
        return refusals.page(refusals.NOT_SET_UP)
    svc = services()
    now = svc.clock()
    found = rows.find_session(svc.store, request.cookies.get(COOKIE), now)
    ehr = smart().ehrs.get(found.ehr_id) if found is not None else None
    if found is None or ehr is None:
        if found is not None:                        # its EHR left the configuration
            rows.end_session(svc.store, found.key, now, f"smart:{found.ehr_id}", "ehr-removed")
        return _ended(refusals.NO_SESSION, None)
    g.pp_clinic = found.clinic_id
    i18n.read_with(found.clinic_id, found.language)
    try:
        tokens = Tokens(found, ehr, vault().open(found.tokens))
    except Unreadable:
        rows.end_session(svc.store, found.key, now, f"smart:{ehr.id}", "unreadable")
        return _ended(refusals.NO_SESSION, ehr, found.clinic_id)
    try:
        if tokens.expired(now):
            tokens.refresh(svc)
    except HostAuthError as exc:
        rows.end_session(svc.store, found.key, now, actor(found), exc.context.get("reason", "refused"))
        log.info("smart session ended ehr=%s reason=%s", ehr.id, exc.context.get("reason", "refused"))
        return _ended(refusals.SESSION_ENDED, ehr, found.clinic_id)
    except HostAPIError:
        return refusals.page(refusals.EHR_DOWN, ehr, found.clinic_id)
    g.smart_launch = launch_of(tokens.found, tokens)
    g.smart_ehr = ehr
    return None


def actor(found: rows.Session) -> str:
    return (found.context or {}).get("fhirUser") or f"smart:{found.ehr_id}"


def _ended(what, ehr, clinic: str | None = None):
    response = refusals.page(what, ehr, clinic)
    if COOKIE in request.cookies:
        clear_cookie(response, ehr)
    return response


def refused(exc: HostAuthError):
    """The EHR refused the launch's token (401: the session ends) or the request (403)."""
    launch = g.get("smart_launch")
    if launch is None or not request.path.startswith(APP_PREFIX):
        return i18n.said(exc.status, error=exc.__class__.__name__, message=str(exc))
    ehr = g.get("smart_ehr")
    if exc.status_code == 403:
        return refusals.page(refusals.FORBIDDEN, ehr, launch.clinic_id)
    svc = services()
    rows.end_session(svc.store, launch.session_key, svc.clock(), launch.fhir_user or f"smart:{launch.ehr_id}",
                     exc.context.get("reason", "token-refused"))
    log.info("smart session ended ehr=%s reason=ehr-401", launch.ehr_id)
    return _ended(refusals.SESSION_ENDED, ehr, launch.clinic_id)

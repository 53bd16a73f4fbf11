"""The CDS card's link: a SMART App Launch, or a one-time code then a session cookie.

When the card's clinic has a SMART EHR with ``cds_link = true`` (``[smart]``, see
:mod:`progress_plugin.service.smart_settings`), the link is ``type: "smart"`` (CDS Hooks 2.0
Link: ``label``, ``url``, ``type``, ``appContext``): its ``url`` is the app's launch URL
``{smart.public_url}/smart/launch``, which the EHR opens with ``iss`` and ``launch`` after its
own authorization; ``appContext`` is a small JSON string, ``{"page": "panel", "client": <id>}``,
that the EHR hands back to the app in the token response, so the app opens the progress panel
of the chart's client. No code is made and nothing is stored for it: the SMART launch (OAuth
with the EHR) decides who may see what.

For an EHR configured without SMART the link stays ``type: "absolute"``, to the views here,
which run behind ``GET /cds/progress.html``, a route of :mod:`progress_plugin.web.cds`.
The panel endpoints take clinic tokens a chart viewer does not hold, so that link carries a
one-time code: 32 random bytes, stored only as an HMAC
under ``[cds] link_secret`` (table ``link_codes``) with the clinic, client and viewer it
opens, usable once within ``link_ttl_seconds``. Its first GET marks it used and answers with
an opaque session cookie (HttpOnly, SameSite=Lax, Secure on https, limited to the panel's
path, ``session_ttl_seconds`` long, also stored only as an HMAC) and a 303 to the panel's
URL without the code, so the code leaves the address bar and the history at once. A reused,
expired or unknown code gets a page that says so (410, 410, 404), never the panel. Without a
link secret the card has no link.

After the redirect, the session cookie shows the shared (client) view of the panel while the
session lasts; without a live session the answer is a page saying to open the view from the
chart again (401).
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Response, redirect, request

from progress_plugin.view import panel
from progress_plugin.store import tables
from progress_plugin.core.handle import handle
from progress_plugin.core.events import PanelRequested
from progress_plugin.web.panel_routes import CSP
from progress_plugin.service.panel_cache import panels
from progress_plugin.core.dates import utc
from progress_plugin.core.words import N_, Words
from progress_plugin.web import i18n

log = logging.getLogger(__name__)

PANEL_PATH = "/cds/progress.html"
#: The SMART app's launch URL under ``[smart] public_url`` (the EHR adds ``iss`` and ``launch``).
SMART_LAUNCH_PATH = "/smart/launch"
COOKIE = "pp_cds_session"
#: Used and expired codes and sessions are kept this long after expiry (so a late reuse is
#: told "already used" or "expired", not "unknown"), then deleted.
KEEP_EXPIRED = timedelta(days=1)


def actor(user_id: str) -> str:
    """How audit rows name the chart's viewer."""
    return f"cds:{user_id}"[:128]


# -- codes and sessions -----------------------------------------------------------------------
def _digest(cds, value: str) -> str:
    """What the store keeps of a code or a session id: its HMAC-SHA256 under the link secret."""
    return hmac.new(cds.link_secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def card_link(svc, cds, clinic: str, client: str, user_id: str) -> dict | None:
    """The card's link without its label: ``type: "smart"`` when the clinic's SMART EHR asks for it,
    else ``type: "absolute"`` with a new one-time code, else None (no link secret)."""
    smart = svc.config.smart if svc.config is not None else None
    ehr = smart.ehr_of_clinic(clinic) if smart is not None else None
    if ehr is not None:
        return {"url": f"{smart.public_url}{SMART_LAUNCH_PATH}", "type": "smart",
                "appContext": json.dumps({"page": "panel", "client": client}, separators=(",", ":"))}
    url = link_url(svc, cds, clinic, client, user_id)
    return {"url": url, "type": "absolute"} if url else None


def link_url(svc, cds, clinic: str, client: str, user_id: str) -> str | None:
    """The card's link, with a new code in it; None without a link secret."""
    if not cds.link_secret:
        return None
    return f"{cds.public_url}{PANEL_PATH}?code={link_code(svc.store, cds, clinic, client, user_id, svc.clock())}"


def link_code(store, cds, clinic: str, client: str, user_id: str, now) -> str:
    """A new one-time code for one client's shared panel; only its digest is stored."""
    code = secrets.token_urlsafe(32)
    _insert(store, cds, "code", code, clinic, client, user_id, now, cds.link_ttl_seconds)
    return code


def _insert(store, cds, kind: str, value: str, clinic: str, client: str, user_id: str, now, ttl: int) -> None:
    table = tables.link_codes
    with store.begin() as conn:
        conn.execute(table.delete().where(table.c.expires_at < utc(now) - KEEP_EXPIRED))
        conn.execute(table.insert().values(key=_digest(cds, value), kind=kind, clinic_id=clinic, client_id=client,
                                           user_id=user_id[:128], expires_at=utc(now) + timedelta(seconds=ttl)))


def _page(status: int, title: str, message: tuple[str, ...], clinic: str | None = None) -> Response:
    """A short page for a link that does not open the panel: what happened, and what to do. In the
    asked language, else the language of the clinic whose link it is, when that is known."""
    words: Words = i18n.words(clinic, clinic_default=clinic is not None)
    title, message = words(title), " ".join(words(m) for m in message)
    body = (f'<!doctype html><html lang="{words.code}" dir="{words.direction}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(message)}</p></main></body></html>")
    return _private(i18n.speaks(Response(body, status=status, mimetype="text/html"), words))


def _private(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


#: Each page: its status, its title, and the sentences of its message (said one by one).
AGAIN = N_("Open the progress view again from the card in the chart.")
UNKNOWN = (404, N_("This link does not work"), (N_("It may have been copied wrongly."), AGAIN))
USED = (410, N_("This link has already been used"), (N_("Each link from the chart opens the progress view once."),
                                                     AGAIN))
EXPIRED = (410, N_("This link has expired"), (N_("Links from the chart work for a few minutes only."), AGAIN))
NO_SESSION = (401, N_("Open the progress view from the chart"),
              (N_("This view has ended, or was opened in another browser."), AGAIN))
NOTHING_YET = (404, N_("Nothing to show yet"), (N_("There is no progress recorded for this person yet."),))


def _panel_url(cds) -> str:
    return cds.public_url + PANEL_PATH


def _cookie_path(cds) -> str:
    return urlsplit(cds.public_url).path.rstrip("/") + PANEL_PATH


def _session(svc, cds, now):
    """The ``(clinic, client, user)`` of the request's live session cookie, else None."""
    value = request.cookies.get(COOKIE)
    if not value or len(value) > 100:
        return None
    table = tables.link_codes
    with svc.store.engine.connect() as conn:
        row = conn.execute(sa.select(table.c.clinic_id, table.c.client_id, table.c.user_id, table.c.expires_at)
                           .where(table.c.key == _digest(cds, value), table.c.kind == "session")).first()
    if row is None or utc(row.expires_at) <= utc(now):
        return None
    return row.clinic_id, row.client_id, row.user_id


def _exchange(svc, cds, code: str, now) -> Response:
    """The code's first use: mark it used, start a session, redirect to the URL without the code."""
    table = tables.link_codes
    key = _digest(cds, code[:100])
    with svc.store.begin() as conn:
        row = conn.execute(sa.select(table.c.clinic_id, table.c.client_id, table.c.user_id, table.c.expires_at,
                                     table.c.used_at).where(table.c.key == key, table.c.kind == "code")).first()
        if row is None:
            log.info("cds link refused reason=unknown")
            return _page(*UNKNOWN)
        outcome = "expired" if utc(row.expires_at) <= utc(now) else "reused" if row.used_at is not None else None
        if outcome is None and conn.execute(table.update().where(table.c.key == key, table.c.used_at.is_(None))
                                            .values(used_at=utc(now))).rowcount != 1:
            outcome = "reused"                       # another request took it first
        svc.store.audit(conn, row.clinic_id, actor(row.user_id), "cds.link", f"client:{row.client_id}",
                        outcome or "exchanged", now)
    if outcome is not None:
        log.info("cds link refused clinic=%s reason=%s", row.clinic_id, outcome)
        if outcome == "reused" and _session(svc, cds, now) == (row.clinic_id, row.client_id, row.user_id):
            return _private(redirect(_panel_url(cds), 303))     # the same browser, back on its own link
        return _page(*(USED if outcome == "reused" else EXPIRED), clinic=row.clinic_id)
    session = secrets.token_urlsafe(32)
    _insert(svc.store, cds, "session", session, row.clinic_id, row.client_id, row.user_id, now,
            cds.session_ttl_seconds)
    response = _private(redirect(_panel_url(cds), 303))
    response.set_cookie(COOKIE, session, max_age=cds.session_ttl_seconds, path=_cookie_path(cds), httponly=True,
                        samesite="Lax", secure=cds.public_url.startswith("https://") or request.is_secure)
    return response


# -- the shared view --------------------------------------------------------------------------
def shared_panel(svc, cds) -> Response:
    """``GET /cds/progress.html``: exchange a code, or show the panel to a live session: the copy this
    process kept (:mod:`progress_plugin.service.panel_cache`) while the client's state is unchanged,
    and a 304 to a browser sending its ETag back."""
    now = svc.clock()
    code = request.args.get("code")
    if code is not None:
        return _exchange(svc, cds, code, now)
    found = _session(svc, cds, now)
    if found is None:
        return _page(*NO_SESSION)
    clinic, client, user = found
    exists = svc.store.clinic_exists(clinic)
    key = panels.key(svc.store, clinic, client, now, "cds", "client") if exists else None   # before the state
    etag = panels.etag(key) if key is not None else None
    body = panels.get(key)
    if body is None:
        state = svc.runtime.state(clinic, client) if exists else None
        if state is None or state.intake is None:
            return _page(*NOTHING_YET, clinic=clinic)
        (shown,) = handle(PanelRequested(clinic, svc.clock(), client, "client"), state)
        body = panel.render_html(shown.progress, state.intake, "client")
        panels.put(key, body)
    with svc.store.begin() as conn:                  # shown, from a kept copy or the browser's own
        svc.store.audit(conn, clinic, actor(user), "cds.panel", f"client:{client}", "shown", svc.clock())
    if etag is not None and request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="text/html")
    if etag is not None:
        response.set_etag(etag)
    return _private(response)

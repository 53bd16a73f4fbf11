"""Bearer-token authentication for every authenticated endpoint of the service.

Use :func:`require` on a view whose URL has a ``<clinic>`` variable::

    @blueprint.get("/clinics/<clinic>/things")
    @require("viewer")
    def things(clinic): ...

The answers, in this order:

- no ``Authorization: Bearer <token>``, or a token that is unknown, malformed or revoked:
  401 with ``WWW-Authenticate: Bearer``;
- a valid token of another clinic: 404, the same answer as for a clinic that does not exist,
  so nothing about the other clinic (not even that it exists) leaks;
- a valid token of the clinic whose role is below the one required: 403.

Every refusal of a presented token is logged (``token refused``, with the token id or a short
hash prefix, never the secret, and the reason); a 401 and a 404 are also counted in the
store (:func:`progress_plugin.store.tokens.record_failure`).

On success ``flask.g.principal`` is the caller's :class:`~progress_plugin.store.tokens.Principal`
(``token_id``, ``clinic_id``, ``role``); :func:`actor` names it for audit rows.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import abort, g, request

from progress_plugin.core.words import N_, msg
from progress_plugin.store import tokens
from progress_plugin.store.tokens import ROLES, Principal
from progress_plugin.web import i18n
from progress_plugin.web.context import services

__all__ = ["require", "actor", "principal", "ROLES", "Principal"]

log = logging.getLogger(__name__)


def require(role: str):
    """Decorator: the view needs a bearer token of the URL's ``<clinic>`` with at least ``role``.

    ``role`` is ``"viewer"`` (any valid token of the clinic may read) or ``"admin"`` (may edit).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if "clinic" not in kwargs:
                raise RuntimeError(f"{view.__name__}: require() needs a <clinic> variable in the URL")
            g.principal = authenticate(kwargs["clinic"], role)
            return view(*args, **kwargs)

        wrapper.required_role = role
        return wrapper

    return decorator


def authenticate(clinic_id: str, role: str) -> Principal:
    """The request's principal, if it may act with ``role`` on ``clinic_id``; else abort 401/404/403."""
    svc = services()
    checked = _bearer(svc, clinic_id, tokens.ROLES)
    found = checked.principal
    if found.clinic_id != clinic_id:
        _refused(svc, clinic_id, checked, "other-clinic")
        abort(_deny(404, "NotFound", N_("Not found.")))
    if not found.may(role):
        log.info("token refused clinic=%s token=%s reason=role", _safe(clinic_id), checked.label)
        abort(_deny(403, "Forbidden", msg("This needs the {role} role; the token has {held}.", role=role,
                                          held=found.role), clinic_default=True))
    used(svc, checked)
    return found


def authenticate_metrics() -> Principal:
    """The request's principal if it carries a metrics token (:data:`tokens.METRICS`); else abort
    401. Any other token, a clinic's admin token included, is refused the same way."""
    svc = services()
    checked = _bearer(svc, tokens.STORE_WIDE, (tokens.METRICS,))
    used(svc, checked)
    return checked.principal


def _bearer(svc, clinic_id: str, roles: tuple[str, ...]):
    """The request's bearer token checked (a valid one of a role in ``roles``); else abort 401,
    the refusal counted for ``clinic_id``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(_deny(401, "Unauthorized", N_("A bearer token is required."), 'Bearer realm="progress-plugin"'))
    checked = tokens.check(svc.store, token.strip(), roles=roles)
    if checked.principal is None:
        _refused(svc, clinic_id, checked, checked.reason)
        abort(_deny(401, "Unauthorized", N_("The token is not valid."),
                    'Bearer realm="progress-plugin", error="invalid_token"'))
    return checked


def used(svc, checked) -> None:
    """Keep the token's last use (to the hour: at most one write an hour per token)."""
    try:
        tokens.touch(svc.store, checked.label, checked.last_used_at, svc.clock())
    except Exception as exc:          # a busy store must never turn a 200 into a 500
        log.warning("token use not recorded token=%s error=%s", checked.label, exc.__class__.__name__)


def _safe(clinic_id: str) -> str:
    """The URL's clinic id for a log line, or ``?`` when it is not a clinic id (it comes from the caller)."""
    return clinic_id if tokens.CLINIC_RE.match(clinic_id or "") else "?"


def _refused(svc, clinic_id: str, checked, reason: str) -> None:
    log.warning("token refused clinic=%s token=%s reason=%s", _safe(clinic_id), checked.label, reason)
    try:
        tokens.record_failure(svc.store, clinic_id, checked, svc.clock())
    except Exception as exc:          # counting must never turn a 401 into a 500
        log.warning("token failure not counted error=%s", exc.__class__.__name__)


def principal() -> Principal:
    """The authenticated caller of the current request."""
    return g.principal


def actor() -> str:
    """How audit rows name the current caller: ``token:<token_id>``."""
    return g.principal.actor


def _deny(status: int, error: str, message: str, challenge: str | None = None, clinic_default: bool = False):
    """The refusal, said in the asked language; in the clinic's only once the token is the clinic's
    (a 401 or 404 is the same whether the clinic exists or not)."""
    response = i18n.said(status, clinic_default=clinic_default, error=error, message=message)
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response

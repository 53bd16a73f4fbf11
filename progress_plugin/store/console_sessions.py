"""The admin console's sessions, and the random keys the service makes once and shares.

A signed-in browser holds a random session id (32 bytes) in an HttpOnly cookie. The store keeps
only its SHA-256 (the id has that much entropy, so a keyed or slow hash adds nothing), with the
token it was opened with, when it started, when it was last used and when it ends. A session
ends at sign-out, after ``idle`` without a request, at its absolute end, or when its token is
revoked (the token's row is read on every request, so its role is always the current one).

:func:`key` returns a random key by name, made once by whichever process asks first (the insert
is atomic; a process that loses the race reads the winner's), so every gunicorn worker and every
machine on the store signs with the same one.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from progress_plugin.core.dates import utc
from progress_plugin.store import Store
from progress_plugin.store import tables as t
from progress_plugin.store.browser_sessions import SEEN_PRECISION, digest, keep, new_id, well_formed
from progress_plugin.store.tokens import ROLES, Principal


@dataclass(frozen=True)
class Session:
    """A live console session: who (the token's principal) and until when at the latest."""

    principal: Principal
    name: str              # the token's name, e.g. "practice manager"
    created_at: datetime
    expires_at: datetime
    language: str | None = None     # the clinic's default language, read with the session


def start(store: Store, principal: Principal, now: datetime, lifetime: timedelta) -> str:
    """Open a session for ``principal``; returns the session id for the cookie (only its digest is kept).

    Sessions that have ended are deleted on the way."""
    session_id = new_id()
    cs = t.console_sessions
    with store.begin() as c:
        c.execute(cs.delete().where(cs.c.expires_at < utc(now)))
        c.execute(cs.insert().values(key=digest(session_id), token_id=principal.token_id,
                                     clinic_id=principal.clinic_id, created_at=utc(now), seen_at=utc(now),
                                     expires_at=utc(now) + lifetime))
        store.audit(c, principal.clinic_id, principal.actor, "console.sign-in", f"token:{principal.token_id}",
                    "ok", now)
    return session_id


# The session with its token and its clinic's language, one statement built once.
_FIND = (sa.select(t.console_sessions.c.token_id, t.console_sessions.c.clinic_id, t.console_sessions.c.created_at,
                   t.console_sessions.c.seen_at, t.console_sessions.c.expires_at, t.tokens.c.role, t.tokens.c.name,
                   t.tokens.c.revoked_at, t.tokens.c.clinic_id.label("token_clinic"), t.clinics.c.language)
         .select_from(t.console_sessions.join(t.tokens, t.tokens.c.token_id == t.console_sessions.c.token_id)
                      .outerjoin(t.clinics, t.clinics.c.clinic_id == t.console_sessions.c.clinic_id))
         .where(t.console_sessions.c.key == sa.bindparam("key")))


def find(store: Store, session_id: str | None, now: datetime, idle: timedelta) -> Session | None:
    """The live session of ``session_id``, else None (unknown, ended, idle too long, or its token
    revoked). Marks it used (at most once per :data:`SEEN_PRECISION`)."""
    if not well_formed(session_id):
        return None
    cs = t.console_sessions
    key = digest(session_id)
    with store.engine.connect() as c:
        row = c.execute(_FIND, {"key": key}).first()
    now = utc(now)
    if row is None:
        return None
    if not keep(store, cs, key, row.seen_at, now,
                ended=(row.revoked_at is not None or row.role not in ROLES or row.token_clinic != row.clinic_id
                       or utc(row.expires_at) <= now or now - utc(row.seen_at) > idle)):
        return None
    return Session(Principal(row.token_id, row.clinic_id, row.role), row.name, utc(row.created_at),
                   utc(row.expires_at), row.language)


def end(store: Store, session_id: str | None, now: datetime) -> bool:
    """End the session (sign-out). True when there was one."""
    if not well_formed(session_id):
        return False
    cs = t.console_sessions
    with store.begin() as c:
        row = c.execute(sa.select(cs.c.token_id, cs.c.clinic_id).where(cs.c.key == digest(session_id))).first()
        if row is None:
            return False
        c.execute(cs.delete().where(cs.c.key == digest(session_id)))
        store.audit(c, row.clinic_id, f"token:{row.token_id}", "console.sign-out", f"token:{row.token_id}", "ok", now)
    return True


def count(store: Store, token_id: str | None = None) -> int:
    """How many session rows there are (of one token, when given); ended ones may linger until the next sign-in."""
    cs = t.console_sessions
    q = sa.select(sa.func.count()).select_from(cs)
    if token_id is not None:
        q = q.where(cs.c.token_id == token_id)
    with store.engine.connect() as c:
        return c.execute(q).scalar()


def key(store: Store, name: str, now: datetime) -> str:
    """The service's random key called ``name``, made on first use and the same for every process after."""
    sk = t.service_keys
    with store.engine.connect() as c:
        value = c.execute(sa.select(sk.c.value).where(sk.c.name == name)).scalar()
    if value is not None:
        return value
    try:
        with store.begin() as c:
            c.execute(sk.insert().values(name=name, value=secrets.token_urlsafe(48), created_at=utc(now)))
    except sa.exc.IntegrityError:         # another process made it first: use theirs
        pass
    with store.engine.connect() as c:
        return c.execute(sa.select(sk.c.value).where(sk.c.name == name)).scalar_one()

"""SMART launches in the store: authorizations in flight (``smart_requests``) and the browser
sessions they open (``smart_sessions``).

- **Requests.** One row per authorization the app started, keyed by the SHA-256 of its OAuth
  ``state`` (never the state itself), holding the sealed PKCE verifier and nonce. The callback
  takes it once: :func:`take_request` marks it used in one conditional UPDATE, so two callbacks
  with the same state (a replay, or a race between two processes) give one winner.
- **Sessions.** The browser holds a random id (32 bytes) in a cookie; the row is keyed by its
  SHA-256. It holds the launch context (ids only), the granted scopes, the sealed tokens and
  when the access token and the session end. Every process on the store sees the same sessions.

Sealing and opening is the caller's (:mod:`progress_plugin.service.smart_vault`): the store only
ever sees ciphertext. Audit rows say who / what / when / outcome with ids only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from progress_plugin.core.dates import utc
from progress_plugin.store import Store
from progress_plugin.store import tables as t
from progress_plugin.store.browser_sessions import digest, keep, new_id, well_formed

#: Used and expired requests are kept this long (a late replay is told "already used", not "unknown").
KEEP_EXPIRED = timedelta(days=1)
MAX_STATE = 200
MAX_SCOPES = 2000          # characters of granted scopes kept


def audit(store: Store, clinic_id: str, actor: str, action: str, subject: str, outcome: str, now: datetime) -> None:
    with store.begin() as c:
        store.audit(c, clinic_id, actor[:128], action, subject, outcome, now)


# -- requests --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    ehr_id: str
    secret: str            # sealed
    target: str | None


def put_request(store: Store, state: str, ehr_id: str, sealed: str, target: str | None, now: datetime,
                lifetime: timedelta) -> None:
    """Remember an authorization in flight (by its state's digest) until ``now + lifetime``."""
    r = t.smart_requests
    with store.begin() as c:
        c.execute(r.delete().where(r.c.expires_at < utc(now) - KEEP_EXPIRED))
        c.execute(r.insert().values(key=digest(state), ehr_id=ehr_id, secret=sealed, target=target,
                                    created_at=utc(now), expires_at=utc(now) + lifetime))


def take_request(store: Store, state: str | None, now: datetime) -> tuple[Request | None, str]:
    """The request of ``state``, marked used, and ``"ok"``; else None and why: ``unknown``,
    ``expired`` or ``used`` (a state is good once)."""
    if not state or len(state) > MAX_STATE:
        return None, "unknown"
    r, key, now = t.smart_requests, digest(state), utc(now)
    with store.begin() as c:
        taken = c.execute(r.update().where(r.c.key == key, r.c.used_at.is_(None), r.c.expires_at > now)
                          .values(used_at=now)).rowcount
        row = c.execute(sa.select(r.c.ehr_id, r.c.secret, r.c.target, r.c.expires_at, r.c.used_at)
                        .where(r.c.key == key)).first()
    if row is None:
        return None, "unknown"
    if taken != 1:
        return Request(row.ehr_id, "", None), "used" if row.used_at is not None else "expired"
    return Request(row.ehr_id, row.secret, row.target), "ok"


# -- sessions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    key: str
    ehr_id: str
    clinic_id: str
    context: dict
    scopes: str
    tokens: str            # sealed
    token_expires_at: datetime | None
    created_at: datetime
    expires_at: datetime
    language: str | None = None     # the clinic's default language, when read with the session


def start_session(store: Store, *, ehr_id: str, clinic_id: str, context: dict, scopes: str, sealed: str,
                  token_expires_at: datetime | None, now: datetime, lifetime: timedelta, actor: str,
                  subject: str) -> str:
    """Open a session; returns the id for the cookie (only its digest is kept). Ended sessions
    are deleted on the way; one audit row ``smart.launch`` ``ok``."""
    session_id = new_id()
    s = t.smart_sessions
    with store.begin() as c:
        c.execute(s.delete().where(s.c.expires_at < utc(now)))
        c.execute(s.insert().values(key=digest(session_id), ehr_id=ehr_id, clinic_id=clinic_id, context=context,
                                    scopes=scopes[:MAX_SCOPES], tokens=sealed,
                                    token_expires_at=utc(token_expires_at) if token_expires_at else None,
                                    created_at=utc(now), seen_at=utc(now), expires_at=utc(now) + lifetime))
        store.audit(c, clinic_id, actor[:128], "smart.launch", subject, "ok", now)
    return session_id


def _session(key: str, row) -> Session:
    return Session(key, row.ehr_id, row.clinic_id, row.context, row.scopes, row.tokens,
                   utc(row.token_expires_at) if row.token_expires_at else None, utc(row.created_at),
                   utc(row.expires_at), getattr(row, "language", None))


# The session with its clinic's language, one statement built once.
_FIND = (sa.select(t.smart_sessions, t.clinics.c.language)
         .select_from(t.smart_sessions.outerjoin(t.clinics, t.clinics.c.clinic_id == t.smart_sessions.c.clinic_id))
         .where(t.smart_sessions.c.key == sa.bindparam("key")))


def find_session(store: Store, session_id: str | None, now: datetime) -> Session | None:
    """The live session of the cookie's ``session_id``, else None (an ended one is deleted)."""
    if not well_formed(session_id):
        return None
    s, key = t.smart_sessions, digest(session_id)
    with store.engine.connect() as c:
        row = c.execute(_FIND, {"key": key}).first()
    if row is None or not keep(store, s, key, row.seen_at, now, ended=utc(row.expires_at) <= utc(now)):
        return None
    return _session(key, row)


def read_session(store: Store, key: str) -> Session | None:
    """The session row of ``key`` as it is now (after another process refreshed its tokens)."""
    s = t.smart_sessions
    with store.engine.connect() as c:
        row = c.execute(sa.select(s).where(s.c.key == key)).first()
    return None if row is None else _session(key, row)


def replace_tokens(store: Store, key: str, old_sealed: str, sealed: str, token_expires_at: datetime | None,
                   scopes: str | None = None) -> bool:
    """Store refreshed tokens, only if the row still holds ``old_sealed`` (else another process
    refreshed first: False, and the caller reads the row again)."""
    s = t.smart_sessions
    values = {"tokens": sealed, "token_expires_at": utc(token_expires_at) if token_expires_at else None}
    if scopes is not None:
        values["scopes"] = scopes[:MAX_SCOPES]
    with store.begin() as c:
        return c.execute(s.update().where(s.c.key == key, s.c.tokens == old_sealed).values(**values)).rowcount == 1


def end_session(store: Store, key: str, now: datetime, actor: str, outcome: str) -> bool:
    """End a session (its row is deleted); one audit row ``smart.session-end`` with ``outcome``."""
    s = t.smart_sessions
    with store.begin() as c:
        row = c.execute(sa.select(s.c.clinic_id, s.c.context).where(s.c.key == key)).first()
        if row is None:
            return False
        c.execute(s.delete().where(s.c.key == key))
        store.audit(c, row.clinic_id, actor[:128], "smart.session-end",
                    f"patient:{(row.context or {}).get('patient')}", outcome, now)
    return True


def count_sessions(store: Store) -> int:
    with store.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(t.smart_sessions)).scalar()

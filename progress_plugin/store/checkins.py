"""Check-in links and their sessions: a link a therapist gives one client, and the browser that opened it.

- **Links.** A link reads ``<public url>/c/<token>``; the token is 32 random bytes
  (``secrets.token_urlsafe(32)``), never the client id. The store keeps only its SHA-256 (hex),
  the client it is bound to, when it expires and whether it was revoked. ``link_id`` is public: it
  names the link in lists, audit rows and ``revoke``. A digest of 256 random bits is looked up
  directly (no slow hash, no secret to compare in constant time: the digest is the key).
- **Sessions.** Opening a live link makes a random session id for a cookie; the store keeps its
  SHA-256, bound to the link and the client, for a short while (never past the link's own
  expiry). Revoking the link, or its expiry, ends its sessions at once.
- **The window.** A check-in's id is ``checkin:<link id>:<UTC date>``: one check-in per link per
  day. A re-submission within the day has the same id; :func:`was_submitted` finds it (by its audit
  row, written in the same transaction as the check-in's event) and the page says it was received.

Nothing here logs or stores a token or a session id.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from progress_plugin.core.checkin import CHECKIN_PREFIX
from progress_plugin.core.dates import utc
from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.store import Store
from progress_plugin.store import tables as t

#: What a link's token looks like (``secrets.token_urlsafe(32)``); anything else is refused unread.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
LINK_ID_RE = re.compile(r"^[0-9a-f]{16}$")
SUBMITTED = "checkin.submit"


def digest(secret: str) -> str:
    """The SHA-256 (hex) a token or a session id is stored as."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Link:
    link_id: str
    clinic_id: str
    client_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    used_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if utc(now) >= utc(self.expires_at) else "active"


@dataclass(frozen=True)
class Session:
    """A browser that opened a link: the link's id, the clinic and the client, and until when."""

    link_id: str
    clinic_id: str
    client_id: str
    expires_at: datetime
    language: str | None = None       #: the clinic's default language, read with the session


def _link(row) -> Link:
    return Link(row.link_id, row.clinic_id, row.client_id, row.created_by, utc(row.created_at),
                utc(row.expires_at), utc(row.revoked_at), utc(row.used_at))


def create_link(store: Store, clinic_id: str, client_id: str, now: datetime, expires: timedelta,
                actor: str = "cli") -> tuple[Link, str]:
    """Make a link for one client; returns ``(link, token)``. The token is not stored and cannot
    be shown again."""
    problems = {}
    if not ID_RE.match(clinic_id or ""):
        problems["clinic"] = ["Clinic ids are 1-128 characters of letters, digits, '.', '_', ':' or '-'."]
    if not ID_RE.match(client_id or ""):
        problems["client"] = ["Client ids are 1-128 characters of letters, digits, '.', '_', ':' or '-'."]
    if not timedelta(minutes=5) <= expires <= timedelta(days=90):
        problems["expires"] = ["A link lasts from 5 minutes to 90 days."]
    if problems:
        raise ValidationError(problems)
    link = Link(secrets.token_hex(8), clinic_id, client_id, actor or "unknown", utc(now), utc(now) + expires)
    token = secrets.token_urlsafe(32)
    with store.begin() as c:
        c.execute(t.checkin_links.insert().values(
            link_id=link.link_id, key=digest(token), clinic_id=clinic_id, client_id=client_id,
            created_by=link.created_by, created_at=link.created_at, expires_at=link.expires_at))
        store.audit(c, clinic_id, link.created_by, "checkin-link.create", f"link:{link.link_id}", "ok", now)
    return link, token


def find_link(store: Store, token: str | None, now: datetime, conn=None) -> tuple[Link | None, str]:
    """The link ``token`` opens and why it does not when it does not: ``ok``, ``malformed``,
    ``unknown``, ``expired`` or ``revoked`` (the link is given for the last two)."""
    if not TOKEN_RE.match(token or ""):
        return None, "malformed"
    q = sa.select(t.checkin_links).where(t.checkin_links.c.key == digest(token))
    if conn is None:
        with store.engine.connect() as c:
            row = c.execute(q).first()
    else:
        row = conn.execute(q).first()
    if row is None:
        return None, "unknown"
    link = _link(row)
    status = link.status(now)
    return link, "ok" if status == "active" else status


def list_links(store: Store, clinic_id: str | None = None, client_id: str | None = None) -> list[Link]:
    """Links, oldest first: of one clinic (and one client) when given. Never a token."""
    lt = t.checkin_links
    q = sa.select(lt)
    if clinic_id is not None:
        q = q.where(lt.c.clinic_id == clinic_id)
    if client_id is not None:
        q = q.where(lt.c.client_id == client_id)
    with store.engine.connect() as c:
        return [_link(r) for r in c.execute(q.order_by(lt.c.clinic_id, lt.c.created_at, lt.c.link_id))]


def revoke_link(store: Store, link_id: str, now: datetime, actor: str = "cli", clinic_id: str | None = None) -> Link:
    """Revoke a link: it stops opening at once, and the sessions it opened end. With ``clinic_id``,
    only a link of that clinic. Revoking twice changes nothing."""
    lt = t.checkin_links
    with store.begin() as c:
        where = [lt.c.link_id == link_id]
        if clinic_id is not None:
            where.append(lt.c.clinic_id == clinic_id)
        row = c.execute(sa.select(lt).where(*where)).first()
        if row is None:
            raise NotFound(f"no check-in link {link_id!r}", link_id=link_id)
        if row.revoked_at is None:
            c.execute(lt.update().where(lt.c.link_id == link_id).values(revoked_at=utc(now)))
            c.execute(t.checkin_sessions.delete().where(t.checkin_sessions.c.link_id == link_id))
            store.audit(c, row.clinic_id, actor or "unknown", "checkin-link.revoke", f"link:{link_id}", "ok", now)
        return _link(c.execute(sa.select(lt).where(lt.c.link_id == link_id)).first())


def open_session(store: Store, token: str | None, now: datetime, lifetime: timedelta
                 ) -> tuple[str | None, Link | None, str]:
    """Exchange a link's token for a new session: ``(session id, link, "ok")``, else
    ``(None, link or None, reason)`` as :func:`find_link` says. The session ends after ``lifetime``,
    or when the link expires, whichever is first. Sessions past their end are cleared on the way."""
    with store.begin() as c:
        link, reason = find_link(store, token, now, conn=c)
        if reason != "ok":
            return None, link, reason
        st = t.checkin_sessions
        c.execute(st.delete().where(st.c.expires_at <= utc(now)))
        session_id = secrets.token_urlsafe(32)
        c.execute(st.insert().values(key=digest(session_id), link_id=link.link_id, clinic_id=link.clinic_id,
                                     client_id=link.client_id, created_at=utc(now),
                                     expires_at=min(utc(now) + lifetime, link.expires_at)))
        c.execute(t.checkin_links.update().where(t.checkin_links.c.link_id == link.link_id).values(used_at=utc(now)))
    return session_id, link, "ok"


# The live session with its clinic's language, one statement built once.
_ST, _LT = t.checkin_sessions, t.checkin_links
_FIND = (sa.select(_ST.c.link_id, _ST.c.clinic_id, _ST.c.client_id, _ST.c.expires_at, t.clinics.c.language)
         .select_from(_ST.join(_LT, _LT.c.link_id == _ST.c.link_id)
                      .outerjoin(t.clinics, t.clinics.c.clinic_id == _ST.c.clinic_id))
         .where(_ST.c.key == sa.bindparam("key"), _ST.c.expires_at > sa.bindparam("now"), _LT.c.revoked_at.is_(None),
                _LT.c.expires_at > sa.bindparam("now"), _LT.c.client_id == _ST.c.client_id,
                _LT.c.clinic_id == _ST.c.clinic_id))


def find_session(store: Store, session_id: str | None, now: datetime) -> Session | None:
    """The live session of this cookie value, else None: unknown, past its end, or its link
    revoked or expired. It carries its clinic's default language (None: English)."""
    if not TOKEN_RE.match(session_id or ""):
        return None
    with store.engine.connect() as c:
        row = c.execute(_FIND, {"key": digest(session_id), "now": utc(now)}).first()
    return None if row is None else Session(row.link_id, row.clinic_id, row.client_id, utc(row.expires_at),
                                            row.language)


def end_session(store: Store, session_id: str | None) -> None:
    """Forget a session (nothing when there is none)."""
    if session_id:
        with store.begin() as c:
            c.execute(t.checkin_sessions.delete().where(t.checkin_sessions.c.key == digest(session_id)))


# -- the window: one check-in per link per day --------------------------------------------
def checkin_id(link_id: str, now: datetime) -> str:
    """The id of the check-in a link makes at ``now``: the same all that UTC day."""
    return f"{CHECKIN_PREFIX}{link_id}:{utc(now):%Y-%m-%d}"


def was_submitted(conn, clinic_id: str, checkin_id_: str) -> bool:
    """True when this check-in was already sent (in the caller's transaction)."""
    at = t.audit_log
    return conn.execute(sa.select(sa.literal(1)).select_from(at).where(
        at.c.clinic_id == clinic_id, at.c.action == SUBMITTED, at.c.subject == checkin_id_).limit(1)).first() is not None


def mark_submitted(store: Store, conn, session: Session, checkin_id_: str, now: datetime) -> None:
    """Record, in the caller's transaction, that this check-in was sent (ids only)."""
    store.audit(conn, session.clinic_id, f"checkin-link:{session.link_id}", SUBMITTED, checkin_id_, "ok", now)

"""API tokens: one clinic, one role, stored hashed, compared in constant time.

A token reads ``pp_<token_id>_<secret>``. The token id is public (it names the token in
lists, audit rows and ``revoke``); the secret is 32 random bytes and is shown once, at
creation. The store keeps only a SHA-256 digest of the whole token: with that much entropy
a slow password hash adds nothing but latency, and verification runs on every request.

Roles are ranked: ``viewer`` may read, ``admin`` may read and edit.

A refused token is logged and counted by what is safe to name: its token id when it has
the token shape (the id is public), else ``h:`` and the first 8 hex digits of its SHA-256;
never the secret. Counters (in the store's ``counters`` table, see :func:`record_failure`):
``auth-failures`` per clinic whose URL was called (``*`` for a clinic that does not exist),
and ``auth-failures:<token id>`` under the token's own clinic; ``tokens list`` shows them.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from progress_plugin.store import inbox
from progress_plugin.store import tables as t
from progress_plugin.core.dates import utc
from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.store import Store
from progress_plugin.store.vocabularies import no_clinic
# the clinic id of a metrics token, as of the store-wide counters (never a clinic's id: see CLINIC_RE)
from progress_plugin.store.retention import STORE_WIDE  # noqa: F401

ROLES = ("viewer", "admin")          # ascending: each role may do what the ones before it may
#: A token kind of its own: opens ``/metrics`` (counts of the whole store) and nothing else; no clinic.
METRICS = "metrics"
PREFIX = "pp_"
TOKEN_RE = re.compile(r"^pp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
ALGORITHM = "sha256"
CLINIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_DUMMY = ALGORITHM + ":" + "0" * 64


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, its clinic and its role."""

    token_id: str
    clinic_id: str
    role: str

    def may(self, role: str) -> bool:
        """True when this principal's role is ``role`` or ranks above it."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def actor(self) -> str:
        """How audit rows name this caller."""
        return f"token:{self.token_id}"


def digest(token: str) -> str:
    return ALGORITHM + ":" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(store: Store, clinic_id: str, role: str, name: str, now: datetime,
           actor: str = "cli") -> tuple[str, str]:
    """Create a token; returns ``(token_id, token)``. The token is not stored and cannot be shown again.

    The clinic must exist: a token for a clinic id that is not there (a typo) is refused with
    :class:`NotFound` naming the commands that create a clinic, and nothing is created.
    """
    problems = {}
    if role not in ROLES:
        problems["role"] = [f"Must be one of: {', '.join(ROLES)}."]
    if not CLINIC_RE.match(clinic_id or ""):
        problems["clinic"] = ["Clinic ids are 1-128 characters of letters, digits, '.', '_' or '-'."]
    if not name or len(name) > 200:
        problems["name"] = ["Names are 1-200 characters."]
    if problems:
        raise ValidationError(problems)
    return _mint(store, clinic_id, role, name, now, actor)


def create_metrics(store: Store, name: str, now: datetime, actor: str = "cli") -> tuple[str, str]:
    """Create a metrics token (see :data:`METRICS`); returns ``(token_id, token)``, shown once."""
    if not name or len(name) > 200:
        raise ValidationError({"name": ["Names are 1-200 characters."]})
    return _mint(store, STORE_WIDE, METRICS, name, now, actor)


def _mint(store: Store, clinic_id: str, role: str, name: str, now: datetime, actor: str) -> tuple[str, str]:
    """Store a new token's digest, audited; a clinic token's clinic must exist. Returns ``(token_id, token)``."""
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with store.begin() as c:
        if clinic_id != STORE_WIDE and c.execute(
                sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == clinic_id)).first() is None:
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        c.execute(t.tokens.insert().values(token_id=token_id, clinic_id=clinic_id, role=role, name=name,
                                           secret_hash=digest(token), created_at=utc(now)))
        store.audit(c, clinic_id, actor, "token.create", f"token:{token_id} role:{role}", "ok", now)
    return token_id, token


def verify(store: Store, token: str | None) -> Principal | None:
    """The principal of a valid, unrevoked token, else None. Constant-time on the secret."""
    return check(store, token).principal


@dataclass(frozen=True)
class Checked:
    """What :func:`check` found. ``label`` names the token in logs without its secret."""

    principal: Principal | None
    reason: str                 # ok | malformed | unknown | bad-secret | revoked
    label: str                  # the token id, or "h:" + 8 hex digits of the token's SHA-256
    token_clinic: str | None = None     # the clinic of a known token id, even when refused
    last_used_at: datetime | None = None    # as stored: see :func:`touch`


def label(token: str) -> str:
    """How logs name a presented token: its public id when it has the token shape, else a short
    hash prefix. Never the secret."""
    match = TOKEN_RE.match(token or "")
    if match is not None:
        return match.group(1)
    return "h:" + hashlib.sha256((token or "").encode("utf-8", "replace")).hexdigest()[:8]


def check(store: Store, token: str | None, roles: tuple[str, ...] = ROLES) -> Checked:
    """Verify ``token`` and say why it fails, if it does. Constant-time on the secret. A token of a
    role not in ``roles`` is refused (``wrong-kind``): a clinic token is no metrics token, and the
    other way round."""
    match = TOKEN_RE.match(token or "")
    if match is None:
        return Checked(None, "malformed", label(token or ""))
    token_id = match.group(1)
    tt = t.tokens
    with store.engine.connect() as c:
        row = c.execute(sa.select(tt.c.clinic_id, tt.c.role, tt.c.secret_hash, tt.c.revoked_at, tt.c.last_used_at)
                        .where(tt.c.token_id == token_id)).first()
    stored = row.secret_hash if row is not None else _DUMMY
    same = hmac.compare_digest(stored.encode("ascii"), digest(token).encode("ascii"))
    if row is None:
        return Checked(None, "unknown", token_id)
    if not same:
        return Checked(None, "bad-secret", token_id, row.clinic_id)
    if row.revoked_at is not None:
        return Checked(None, "revoked", token_id, row.clinic_id)
    if row.role not in roles:
        return Checked(None, "wrong-kind", token_id, row.clinic_id)
    return Checked(Principal(token_id, row.clinic_id, row.role), "ok", token_id, row.clinic_id,
                   utc(row.last_used_at))


#: A token's last use is kept to this precision, so a busy token costs one write an hour, not one a request.
LAST_USED_PRECISION = timedelta(hours=1)


def touch(store: Store, token_id: str, last_used_at: datetime | None, now: datetime) -> None:
    """Record that ``token_id`` was used at ``now``, when its stored last use (``last_used_at``, as
    :func:`check` read it) is unset or older than :data:`LAST_USED_PRECISION`; else nothing."""
    if last_used_at is not None and utc(now) - utc(last_used_at) < LAST_USED_PRECISION:
        return
    with store.begin() as c:
        c.execute(t.tokens.update().where(t.tokens.c.token_id == token_id).values(last_used_at=utc(now)))


FAILURES = "auth-failures"


def record_failure(store: Store, url_clinic: str, found: Checked, now: datetime) -> None:
    """Count a refused token: for the clinic whose URL was called (``*`` when no such clinic
    exists, so made-up clinic ids add no rows), and for the token itself when its id is known."""
    with store.begin() as c:
        known = CLINIC_RE.match(url_clinic or "") and c.execute(
            sa.select(t.clinics.c.clinic_id).where(t.clinics.c.clinic_id == url_clinic)).first()
        inbox.bump(c, url_clinic if known else "*", FAILURES, now)
        if found.token_clinic is not None:
            inbox.bump(c, found.token_clinic, f"{FAILURES}:{found.label}", now)


def failures(store: Store, clinic_id: str | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Refused-token counts: ``({clinic id: n}, {token id: n})``, for one clinic when given
    (``*`` collects the calls to clinics that do not exist)."""
    ct = t.counters
    q = sa.select(ct.c.clinic_id, ct.c.name, ct.c.value).where(
        sa.or_(ct.c.name == FAILURES, ct.c.name.like(f"{FAILURES}:%")))
    if clinic_id is not None:
        q = q.where(ct.c.clinic_id == clinic_id)
    by_clinic: dict[str, int] = {}
    by_token: dict[str, int] = {}
    with store.engine.connect() as c:
        for row in c.execute(q):
            if row.name == FAILURES:
                by_clinic[row.clinic_id] = row.value
            else:
                by_token[row.name.split(":", 1)[1]] = row.value
    return by_clinic, by_token


def revoke(store: Store, token_id: str, now: datetime, actor: str = "cli", clinic_id: str | None = None) -> None:
    """Revoke a token (it stops working at once, and the console sessions it opened end). With
    ``clinic_id``, only a token of that clinic."""
    tt = t.tokens
    with store.begin() as c:
        where = [tt.c.token_id == token_id]
        if clinic_id is not None:
            where.append(tt.c.clinic_id == clinic_id)
        row = c.execute(sa.select(tt.c.clinic_id, tt.c.revoked_at).where(*where)).first()
        if row is None:
            raise NotFound(f"no token {token_id!r}", token_id=token_id)
        if row.revoked_at is None:
            c.execute(tt.update().where(tt.c.token_id == token_id).values(revoked_at=utc(now)))
            c.execute(t.console_sessions.delete().where(t.console_sessions.c.token_id == token_id))
            store.audit(c, row.clinic_id, actor, "token.revoke", f"token:{token_id}", "ok", now)


def list_tokens(store: Store, clinic_id: str | None = None) -> list[dict]:
    """Every token (of one clinic, when given): id, clinic, role, name, created, last used (to the hour),
    revoked. Never a secret."""
    tt = t.tokens
    q = sa.select(tt.c.token_id, tt.c.clinic_id, tt.c.role, tt.c.name, tt.c.created_at, tt.c.revoked_at,
                  tt.c.last_used_at)
    if clinic_id is not None:
        q = q.where(tt.c.clinic_id == clinic_id)
    with store.engine.connect() as c:
        rows = c.execute(q.order_by(tt.c.clinic_id, tt.c.created_at, tt.c.token_id))
        return [{"token_id": r.token_id, "clinic_id": r.clinic_id, "role": r.role, "name": r.name,
                 "created_at": utc(r.created_at), "revoked_at": utc(r.revoked_at),
                 "last_used_at": utc(r.last_used_at)} for r in rows]

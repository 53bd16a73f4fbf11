"""API tokens: one clinic, one role, stored hashed, compared in constant time.

A token reads ``pp_<token_id>_<secret>``. The token id is public (it names the token in
lists, audit rows and ``revoke``); the secret is 32 random bytes and is shown once, at
creation. The store keeps only a SHA-256 digest of the whole token: with that much entropy
a slow password hash adds nothing but latency, and verification runs on every request.

Roles are ranked: ``viewer`` may read, ``admin`` may read and edit.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from progress_plugin import tables as t
from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.store import Store, utc

ROLES = ("viewer", "admin")          # ascending: each role may do what the ones before it may
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

    A clinic that does not exist yet is created with the default vocabulary.
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
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with store.begin() as c:
        store.ensure_clinic(clinic_id, now, conn=c)
        c.execute(t.tokens.insert().values(token_id=token_id, clinic_id=clinic_id, role=role, name=name,
                                           secret_hash=digest(token), created_at=utc(now)))
        store.audit(c, clinic_id, actor, "token.create", f"token:{token_id} role:{role}", "ok", now)
    return token_id, token


def verify(store: Store, token: str | None) -> Principal | None:
    """The principal of a valid, unrevoked token, else None. Constant-time on the secret."""
    match = TOKEN_RE.match(token or "")
    if match is None:
        return None
    tt = t.tokens
    with store.engine.connect() as c:
        row = c.execute(sa.select(tt.c.clinic_id, tt.c.role, tt.c.secret_hash, tt.c.revoked_at)
                        .where(tt.c.token_id == match.group(1))).first()
    stored = row.secret_hash if row is not None else _DUMMY
    same = hmac.compare_digest(stored.encode("ascii"), digest(token).encode("ascii"))
    if row is None or not same or row.revoked_at is not None or row.role not in ROLES:
        return None
    return Principal(match.group(1), row.clinic_id, row.role)


def revoke(store: Store, token_id: str, now: datetime, actor: str = "cli", clinic_id: str | None = None) -> None:
    """Revoke a token (it stops working at once). With ``clinic_id``, only a token of that clinic."""
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
            store.audit(c, row.clinic_id, actor, "token.revoke", f"token:{token_id}", "ok", now)


def list_tokens(store: Store, clinic_id: str | None = None) -> list[dict]:
    """Every token (of one clinic, when given): id, clinic, role, name, created, revoked. Never a secret."""
    tt = t.tokens
    q = sa.select(tt.c.token_id, tt.c.clinic_id, tt.c.role, tt.c.name, tt.c.created_at, tt.c.revoked_at)
    if clinic_id is not None:
        q = q.where(tt.c.clinic_id == clinic_id)
    with store.engine.connect() as c:
        rows = c.execute(q.order_by(tt.c.clinic_id, tt.c.created_at, tt.c.token_id))
        return [{"token_id": r.token_id, "clinic_id": r.clinic_id, "role": r.role, "name": r.name,
                 "created_at": utc(r.created_at), "revoked_at": utc(r.revoked_at)} for r in rows]

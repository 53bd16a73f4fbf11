"""What the store's browser sessions share (the admin console's and a SMART launch's): the cookie's
random id, the digest the row is keyed by, and keeping a found row live or deleting it.

The id is 32 random bytes (``secrets.token_urlsafe(32)``); the store keeps only its SHA-256 (the id
has that much entropy, so a keyed or slow hash adds nothing). ``seen_at`` is written at most once per
:data:`SEEN_PRECISION`, so a page load is a read, not a write, most of the time.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from progress_plugin.core.dates import utc
from progress_plugin.store import Store

#: ``seen_at`` is written at most this often per session.
SEEN_PRECISION = timedelta(minutes=1)
ID_CHARS = 43              # secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def well_formed(session_id: str | None) -> bool:
    """Whether a cookie's value can be a session id at all (anything else is not looked up)."""
    return bool(session_id) and len(session_id) == ID_CHARS


def keep(store: Store, table: sa.Table, key: str, seen_at: datetime, now: datetime, ended: bool) -> bool:
    """A found row: deleted when it has ``ended`` (False), else marked seen when ``seen_at`` is
    :data:`SEEN_PRECISION` old or more (True)."""
    if ended:
        with store.begin() as c:
            c.execute(table.delete().where(table.c.key == key))
        return False
    if utc(now) - utc(seen_at) >= SEEN_PRECISION:
        with store.begin() as c:
            c.execute(table.update().where(table.c.key == key).values(seen_at=utc(now)))
    return True

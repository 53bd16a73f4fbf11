"""Rendered progress panels, kept by what they are drawn from, and their ETags.

A panel is a pure function of the client's state, the day (the review's timing reads the
date), the audience, the language and the clinic's strain opt-in. The state is named by the
client's token in the store (:mod:`progress_plugin.store.client_versions`, which changes with
every write to it) and the clinic's vocabulary version; with the rest it makes the panel's
key, and the key makes its ETag. So:

- a request whose ``If-None-Match`` holds the key's ETag is answered ``304`` after reading
  one row, in any process of the service (the ETag is the same in each);
- a panel drawn once is kept in this process (at most :data:`MAX_ENTRIES`, least recently
  used first out) and answered again without loading or drawing anything;
- a client with no token yet (nothing written since the token table was made) is drawn
  every time, uncached.

The ETag also names this release's drawing code and catalogs, so a new release never
answers 304 for a panel an earlier one drew.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Callable

from progress_plugin.store import Store
from progress_plugin.store import client_versions

MAX_ENTRIES = 64


def _release() -> str:
    """A digest of the panel's drawing code and catalogs, read once per process."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted([*(root / "view").glob("*.py"), *(root / "lang" / "catalogs").rglob("*.mo")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class PanelCache:
    """Panels by key; thread-safe. A value is what the caller keeps for a key: the panel's HTML, or
    (the SMART app's) the HTML with whether the client has anything to show."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._kept: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._release: str | None = None

    def key(self, store: Store, clinic_id: str, client_id: str, now: datetime, *parts) -> str | None:
        """The panel's key (``parts``: what else it depends on, e.g. kind, audience, language,
        strain), or None when the client has no token yet."""
        with store.engine.connect() as conn:
            version = client_versions.read(conn, clinic_id, client_id)
        if version is None:
            return None
        if self._release is None:
            self._release = _release()
        return "|".join(map(str, (self._release, clinic_id, client_id, version, now.date().isoformat(), *parts)))

    @staticmethod
    def etag(key: str) -> str:
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def get(self, key: str | None) -> object | None:
        if key is None:
            return None
        with self._lock:
            body = self._kept.get(key)
            if body is not None:
                self._kept.move_to_end(key)
            return body

    def put(self, key: str | None, body: object) -> None:
        if key is None:
            return
        with self._lock:
            self._kept[key] = body
            self._kept.move_to_end(key)
            while len(self._kept) > self.max_entries:
                self._kept.popitem(last=False)

    def render(self, key: str | None, draw: Callable[[], object]) -> object:
        """The kept panel for ``key``, or ``draw()``'s, kept."""
        body = self.get(key)
        if body is None:
            body = draw()
            self.put(key, body)
        return body


#: The process's panels: the service's progress.html/.svg, the Canvas modal, the CDS link's shared
#: view and the in-process ``chart_panels`` hook (each under its own kind in the key).
panels = PanelCache()

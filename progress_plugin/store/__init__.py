"""The store: SQLAlchemy Core over a SQLite file by default, PostgreSQL when scaled out.

It keeps ids, codes, ratings and the client's goal words; never note text. The SQLite
file is created with mode 0600 because goals in the client's words are PHI.

:class:`Store` is the one object callers use. Its parts, one module each:

- :mod:`~progress_plugin.store.engine`: engines, connections, the schema's revision;
- :mod:`~progress_plugin.store.vocabularies`: clinics and vocabulary versions;
- :mod:`~progress_plugin.store.state`: loading a client's state for the core;
- :mod:`~progress_plugin.store.writes`: persisting the core's effects;
- :mod:`~progress_plugin.store.audit`: the audit log, purge and erasure.
"""
from __future__ import annotations

from progress_plugin.store.migrate import upgrade
from progress_plugin.store.audit import AuditStore
from progress_plugin.store.engine import DEFAULT_URL, make_engine
from progress_plugin.store.state import StateStore
from progress_plugin.store.writes import Writes


class Store(StateStore, Writes, AuditStore):
    """One clinic-scoped data store. Open with :meth:`open`; it migrates to the latest schema."""

    @classmethod
    def open(cls, url: str = DEFAULT_URL, migrate: bool = True) -> "Store":
        store = cls(make_engine(url))
        if migrate and not store.at_head():
            upgrade(store.engine)
        return store

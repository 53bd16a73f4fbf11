"""Runs the core against the store: load state, ``handle()``, persist the effects, in one transaction."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable

from progress_plugin.core import effects as fx
from progress_plugin.core import events as ev
from progress_plugin.core.handle import ClientState, handle
from progress_plugin.core.progress import Settings
from progress_plugin.service.clock import utcnow
from progress_plugin.store import Store


class Runtime:
    """The adapters' way into the core.

    ``on_effects(conn, effects, state)``, when given, runs inside the same transaction after the
    effects are persisted: the webhook worker uses it to write host-bound effects into
    the outbox, so an event is never half-applied.
    """

    def __init__(self, store: Store, settings: Settings = Settings(), clock: Callable[[], datetime] = utcnow,
                 on_effects: Callable | None = None,
                 readable_note_types: Callable[[str], frozenset[str] | None] | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.on_effects = on_effects
        #: clinic id -> the note types it lets the plugin read, or None for "any unprotected type"
        self.readable_note_types = readable_note_types or (lambda clinic_id: None)

    def state(self, clinic_id: str, client_id: str, conn=None) -> ClientState:
        return self._with_policy(self.store.load_state(clinic_id, client_id, self.settings, conn=conn))

    def _with_policy(self, state: ClientState) -> ClientState:
        readable = self.readable_note_types(state.clinic_id)
        return state if readable is None else replace(state, readable_note_types=frozenset(readable))

    def dispatch(self, event: ev.Event, actor: str | None = None, conn=None) -> list[fx.Effect]:
        if conn is None:
            with self.store.begin() as conn:
                return self.dispatch(event, actor, conn)
        now = self.clock()
        self.store.ensure_clinic(event.clinic_id, now, conn=conn)
        client_id = getattr(event, "client_id", "")
        state = self.state(event.clinic_id, client_id, conn) if client_id else self._with_policy(ClientState(
            event.clinic_id, "", self.store.vocabulary(event.clinic_id, conn=conn), settings=self.settings))
        effects = handle(event, state)
        who = actor or getattr(event, "author", None) or "host"
        self.store.apply_all(conn, effects, who, now)
        if self.on_effects is not None:
            self.on_effects(conn, effects, state)
        return effects

    def progress(self, clinic_id: str, client_id: str, audience: str = "therapist"):
        """The client's :class:`~progress_plugin.core.progress.Progress`, computed now."""
        (panel,) = handle(ev.PanelRequested(clinic_id, self.clock(), client_id, audience),
                          self.state(clinic_id, client_id))
        return panel.progress

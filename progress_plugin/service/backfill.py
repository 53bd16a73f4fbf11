"""Backfill: a clinic's historical notes through the host's paged search and the same core path.

Memory stays flat in the number of notes: one page is worked on while the next one is read
(two at most). After each page the next page's URL is checkpointed in the same transaction as
the page's effects, so a stopped backfill resumes where it stopped and never applies a page
twice. A page costs a handful of queries: the states of its clients are loaded together
(:meth:`Store.load_states`) and its effects written together (:meth:`Store.apply_all`). The
page's stored notes get one audit row together (``backfill.page``: how many, the first and
last note id); a rejected or refused note keeps an audit row of its own.
"""
from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Callable

from progress_plugin.core import effects as fx
from progress_plugin.fhir import inbound as fhir_events
from progress_plugin.fhir import writeback
from progress_plugin.store import checkpoints
from progress_plugin.core.handle import handle
from progress_plugin.store import Store

NAME = "backfill"


def checkpoint(store: Store, clinic_id: str) -> tuple[str | None, int]:
    """``(next page URL, notes done)``; the URL is None once the backfill has finished (or before it starts)."""
    with store.engine.connect() as c:
        return checkpoints.read(c, clinic_id, NAME)


def reset(store: Store, clinic_id: str) -> None:
    """Forget the checkpoint: the next run starts from the first page."""
    with store.begin() as c:
        checkpoints.clear(c, clinic_id, NAME)


def run(store: Store, client, clinic_id: str, now: Callable[[], datetime], *, page_size: int = 200,
        params: dict | None = None, write_back: bool = False, on_page: Callable[[int, int | None], None] | None = None,
        max_pages: int | None = None, readable_note_types=None) -> int:
    """Process every note page from the checkpoint on. Returns the notes processed in total (all runs).

    ``on_page(done, total)`` is called after each page (for a progress bar). ``max_pages``
    stops early (the checkpoint keeps the place). ``readable_note_types``: the clinic's list
    of note types the plugin may read (None: any unprotected type); other notes are refused.
    """
    store.ensure_clinic(clinic_id, now())
    next_url, done = checkpoint(store, clinic_id)
    if next_url is None and done:
        return done                           # finished before
    query = {"_count": str(page_size), "_elements": ",".join(fhir_events.NOTE_ELEMENTS), **(params or {})}
    pages = client.pages(next_url=next_url) if next_url else client.pages("DocumentReference", query)
    with _older_objects_left_alone():
        for n, (bundle, following) in enumerate(_ahead(pages), start=1):
            docs = [fhir_events.keep(e["resource"]) for e in bundle.get("entry") or []
                    if (e.get("resource") or {}).get("resourceType") == "DocumentReference"]
            with store.begin() as conn:
                _page(store, conn, clinic_id, docs, now(), write_back, readable_note_types)
                done += len(docs)
                checkpoints.save(conn, clinic_id, NAME, following, done, now())
            if on_page is not None:
                on_page(done, bundle.get("total"))
            if following is None or (max_pages is not None and n >= max_pages):
                break
    return done


@contextmanager
def _older_objects_left_alone():
    """While the pages run, the objects that were there before them (modules, statements,
    schemas: some 85,000) are out of the garbage collector's sight (``gc.freeze``); a page
    makes enough objects to start a collection every few notes, and scanning those took a
    sixth of a backfill's time. They are handed back to it afterwards. The young generation
    is collected every 20,000 new objects instead of 700 meanwhile (a page's objects go
    with their page: few of them are in cycles)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


YOUNG_OBJECTS = 20_000


def _ahead(items):
    """Yield from ``items`` while the next item is read on a second thread, so the host
    prepares the next page while this one is written."""
    with ThreadPoolExecutor(1, thread_name_prefix="backfill-read") as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item


_END = object()


def _page(store: Store, conn, clinic_id: str, docs: list[dict], now: datetime, write_back: bool,
          readable_note_types=None) -> None:
    by_client: dict[str, list] = {}
    for doc in docs:
        event = fhir_events.document_event(clinic_id, doc, now)
        if event is not None:
            by_client.setdefault(event.client_id, []).append(event)
    states = store.load_states(clinic_id, {cid: [e.note_id for e in events] for cid, events in by_client.items()},
                               conn=conn)
    written: list[fx.Effect] = []
    for client_id, events in by_client.items():
        state, notes = states[client_id], None
        if len(events) > 1 or readable_note_types is not None:    # a client's only note reads it as loaded
            notes = dict(state.notes)              # this page's view of the client's notes, kept current
            state = replace(state, notes=notes, readable_note_types=None if readable_note_types is None
                            else frozenset(readable_note_types))
        for event in events:
            effects = handle(event, state)
            written += effects
            for effect in effects if notes is not None else ():
                if isinstance(effect, fx.TagNote):
                    notes[effect.note.note_id] = effect.note
                elif isinstance(effect, fx.UntagNote):
                    notes.pop(effect.note_id, None)
            if write_back:
                writeback.enqueue(conn, effects, state.all_vocabularies(), now)
    store.apply_all(conn, written, "backfill", now, audit_tags=False)
    tagged = [e.note.note_id for e in written if isinstance(e, fx.TagNote)]
    if tagged:        # one row for the page's stored notes; rejections and refusals keep a row each
        store.audit(conn, clinic_id, "backfill", "backfill.page",
                    f"notes:{len(tagged)} first:{tagged[0]} last:{tagged[-1]}"[:300], "ok", now)

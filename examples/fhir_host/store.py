"""The host's resources, seeded notes and the write ledger.

Stored resources are never changed in place: every write stores a new dict, so a caller may
encode what it got back after releasing the lock.

The ledger counts, per resource type and logical key (first identifier, else canonical
url, else id), how often the content really changed (``writes``), how often a write left it
as it was (``noops``), how often it changed back to content seen before (``repeats``) and
``deletes``; for notes, which tags were added and how often.
"""
from __future__ import annotations

import threading

from examples.fhir_host.common import (ID_RE, NOTE_CATEGORY, NOTE_CONTENT, NOTE_TYPES,
                                       PROGRESS_NOTE, PSYCHOTHERAPY_NOTE, FHIRError, as_list,
                                       content_hash, logical_key, now_iso, tag_codes, version_of)
from examples.fhir_host.search import matches, parse_filters
from examples.fhir_host.seed import SeedSet


class Store:
    """Resources by type and id, plus seeds and the ledger. ``lock`` guards all of it."""

    def __init__(self, config: dict):
        self.config = config                  # shared with the app: reads "validate"
        self.lock = threading.RLock()
        self.clear_data()
        self.clear_ledger()

    def clear_data(self) -> None:
        with self.lock:
            self._data: dict[str, dict[str, dict]] = {}
            self._hash: dict[tuple[str, str], str] = {}
            self._ident: dict[tuple[str, str], set[str]] = {}
            self._gone: set[tuple[str, str]] = set()
            self._seen: dict[tuple[str, str], set[str]] = {}
            self.seeds: dict[str, SeedSet] = {}

    def clear_ledger(self) -> None:
        with self.lock:
            self._ledger: dict[str, dict[str, dict]] = {}
            self._tags: dict[str, dict] = {}

    def sizes(self) -> dict[str, int]:
        with self.lock:
            return {t: len(v) for t, v in self._data.items()}

    # -- reading ----------------------------------------------------------------------
    def _seeded(self, rtype: str, rid: str):
        """``(seed, index)`` when ``rid`` names a seeded note (or patient), else None."""
        if rtype not in ("DocumentReference", "Patient"):
            return None
        for seed in self.seeds.values():
            i = seed.index(rid) if rtype == "DocumentReference" else seed.patient_index(rid)
            if i is not None:
                return seed, i
        return None

    def get(self, rtype: str, rid: str) -> dict | None:
        """The current resource, or None (missing or deleted)."""
        with self.lock:
            found = self._data.get(rtype, {}).get(rid)
            if found is not None or (rtype, rid) in self._gone:
                return found
            seeded = self._seeded(rtype, rid)
            if seeded is None:
                return None
            seed, i = seeded
            return seed.current(i) if rtype == "DocumentReference" else seed.patient(i)

    def is_gone(self, rtype: str, rid: str) -> bool:
        with self.lock:
            if (rtype, rid) in self._gone:
                return True
            seeded = self._seeded(rtype, rid) if rtype == "DocumentReference" else None
            return seeded is not None and seeded[0].overlay.get(seeded[1], 0) is None

    def find(self, rtype: str, pairs: list[tuple[str, str]], limit: int = 2) -> list[dict]:
        """Stored resources matching a condition (conditional create, update, delete)."""
        filters = parse_filters(pairs)
        if not filters:
            raise FHIRError(400, "invalid", "a condition needs at least one search parameter")
        with self.lock:
            store = self._data.get(rtype, {})
            candidates = store.values()
            for name, values in filters:
                if name == "identifier" and len(values) == 1 and "|" in values[0] \
                        and not values[0].startswith("|"):
                    candidates = [store[i] for i in sorted(self._ident.get((rtype, values[0]), ()))
                                  if i in store]
                    break
            found = []
            for resource in candidates:
                if matches(resource, filters):
                    found.append(resource)
                    if len(found) >= limit:
                        break
            return found

    def select(self, rtype: str, filters, offset: int, count: int) -> tuple[int, list]:
        """``(total, page)`` over stored resources, then each seed's notes. A page item is a
        resource, or ``(seed, index)`` for a seeded note never written."""
        with self.lock:
            listed = [r for r in self._data.get(rtype, {}).values() if matches(r, filters)]
            seeded = []
            if rtype == "DocumentReference":
                for seed in self.seeds.values():
                    plan = seed.plan(filters)
                    skips = []
                    for i, current in seed.overlay.items():
                        position = plan.position(i)
                        now = current is not None and matches(current, filters)
                        if position is not None and not now:
                            skips.append(position)       # written so it no longer matches
                        elif now and position is None:
                            listed.append(current)       # written so it matches now
                    seeded.append((seed, plan, sorted(skips)))
            total = len(listed) + sum(plan.count - len(skips) for _, plan, skips in seeded)
            page = listed[offset:offset + count]
            offset = max(0, offset - len(listed))
            for seed, plan, skips in seeded:
                if len(page) >= count:
                    break
                size = plan.count - len(skips)
                if offset >= size:
                    offset -= size
                    continue
                page.extend(_seed_page(seed, plan, skips, offset, count - len(page)))
                offset = 0
            return total, page

    # -- writing ----------------------------------------------------------------------
    def seed(self, clinic: str, notes: int, patients: int = 100, start: str | None = None,
             protected_every: int = 0) -> dict:
        with self.lock:
            if notes == 0:
                self.seeds.pop(clinic, None)
                return {"clinic": clinic, "notes": 0}
            seed = SeedSet(clinic, notes, patients, start, protected_every)
            self.seeds[clinic] = seed
            return seed.describe()

    def commit(self, rtype: str, rid: str, body: dict, before: dict | None, *,
               bump: bool = True) -> tuple[dict, bool]:
        """Write ``body`` as the new state of ``rtype/rid``; returns ``(stored, changed)``.

        Unchanged content keeps the stored version and counts as a no-op. ``bump=False``
        keeps the version even when the content changes (``$meta-add``).
        """
        resource = {**body, "resourceType": rtype, "id": rid}
        with self.lock:
            if before is not None and self._hash_of(rtype, before) == content_hash(resource):
                self.record(rtype, before, before, changed=False)
                return before, False
            meta = dict(resource.get("meta") or {})
            if before is None:
                meta["versionId"], meta["lastUpdated"] = "1", now_iso()
            elif bump:
                meta["versionId"] = str(int(version_of(before) or 0) + 1)
                meta["lastUpdated"] = now_iso()
            else:
                old = before.get("meta") or {}
                meta["versionId"] = old.get("versionId", "1")
                meta["lastUpdated"] = old.get("lastUpdated", now_iso())
            resource["meta"] = meta
            self._validate(resource)
            self.put(rtype, rid, resource)
            self.record(rtype, before, resource, changed=True)
            return resource, True

    def delete(self, rtype: str, current: dict) -> None:
        with self.lock:
            self.put(rtype, current["id"], None)
            self.record(rtype, current, None, changed=True)

    def put(self, rtype: str, rid: str, resource: dict | None) -> None:
        """Store (with None: delete) a resource, uncounted. Seeded notes go to their overlay."""
        with self.lock:
            seeded = self._seeded(rtype, rid) if rtype == "DocumentReference" else None
            if seeded is not None:
                seed, i = seeded
                seed.overlay[i] = resource
                return
            store = self._data.setdefault(rtype, {})
            old = store.get(rid)
            if old is not None:
                for ident in _identifiers(old):
                    self._ident.get((rtype, ident), set()).discard(rid)
            if resource is None:
                store.pop(rid, None)
                self._hash.pop((rtype, rid), None)
                self._gone.add((rtype, rid))
                return
            self._gone.discard((rtype, rid))
            store[rid] = resource
            self._hash[(rtype, rid)] = content_hash(resource)
            for ident in _identifiers(resource):
                self._ident.setdefault((rtype, ident), set()).add(rid)

    def _hash_of(self, rtype: str, resource: dict) -> str:
        rid = resource.get("id")
        cached = self._hash.get((rtype, rid))
        if cached is not None and self._data.get(rtype, {}).get(rid) is resource:
            return cached
        return content_hash(resource)

    def _validate(self, resource: dict) -> None:
        if not self.config.get("validate"):
            return
        from fhir.resources.R4B import get_fhir_model_class
        try:
            model = get_fhir_model_class(resource["resourceType"])
        except KeyError:
            raise FHIRError(400, "invalid", f"unknown resource type {resource['resourceType']}") from None
        try:
            model.model_validate(resource)
        except Exception as exc:  # pydantic's ValidationError; report paths only, never values
            errors = getattr(exc, "errors", lambda: [])()
            where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type')}"
                              for e in errors[:10]) or exc.__class__.__name__
            raise FHIRError(422, "invariant",
                            f"not a valid {resource['resourceType']}: {where}") from None

    # -- the ledger -------------------------------------------------------------------
    def record(self, rtype: str, before: dict | None, after: dict | None, *, changed: bool) -> None:
        """Count one write: ``changed`` False is a no-op, ``after`` None a delete."""
        with self.lock:
            subject = after if after is not None else before
            key = logical_key(subject)
            rec = self._ledger.setdefault(rtype, {}).setdefault(key, {
                "ids": [], "writes": 0, "noops": 0, "repeats": 0, "deletes": 0, "version": None})
            if subject["id"] not in rec["ids"]:
                rec["ids"].append(subject["id"])
            seen = self._seen.setdefault((rtype, key), set())
            if before is not None:
                seen.add(self._hash_of(rtype, before))
            if after is None:
                rec["deletes"] += 1
                rec["version"] = None
            elif not changed:
                rec["noops"] += 1
            else:
                digest = self._hash_of(rtype, after)
                rec["writes"] += 1
                if before is not None and digest in seen:
                    rec["repeats"] += 1
                seen.add(digest)
                rec["version"] = version_of(after)
            if rtype in NOTE_TYPES:
                entry = self._tags.setdefault(f"{rtype}/{subject['id']}", {"codes": [], "adds": {}})
                had = set(tag_codes(before))
                for code in tag_codes(after):
                    if code not in had:
                        entry["adds"][code] = entry["adds"].get(code, 0) + 1
                entry["codes"] = tag_codes(after)

    def ledger(self) -> dict:
        """``writes``, ``totals``, ``duplicates`` and ``tags`` (see the package docs)."""
        with self.lock:
            totals: dict[str, dict] = {}
            duplicates = []
            for rtype, records in self._ledger.items():
                sums = totals.setdefault(rtype, {"resources": 0, "writes": 0, "noops": 0,
                                                 "repeats": 0, "deletes": 0})
                for key, rec in records.items():
                    sums["resources"] += 1
                    for field in ("writes", "noops", "repeats", "deletes"):
                        sums[field] += rec[field]
                    reasons = [r for r, bad in (("noop", rec["noops"]), ("repeat", rec["repeats"]),
                                                ("several-ids", len(rec["ids"]) > 1)) if bad]
                    if reasons:
                        duplicates.append({"type": rtype, "key": key, "reasons": reasons,
                                           **{k: rec[k] for k in ("ids", "writes", "noops",
                                                                  "repeats")}})
            return {"writes": self._ledger, "totals": totals, "duplicates": duplicates,
                    "tags": self._tags}

    # -- the platform's own data ------------------------------------------------------
    def register_notes(self, notes: list[dict]) -> int:
        """Add notes (DocumentReference + Patient) as the platform's own data, uncounted."""
        made = 0
        with self.lock:
            for note in notes:
                if not isinstance(note, dict):
                    raise FHIRError(400, "invalid", "each note is an object")
                note_id, client_id = note.get("note_id"), note.get("client_id")
                for value in (note_id, client_id):
                    if not isinstance(value, str) or not ID_RE.match(value):
                        raise FHIRError(400, "invalid", "note_id and client_id must be FHIR ids")
                self._ensure_patient(client_id)
                if self.get("DocumentReference", note_id) is None:
                    kind = (PSYCHOTHERAPY_NOTE if note.get("note_type") == "psychotherapy-note"
                            else PROGRESS_NOTE)
                    self.put("DocumentReference", note_id, _own("DocumentReference", note_id, {
                        "status": "current", "docStatus": "preliminary", "type": kind,
                        "category": NOTE_CATEGORY, "subject": {"reference": f"Patient/{client_id}"},
                        "date": note.get("date") or now_iso(), "content": NOTE_CONTENT}))
                    made += 1
        return made

    def register_events(self, events: list[dict]) -> int:
        """Register the notes and clients that webhook envelopes name."""
        notes, clients = [], []
        for event in events:
            data = event.get("data") if isinstance(event, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("client_id"), str):
                continue
            if isinstance(data.get("note_id"), str):
                notes.append({"note_id": data["note_id"], "client_id": data["client_id"],
                              "note_type": data.get("note_type"), "date": data.get("session_at")})
            else:
                clients.append(data["client_id"])
        with self.lock:
            for client_id in clients:
                if ID_RE.match(client_id):
                    self._ensure_patient(client_id)
            return self.register_notes(notes)

    def _ensure_patient(self, client_id: str) -> None:
        if self.get("Patient", client_id) is None:
            self.put("Patient", client_id, _own("Patient", client_id, {"active": True}))


def _identifiers(resource: dict) -> list[str]:
    return [f"{i.get('system', '')}|{i['value']}" for i in as_list(resource.get("identifier"))
            if isinstance(i, dict) and i.get("value")]


def _own(rtype: str, rid: str, fields: dict) -> dict:
    return {"resourceType": rtype, "id": rid, "meta": {"versionId": "1", "lastUpdated": now_iso()},
            **fields}


def _seed_page(seed, plan, skips: list[int], offset: int, limit: int) -> list:
    position = offset
    for skipped in skips:                  # the offset-th position that is not skipped
        if skipped <= position:
            position += 1
        else:
            break
    skip = set(skips)
    out = []
    while len(out) < limit and position < plan.count:
        if position not in skip:
            i = plan.at(position)
            out.append(seed.overlay[i] if i in seed.overlay else (seed, i))
        position += 1
    return out

"""A small in-memory FHIR R4 host for end-to-end tests, fault drills and benchmarks.

It plays the notes platform: it answers the plugin's FHIR calls, counts every write, can
misbehave on request, serves a million synthetic notes without holding them, and sends
signed webhooks.

    python -m examples.fhir_host --port 0        # first stdout line: "listening 127.0.0.1:PORT"

The FHIR base is ``http://127.0.0.1:PORT/fhir``. In a test process::

    with running(meta_add=False) as host:        # a thread, an ephemeral port
        client = FHIRClient(host.base_url)
        host.stats()["writes"]["Goal"]

``make_app()`` returns the WSGI app; it also runs under werkzeug's ``make_server`` (which
closes every connection: use :func:`serve` when keep-alive matters, as in benchmarks).
``start_process()`` runs it as a child process; ``Control(url)`` drives any running host.

Modules: ``app`` (WSGI app, FHIR interactions), ``store`` (resources and the write ledger),
``search``, ``patch`` (JSON Patch), ``seed`` (synthetic notes), ``faults``, ``control`` (the
``/__`` endpoints), ``server`` (keep-alive server and handles), ``__main__`` (command line).

**FHIR subset.** ``GET metadata``; create (``POST``, conditional with ``If-None-Exist``);
read (``_elements`` honoured); vread of the current version; update (``PUT Type/id``,
update-as-create, ``If-Match``); conditional update ``PUT Type?identifier=system|value``;
``PATCH`` with JSON Patch including ``test`` (a failed test is a 400; ``If-Match`` is
honoured); ``POST Type/id/$meta-add`` (switchable: off answers 404 like a server without
it); ``DELETE`` (also conditional); search by ``_id``, ``identifier``, ``_tag``, ``subject``,
``patient``, ``url``, ``version``, ``status``, ``lifecycle-status``, ``achievement-status``,
``code``, ``type``, ``category``, ``derived-from``, ``focus``, ``_lastUpdated`` and ``date``
(prefixes eq, gt, ge, lt, le), with ``_count`` + ``_offset`` paging and ``self``/``next``
links, ``_elements``, ``_summary=count``. Unknown search parameters are a 400. Errors are
OperationOutcomes. ``ETag``, ``Location``, ``Content-Location`` and ``Last-Modified`` come
from ``meta``. ``meta.versionId`` counts 1, 2, ... and moves only when content changes; a
write that leaves the content as it was keeps the version (and is counted as a no-op).
``$meta-add`` changes tags without a new version, as FHIR servers commonly do. Resources are
not validated unless ``validate=True`` (``fhir.resources`` R4B models).

**Control API** (never counted, never faulted), JSON in and out:

* ``GET /__stats``: ``total``; ``counts`` per ``"METHOD pattern"`` (``"PUT Goal"``,
  ``"GET Goal/:id"``, ``"POST DocumentReference/:id/$meta-add"``); ``statuses`` per pattern;
  ``log`` (the last requests, each with method, pattern, path, idempotency_key, if_match,
  request_id, status and fault); ``methods`` (method, then resource type, then count);
  ``writes`` (resource type, then logical key: the first identifier ``system|value``, else
  canonical ``url|version``, else the id; each with ``ids``, ``writes`` = content changes,
  ``noops`` = writes that left the content as it was, ``repeats`` = changes back to content
  seen before, ``deletes``, ``version``); ``totals`` per type; ``duplicates`` (every key with
  a no-op, a repeat or several ids); ``tags`` (``"DocumentReference/<id>"``: current
  ``codes`` and ``adds`` per code, the times it went from absent to present); ``seeds``;
  ``config``; ``rss_bytes`` and ``pid`` of the server process.
* ``POST /__reset``: clears counters, the log, the write ledger and pending faults; with
  ``{"data": true}`` also every resource and seed.
* ``POST /__faults``: one spec or a list, for the next matching FHIR requests:
  ``{"status": 503, "count": 5}``, ``{"status": 429, "retry_after": 1, "count": 2}``,
  ``{"reset": true}`` (the connection is dropped without an answer), ``{"status": 409}``,
  ``{"delay_ms": 500}``. Options: ``method``; ``path`` (a prefix of the path under the FHIR
  base, e.g. ``"Goal"``); ``count`` (default 1); ``seconds`` (the fault holds for that long,
  for every matching request unless ``count`` is also given); ``after: true`` (the request is
  carried out first, then the answer is replaced: a write whose response is lost).
  ``GET /__faults`` lists what is pending; ``DELETE /__faults`` clears it.
* ``POST /__seed``: ``{"clinic": "c1", "patients": 1000, "notes": 1000000}`` (optional
  ``start``, ``protected_every``) makes that many DocumentReferences searchable and readable
  without storing them: each is computed from its index. Ids ``<clinic>-n<i>``, subjects
  ``Patient/<clinic>-p<i % patients>``, dates rising with the index, tags from the default
  vocabulary. Writes to a seeded note are kept as an overlay. ``"notes": 0`` removes the
  clinic's seed. ``GET /__seed`` lists seeds.
* ``POST /__notes``: ``{"notes": [{"note_id", "client_id", "note_type"?}]}`` registers notes
  (DocumentReference + Patient) as the platform's own data, outside the write counts.
* ``POST /__send``: ``{"url", "secret", "events": [envelopes], "duplicate_every",
  "shuffle_seed", "shuffle_window", "ids", "scheme", "max_attempts", "concurrency",
  "register" (default true: register the events' notes first), "wait" (default true)}``
  posts the events signed with Standard Webhooks and answers each delivery's outcome. With
  ``"wait": false`` it answers ``{"job": id}`` at once; ``GET /__send/<id>`` reports.
* ``GET|POST /__config``: ``{"meta_add": bool, "idempotency": bool, "validate": bool}``.
  With ``idempotency`` a write repeating an ``Idempotency-Key`` gets the first answer again.

Synthetic notes carry a dummy ``content`` attachment (:data:`NOTE_TEXT`) and nothing else
that is note text; the plugin must never read or keep it.
"""
from examples.fhir_host.app import DROPPED, FHIRHost, make_app
from examples.fhir_host.common import NOTE_CONTENT, NOTE_TEXT, FHIRError, content_hash, logical_key
from examples.fhir_host.patch import PatchError, PatchTestFailed, apply_patch
from examples.fhir_host.search import elements_only, matches, parse_filters
from examples.fhir_host.seed import Plan, SeedSet
from examples.fhir_host.server import (Control, Host, HostProcess, KeepAliveServer, running, serve,
                                       start, start_process)

__all__ = ["DROPPED", "FHIRHost", "make_app", "NOTE_CONTENT", "NOTE_TEXT", "FHIRError",
           "content_hash", "logical_key", "PatchError", "PatchTestFailed", "apply_patch",
           "elements_only", "matches", "parse_filters", "Plan", "SeedSet", "Control", "Host",
           "HostProcess", "KeepAliveServer", "running", "serve", "start", "start_process"]

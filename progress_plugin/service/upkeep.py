"""What a worker does besides its queues: it counts, and it prunes on a schedule.

**Counts for /metrics.** Claims per queue and host errors (by HTTP status class and error code)
are counted in the worker's memory and added to the store's ``counters`` (clinic ``*``) every
:data:`FLUSH_SECONDS` and when the worker stops: workers run on many machines and the web
processes that answer ``/metrics`` cannot see into them, so the store is where every process's
counts meet (one short UPDATE per name every ten seconds, not one per claim). A worker killed
with kill -9 loses at most the last ten seconds of its counts.

**Prune.** Every ``[retention] prune_every_minutes`` (by the worker's clock, and once at start)
the worker runs :func:`progress_plugin.store.retention.prune`, which also makes the PostgreSQL
partitions ahead. Several workers may prune at once: partition DDL is serialised in the store
and batched deletes of the same rows simply find fewer.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta

from progress_plugin.store import inbox, retention

log = logging.getLogger(__name__)

FLUSH_SECONDS = 10.0


def host_error(exc: BaseException) -> str:
    """The counter of a host error: ``host-errors:<status class>:<error code>``, e.g.
    ``host-errors:5xx:HostUnavailable``; ``none`` when no answer came (a timeout, a refused connection)."""
    status = getattr(exc, "status_code", None)
    kind = f"{status // 100}xx" if isinstance(status, int) else "none"
    return f"host-errors:{kind}:{exc.__class__.__name__}"[:100]


class Upkeep:
    def __init__(self, store, config, clock):
        self.store, self.config, self.clock = store, config, clock
        self.counts: Counter = Counter()
        self._flushed = time.monotonic()
        self._pruned_at = None           # by the worker's clock: None until the first run

    def count(self, name: str, n: int = 1) -> None:
        if n:
            self.counts[name] += n

    def tick(self) -> None:
        """Called by the worker's loop: add the counts when due, prune when due."""
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()
        every = self.config.retention.prune_every_minutes
        now = self.clock()
        if every and (self._pruned_at is None or now - self._pruned_at >= timedelta(minutes=every)):
            self._pruned_at = now
            self.prune(now)

    def prune(self, now) -> retention.Pruned | None:
        try:
            done = retention.prune(self.store.engine, now, self.config.retention)
        except Exception as exc:         # a failed prune must not stop the worker: the next one tries again
            log.warning("prune failed error=%s", exc.__class__.__name__)
            return None
        log.info("prune done inbox=%s outbox=%s partitions_dropped=%s seconds=%.2f", done.rows.get("inbox"),
                 done.rows.get("outbox"), len(done.dropped), done.seconds)
        return done

    def flush(self) -> None:
        """Add the counts to the store's counters and start again from zero (kept when the store fails)."""
        self._flushed = time.monotonic()
        counts, self.counts = self.counts, Counter()
        if not counts:
            return
        try:
            with self.store.begin() as conn:
                for name, n in sorted(counts.items()):
                    inbox.bump(conn, retention.STORE_WIDE, name, self.clock(), n)
        except Exception as exc:
            self.counts.update(counts)
            log.warning("counts not recorded error=%s", exc.__class__.__name__)

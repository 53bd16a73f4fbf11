"""``GET /metrics``: the store's health in Prometheus text format, for a metrics token only.

Made with ``prometheus_client`` (a collector builds each family at scrape time; nothing is
hand-written). Every figure comes from the store, never from this process's memory:

- gauges read when scraped (:mod:`progress_plugin.store.depth`): inbox and outbox rows by state,
  the oldest pending row's age, dead letters, rows outside every partition and how far ahead the
  partitions reach (PostgreSQL);
- counters the workers and prune runs add to the store (:mod:`progress_plugin.service.upkeep`,
  :mod:`progress_plugin.store.retention`): claims, host errors, prune runs and rows removed.

So gunicorn's worker processes, and every machine, answer the same, with no
``prometheus_client`` multiprocess directory: that mode would only gather the processes of
one machine, and the claims and host errors happen in ``progress-plugin worker`` processes that
serve no HTTP at all.

The token: ``progress-plugin tokens create-metrics --name prometheus`` makes a token of its own
kind (role ``metrics``, no clinic), which opens ``/metrics`` and nothing else; no clinic token
opens ``/metrics``. Prometheus sends it as ``authorization: {credentials: ...}`` (Bearer).
"""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from progress_plugin.store import depth, retention
from progress_plugin.web import auth
from progress_plugin.web.context import services

blueprint = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
P = "progress_plugin_"


@blueprint.get("/metrics")
def metrics():
    auth.authenticate_metrics()
    svc = services()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(svc.store, svc.clock))
    response = Response(generate_latest(registry), mimetype="text/plain")
    response.headers["Content-Type"] = CONTENT_TYPE
    response.headers["Cache-Control"] = "no-store"
    return response


class StoreCollector:
    """One scrape's metric families, read from the store."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock

    def collect(self):
        now = self.clock()
        found = depth.read(self.store.engine, now)
        counts = retention.figures(self.store.engine)

        rows = {name: GaugeMetricFamily(f"{P}{name}_rows", f"{name.capitalize()} rows by state (done: an "
                                        "estimate on PostgreSQL).", labels=["state"]) for name in depth.QUEUES}
        for (name, state), n in sorted(found.rows.items()):
            rows[name].add_metric([state], n)
        yield from rows.values()
        oldest = GaugeMetricFamily(f"{P}oldest_pending_seconds", "Age of the oldest pending row (0: none).",
                                   labels=["queue"])
        for name, seconds in found.oldest_pending.items():
            oldest.add_metric([name], seconds)
        yield oldest
        dead = GaugeMetricFamily(f"{P}dead_letters", "Rows set aside for a person: failed inbox rows, dead "
                                 "outbox rows.", labels=["queue"])
        dead.add_metric(["inbox"], found.rows[("inbox", "failed")])
        dead.add_metric(["outbox"], found.rows[("outbox", "dead")])
        yield dead
        if found.outside:
            outside = GaugeMetricFamily(f"{P}rows_outside_partitions", "Rows in a default partition (PostgreSQL; "
                                        f"counted up to {depth.OUTSIDE_CAP}).", labels=["table"])
            ahead = GaugeMetricFamily(f"{P}partitions_ahead_seconds", "How far ahead of now the last partition "
                                      "ends (PostgreSQL).", labels=["table"])
            for name in found.outside:
                outside.add_metric([name], found.outside[name])
                ahead.add_metric([name], found.ahead[name])
            yield outside
            yield ahead

        claims = CounterMetricFamily(f"{P}claims", "Rows claimed by workers.", labels=["queue"])
        errors = CounterMetricFamily(f"{P}host_errors", "Host errors by HTTP status class and error code.",
                                     labels=["status_class", "code"])
        removed = CounterMetricFamily(f"{P}prune_rows_removed", "Rows removed by prune runs.", labels=["table"])
        for name, value in sorted(counts.items()):
            kind, _, rest = name.partition(":")
            if kind == "claims":
                claims.add_metric([rest], value)
            elif kind == "host-errors":
                status_class, _, code = rest.partition(":")
                errors.add_metric([status_class, code], value)
            elif name.startswith("prune:rows:"):
                removed.add_metric([name.split(":", 2)[2]], value)
        for queue in depth.QUEUES:
            if f"claims:{queue}" not in counts:
                claims.add_metric([queue], 0)
        yield from (claims, errors, removed)
        yield CounterMetricFamily(f"{P}prune_runs", "Prune runs (inbox and outbox).", value=counts.get("prune:runs", 0))
        yield CounterMetricFamily(f"{P}audit_prune_runs", "Audit log prune runs.",
                                  value=counts.get("prune:audit:runs", 0))
        yield CounterMetricFamily(f"{P}audit_prune_rows_removed", "Audit rows removed.",
                                  value=counts.get("prune:audit:rows", 0))
        yield GaugeMetricFamily(f"{P}prune_last_run_timestamp_seconds", "When the last prune ran (0: never).",
                                value=counts.get("prune:last-at", 0))
        yield GaugeMetricFamily(f"{P}prune_last_duration_seconds", "How long the last prune took.",
                                value=counts.get("prune:last-ms", 0) / 1000)

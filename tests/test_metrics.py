"""``GET /metrics`` scraped over real HTTP and read with prometheus_client's own parser."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from progress_plugin.errors import HostAPIError, HostUnavailable
from progress_plugin.service.retention_settings import RetentionConfig
from progress_plugin.service.settings import ServiceConfig
from progress_plugin.service.upkeep import Upkeep, host_error
from progress_plugin.store import inbox, outbox, retention, tokens
from progress_plugin.store import tables as t
from tests.conftest import NOW
from tests.serving import serving


@pytest.fixture
def served(store, app_factory):
    with serving(app_factory(store, clock=lambda: NOW)) as base:
        yield base


def scrape(base: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}/metrics", headers=headers, timeout=10)


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} from the Prometheus text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_cover_depth_age_dead_letters_claims_host_errors_and_prune_runs(store, served):
    store.ensure_clinic("clinic-a", NOW)
    with store.begin() as c:
        for i, (status, age) in enumerate([("pending", 2), ("pending", 1), ("pending", 0), ("done", 3), ("done", 3),
                                           ("failed", 5)]):
            inbox.put(c, "clinic-a", f"e{i}", "note.saved", {}, NOW - timedelta(hours=age))
            c.execute(t.inbox.update().where(t.inbox.c.event_id == f"e{i}").values(status=status))
        outbox.put(c, [("clinic-a", "c1", f"k{i}", "goal", {}) for i in range(4)], NOW - timedelta(minutes=30))
        c.execute(t.outbox.update().where(t.outbox.c.key == "k0").values(status="dead"))
        c.execute(t.outbox.update().where(t.outbox.c.key == "k1").values(status="done"))
    cfg = ServiceConfig(store_url="", retention=RetentionConfig())
    for process in range(2):                   # two workers' counts meet in the store
        upkeep = Upkeep(store, cfg, lambda: NOW)
        upkeep.count("claims:inbox", 5)
        upkeep.count("claims:outbox", 2)
        upkeep.count(host_error(HostUnavailable("down", status_code=503)))
        upkeep.count(host_error(HostAPIError("refused", status_code=422)))
        upkeep.flush()
    retention.prune(store.engine, NOW, RetentionConfig())
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE inbox")
            c.exec_driver_sql("ANALYZE outbox")
    _, token = tokens.create_metrics(store, "prometheus", NOW)

    answer = scrape(served, token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)
    value = lambda name, **labels: found[(name, tuple(sorted(labels.items())))]   # noqa: E731
    assert value("progress_plugin_inbox_rows", state="pending") == 3
    assert value("progress_plugin_inbox_rows", state="failed") == 1
    assert value("progress_plugin_inbox_rows", state="done") == 2
    assert value("progress_plugin_outbox_rows", state="pending") == 2
    assert value("progress_plugin_outbox_rows", state="dead") == 1
    assert value("progress_plugin_oldest_pending_seconds", queue="inbox") == 7200
    assert value("progress_plugin_oldest_pending_seconds", queue="outbox") == 1800
    assert value("progress_plugin_dead_letters", queue="outbox") == 1
    assert value("progress_plugin_dead_letters", queue="inbox") == 1
    assert value("progress_plugin_claims_total", queue="inbox") == 10
    assert value("progress_plugin_claims_total", queue="outbox") == 4
    assert value("progress_plugin_host_errors_total", status_class="5xx", code="HostUnavailable") == 2
    assert value("progress_plugin_host_errors_total", status_class="4xx", code="HostAPIError") == 2
    assert value("progress_plugin_prune_runs_total") == 1
    assert value("progress_plugin_prune_rows_removed_total", table="inbox") == 0
    assert value("progress_plugin_prune_last_run_timestamp_seconds") == NOW.timestamp()
    assert ("progress_plugin_prune_last_duration_seconds", ()) in found
    assert value("progress_plugin_audit_prune_runs_total") == 0
    if store.dialect == "postgresql":
        assert value("progress_plugin_rows_outside_partitions", table="inbox") == 0   # the prune made them
        assert value("progress_plugin_partitions_ahead_seconds", table="inbox") >= 27 * 86400
    else:
        assert not any(name.startswith("progress_plugin_partitions") for name, _ in found)
    # the scrape reads the store each time
    with store.begin() as c:
        inbox.put(c, "clinic-a", "e-later", "note.saved", {}, NOW)
    assert samples(scrape(served, token).text)[("progress_plugin_inbox_rows", (("state", "pending"),))] == 4


def test_only_a_metrics_token_opens_metrics_and_it_opens_nothing_else(store, served):
    store.ensure_clinic("clinic-a", NOW)
    _, admin = tokens.create(store, "clinic-a", "admin", "manager", NOW)
    metrics_id, metrics = tokens.create_metrics(store, "prometheus", NOW)
    for token in (None, admin, "pp_0123456789abcdef_" + "x" * 43, metrics[:-1] + ("B" if metrics.endswith("A") else "A")):
        answer = scrape(served, token)
        assert answer.status_code == 401, (token, answer.status_code)
        assert "progress_plugin_" not in answer.text
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert scrape(served, metrics).status_code == 200
    panel = requests.get(f"{served}/clinics/clinic-a/summary.json", headers={"Authorization": f"Bearer {metrics}"},
                         timeout=10)
    assert panel.status_code == 401                     # a metrics token reads no clinic's data
    listed = {r["token_id"]: r for r in tokens.list_tokens(store)}
    assert listed[metrics_id]["role"] == "metrics" and listed[metrics_id]["clinic_id"] == "*"
    tokens.revoke(store, metrics_id, NOW)
    assert scrape(served, metrics).status_code == 401
    with store.engine.connect() as c:
        refused = c.execute(sa.select(t.counters.c.value).where(t.counters.c.clinic_id == "*",
                                                                 t.counters.c.name == "auth-failures")).scalar()
    assert refused == 4                                  # every token presented and refused (not the bare 401)


def test_tokens_create_metrics_command(sqlite_url):
    from click.testing import CliRunner
    from progress_plugin.cli.main import main
    made = CliRunner().invoke(main, ["--store", sqlite_url, "tokens", "create-metrics", "--name", "prometheus"])
    assert made.exit_code == 0, made.output
    assert "(metrics)" in made.output and tokens.TOKEN_RE.match(made.output.strip().splitlines()[-1])
    listed = CliRunner().invoke(main, ["--store", sqlite_url, "tokens", "list"])
    assert "metrics" in listed.output and "prometheus" in listed.output

"""Soak: the service, two workers, the example notes host and the command line share one store
for a bounded time, while processes are killed -9 at random moments and started again.

How it runs and what it checks is in tests/soak.py. Each run writes its figures to
tests/artifacts/soak-<backend>.json and prints a one-line summary. ``SOAK_ROUNDS`` sets how many
rounds of kills there are (default 2; a round kills the service, one of its gunicorn workers,
each worker and the notes host once, about 1.6 s apart, so about 25 s per backend in all).
"""
from __future__ import annotations

import json
import os

import pytest

from examples import fhir_host
from tests import soak
from tests.conftest import SECRET

ROUNDS = int(os.environ.get("SOAK_ROUNDS", "2"))
SEED = 20261202


@pytest.fixture
def host():
    with fhir_host.running() as handle:
        yield handle


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc (process children, open files)")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_acknowledged_write_survives_kill_9_once_and_the_store_stays_sound(
        backend, request, tmp_path, host, artifacts_dir, record_property):
    store_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    run = soak.Soak(tmp_path, store_url, host, SECRET, seed=SEED)
    try:
        result = run.run(ROUNDS)
    finally:
        for p in run.procs:
            p.stop()
    line = soak.summary_line(result)
    (artifacts_dir / f"soak-{backend}.json").write_text(json.dumps({"summary": line, **result}, indent=2,
                                                                   default=str))
    record_property("soak", line)
    print("\n" + line)

    assert result["driver_errors"] == []
    assert result["integrity"] == "ok"
    assert result["missing"] == {k: [] for k in result["missing"]}, result["missing"]
    assert result["duplicated"] == {k: 0 for k in result["duplicated"]}, result["duplicates"]
    assert result["present"] == result["acknowledged"]
    assert result["server_errors"] == [], result["server_errors"]
    assert result["refused"] == [], result["refused"]
    assert result["cli_failures"] == [], result["cli_failures"]
    assert result["deleted_wal"] == [], result["deleted_wal"]
    assert {name: p["crashed"] for name, p in result["processes"].items()} == \
        {name: [] for name in result["processes"]}
    assert set(result["inbox"]) == {"done"}, result["inbox"]
    assert set(result["outbox"]) == {"done"}, result["outbox"]
    # the run did what it is for: every kind of write acknowledged, every kind of process killed -9
    assert all(n > 0 for n in result["acknowledged"].values()), result["acknowledged"]
    assert {k: v for k, v in result["kills"].items() if k != "cli run"} == \
        {"service": ROUNDS, "service worker": ROUNDS, "worker": 2 * ROUNDS, "notes host": ROUNDS}

"""`progress-plugin check` and `serve` as a user runs them."""
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from progress_plugin.cli import main

from tests import e2e
from tests.conftest import SECRET
from tests.pg import free_port


def test_check_passes_against_a_real_fhir_server(tmp_path, medplum):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", medplum.base_url, SECRET)
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert "ok   clinic clinic-a: scheme standard-webhooks" in result.output
    assert "ok   host:" in result.output and "FHIR 4.0.1" in result.output


def test_check_fails_and_says_why(tmp_path):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", f"http://127.0.0.1:{free_port()}/fhir", SECRET)
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and "FAIL host: GET /fhir/metadata: ConnectionError" in result.output
    config.write_text(config.read_text().replace(SECRET, "whsec_c2hvcnQ="))
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and "FAIL config" in result.output and "24 or more are required" in result.output


def test_serve_runs_the_service_and_the_embedded_worker(tmp_path, medplum, signed):
    config = e2e.write_config(tmp_path, f"sqlite:///{tmp_path}/p.db", medplum.base_url, SECRET)
    config.write_text(config.read_text().replace("embedded = false", "embedded = true"))
    port = free_port()
    exe = Path(sys.executable).with_name("progress-plugin")
    proc = subprocess.Popen([str(exe), "--config", str(config), "serve", "--port", str(port)], cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        headers, body = signed("intake.submitted", {
            "client_id": "serve-1", "author": "t1", "at": "2026-01-05T10:00:00Z",
            "intake": {"goals": [{"words": "x", "whose": "client", "baseline": 2}], "review_cadence": "monthly",
                       "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True}})
        assert requests.post(base + "/webhooks/clinic-a", data=body, headers=headers, timeout=5).status_code == 202
        drained = e2e.wait_drained(f"sqlite:///{tmp_path}/p.db", timeout=30)
        assert drained["inbox"] == {"done": 1} and drained["outbox"] == {"done": 4}
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0

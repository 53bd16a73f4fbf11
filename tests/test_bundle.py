"""hooks/ carries the host install bundle, generated from the code."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin.hosts import bundle
from progress_plugin.hosts import artifacts as export
from progress_plugin.web import webhooks as receiver
from progress_plugin.cli.main import main

HOOKS = Path(__file__).resolve().parent.parent / "hooks"


def test_bundle_is_in_sync_with_the_code():
    assert export.stale(HOOKS, bundle.artifacts()) == []


@pytest.mark.parametrize("rel", sorted(r for r in bundle.artifacts() if r.startswith("fhir/")))
def test_fhir_bundle_resources_validate(rel):
    data = json.loads((HOOKS / rel).read_text())
    get_fhir_model_class(data["resourceType"]).model_validate(data)


def test_subscriptions_are_id_only_rest_hooks_with_a_bearer_header():
    for name in bundle.TOPICS:
        sub = bundle.subscription(name)
        assert sub["channel"]["type"] == "rest-hook"
        assert sub["channel"]["_payload"]["extension"][0]["valueCode"] == "id-only"
        assert sub["channel"]["header"][0].startswith("Authorization: Bearer ")
        assert sub["criteria"] == bundle.topic(name)["url"]


def test_manifest_lists_every_event_the_receiver_accepts_with_an_existing_schema():
    manifest = json.loads((HOOKS / "webhooks" / "manifest.json").read_text())
    assert set(manifest["events"]) == set(receiver.ENVELOPE_TYPES)
    root = HOOKS.parent
    for spec in manifest["events"].values():
        assert (root / spec["data_schema"]).is_file()


def test_bundle_check_command_detects_drift(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["bundle", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(main, ["bundle", "--out", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "webhooks" / "manifest.json").write_text("{}")
    assert runner.invoke(main, ["bundle", "--out", str(tmp_path), "--check"]).exit_code == 1

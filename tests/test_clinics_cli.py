"""``progress-plugin clinics add|list|show``, ``migrate`` creating the configured clinics, and the
error that names the commands creating a missing clinic."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.core.vocabulary import default
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.store import Store

CLI = str(Path(sys.executable).with_name("progress-plugin"))
HINT = ("create it with `progress-plugin clinics add {id}`, or list it in the config file and run "
        "`progress-plugin migrate`")
CONFIG = """
[store]
url = "sqlite:///{db}"

[[clinics]]
id = "clinic-x"
name = "Saket Counselling Centre"
scheme = "standard-webhooks"
secrets_env = "PROGRESS_PLUGIN_SECRETS_CLINIC_X"     # not set: migrate needs no secret
language = "hi"

[[clinics]]
id = "clinic-y"
scheme = "x-signature"
secrets = ["a-secret-of-at-least-twenty-four-bytes"]
"""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("PROGRESS_PLUGIN_CLINIC", "PROGRESS_PLUGIN_CONFIG", "PROGRESS_PLUGIN_STORE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, ["--store", f"sqlite:///{tmp_path / 'main.db'}", *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run


def test_clinics_add_list_and_show(cli, tmp_path):
    r = cli("clinics", "add", "clinic-a", "--name", "Lajpat Nagar Family Clinic", "--language", "hi")
    assert r.output.strip() == ("created clinic 'clinic-a' (Lajpat Nagar Family Clinic, language hi) with the "
                                "default vocabulary: version 1, 17 tags")
    cli("clinics", "add", "clinic-b")
    listed = cli("clinics", "list").output.splitlines()
    assert [line.split()[0] for line in listed] == ["clinic-a", "clinic-b"]
    assert "17 tags" in listed[0] and listed[0].endswith("Lajpat Nagar Family Clinic")
    shown = cli("clinics", "show", "clinic-a").output
    assert "name:       Lajpat Nagar Family Clinic" in shown and "language:   hi" in shown
    assert "vocabulary: version 1" in shown and "by system" in shown and "tokens:     0 active" in shown
    as_json = json.loads(cli("clinics", "show", "clinic-b", "--json").output)
    assert as_json["clinic_id"] == as_json["name"] == "clinic-b" and as_json["language"] is None
    assert [c["clinic_id"] for c in json.loads(cli("clinics", "list", "--json").output)] == ["clinic-a", "clinic-b"]
    assert cli("vocab", "list", "--clinic", "clinic-a").output.startswith("clinic clinic-a, vocabulary version 1")


def test_clinics_add_again_changes_nothing_but_a_language_and_says_so(cli, tmp_path):
    cli("clinics", "add", "clinic-a", "--name", "First name")
    again = cli("clinics", "add", "clinic-a").output.strip()
    assert again == "clinic 'clinic-a' already exists (First name); language en (default); nothing changed"
    renamed = cli("clinics", "add", "clinic-a", "--name", "Other name", "--language", "hi").output.strip()
    assert renamed == ("clinic 'clinic-a' already exists (First name); its name stays 'First name'; "
                       "its language is now hi (was en (default))")
    store = Store.open(f"sqlite:///{tmp_path / 'main.db'}")
    try:
        assert store.clinic_language("clinic-a") == "hi"
        assert [h["version"] for h in store.history("clinic-a")] == [1]          # still one vocabulary version
        assert [r["action"] for r in store.audit_rows("clinic-a")] == ["clinic.create", "clinic.language"]
    finally:
        store.close()


def test_clinics_add_refuses_what_is_not_a_clinic_id_name_or_language(cli):
    assert cli("clinics", "add", "bad id", ok=False).exit_code == 2
    assert cli("clinics", "add", "x" * 129, ok=False).exit_code == 2
    assert cli("clinics", "add", "ok", "--language", "fr", ok=False).exit_code == 2
    assert cli("clinics", "add", "ok", "--name", " ", ok=False).exit_code == 2
    assert "no clinics yet" in cli("clinics", "list").output


FILE = "<a vocabulary file>"
WRITES = [["vocab", "add", "named-a-need", "--label", "Named a need", "--category", "relationship",
           "--direction", "toward", "--clinic", "nowhere"],
          ["vocab", "edit", "setback", "--label", "Set back", "--clinic", "nowhere"],
          ["vocab", "retire", "setback", "--clinic", "nowhere"],
          ["vocab", "restore", "setback", "--clinic", "nowhere"],
          ["vocab", "import", FILE, "--clinic", "nowhere"],
          ["vocab", "import", FILE, "--check", "--clinic", "nowhere"],
          ["tokens", "create", "--clinic", "nowhere", "--role", "admin", "--name", "practice manager"],
          ["backfill", "--clinic", "nowhere"]]


@pytest.mark.parametrize("command", [["clinics", "show", "nowhere"], ["vocab", "list", "--clinic", "nowhere"],
                                     ["vocab", "history", "--clinic", "nowhere"],
                                     ["vocab", "show", "setback", "--clinic", "nowhere"],
                                     ["vocab", "export", "--clinic", "nowhere"],
                                     ["summary", "--clinic", "nowhere"],
                                     ["report", "--clinic", "nowhere", "--client", "c1", "--out", "-"], *WRITES],
                         ids=lambda command: " ".join(command[:2]) + (" --check" if "--check" in command else ""))
def test_every_command_that_needs_a_clinic_names_the_commands_that_create_it(cli, tmp_path, command):
    """A command on a clinic that does not exist (a typo of an existing one, here) is refused, with the
    commands that create a clinic, and creates nothing: no clinic, no token, no vocabulary."""
    cli("clinics", "add", "now-here")
    path = tmp_path / "tags.json"
    path.write_text(fhir_vocabulary.dumps(fhir_vocabulary.export(default(), "now-here")), encoding="utf-8")
    r = cli(*[str(path) if arg == FILE else arg for arg in command], ok=False)
    assert r.exit_code == 1 and f"error: no clinic 'nowhere'; {HINT.format(id='nowhere')}" in r.output
    assert [line.split()[0] for line in cli("clinics", "list").output.splitlines()] == ["now-here"]
    assert cli("tokens", "list").output == "refused token attempts: none\n"
    store = Store.open(f"sqlite:///{tmp_path / 'main.db'}")
    try:
        assert store.history("nowhere") == [] and store.audit_rows("nowhere") == []
    finally:
        store.close()


def test_migrate_refuses_a_config_file_whose_clinics_are_wrong(cli, tmp_path):
    (tmp_path / "progress-plugin.toml").write_text('[[clinics]]\nid = "a"\nscheme = "x-signature"\nlanguage = "fr"\n')
    r = cli("migrate", ok=False)
    assert r.exit_code == 1 and "clinics: 0.language: Must be one of: en, hi." in r.output


def _run(*args, cwd, env):
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_on_a_fresh_store_migrate_then_vocab_list_works_without_serve(tmp_path):
    """Real processes on a real SQLite file: the clinics of the config file exist after `migrate`."""
    db = tmp_path / "progress.db"
    (tmp_path / "progress-plugin.toml").write_text(CONFIG.format(db=db), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}

    before = _run("vocab", "list", "--clinic", "clinic-x", cwd=tmp_path, env=env)
    assert before.returncode == 1 and HINT.format(id="clinic-x") in before.stderr

    first = _run("migrate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "store ready: sqlite",
        "created clinic 'clinic-x' (Saket Counselling Centre, language hi) with the default vocabulary: "
        "version 1, 17 tags",
        "created clinic 'clinic-y' (clinic-y, language en (default)) with the default vocabulary: version 1, 17 tags"]
    listed = _run("vocab", "list", "--clinic", "clinic-x", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("clinic clinic-x, vocabulary version 1") and "step-forward" in listed.stdout
    again = _run("migrate", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "clinic 'clinic-x' already exists" in again.stdout
    shown = _run("clinics", "show", "clinic-x", cwd=tmp_path, env=env)
    assert "Saket Counselling Centre" in shown.stdout and "language:   hi" in shown.stdout

    conn = sqlite3.connect(db)                                       # every process has exited
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT clinic_id, language FROM clinics ORDER BY clinic_id").fetchall() == [
            ("clinic-x", "hi"), ("clinic-y", None)]
        assert conn.execute("SELECT count(*) FROM vocabulary_versions").fetchone() == (2,)
    finally:
        conn.close()

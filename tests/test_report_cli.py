"""``progress-plugin report`` and ``progress-plugin summary``."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store

from tests.test_panel import PRIVATE, THERAPIST_ONLY_LABEL, seed_client


@pytest.fixture
def db(tmp_path, now, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("PROGRESS_PLUGIN_STORE", "PROGRESS_PLUGIN_CONFIG", "PROGRESS_PLUGIN_CLINIC"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    store = Store.open(url)
    seed_client(Runtime(store, clock=lambda: now), "clinic-a", "c1", 20)
    store.close()
    return url


def run(url, *args):
    return CliRunner().invoke(main, ["--store", url, *args])


def test_report_writes_a_private_self_contained_html_file(db, tmp_path):
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "c1.html")
    assert result.exit_code == 0, result.output
    out = tmp_path / "c1.html"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    html = out.read_text()
    assert html.startswith("<!doctype html>") and 'role="img"' in html and "Therapist view" in html
    assert THERAPIST_ONLY_LABEL in html and PRIVATE in html
    assert "<link" not in html and " src=" not in html


def test_client_view_and_other_formats(db, tmp_path):
    assert run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "shared.html",
               "--view", "client").exit_code == 0
    shared = (tmp_path / "shared.html").read_text()
    assert "Shared view" in shared and THERAPIST_ONLY_LABEL not in shared and PRIVATE not in shared

    assert run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "c1.json").exit_code == 0
    data = json.loads((tmp_path / "c1.json").read_text())
    assert data["audience"] == "therapist" and len(data["sessions"]) == 20 and len(data["goals"]) == 3

    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "-", "--format", "svg")
    assert result.exit_code == 0 and result.stdout.startswith("<svg")


def test_unknown_client_is_a_clear_error(db, tmp_path):
    result = run(db, "report", "--clinic", "clinic-a", "--client", "nobody", "--out", "x.html")
    assert result.exit_code == 1 and "no client 'nobody'" in result.stderr
    assert not (tmp_path / "x.html").exists()
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "x.html", "--view", "family")
    assert result.exit_code == 2


def test_summary_prints_counts_only(db):
    result = run(db, "summary", "--clinic", "clinic-a", "--from", "2025-01-01", "--to", "2026-12-31")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clients"] == 1 and data["clients_with_agreed_goals"] == 1 and data["sessions_in_range"] == 20
    assert "Get through" not in result.stdout and PRIVATE not in result.stdout and "c1" not in result.stdout


def test_report_as_a_real_process(db, tmp_path):
    exe = Path(sys.executable).with_name("progress-plugin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}
    out = subprocess.run([str(exe), "--store", db, "report", "--clinic", "clinic-a", "--client", "c1",
                          "--out", "p.html"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "wrote p.html (html, therapist view, en)" in out.stderr
    assert (tmp_path / "p.html").read_text().count("<svg") >= 1


def test_report_replaces_an_existing_file_instead_of_writing_into_it(db, tmp_path):
    """An existing 0644 file is never written into: a second name of it (a hard link) keeps
    the old text, and the new file is 0600 from its first byte."""
    out = tmp_path / "c1.html"
    out.write_text("old text\n")
    os.chmod(out, 0o644)
    os.link(out, tmp_path / "other-name.html")
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "c1.html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "other-name.html").read_text() == "old text\n"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and os.stat(out).st_nlink == 1
    assert out.read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []    # no temp file left


def test_report_refuses_a_symlink_target(db, tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours\n")
    (tmp_path / "c1.html").symlink_to(elsewhere)
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "c1.html")
    assert result.exit_code == 1 and "symbolic link" in result.output and "Traceback" not in result.output
    assert elsewhere.read_text() == "not yours\n" and (tmp_path / "c1.html").is_symlink()


def test_report_into_a_missing_folder_is_a_clear_error(db, tmp_path):
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "nowhere/c1.html")
    assert result.exit_code == 1 and "cannot write nowhere/c1.html" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_report_in_hindi_and_the_clinics_language(db, tmp_path, now):
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "hi.html", "--lang", "hi")
    assert result.exit_code == 0, result.output
    assert "wrote hi.html (html, therapist view, hi)" in result.stderr
    html = (tmp_path / "hi.html").read_text(encoding="utf-8")
    assert '<html lang="hi" dir="ltr">' in html and "<h1>प्रगति</h1>" in html and "Therapist view" not in html
    assert "Get through a work meeting" in html                              # the client's words, as written
    assert run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "hi.json", "--lang", "hi-IN").exit_code == 0
    data = json.loads((tmp_path / "hi.json").read_text(encoding="utf-8"))
    assert data["prompts"] and all("सेशन" in p["message"] for p in data["prompts"] if p["kind"] != "not-yet-agreed")
    assert "सेशन" in (tmp_path / "hi.json").read_text(encoding="utf-8")       # written as it reads, not \u-escaped

    store = Store.open(db)                                                   # the clinic's language is the default
    store.ensure_clinic("clinic-a", now, language="hi")
    store.close()
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "-")
    assert result.exit_code == 0 and "<h1>प्रगति</h1>" in result.stdout
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "-", "--lang", "en")
    assert result.exit_code == 0 and "<h1>Progress</h1>" in result.stdout


@pytest.mark.parametrize("value", ["fr", "klingon", "", "hi_XX_ZZ-", "हिन्दी"])
def test_report_with_a_language_the_catalogs_lack_is_a_clear_error(db, tmp_path, value):
    result = run(db, "report", "--clinic", "clinic-a", "--client", "c1", "--out", "x.html", "--lang", value)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"Invalid value for '--lang': {value!r} is not a language the panel speaks; use one of: en, hi." \
        in result.stderr
    assert not (tmp_path / "x.html").exists()

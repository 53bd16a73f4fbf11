import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.store import Store

from tests.test_store_purge import HOLD_READ


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROGRESS_PLUGIN_STORE", raising=False)
    monkeypatch.delenv("PROGRESS_PLUGIN_CONFIG", raising=False)
    return CliRunner()


def test_demo_runs_end_to_end_as_a_real_process(tmp_path):
    """The README's main job, as a fresh process in an empty folder."""
    exe = Path(sys.executable).with_name("progress-plugin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}
    out = subprocess.run([str(exe), "demo"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    client = re.search(r"^client: (client-[0-9a-f]{12})$", out.stdout, re.M)
    assert client
    assert out.stdout.count("session ") == 7
    assert "setback" in out.stdout and "stirring-up" in out.stdout
    assert "goal 1 (g1): s0:2" in out.stdout and "change: reliable improvement (+5)" in out.stdout
    assert "prompt [review-due]" in out.stdout
    assert all(p.name.startswith("progress.db") for p in tmp_path.iterdir())
    assert stat.S_IMODE(os.stat(tmp_path / "progress.db").st_mode) == 0o600
    state = Store.open(f"sqlite:///{tmp_path / 'progress.db'}").load_state("demo-clinic", client.group(1))
    assert len(state.notes) == 7 and len(state.intake.goals) == 2


def test_store_resolution_order(runner, tmp_path, monkeypatch):
    from progress_plugin.service import settings as config
    assert config.store_url() == "sqlite:///progress.db"
    (tmp_path / "progress-plugin.toml").write_text('[store]\nurl = "sqlite:///from-file.db"\n')
    assert config.store_url(config=config.read_file(config.config_path())) == "sqlite:///from-file.db"
    monkeypatch.setenv("PROGRESS_PLUGIN_STORE", "sqlite:///from-env.db")
    assert config.store_url(config={"store": {"url": "x"}}) == "sqlite:///from-env.db"
    assert config.store_url("sqlite:///flag.db", {"store": {"url": "x"}}) == "sqlite:///flag.db"


def test_bad_config_file_is_a_clear_error(runner, tmp_path):
    (tmp_path / "bad.toml").write_text("[store\nurl=")
    result = runner.invoke(main, ["--config", "bad.toml", "migrate"])
    assert result.exit_code == 1 and "not valid TOML" in result.output


def test_every_command_has_help(runner):
    def walk(cmd, path):
        result = runner.invoke(main, path + ["--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), path + [name])
    walk(main, [])


def test_purge_command(runner, tmp_path):
    result = runner.invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", "demo"])
    client = re.search(r"client: (\S+)", result.output).group(1)
    result = runner.invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", "purge", "--clinic", "demo-clinic",
                                  "--client", client, "--yes"])
    assert result.exit_code == 0 and "notes=7" in result.output and "goals=2" in result.output
    assert "erased: wal=truncated" in result.output
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    assert store.load_state("demo-clinic", client).intake is None


def test_purge_of_an_unknown_clinic_or_client_exits_1_and_changes_nothing(runner, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    client = re.search(r"client: (\S+)", runner.invoke(main, ["--store", url, "demo"]).output).group(1)
    for clinic, who, message in [("no-such-clinic", client, "error: no clinic 'no-such-clinic'"),
                                 ("demo-clinic", "%", "error: no client '%' in clinic 'demo-clinic'"),
                                 ("demo-clinic", client.upper(), f"error: no client '{client.upper()}'")]:
        result = runner.invoke(main, ["--store", url, "purge", "--clinic", clinic, "--client", who, "--yes"])
        assert result.exit_code == 1, result.output
        assert message in result.output and "nothing was purged" in result.output and "purged:" not in result.output
    store = Store.open(url)
    assert len(store.load_state("demo-clinic", client).notes) == 7
    assert not [r for r in store.audit_rows() if r["action"].startswith("client.")]
    store.close()


def test_purge_exits_3_while_another_process_reads_and_erase_only_finishes_it(runner, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    client = re.search(r"client: (\S+)", runner.invoke(main, ["--store", url, "demo"]).output).group(1)
    reader = subprocess.Popen([sys.executable, "-c", HOLD_READ, str(tmp_path / "s.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        result = runner.invoke(main, ["--store", url, "purge", "--clinic", "demo-clinic", "--client", client,
                                      "--yes", "--wait", "0.3"])
        assert result.exit_code == 3, result.output
        assert "notes=7" in result.output and "erased: wal=not-truncated" in result.output
        assert "--erase-only" in result.output
    finally:
        reader.communicate("\n", timeout=30)
    result = runner.invoke(main, ["--store", url, "purge", "--erase-only", "--clinic", "demo-clinic",
                                  "--client", client])
    assert result.exit_code == 0 and "erased: wal=truncated" in result.output, result.output
    store = Store.open(url)
    erasures = [(r["outcome"], r["subject"].split(" ")[1]) for r in store.audit_rows("demo-clinic")
                if r["action"] == "client.erase"]
    store.close()
    assert erasures == [("incomplete", "wal=not-truncated"), ("ok", "wal=truncated")]


def test_schemas_export_check_detects_drift(runner, tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(main, ["schemas", "export", "--out", str(out)]).exit_code == 0
    assert runner.invoke(main, ["schemas", "export", "--out", str(out), "--check"]).exit_code == 0
    (out / "intake.schema.json").write_text("{}")
    result = runner.invoke(main, ["schemas", "export", "--out", str(out), "--check"])
    assert result.exit_code == 1 and "intake.schema.json" in result.output


def test_a_command_loads_only_its_own_module():
    """`progress-plugin backfill` carries neither the web service nor the artifact builders:
    the command groups are loaded when their command runs."""
    import subprocess
    import sys
    probe = ("import sys; from click.testing import CliRunner; from progress_plugin.cli.main import main; "
             "r = CliRunner().invoke(main, ['backfill', '--help']); assert r.exit_code == 0, r.output; "
             "print(sorted(m for m in ('flask', 'apispec', 'progress_plugin.cli.artifacts', "
             "'progress_plugin.cli.backfill', 'progress_plugin.web.app') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['progress_plugin.cli.backfill']"

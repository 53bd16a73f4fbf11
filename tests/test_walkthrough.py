"""The README's main command, run as a user would, in an empty folder."""
import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scripts_run_once_shows_the_whole_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "run"), "--once", "--port", "0"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^client: client-[0-9a-f]{12}$", out.stdout, re.M)
    assert "answers: [200, 202]" in out.stdout                       # duplicates acknowledged, not re-applied
    assert re.search(r"worker: inbox \{'done': 8\}, outbox \{'done': \d+\}", out.stdout)
    assert "change: reliable improvement" in out.stdout and "prompt [review-due]" in out.stdout
    assert "duplicate writes: 0" in out.stdout and "tagged notes: 6" in out.stdout
    assert "POST /webhooks" not in out.stderr                          # no request log noise
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("progress.db")) == []
    assert stat.S_IMODE(os.stat(tmp_path / "progress.db").st_mode) == 0o600

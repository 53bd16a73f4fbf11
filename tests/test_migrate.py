"""Migrations on SQLite while other processes use the same file.

A process that migrated the store keeps its own locks on the file: the migration lock is on a
side file, never on the database file (closing any descriptor of the database file drops every
POSIX lock the process holds on it, and another process may then delete the write-ahead log
that this one still writes to).
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "progress-plugin")

# A long-running writer, like a host: it opens (and so migrates) the store, then writes one audit
# row per line read from stdin and answers "ok" once the row is committed.
WRITER = r'''
import sys
from datetime import datetime, timezone
from progress_plugin.store import Store
store = Store.open(sys.argv[1])
now = datetime.now(timezone.utc)
store.ensure_clinic("clinic-a", now)
print("ready", flush=True)
for line in sys.stdin:
    with store.begin() as c:
        store.audit(c, "clinic-a", "writer", "probe.write", "w:" + line.strip(), "ok", now)
    print("ok", flush=True)
'''


class Writer:
    def __init__(self, url: str):
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"

    def write(self, n: int) -> None:
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "ok\n"

    def open_files(self) -> list[str]:
        fd = f"/proc/{self.proc.pid}/fd"
        return sorted(os.readlink(f"{fd}/{name}") for name in os.listdir(fd))


def cli(url: str, *args: str) -> None:
    subprocess.run([CLI, "--store", url, *args], check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc to list a process's open files")
@pytest.mark.parametrize("ending", ["exit", "kill -9"])
def test_the_cli_on_a_store_a_running_process_migrated_loses_and_corrupts_nothing(tmp_path, ending):
    db = tmp_path / "progress.db"
    url = f"sqlite:///{db}"
    writer = Writer(url)                    # a new store: this process runs the migrations itself
    try:
        writer.write(1)
        cli(url, "vocab", "list", "--clinic", "clinic-a")          # opens and closes the file
        writer.write(2)
        cli(url, "vocab", "add", "probe-tag", "--clinic", "clinic-a", "--label", "Probe",
            "--category", "movement", "--direction", "none")
        writer.write(3)
        in_use = [f for f in writer.open_files() if f.startswith(str(db))]
    finally:
        if ending == "kill -9":
            writer.proc.kill()
        else:
            writer.proc.stdin.close()
        writer.proc.wait(30)
        writer.proc.stdout.close()
    conn = sqlite3.connect(db)                                    # every process has exited
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT subject FROM audit_log WHERE action = 'probe.write' ORDER BY id").fetchall() \
            == [("w:1",), ("w:2",), ("w:3",)]
        assert conn.execute("SELECT max(version) FROM vocabulary_versions WHERE clinic_id = 'clinic-a'").fetchone() \
            == (2,)
    finally:
        conn.close()
    # the writer wrote to the one write-ahead log every process shares, not to a deleted copy of it
    assert f"{db}-wal" in in_use and not [f for f in in_use if f.endswith("(deleted)")], in_use

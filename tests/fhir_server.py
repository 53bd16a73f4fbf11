"""Start and stop the Medplum in-memory FHIR server (tests/medplum/server.mjs) for tests.

    with running() as server:
        server.base_url        # http://127.0.0.1:PORT
        server.stats()         # request counts per "METHOD pattern"
        server.fault(status=503, count=2)

Skips only when ``node`` is missing or ``npm ci`` has not been run in tests/medplum;
any other start-up failure raises with the server's stderr.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

HARNESS = Path(__file__).parent / "medplum"
SERVER = HARNESS / "server.mjs"
START_TIMEOUT = 20.0


class MedplumServer:
    def __init__(self, process: subprocess.Popen, base_url: str, stderr_path: str):
        self.process = process
        self.base_url = base_url
        self._stderr_path = stderr_path
        self._http = requests.Session()

    # -- private endpoints of the wrapper ---------------------------------------------

    def stats(self) -> dict:
        """``{"total", "counts": {pattern: n}, "statuses": {pattern: {status: n}}, "log"}``."""
        return self._private("GET", "/__stats")

    def count(self, pattern: str, status: int | None = None) -> int:
        """Requests seen for e.g. ``"PUT Goal"``; with ``status``, only those answered so."""
        stats = self.stats()
        if status is None:
            return stats["counts"].get(pattern, 0)
        return stats["statuses"].get(pattern, {}).get(str(status), 0)

    def reset(self) -> None:
        """Clear counters, the request log and pending faults (the data stays)."""
        self._private("POST", "/__reset")

    def fault(self, count: int = 1, **spec) -> list:
        """Queue a fault for the next ``count`` requests, e.g. ``status=503`` or
        ``status=429, retry_after=1`` or ``reset=True`` or ``delay_ms=500``; optional
        ``method=`` and ``path=`` (path prefix without the leading slash) filters."""
        return self._private("POST", "/__faults", json={**spec, "count": count})["faults"]

    def pending_faults(self) -> list:
        return self._private("GET", "/__faults")["faults"]

    def _private(self, method: str, path: str, **kwargs) -> dict:
        response = self._http.request(method, self.base_url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    # -- lifecycle --------------------------------------------------------------------

    def stderr(self) -> str:
        with open(self._stderr_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stop(self) -> None:
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr_path)


def skip_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed, so the Medplum FHIR server cannot run"
    if not (HARNESS / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "tests/medplum/node_modules is missing: run `npm ci` in tests/medplum"
    return None


def start(timeout: float = START_TIMEOUT) -> MedplumServer:
    """Start the wrapper on an ephemeral 127.0.0.1 port; return once it answers."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    fd, stderr_path = tempfile.mkstemp(prefix="medplum-", suffix=".log")
    with os.fdopen(fd, "wb") as stderr:
        process = subprocess.Popen([shutil.which("node"), str(SERVER), "0"], cwd=HARNESS,
                                   stdout=subprocess.PIPE, stderr=stderr,
                                   env={**os.environ, "PORT": "0"})
    try:
        line = _first_line(process, timeout)
        if not line.startswith("listening "):
            raise RuntimeError(f"unexpected first line from server.mjs: {line!r}")
        host_port = line.split(" ", 1)[1].strip()
        server = MedplumServer(process, f"http://{host_port}", stderr_path)
        _wait_ready(server, time.monotonic() + timeout)
        return server
    except BaseException as exc:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        with open(stderr_path, encoding="utf-8", errors="replace") as fh:
            detail = fh.read()
        os.unlink(stderr_path)
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"{exc}\n--- server.mjs stderr ---\n{detail}") from None
        raise


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"server.mjs printed nothing within {timeout:.0f} s")
    line = process.stdout.readline().decode("utf-8", "replace")
    if not line:
        raise RuntimeError(f"server.mjs exited with code {process.wait(timeout=5)}")
    return line


def _wait_ready(server: MedplumServer, deadline: float) -> None:
    while True:
        try:
            server.stats()
            return
        except requests.RequestException:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server.mjs did not become ready") from None
            time.sleep(0.05)


@contextlib.contextmanager
def running():
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def medplum_server():
    """One Medplum server for the test session. Its data persists across tests: use
    unique identifiers. Counters are cleared by :func:`medplum`."""
    with running() as server:
        yield server


@pytest.fixture
def medplum(medplum_server):
    """The session's Medplum server, with counters and faults cleared for this test."""
    medplum_server.reset()
    yield medplum_server
    medplum_server.reset()

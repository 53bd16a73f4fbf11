"""Serving the host: an HTTP/1.1 keep-alive server, and handles for tests and benchmarks.

werkzeug's development server closes every connection; the keep-alive server here lets a
client's connection pool work as it would against a real platform, which the write-back
benchmark depends on.
"""
from __future__ import annotations

import contextlib
import io
import os
import selectors
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from urllib.parse import unquote_to_bytes

import requests

from examples.fhir_host.app import DROPPED, FHIRHost, make_app


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fhir-host"
    timeout = 60                      # idle keep-alive connections close after this

    def setup(self):
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
            "SERVER_NAME": host, "SERVER_PORT": str(port), "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0], "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "werkzeug.socket": self.connection,
        }
        for name, value in self.headers.items():
            if "_" in name or name.lower() in ("content-type", "content-length"):
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list = []
        chunks: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]
            return chunks.append

        result = self.server.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if environ.get(DROPPED):
            self.close_connection = True
            return
        status, headers = started
        code, _, reason = status.partition(" ")
        payload = b"".join(chunks)
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


class KeepAliveServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server with keep-alive, serving one WSGI app."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.app, self.verbose = app, verbose
        super().__init__((host, port), _Handler)

    def server_bind(self):                # skip HTTPServer's reverse DNS lookup
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve(app=None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> KeepAliveServer:
    """A bound (not yet serving) keep-alive server for ``app``; call ``serve_forever()``."""
    return KeepAliveServer(app if app is not None else make_app(), host, port, verbose)


class Control:
    """Calls to a running host's control API (the same calls as the Medplum test server's)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.base_url = self.url + "/fhir"
        self._http = requests.Session()

    def _call(self, method: str, path: str, timeout: float = 30, **kwargs) -> dict:
        response = self._http.request(method, self.url + path, timeout=timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self._call("GET", "/__stats")

    def count(self, pattern: str, status: int | None = None) -> int:
        """Requests seen for e.g. ``"PUT Goal"``; with ``status``, only those answered so."""
        stats = self.stats()
        if status is None:
            return stats["counts"].get(pattern, 0)
        return stats["statuses"].get(pattern, {}).get(str(status), 0)

    def reset(self, data: bool = False) -> None:
        self._call("POST", "/__reset", json={"data": data})

    def fault(self, count: int = 1, **spec) -> list:
        return self._call("POST", "/__faults", json={**spec, "count": count})["faults"]

    def pending_faults(self) -> list:
        return self._call("GET", "/__faults")["faults"]

    def seed(self, clinic: str, notes: int, patients: int = 100, **options) -> dict:
        return self._call("POST", "/__seed", json={"clinic": clinic, "notes": notes,
                                                   "patients": patients, **options})["seeded"]

    def configure(self, **options) -> dict:
        return self._call("POST", "/__config", json=options)

    def register_notes(self, notes: list[dict]) -> int:
        return self._call("POST", "/__notes", json={"notes": notes})["registered"]

    def send(self, url: str, secret: str, events: list[dict], timeout: float = 300, **options) -> dict:
        return self._call("POST", "/__send", timeout=timeout,
                          json={"url": url, "secret": secret, "events": events, **options})

    def close(self) -> None:
        self._http.close()


class Host(Control):
    """A host served from a thread of this process."""

    def __init__(self, app: FHIRHost, server: KeepAliveServer, thread: threading.Thread):
        host, port = server.server_address[:2]
        super().__init__(f"http://{host}:{port}")
        self.base_url = self.url + app.base_path
        self.app, self.server, self.thread = app, server, thread

    def stop(self) -> None:
        self.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(app: FHIRHost | None = None, host: str = "127.0.0.1", port: int = 0, **options) -> Host:
    """Serve ``app`` (or a new one made with ``options``) from a daemon thread."""
    app = app if app is not None else make_app(**options)
    server = serve(app, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fhir-host", daemon=True)
    thread.start()
    return Host(app, server, thread)


@contextlib.contextmanager
def running(**options):
    """A host in a thread for the duration of a ``with`` block."""
    handle = start(**options)
    try:
        yield handle
    finally:
        handle.stop()


class HostProcess(Control):
    """A host running as ``python -m examples.fhir_host`` in a child process."""

    def __init__(self, process: subprocess.Popen, url: str):
        super().__init__(url)
        self.process = process

    def stop(self) -> None:
        self.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


def start_process(*args: str, timeout: float = 20.0, python: str | None = None) -> HostProcess:
    """Start the host in a child process on an ephemeral port; return once it answers."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([python or sys.executable, "-m", "examples.fhir_host",
                                "--port", "0", *args], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=None)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the host printed nothing within {timeout:.0f} s")
        line = process.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("listening "):
            raise RuntimeError(f"unexpected first line from the host: {line!r} "
                               f"(exit code {process.poll()})")
        handle = HostProcess(process, "http://" + line.split(" ", 1)[1])
        if "--base-path" in args:
            path = args[list(args).index("--base-path") + 1].strip("/")
            handle.base_url = handle.url + (f"/{path}" if path else "")
        handle.stats()
        return handle
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        raise

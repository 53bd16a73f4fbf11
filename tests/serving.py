"""A WSGI app served over real HTTP on 127.0.0.1 (an ephemeral port), on a thread, for a test; and a
JSON answer for a test's own ``BaseHTTPRequestHandler``."""
from __future__ import annotations

import contextlib
import json
import threading

from werkzeug.serving import make_server


@contextlib.contextmanager
def serving(app, join_seconds: float = 5):
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(join_seconds)


def send_json(handler, document: dict, status: int = 200, content_type: str = "application/fhir+json") -> None:
    """A stand-in ``BaseHTTPRequestHandler``'s answer: ``document`` as JSON, with its length."""
    body = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)

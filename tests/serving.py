"""A WSGI app served over real HTTP on 127.0.0.1 (an ephemeral port), on a thread, for a test."""
from __future__ import annotations

import contextlib
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

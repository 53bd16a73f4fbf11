"""``python -m examples.fhir_host``: serve the host until SIGTERM or Ctrl-C.

The first stdout line is ``listening HOST:PORT`` (flushed), so a parent process can read the
port it got with ``--port 0``.
"""
from __future__ import annotations

import argparse
import signal
import sys

from examples.fhir_host.app import make_app
from examples.fhir_host.common import FHIRError
from examples.fhir_host.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fhir_host",
                                     description="An in-memory FHIR R4 host for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--base-path", default="/fhir")
    parser.add_argument("--no-meta-add", action="store_true", help="answer $meta-add with 404")
    parser.add_argument("--idempotency", action="store_true",
                        help="replay the first answer to a repeated Idempotency-Key")
    parser.add_argument("--validate", action="store_true",
                        help="validate written resources with fhir.resources (R4B)")
    parser.add_argument("--seed", metavar="CLINIC:PATIENTS:NOTES",
                        help="serve synthetic notes from the start, e.g. c1:1000:1000000")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    app = make_app(base_path=args.base_path, meta_add=not args.no_meta_add,
                   idempotency=args.idempotency, validate=args.validate)
    if args.seed:
        try:
            clinic, patients, notes = args.seed.split(":")
            app.seed(clinic, int(notes), int(patients))
        except (ValueError, FHIRError) as exc:
            parser.error(f"--seed CLINIC:PATIENTS:NOTES: {getattr(exc, 'text', exc)}")
    server = serve(app, args.host, args.port, verbose=args.verbose)
    host, port = server.server_address[:2]
    print(f"listening {host}:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""``python -m examples.notes_host``: serve the example notes host on 127.0.0.1."""
from __future__ import annotations

import argparse

from examples.notes_host.app import create_host_app
from examples.notes_host.i18n import DEFAULT_LANGUAGE, LANGUAGES


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.notes_host", description=__doc__)
    parser.add_argument("--db", default="notes-host.db", help="the host's own SQLite file (notes live here)")
    parser.add_argument("--plugin-store", default=None, metavar="URL",
                        help="the plugin's store; else $PROGRESS_PLUGIN_STORE, the config file, or sqlite:///progress.db")
    parser.add_argument("--clinic", default="example-clinic")
    parser.add_argument("--language", choices=sorted(LANGUAGES), default=DEFAULT_LANGUAGE,
                        help="the clinic's default language, for a browser that asks for none the host speaks")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    app = create_host_app(args.db, args.plugin_store, args.clinic, language=args.language)
    db = app.extensions["notes_host"]["db"]
    if not db.clients():
        db.add_client("Alex Example")
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()

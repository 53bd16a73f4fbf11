"""Commands that run the service: serve, worker, check."""
from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from progress_plugin.cli.context import Context, open_store, pass_ctx, service_config
from progress_plugin.errors import ProgressPluginError
from progress_plugin.service.hostlink import NO_HOST, client
from progress_plugin.service.worker import Worker
from progress_plugin.store import inbox, outbox


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@click.command()
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on (0 picks a free one).")
@click.option("--no-worker", is_flag=True, help="Do not run the embedded worker thread.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@pass_ctx
def serve(obj: Context, bind_host, port, no_worker, log_level):
    """Run the webhook service with a development server (use gunicorn in production).

    With the embedded default the worker runs as a thread of this process.
    """
    from werkzeug.serving import make_server            # the server extra (Flask): only `serve` needs it

    from progress_plugin.web.app import create_app          # the server extra (Flask)
    _logging(log_level)
    cfg = service_config(obj)
    store = open_store(cfg)
    app = create_app(store, config=cfg)
    server = make_server(bind_host, port, app, threaded=True)
    worker = None
    if cfg.embedded_worker and not no_worker:
        worker = Worker(store, cfg)
        threading.Thread(target=worker.run, name="worker", daemon=True).start()
    click.echo(f"listening on http://{bind_host}:{server.server_port}", err=True)

    def stop(*_):
        if worker:
            worker.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


@click.command()
@click.option("--once", is_flag=True, help="Process what is due now, then exit.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@pass_ctx
def worker(obj: Context, once, log_level):
    """Apply stored events and send their write-backs to the host (run one or more of these)."""
    _logging(log_level)
    cfg = service_config(obj)
    w = Worker(obj.store if obj.store_flag else open_store(cfg), cfg)
    if once:
        while w.run_once():
            pass
        return
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    signal.signal(signal.SIGINT, lambda *_: w.stop())
    w.run()


@click.command()
@pass_ctx
def check(obj: Context):
    """Verify the configuration, the store, the host's reachability and credentials, and the secrets;
    with a [smart] section, each EHR's smart-configuration against what is configured for it.

    Also counts failed inbox rows and dead outbox rows. Exit status: 0 when all is well, 1
    when something failed, 3 when all passed but some rows wait for you (see `inbox list`
    and `outbox list`)."""
    failures = warnings = 0
    try:
        cfg = service_config(obj)
    except ProgressPluginError as exc:
        click.echo(f"FAIL config: {exc}")
        sys.exit(1)
    click.echo(f"ok   config: {len(cfg.clinics)} clinic(s)")
    for c in cfg.clinics.values():
        note = " (two secrets: rotation in progress)" if len(c.secrets) == 2 else ""
        click.echo(f"ok   clinic {c.id}: scheme {c.scheme}, secret well-formed{note}")
    try:
        store = open_store(cfg)
        store.ping()
        click.echo(f"ok   store: {cfg.store_url.split('@')[-1]}")
        with store.engine.connect() as conn:
            stuck = {"inbox": (inbox.count(conn, inbox.FAILED), "failed"),
                     "outbox": (outbox.count(conn, outbox.DEAD), "dead")}
        for name, (n, state) in stuck.items():
            if n:
                warnings += 1
                click.echo(f"WARN {name}: {n} {state} (progress-plugin {name} list)")
            else:
                click.echo(f"ok   {name}: none {state}")
    except Exception as exc:  # any driver error
        failures += 1
        click.echo(f"FAIL store: {exc.__class__.__name__}")
    if not cfg.host_url:                     # fine for Canvas or CDS Hooks alone; said plainly
        click.echo(f"note host: {NO_HOST}")
    else:
        try:
            with client(cfg, retries=0) as c:
                meta = c.metadata()
            click.echo(f"ok   host: {cfg.host_url} FHIR {meta.get('fhirVersion', '?')}")
        except ProgressPluginError as exc:
            failures += 1
            click.echo(f"FAIL host: {exc}")
    if cfg.smart is not None:
        from progress_plugin.cli.smart_check import check_smart     # Authlib: the server extra
        failures += check_smart(cfg.smart, click.echo)[0]
    sys.exit(1 if failures else 3 if warnings else 0)

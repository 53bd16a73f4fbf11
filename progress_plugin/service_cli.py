"""Commands of the webhook service: serve, worker, outbox, check, backfill."""
from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from progress_plugin.cli import Context, now, pass_ctx


def service_config(obj: Context):
    from progress_plugin import settings
    return settings.load(obj.config, obj.store_flag)


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
    from werkzeug.serving import make_server

    from progress_plugin.app import create_app
    from progress_plugin.store import Store
    from progress_plugin.worker import Worker
    _logging(log_level)
    cfg = service_config(obj)
    store = Store.open(cfg.store_url)
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
    from progress_plugin.worker import Worker
    _logging(log_level)
    cfg = service_config(obj)
    w = Worker(obj.store if obj.store_flag else _store(cfg), cfg)
    if once:
        while w.run_once():
            pass
        return
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    signal.signal(signal.SIGINT, lambda *_: w.stop())
    w.run()


def _store(cfg):
    from progress_plugin.store import Store
    return Store.open(cfg.store_url)


@click.group("outbox")
def outbox_group():
    """Inspect and replay write-backs to the host (dead letters)."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(["pending", "done", "dead"]), default="dead", show_default=True)
@click.option("--clinic", help="Only this clinic.")
@click.option("--limit", default=100, show_default=True)
@pass_ctx
def outbox_list(obj: Context, status, clinic, limit):
    """List outbox rows (dead letters by default) with their last error."""
    from progress_plugin import outbox
    with obj.store.begin() as conn:
        rows = outbox.rows(conn, status, clinic, limit)
        counts = outbox.counts(conn)
    for r in rows:
        click.echo(f"{r['id']:>7} {r['clinic_id']} {r['kind']:<13} {r['status']:<7} attempts={r['attempts']} "
                   f"{r['key']}  {r['last_error'] or ''}")
    click.echo("totals: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_dead", is_flag=True, help="Retry every dead row.")
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def outbox_retry(obj: Context, ids, all_dead, actor):
    """Put dead rows back in the queue. Writes are idempotent, so a replay never duplicates."""
    from progress_plugin import outbox
    if not ids and not all_dead:
        raise click.UsageError("give row ids, or --all")
    with obj.store.begin() as conn:
        n = outbox.retry(conn, now(), ids or None)
        obj.store.audit(conn, "*", actor, "outbox.retry", f"rows:{','.join(map(str, ids)) or 'all-dead'} count:{n}",
                        "ok", now())
    click.echo(f"requeued: {n}")


@outbox_group.command("drop")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def outbox_drop(obj: Context, ids, actor):
    """Delete dead rows for good (the host will not get those writes)."""
    from progress_plugin import outbox
    with obj.store.begin() as conn:
        n = outbox.drop(conn, ids)
        obj.store.audit(conn, "*", actor, "outbox.drop", f"rows:{','.join(map(str, ids))} count:{n}", "ok", now())
    click.echo(f"dropped: {n}")


@click.command()
@pass_ctx
def check(obj: Context):
    """Verify the configuration, the store, the host's reachability and credentials, and the secrets."""
    from progress_plugin.errors import ProgressPluginError
    from progress_plugin.hostlink import client
    failures = 0
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
        _store(cfg).ping()
        click.echo(f"ok   store: {cfg.store_url.split('@')[-1]}")
    except Exception as exc:  # any driver error
        failures += 1
        click.echo(f"FAIL store: {exc.__class__.__name__}")
    if not cfg.host_url:                     # fine for Canvas or CDS Hooks alone; said plainly
        from progress_plugin.hostlink import NO_HOST
        click.echo(f"note host: {NO_HOST}")
    else:
        try:
            with client(cfg, retries=0) as c:
                meta = c.metadata()
            click.echo(f"ok   host: {cfg.host_url} FHIR {meta.get('fhirVersion', '?')}")
        except ProgressPluginError as exc:
            failures += 1
            click.echo(f"FAIL host: {exc}")
    sys.exit(1 if failures else 0)


@click.command()
@click.option("--clinic", required=True, help="Clinic whose notes are read.")
@click.option("--page-size", default=200, show_default=True, help="Notes per page (_count).")
@click.option("--write-back", is_flag=True, help="Also queue write-backs for the host (off: the notes came from it).")
@click.option("--restart", is_flag=True, help="Forget the checkpoint and start from the first page.")
@pass_ctx
def backfill(obj: Context, clinic, page_size, write_back, restart):
    """Read a clinic's historical notes through the host's paged search and record their progress tags.

    Resumes from its checkpoint; memory stays flat however many notes there are.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from progress_plugin import backfill as bf
    from progress_plugin.hostlink import client
    cfg = service_config(obj)
    store = obj.store if obj.store_flag else _store(cfg)
    if restart:
        bf.reset(store, clinic)
    with client(cfg) as c, Progress(TextColumn("backfill"), BarColumn(), MofNCompleteColumn(),
                                    TimeRemainingColumn(), transient=False) as bar:
        task = bar.add_task("notes", total=None)
        done = bf.run(store, c, clinic, now, page_size=page_size, write_back=write_back,
                      on_page=lambda n, total: bar.update(task, completed=n, total=total),
                      readable_note_types=cfg.readable_note_types(clinic))
    click.echo(f"backfill: {done} notes")


def register(main: click.Group) -> None:
    for command in (serve, worker, outbox_group, check, backfill, bundle_command):
        main.add_command(command)


@click.command("bundle")
@click.option("--out", type=click.Path(file_okay=False), default="hooks", show_default=True,
              help="Folder to write into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file is out of date.")
def bundle_command(out, check):
    """Write the host install bundle: webhook manifest, FHIR Subscriptions and the intake Questionnaire."""
    from pathlib import Path

    from progress_plugin import bundle, export
    docs = bundle.artifacts()
    if check:
        stale = export.stale(Path(out), docs)
        for rel in stale:
            click.echo(f"out of date: {Path(out) / rel}", err=True)
        sys.exit(1 if stale else 0)
    for path in export.write(Path(out), docs):
        click.echo(str(path))

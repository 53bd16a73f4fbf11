"""Commands of the webhook service: serve, worker, inbox, outbox, check, backfill."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from progress_plugin.service import backfill as bf
from progress_plugin.hosts import bundle
from progress_plugin.hosts import artifacts as export
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.service import settings
from progress_plugin.cli.context import Context, now, pass_ctx
from progress_plugin.core.dates import utc
from progress_plugin.errors import ProgressPluginError
from progress_plugin.service.hostlink import NO_HOST, client
from progress_plugin.store import Store
from progress_plugin.service.worker import Worker


def service_config(obj: Context):
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
    from werkzeug.serving import make_server            # the server extra (Flask): only `serve` needs it

    from progress_plugin.web.app import create_app          # the server extra (Flask)
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
    return Store.open(cfg.store_url)


def _when(value) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else ""


def _table(columns: list[str], rows: list[list]) -> None:
    """Print rows as a table. Piped to a file or another program, the table is not cut to
    the terminal's width: each row stays on one line, for grep."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=1000)
    table = Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))     # Text: no markup in values
    console.print(table)


def _subject(ids, count: int, everything: str = "all") -> str:
    """An audit subject: the row ids (cut short past 200 characters) and how many were changed."""
    listed = ",".join(map(str, ids)) or everything
    if len(listed) > 200:
        listed = listed[:200].rsplit(",", 1)[0] + ",..."
    return f"rows:{listed} count:{count}"


@click.group("inbox")
def inbox_group():
    """Inspect, replay or drop stored events the worker could not apply (failed rows)."""


@inbox_group.command("list")
@click.option("--status", type=click.Choice(["pending", "done", "failed"]), default="failed", show_default=True)
@click.option("--clinic", help="Only this clinic.")
@click.option("--limit", default=100, show_default=True)
@pass_ctx
def inbox_list(obj: Context, status, clinic, limit):
    """List inbox rows (failed ones by default) with their attempts and last error code."""
    with obj.store.begin() as conn:
        rows = inbox.rows(conn, status, clinic, limit)
        counts = inbox.counts(conn)
    if rows:
        _table(["id", "clinic", "type", "event", "status", "attempts", "error", "received", "processed"],
               [[r["id"], r["clinic_id"], r["event_type"], r["event_id"], r["status"], r["attempts"], r["error"],
                 _when(r["received_at"]), _when(r["processed_at"])] for r in rows])
    else:
        click.echo(f"no {status} rows" if status else "no rows")
    click.echo("totals: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@inbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_failed", is_flag=True, help="Retry every failed row (of --clinic, if given).")
@click.option("--clinic", help="Only rows of this clinic.")
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def inbox_retry(obj: Context, ids, all_failed, clinic, actor):
    """Put failed rows back in the queue, their attempts reset. A row already back is left alone."""
    if not ids and not all_failed:
        raise click.UsageError("give row ids, or --all")
    with obj.store.begin() as conn:
        taken = inbox.retry(conn, ids or None, clinic)
        _audit_rows(obj, conn, "inbox.retry", taken, ids, clinic, actor)
    click.echo(f"requeued: {len(taken)}")


@inbox_group.command("drop")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--clinic", help="Only rows of this clinic.")
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def inbox_drop(obj: Context, ids, clinic, actor):
    """Delete failed rows for good, with what they carried (their events are not applied)."""
    with obj.store.begin() as conn:
        taken = inbox.drop(conn, ids, clinic)
        _audit_rows(obj, conn, "inbox.drop", taken, ids, clinic, actor)
    click.echo(f"dropped: {len(taken)}")


def _audit_rows(obj: Context, conn, action: str, taken: list[dict], asked, clinic, actor) -> None:
    """One audit row per clinic whose rows were changed (ids and event types, no content), or
    one saying nothing was when none were."""
    by_clinic: dict[str, list[dict]] = {}
    for row in taken:
        by_clinic.setdefault(row["clinic_id"], []).append(row)
    for clinic_id, rows in sorted(by_clinic.items()):
        types = ",".join(sorted({r["event_type"] for r in rows}))
        obj.store.audit(conn, clinic_id, actor, action, f"{_subject([r['id'] for r in rows], len(rows))} "
                        f"types:{types}", "ok", now())
    if not taken:
        obj.store.audit(conn, clinic or "*", actor, action, _subject(asked, 0), "none", now())


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
    with obj.store.begin() as conn:
        rows = outbox.rows(conn, status, clinic, limit)
        counts = outbox.counts(conn)
    if rows:
        _table(["id", "clinic", "kind", "status", "attempts", "key", "error", "next attempt"],
               [[r["id"], r["clinic_id"], r["kind"], r["status"], r["attempts"], r["key"], r["last_error"],
                 _when(r["next_attempt_at"]) if r["status"] == "pending" else ""] for r in rows])
    else:
        click.echo(f"no {status} rows" if status else "no rows")
    click.echo("totals: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_dead", is_flag=True, help="Retry every dead row (of --clinic, if given).")
@click.option("--clinic", help="Only rows of this clinic.")
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def outbox_retry(obj: Context, ids, all_dead, clinic, actor):
    """Put dead rows back in the queue. Writes are idempotent, so a replay never duplicates."""
    if not ids and not all_dead:
        raise click.UsageError("give row ids, or --all")
    with obj.store.begin() as conn:
        n = outbox.retry(conn, now(), ids or None, clinic)
        obj.store.audit(conn, clinic or "*", actor, "outbox.retry", _subject(ids, n, "all-dead"), "ok", now())
    click.echo(f"requeued: {n}")


@outbox_group.command("drop")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--clinic", help="Only rows of this clinic.")
@click.option("--actor", default="cli", show_default=True)
@pass_ctx
def outbox_drop(obj: Context, ids, clinic, actor):
    """Delete dead rows for good (the host will not get those writes)."""
    with obj.store.begin() as conn:
        n = outbox.drop(conn, ids, clinic)
        obj.store.audit(conn, clinic or "*", actor, "outbox.drop", _subject(ids, n), "ok", now())
    click.echo(f"dropped: {n}")


@click.command()
@pass_ctx
def check(obj: Context):
    """Verify the configuration, the store, the host's reachability and credentials, and the secrets.

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
        store = _store(cfg)
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
    sys.exit(1 if failures else 3 if warnings else 0)


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
    for command in (serve, worker, inbox_group, outbox_group, check, backfill, bundle_command):
        main.add_command(command)


@click.command("bundle")
@click.option("--out", type=click.Path(file_okay=False), default="hooks", show_default=True,
              help="Folder to write into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file is out of date.")
def bundle_command(out, check):
    """Write the host install bundle: webhook manifest, FHIR Subscriptions and the intake Questionnaire."""

    docs = bundle.artifacts()
    if check:
        stale = export.stale(Path(out), docs)
        for rel in stale:
            click.echo(f"out of date: {Path(out) / rel}", err=True)
        sys.exit(1 if stale else 0)
    for path in export.write(Path(out), docs):
        click.echo(str(path))

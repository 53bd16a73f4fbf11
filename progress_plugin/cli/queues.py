"""The failed inbox rows and the dead outbox rows: list, retry, drop."""
from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from progress_plugin.cli.context import Context, now, pass_ctx
from progress_plugin.core.dates import utc
from progress_plugin.store import inbox, outbox


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
    """List outbox rows (dead letters by default) with their last error, and where each goes: the
    configured host, or a SMART EHR (``smart:<ehr>``, sent with a launch's token from its pages)."""
    with obj.store.begin() as conn:
        rows = outbox.rows(conn, status, clinic, limit)
        counts = outbox.counts(conn)
    if rows:
        _table(["id", "clinic", "to", "kind", "status", "attempts", "key", "error", "next attempt"],
               [[r["id"], r["clinic_id"], r["target"] or "host", r["kind"], r["status"], r["attempts"], r["key"],
                 r["last_error"], _when(r["next_attempt_at"]) if r["status"] == "pending" else ""] for r in rows])
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

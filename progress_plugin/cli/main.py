"""The ``progress-plugin`` command line."""
from __future__ import annotations

import sys

import click

from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.errors import NotFound
from progress_plugin.service import demo as demo_mod

#: The command groups, each in its own module, loaded when its command runs: a command
#: carries only what it uses (the backfill, say, neither the web service nor the artifacts).
COMMANDS = {
    "serve": "progress_plugin.cli.service:serve",
    "worker": "progress_plugin.cli.service:worker",
    "check": "progress_plugin.cli.service:check",
    "inbox": "progress_plugin.cli.queues:inbox_group",
    "outbox": "progress_plugin.cli.queues:outbox_group",
    "backfill": "progress_plugin.cli.backfill:backfill",
    "vocab": "progress_plugin.cli.vocab:vocab",
    "tokens": "progress_plugin.cli.tokens:tokens",
    "checkin": "progress_plugin.cli.checkin:checkin",
    "clinics": "progress_plugin.cli.clinics:clinics",
    "report": "progress_plugin.cli.report:report",
    "ending": "progress_plugin.cli.ending:ending",
    "summary": "progress_plugin.cli.report:summary",
    "schemas": "progress_plugin.cli.artifacts:schemas",
    "hooks": "progress_plugin.cli.artifacts:hooks",
    "bundle": "progress_plugin.cli.artifacts:bundle_command",
    "prune": "progress_plugin.cli.retention:prune",
    "audit": "progress_plugin.cli.retention:audit",
}


@click.group(cls=Group, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_flag", metavar="URL",
              help="SQLAlchemy URL of the store. Else $PROGRESS_PLUGIN_STORE, else [store] url in the config "
                   "file, else sqlite:///progress.db in the current folder.")
@click.option("--config", "config_flag", metavar="FILE", type=click.Path(dir_okay=False),
              help="TOML config file. Else $PROGRESS_PLUGIN_CONFIG, else ./progress-plugin.toml if present.")
@click.version_option(package_name="progress-plugin")
@click.pass_context
def main(ctx, store_flag, config_flag):
    """Defining progress together, and per-note progress tags, for your notes platform."""
    ctx.obj = Context(store_flag, config_flag)


@main.command()
@pass_ctx
def demo(obj: Context):
    """Walk one client through intake and seven tagged sessions on the store, and print their progress."""
    demo_mod.run(obj.store, click.echo, now())


@main.command()
@pass_ctx
def migrate(obj: Context):
    """Create or upgrade the store's tables (run once per deployment), then create the clinics the
    config file lists (``[[clinics]]``; no secret is read)."""
    from progress_plugin.cli.clinics import create_listed
    store = obj.store
    click.echo(f"store ready: {store.dialect}")
    for line in create_listed(store, obj.config):
        click.echo(line)


@main.command()
@click.option("--clinic", help="Clinic id.")
@click.option("--client", "client_id", help="Client id whose data is removed (matched exactly, as typed).")
@click.option("--actor", default="cli", show_default=True, help="Who asked, for the audit row.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait for other processes (one reading the SQLite write-ahead log, one holding "
                   "a PostgreSQL table) before reporting the erasure incomplete.")
@click.option("--vacuum", "rebuild", is_flag=True,
              help="Also rebuild the store (SQLite VACUUM; VACUUM FULL of every purged table on PostgreSQL), "
                   "clearing copies that versions before this one freed without zeroing. Blocks writers while "
                   "it runs.")
@click.option("--erase-only", is_flag=True,
              help="Delete nothing; only erase what earlier deletes freed, e.g. to finish a purge that "
                   "exited 3. With --clinic and --client, the outcome is audited for that client.")
@pass_ctx
def purge(obj: Context, clinic, client_id, actor, yes, wait, rebuild, erase_only):
    """Remove every record of one client and erase the freed copies from the store's files.

    Removes the intake, goals, ratings, note tags, queued and sent write-backs and waiting
    events, leaving audit rows (counts and erasure, no content). Exits 1 for an unknown clinic
    or client, and 3 when the rows are gone but a copy may remain until another process lets
    go (run again with --erase-only)."""
    store = obj.store
    if erase_only:
        if bool(clinic) != bool(client_id):
            raise click.UsageError("--erase-only takes both --clinic and --client, or neither.")
        erased = store.erase(wait, rebuild)
        if clinic:
            with store.begin() as c:
                store.audit(c, clinic, actor, "client.erase", f"client:{client_id} {erased.detail}",
                            "ok" if erased.erased else "incomplete", now())
        _report_erasure(erased)
        return
    if not clinic or not client_id:
        raise click.UsageError("Missing option '--clinic' or '--client'.")
    if not store.clinic_exists(clinic):
        raise NotFound(f"no clinic {clinic!r}; nothing was purged")
    if not store.has_client(clinic, client_id):
        raise NotFound(f"no client {client_id!r} in clinic {clinic!r}; nothing was purged (ids are matched exactly)")
    if not yes:
        click.confirm(f"Remove all progress data of client {client_id} in clinic {clinic}?", abort=True)
    result = store.purge(clinic, client_id, actor, now(), wait=wait, rebuild=rebuild)
    click.echo("purged: " + " ".join(f"{k}={v}" for k, v in sorted(result.counts.items())))
    _report_erasure(result)


def _report_erasure(result) -> None:
    click.echo(f"erased: {result.detail}")
    if not result.erased:
        click.echo("warning: the rows are gone, but freed copies may remain in the store's files until the "
                   "process holding them lets go; run `progress-plugin purge --erase-only` again later.", err=True)
        sys.exit(3)

"""The ``progress-plugin`` command line."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from progress_plugin.service import demo as demo_mod
from progress_plugin.hosts import artifacts as export
from progress_plugin.hosts import reference as hookdoc
from progress_plugin.cli import report as report_cli
from progress_plugin.cli import service as service_cli
from progress_plugin.cli import vocab as vocab_cli
from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.errors import NotFound


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    """Create or upgrade the store's tables (run once per deployment)."""
    store = obj.store
    click.echo(f"store ready: {store.dialect}")


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


@main.group()
def schemas():
    """JSON Schema and FHIR artifacts generated from the code."""


@schemas.command("export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("schemas"),
              show_default=True, help="Folder to write into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file is out of date.")
def schemas_export(out: Path, check: bool):
    """Write the JSON Schema of every boundary payload and the FHIR artifacts into a folder."""
    if check:
        stale = export.stale(out)
        for rel in stale:
            click.echo(f"out of date: {out / rel}", err=True)
        sys.exit(1 if stale else 0)
    for path in export.write(out):
        click.echo(str(path))


@main.group()
def hooks():
    """The extension points for Python hosts (pluggy)."""


@hooks.command("reference")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("hooks/REFERENCE.md"),
              show_default=True, help="File to write.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the file is out of date or a hook is undocumented.")
def hooks_reference(out: Path, check: bool):
    """Write the hook reference, generated from the host spec's docstrings."""
    gaps = hookdoc.problems()
    for gap in gaps:
        click.echo(f"undocumented: {gap}", err=True)
    if check:
        if hookdoc.stale(out):
            click.echo(f"out of date: {out}", err=True)
        sys.exit(1 if gaps or hookdoc.stale(out) else 0)
    if gaps:
        sys.exit(1)
    click.echo(str(hookdoc.write(out)))


service_cli.register(main)
for command in (vocab_cli.vocab, vocab_cli.tokens, report_cli.report, report_cli.summary):
    main.add_command(command)

"""`progress-plugin backfill`: historical notes through the host's paged search."""
from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from progress_plugin.errors import NotFound
from progress_plugin.store.vocabularies import no_clinic
from progress_plugin.cli.context import Context, now, open_store, pass_ctx, service_config
from progress_plugin.service import backfill as bf
from progress_plugin.service.hostlink import client


@click.command()
@click.option("--clinic", required=True, help="Clinic whose notes are read.")
@click.option("--page-size", default=200, show_default=True, help="Notes per page (_count).")
@click.option("--write-back", is_flag=True, help="Also queue write-backs for the host (off: the notes came from it).")
@click.option("--restart", is_flag=True, help="Forget the checkpoint and start from the first page.")
@pass_ctx
def backfill(obj: Context, clinic, page_size, write_back, restart):
    """Read a clinic's historical notes through the host's paged search and record their progress tags.

    Resumes from its checkpoint; memory stays flat however many notes there are. The clinic must exist
    (`clinics add`, or `migrate` for the clinics of the config file).
    """

    cfg = service_config(obj)
    store = obj.store if obj.store_flag else open_store(cfg)
    if not store.clinic_exists(clinic):          # a typo in --clinic makes no clinic
        raise NotFound(no_clinic(clinic), clinic_id=clinic)
    if restart:
        bf.reset(store, clinic)
    with client(cfg) as c, Progress(TextColumn("backfill"), BarColumn(), MofNCompleteColumn(),
                                    TimeRemainingColumn(), transient=False) as bar:
        task = bar.add_task("notes", total=None)
        done = bf.run(store, c, clinic, now, page_size=page_size, write_back=write_back,
                      on_page=lambda n, total: bar.update(task, completed=n, total=total),
                      readable_note_types=cfg.readable_note_types(clinic))
    click.echo(f"backfill: {done} notes")

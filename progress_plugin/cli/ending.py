"""``progress-plugin ending``: one client's ending summary as printable HTML and a PDF, for the
client or for the record, in the language asked for."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from progress_plugin import lang
from progress_plugin.cli.context import Context, now, pass_ctx
from progress_plugin.cli.report import language_option, write_private
from progress_plugin.cli.vocab import clinic_of, clinic_option
from progress_plugin.service import ending as ending_mod
from progress_plugin.service.runtime import Runtime
from progress_plugin.view.ending import AUDIENCES


def _write_bytes(path: Path, data: bytes) -> None:
    """As :func:`write_private`, for bytes: created 0600 beside ``path``, then moved into place."""
    if path.is_symlink() or path.is_dir():
        raise click.ClickException(f"{path} is a link or a folder; refusing to write there")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@click.command()
@clinic_option
@click.option("--client", "client_id", required=True, metavar="ID", help="The client's id.")
@click.option("--audience", type=click.Choice(AUDIENCES), default="client", show_default=True,
              help="client: for the client (no therapist-only tags); record: for the clinical record.")
@click.option("--lang", "language", metavar="LANG", callback=language_option,
              help=f"The summary's language ({', '.join(lang.LANGUAGES)}). Default: the clinic's language, else en.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write ending-<client>-<audience>-<lang>.html and .pdf into.")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only (the PDF needs the `pdf` extra).")
@pass_ctx
def ending(obj: Context, clinic, client_id, audience, language, out_dir: Path, no_pdf):
    """Write one client's ending summary: where each goal started and ended, what happened along
    the way, what they said progress would look like and their session checks, as printable HTML
    and a PDF (files readable by you only)."""
    clinic = clinic_of(obj, clinic)
    words = lang.words(lang.choose(language, (), obj.store.clinic_language(clinic)))
    page = ending_mod.html(Runtime(obj.store, clock=now), clinic, client_id, audience, words,
                           show_strain=ending_mod.shows_strain(obj.config, clinic))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"ending-{_safe(client_id)}-{audience}-{words.code}"
    write_private(stem.with_suffix(".html"), page)
    click.echo(f"wrote {stem.with_suffix('.html')}", err=True)
    if no_pdf:
        return
    try:
        data = ending_mod.pdf(page)
    except ending_mod.PdfUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    _write_bytes(stem.with_suffix(".pdf"), data)
    click.echo(f"wrote {stem.with_suffix('.pdf')}", err=True)


def _safe(client_id: str) -> str:
    """The client id as a file name part: letters, digits, dot, dash and underscore kept, others '_'."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in client_id)[:64] or "client"

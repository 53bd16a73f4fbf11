"""``progress-plugin report`` (one client's progress panel to a file) and ``progress-plugin summary``."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

import click

from progress_plugin import lang
from progress_plugin.core.words import ENGLISH, Words
from progress_plugin.schemas.field_types import LANGUAGE_TAG
from progress_plugin.view import panel
from progress_plugin.cli.context import Context, now, pass_ctx
from progress_plugin.core.handle import handle
from progress_plugin.errors import NotFound
from progress_plugin.core.events import PanelRequested
from progress_plugin.service.runtime import Runtime
from progress_plugin.service.summary import clinic_summary
from progress_plugin.store.vocabularies import no_clinic
from progress_plugin.cli.vocab import clinic_of, clinic_option

FORMATS = ("html", "json", "svg")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only: the panel holds the client's words.

    The text goes to a new file created 0600 beside ``path``, which then takes ``path``'s place
    (``os.replace``): an existing file, whatever its mode or other hard links, is never written
    into, and the words are never readable by others, not even for a moment. A symlink at
    ``path`` is refused rather than followed."""
    if path.is_symlink():
        raise click.ClickException(f"{path} is a symbolic link; refusing to write through it (name a plain file)")
    if path.is_dir():
        raise click.ClickException(f"{path} is a folder; name a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)   # O_EXCL, 0600
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)          # renames over a symlink made meanwhile, never through it
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def language_option(ctx, param, value):
    """``--lang``: a language the catalogs carry (``hi``, ``hi-IN``...), as its catalog's code."""
    if value is None:
        return None
    code = lang.supported(value) if LANGUAGE_TAG.regex.match(value) else None
    if code is None:
        raise click.BadParameter(f"{value!r} is not a language the panel speaks; "
                                 f"use one of: {', '.join(lang.LANGUAGES)}.")
    return code


def render(runtime: Runtime, clinic_id: str, client_id: str, audience: str, fmt: str,
           words: Words = ENGLISH) -> str:
    """One client's panel in ``fmt`` (html | json | svg), computed now, in ``words``' language."""
    panel.check_audience(audience)
    state = runtime.state(clinic_id, client_id)
    if state.intake is None and not state.notes:
        if not runtime.store.clinic_exists(clinic_id):
            raise NotFound(no_clinic(clinic_id), clinic_id=clinic_id)
        raise NotFound(f"no client {client_id!r} in clinic {clinic_id!r}", clinic_id=clinic_id)
    (shown,) = handle(PanelRequested(clinic_id, runtime.clock(), client_id, audience), state)
    if fmt == "json":
        return json.dumps(panel.panel_data(shown.progress, state.intake, shown.audience, words),
                          indent=2, ensure_ascii=False) + "\n"
    if fmt == "svg":
        return panel.render_svg(shown.progress, state.intake, shown.audience, words)
    return panel.render_html(shown.progress, state.intake, shown.audience, words=words)


@click.command()
@clinic_option
@click.option("--client", "client_id", required=True, metavar="ID", help="The client's id.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write (created readable by you only), or - for standard output.")
@click.option("--view", "audience", type=click.Choice(panel.AUDIENCES), default="therapist", show_default=True,
              help="client: for sharing with the client (no therapist-only tags, no private reflection).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Default: from the file's extension (.json, .svg), else html.")
@click.option("--lang", "language", metavar="LANG", callback=language_option,
              help=f"The panel's language ({', '.join(lang.LANGUAGES)}). Default: the clinic's language, else en.")
@pass_ctx
def report(obj: Context, clinic, client_id, out: Path, audience, fmt, language):
    """Write one client's progress panel: self-contained HTML (opens offline), JSON or SVG."""
    clinic = clinic_of(obj, clinic)
    fmt = fmt or (out.suffix.lstrip(".").lower() if out.suffix.lstrip(".").lower() in FORMATS else "html")
    words = lang.words(lang.choose(language, (), obj.store.clinic_language(clinic)))
    text = render(Runtime(obj.store, clock=now), clinic, client_id, audience, fmt, words)
    if str(out) == "-":
        sys.stdout.write(text)
        return
    write_private(out, text)
    click.echo(f"wrote {out} ({fmt}, {audience} view, {words.code})", err=True)


@click.command()
@clinic_option
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First session date counted (default: 90 days ago).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last session date counted (default: today).")
@pass_ctx
def summary(obj: Context, clinic, start, end):
    """Print the clinic summary as JSON: agreed goals, reviews due, tags by category. Counts only."""
    clinic = clinic_of(obj, clinic)
    day = (lambda d: None if d is None else date(d.year, d.month, d.day))
    data = clinic_summary(Runtime(obj.store, clock=now), clinic, day(start), day(end))
    click.echo(json.dumps(data, indent=2))

"""Files generated from the code: JSON Schema and FHIR artifacts, the hook reference, the
host install bundle."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from progress_plugin.hosts import artifacts as export
from progress_plugin.hosts import bundle
from progress_plugin.hosts import reference as hookdoc


@click.group()
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


@click.group()
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

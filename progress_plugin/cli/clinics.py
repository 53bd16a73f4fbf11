"""``progress-plugin clinics add|list|show``: the clinics of the store.

A clinic starts with the default vocabulary as version 1. ``migrate`` also creates every clinic
the config file lists (``[[clinics]]``: its id, name and language; no secret is needed), so a
fresh install is ready for ``vocab`` and ``tokens`` before the service first starts.
"""
from __future__ import annotations

import json

import click

from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.lang import LANGUAGES
from progress_plugin.service import settings
from progress_plugin.store import Store
from progress_plugin.store import clinics as clinics_mod
from progress_plugin.store.tokens import CLINIC_RE


class ClinicId(click.ParamType):
    name = "id"

    def convert(self, value, param, ctx):
        if not CLINIC_RE.match(value or ""):
            self.fail("a clinic id is 1-128 letters, digits, '.', '_' or '-'", param, ctx)
        return value


CLINIC_ID = ClinicId()


def _language(value: str | None) -> str:
    return value or "en (default)"


def ensure(store: Store, clinic_id: str, name: str | None, language: str | None) -> str:
    """Create the clinic unless it exists (setting its language when one is given); what happened, in words."""
    before = store.clinic_language(clinic_id)             # None for a clinic not made yet, or English
    created = store.ensure_clinic(clinic_id, now(), name or None, language=language)
    facts = clinics_mod.facts(store, clinic_id)
    if created:
        return (f"created clinic {clinic_id!r} ({facts.name}, language {_language(facts.language)}) with the "
                f"default vocabulary: version {facts.version}, {facts.active_tags} tags")
    said = [f"clinic {clinic_id!r} already exists ({facts.name})"]
    changes = []
    if language is not None and language != before:
        changes.append(f"its language is now {language} (was {_language(before)})")
    if name and name != facts.name:
        said.append(f"its name stays {facts.name!r}")
    return "; ".join(said + (changes or [f"language {_language(facts.language)}; nothing changed"]))


def create_listed(store: Store, raw: dict) -> list[str]:
    """Create the clinics a parsed config file lists; one line per clinic saying what happened."""
    return [ensure(store, c["id"], c["name"], c["language"]) for c in settings.listed_clinics(raw)]


@click.group(cls=Group)
def clinics():
    """The clinics: each has its own vocabulary, tokens and clients."""


@clinics.command()
@click.argument("clinic_id", metavar="ID", type=CLINIC_ID)
@click.option("--name", help="The clinic's name as people know it (default: its id).")
@click.option("--language", type=click.Choice(LANGUAGES),
              help="The language its pages and answers use by default (default: en).")
@pass_ctx
def add(obj: Context, clinic_id, name, language):
    """Create clinic ID with the default vocabulary. Running it again changes nothing but the language."""
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise click.BadParameter("a name is 1-200 characters", param_hint="--name")
    click.echo(ensure(obj.store, clinic_id, name and name.strip(), language))


def _row(f: clinics_mod.ClinicFacts) -> str:
    return (f"{f.clinic_id:<20} v{f.version:<4} {f.active_tags:>3} tags ({f.retired_tags} retired)  "
            f"{f.notes:>6} notes  {f.tokens:>2} tokens  {f.language or 'en':<3} {f.name}")


def _json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=lambda v: v.isoformat()))


@clinics.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def list_(obj: Context, as_json):
    """Every clinic: id, vocabulary version, tags, notes, active tokens, language and name."""
    found = clinics_mod.listing(obj.store)
    if as_json:
        return _json([f.as_dict() for f in found])
    if not found:
        click.echo("no clinics yet; add one with `progress-plugin clinics add ID`, or list them in the config "
                   "file and run `progress-plugin migrate`")
    for facts in found:
        click.echo(_row(facts))


@clinics.command()
@click.argument("clinic_id", metavar="ID", type=CLINIC_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def show(obj: Context, clinic_id, as_json):
    """One clinic: its name, language, vocabulary version and who made it, and its counts."""
    f = clinics_mod.facts(obj.store, clinic_id)
    if as_json:
        return _json(f.as_dict())
    for label, value in [("clinic", f.clinic_id), ("name", f.name), ("language", _language(f.language)),
                         ("created", f"{f.created_at:%Y-%m-%d %H:%M}Z"),
                         ("vocabulary", f"version {f.version}, {f.changed_at:%Y-%m-%d %H:%M}Z by {f.changed_by}"),
                         ("tags", f"{f.active_tags} active, {f.retired_tags} retired"),
                         ("notes", f"{f.notes} ({f.tagged_notes} tagged)"), ("clients", f.clients),
                         ("tokens", f"{f.tokens} active")]:
        click.echo(f"{label + ':':<12}{value}")

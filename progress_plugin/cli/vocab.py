"""``progress-plugin vocab``: the tag vocabulary (``progress-plugin tokens`` is :mod:`progress_plugin.cli.tokens`).

The clinic is ``--clinic``, else ``$PROGRESS_PLUGIN_CLINIC``, else the one clinic of the config
file's ``[[clinics]]`` when it names exactly one. With several clinics, or none, it must be given:
an admin command never guesses which clinic it changes. Nor does it create one: a clinic that does
not exist is refused, naming ``progress-plugin clinics add`` and ``migrate`` (a typo in ``--clinic``
must not make a new clinic).

Every change is a new vocabulary version and an audit row naming ``--actor`` (default
``cli:<login name>``).
"""
from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import click

from progress_plugin import lang
from progress_plugin.schemas import jsonio
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.service.runtime import Runtime
from progress_plugin.schemas import MAX_VERSION, load, tag_edit_schema, tag_schema
from progress_plugin.core.vocabulary import AUDIENCES, DIRECTIONS, ROLES, Vocabulary

ENV_CLINIC = "PROGRESS_PLUGIN_CLINIC"
ENV_HOST_URL = "PROGRESS_PLUGIN_HOST_URL"
VERSION = click.IntRange(min=1, max=MAX_VERSION)
ROLE = click.Choice(ROLES + ("none",))
LANGUAGE = click.Choice(lang.LANGUAGES)
ROLE_HELP = "What the logic does with it: review resets the review clock; a strain stays open until a repair."
NEW_CATEGORY_HELP = ("--category names a new category on purpose. Without it, a category must be a default one "
                     "or one the vocabulary already has, so a typo is refused with the closest one.")


def texts_of(pairs, option: str) -> dict:
    """Repeated ``--label-in LANG TEXT`` options as ``{LANG: TEXT}``; a language given twice is refused."""
    out: dict = {}
    for language, text in pairs:
        if language in out:
            raise click.BadParameter(f"{language} is given twice", param_hint=option)
        out[language] = text
    return out


def role_of(value: str | None):
    """The ``--role`` option as a tag field: 'none' is no role."""
    return None if value == "none" else value


class CleanText(click.ParamType):
    """Text as the schemas take it: a NUL or a lone surrogate (how Python passes on bytes of an
    argument that are not UTF-8) is refused, naming the option, before anything is stored."""

    name = "text"

    def convert(self, value, param, ctx):
        problem = jsonio.str_problem(value) if isinstance(value, str) else None
        if problem:
            self.fail(problem, param, ctx)
        return value


TEXT = CleanText()


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def clinic_option(f):
    return click.option("--clinic", envvar=ENV_CLINIC, metavar="ID", type=TEXT,
                        help=f"Clinic id. Else ${ENV_CLINIC}, else the only clinic in the config file.")(f)


def actor_option(f):
    return click.option("--actor", default=default_actor, show_default="cli:<login name>", type=TEXT,
                        help="Who makes the change, for the history and the audit log.")(f)


def clinic_of(obj: Context, flag: str | None) -> str:
    if flag:
        if len(flag) > 128:
            raise click.BadParameter("a clinic id is 1-128 characters", param_hint="--clinic")
        return flag
    listed = [c.get("id") for c in obj.config.get("clinics", []) if isinstance(c, dict) and c.get("id")]
    if len(listed) == 1:
        return listed[0]
    hint = f" The config file names: {', '.join(listed)}." if listed else ""
    raise click.UsageError(f"Say which clinic: --clinic ID or ${ENV_CLINIC}.{hint}")


def new_category_option(f):
    return click.option("--new-category", is_flag=True, help=NEW_CATEGORY_HELP)(f)


def texts_options(f):
    """``--label-in LANG TEXT`` and ``--description-in LANG TEXT``, each repeatable: a tag's texts in other languages."""
    f = click.option("--description-in", "descriptions", type=(LANGUAGE, TEXT), multiple=True,
                     metavar="LANG TEXT", help="The description in language LANG (repeatable).")(f)
    return click.option("--label-in", "labels", type=(LANGUAGE, TEXT), multiple=True, metavar="LANG TEXT",
                        help=f"The label in language LANG, one of {', '.join(lang.LANGUAGES)} (repeatable).")(f)


def lang_option(f):
    return click.option("--lang", "language", type=LANGUAGE, help="Show labels and descriptions in this language "
                        "(else the clinic's default language, else the base text).")(f)


def show_tag(tag, language: str | None = None, fallback: str | None = None) -> str:
    flags = [tag.category, tag.direction]
    if tag.role:
        flags.append(f"role: {tag.role}")
    if tag.therapist_only:
        flags.append("therapist-only")
    if not tag.active:
        flags.append("RETIRED")
    label = tag.label_in(language, fallback) if language else tag.label
    return f"{tag.code:<26} {label:<34} [{', '.join(flags)}]"


def echo(text: str, **kwargs) -> None:
    """``click.echo`` of stored text: a NUL or lone surrogate stored before they were refused is
    shown as its escape instead of failing the output."""
    click.echo(jsonio.printable(text), **kwargs)


def echo_json(doc) -> None:
    echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def _save(obj: Context, clinic: str, current: Vocabulary, op: str, code: str, actor: str, **kwargs) -> Vocabulary:
    new, change = vocab_io.change(current, op, code, **kwargs)
    obj.store.save_vocabulary(clinic, new, actor, change, now(), expected_version=current.version)
    _publish(obj, clinic, new, actor)
    click.echo(f"{change}: version {new.version}")
    return new


def _publish(obj: Context, clinic: str, vocabulary: Vocabulary, actor: str) -> None:
    """Tell the core of the new version; with a host configured, the CodeSystem and ValueSet it asks
    for are queued (the worker sends them)."""
    host = bool(os.environ.get(ENV_HOST_URL) or (obj.config.get("host") or {}).get("base_url"))
    vocab_io.changed(Runtime(obj.store), clinic, vocabulary, actor, now(), queue=host)


def _current(obj: Context, clinic: str) -> Vocabulary:
    """The clinic's current vocabulary. A clinic that does not exist is refused (exit 1) with the commands
    that create one: a change never creates a clinic, so a typo in --clinic makes nothing."""
    return obj.store.vocabulary(clinic)


# -- vocab ----------------------------------------------------------------------------------
@click.group(cls=Group)
def vocab():
    """Administer a clinic's tag vocabulary. Every change makes a new version; old notes keep their meaning."""


@vocab.command("list")
@clinic_option
@click.option("--version", type=VERSION, help="A past version (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@lang_option
@pass_ctx
def list_(obj: Context, clinic, version, as_json, language):
    """List every tag (active and retired) of the current or a past version. JSON carries every language."""
    clinic = clinic_of(obj, clinic)
    vocabulary = obj.store.vocabulary(clinic, version)
    if as_json:
        echo_json({"clinic_id": clinic, "version": vocabulary.version, "tags": [t.as_dict() for t in vocabulary.tags]})
        return
    click.echo(f"clinic {clinic}, vocabulary version {vocabulary.version}" + (f", in {language}" if language else ""))
    fallback = lang.supported(obj.store.clinic_language(clinic)) if language else None
    for tag in vocabulary.tags:
        echo(show_tag(tag, language, fallback))


@vocab.command()
@clinic_option
@click.argument("code", type=TEXT)
@click.option("--version", type=VERSION, help="A past version (default: the current one).")
@lang_option
@pass_ctx
def show(obj: Context, clinic, code, version, language):
    """Show one tag, as JSON, with its labels and descriptions in every language. With --lang, "shown" holds
    the label and description a person reading that language sees."""
    clinic = clinic_of(obj, clinic)
    vocabulary = obj.store.vocabulary(clinic, version)
    tag = vocabulary.resolve(code)
    doc = {"version": vocabulary.version, **tag.as_dict()}
    if language:
        fallback = lang.supported(obj.store.clinic_language(clinic))
        doc["shown"] = {"lang": language, "label": tag.label_in(language, fallback),
                        "description": tag.description_in(language, fallback)}
    echo_json(doc)


@vocab.command()
@clinic_option
@actor_option
@click.argument("code", type=TEXT)
@click.option("--label", required=True, help="1-80 characters, unique within its category.")
@click.option("--category", required=True,
              help="movement, awareness, action, relationship, therapist, or another the vocabulary has.")
@new_category_option
@click.option("--direction", required=True, type=click.Choice(DIRECTIONS), help="How the tag reads on a chart.")
@click.option("--description", default="", help="One line on what the tag means.")
@click.option("--audience", default="all", show_default=True, type=click.Choice(AUDIENCES),
              help="'therapist' keeps the tag out of client-facing views and exports.")
@click.option("--role", default="none", show_default=True, type=ROLE, help=ROLE_HELP)
@texts_options
@pass_ctx
def add(obj: Context, clinic, actor, code, role, labels, descriptions, new_category, **fields):
    """Add a tag with a new CODE (1-64 of letters, digits, '.', '_', '-'; never reused).

    --label and --description are the base texts (English); --label-in hi "..." and
    --description-in hi "..." give them in another language."""
    clinic = clinic_of(obj, clinic)
    tag = load(tag_schema, {"code": code, **fields, "role": role_of(role), "labels": texts_of(labels, "--label-in"),
                            "descriptions": texts_of(descriptions, "--description-in")})
    _save(obj, clinic, _current(obj, clinic), "add", code, actor, tag=tag, new_category=new_category)


@vocab.command()
@clinic_option
@actor_option
@click.argument("code", type=TEXT)
@click.option("--label", help="New label.")
@click.option("--category", help="New category (one the vocabulary has, or see --new-category).")
@new_category_option
@click.option("--direction", type=click.Choice(DIRECTIONS), help="New direction.")
@click.option("--description", help="New description.")
@click.option("--audience", type=click.Choice(AUDIENCES), help="New audience.")
@click.option("--role", type=ROLE, help="New role, or 'none' to remove it. " + ROLE_HELP)
@texts_options
@pass_ctx
def edit(obj: Context, clinic, actor, code, role, labels, descriptions, new_category, **fields):
    """Change a tag's label, description, category, direction, audience or role, or its texts in other
    languages. The code stays.

    --label-in hi "..." sets the Hindi label, --label-in hi "" removes it; other languages keep theirs."""
    clinic = clinic_of(obj, clinic)
    fields = {k: v for k, v in fields.items() if v is not None}
    if role is not None:
        fields["role"] = role_of(role)
    for name, given, option in (("labels", labels, "--label-in"), ("descriptions", descriptions, "--description-in")):
        if given:
            fields[name] = {k: v or None for k, v in texts_of(given, option).items()}
    changes = load(tag_edit_schema, fields)
    _save(obj, clinic, _current(obj, clinic), "edit", code, actor, changes=changes,
          new_category=new_category)


@vocab.command()
@clinic_option
@actor_option
@click.argument("code", type=TEXT)
@pass_ctx
def retire(obj: Context, clinic, actor, code):
    """Retire a tag: it can no longer be applied; notes that carry it keep it."""
    clinic = clinic_of(obj, clinic)
    _save(obj, clinic, _current(obj, clinic), "retire", code, actor)


@vocab.command()
@clinic_option
@actor_option
@click.argument("code", type=TEXT)
@pass_ctx
def restore(obj: Context, clinic, actor, code):
    """Restore a retired tag, so it can be applied again."""
    clinic = clinic_of(obj, clinic)
    _save(obj, clinic, _current(obj, clinic), "restore", code, actor)


@vocab.command()
@clinic_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@pass_ctx
def history(obj: Context, clinic, as_json):
    """List the versions, oldest first, with who made each, when, and what changed."""
    clinic = clinic_of(obj, clinic)
    rows = obj.store.history(clinic)
    if not rows:
        obj.store.current_version(clinic)              # an unknown clinic says so
    if as_json:
        echo_json([{**r, "at": r["at"].isoformat()} for r in rows])
        return
    for r in rows:
        echo(f"{r['version']:>4}  {r['at']:%Y-%m-%d %H:%M:%S}Z  {r['by']:<24} {r['change']}")


@vocab.command()
@clinic_option
@click.argument("v1", type=VERSION)
@click.argument("v2", type=VERSION)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@pass_ctx
def diff(obj: Context, clinic, v1, v2, as_json):
    """What changed from version V1 to version V2."""
    clinic = clinic_of(obj, clinic)
    changes = obj.store.vocabulary(clinic, v1).diff(obj.store.vocabulary(clinic, v2))
    if as_json:
        echo_json({"from": v1, "to": v2, **changes})
        return
    click.echo(f"from version {v1} to {v2}:")
    for kind in ("added", "removed", "retired", "restored"):
        for code in changes[kind]:
            click.echo(f"  {kind:<9}{code}")
    for item in changes["edited"]:
        for field, (old, new) in item["fields"].items():
            echo(f"  edited   {item['code']} {field}: {old!r} -> {new!r}")
    if not any(changes.values()):
        click.echo("  no changes")


@vocab.command("import")
@clinic_option
@actor_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the file; change nothing.")
@click.option("--new-category", "new_categories", is_flag=True,
              help="Allow categories the vocabulary does not have yet (else each is refused as a likely typo).")
@pass_ctx
def import_(obj: Context, clinic, actor, file: Path, check, new_categories):
    """Import FILE: our vocabulary JSON, or a FHIR Bundle (CodeSystem + ValueSet) or CodeSystem.

    The whole file is checked first; every problem is printed with its line and path, and
    nothing changes while there is any. Codes the file does not name stay, retired. Importing
    the same content again makes no new version.
    """
    clinic = clinic_of(obj, clinic)
    try:
        size = file.stat().st_size
        if size > fhir_vocabulary.MAX_FILE_BYTES:
            raise click.ClickException(f"{file}: larger than {fhir_vocabulary.MAX_FILE_BYTES // (1024 * 1024)} MB; "
                                       "not a vocabulary file")
        content = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    store = obj.store
    current = _current(obj, clinic)           # checked against the clinic's tags, so the clinic must exist
    parsed = fhir_vocabulary.read(content, current, new_categories)
    if check:
        click.echo(f"ok: {len(parsed.tags)} tags ({parsed.kind}); nothing changed")
        return
    vocabulary, changed = vocab_io.apply(store, clinic, parsed, actor, now(), expected_version=current.version,
                                         new_categories=new_categories)
    if changed:
        _publish(obj, clinic, vocabulary, actor)
        click.echo(f"imported {len(parsed.tags)} tags ({parsed.kind}): version {vocabulary.version}")
    else:
        click.echo(f"no change: the file matches version {vocabulary.version}")


@vocab.command()
@clinic_option
@click.option("--format", "fmt", type=click.Choice(fhir_vocabulary.FORMATS), default="json", show_default=True,
              help="json: our vocabulary file; fhir: one Bundle holding the CodeSystem and the ValueSet.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of standard output.")
@pass_ctx
def export(obj: Context, clinic, fmt, out: Path | None):
    """Export the current vocabulary (retired tags included, with their status)."""
    clinic = clinic_of(obj, clinic)
    vocabulary = obj.store.vocabulary(clinic)
    text = fhir_vocabulary.dumps(fhir_vocabulary.export(vocabulary, clinic, fmt))
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote version {vocabulary.version} ({fmt}) to {out}", err=True)

"""The console's file pages: export the vocabulary as a download, and import a file in two steps.

**Export** (viewers too) gives the same text as ``progress-plugin vocab export``: the plugin's JSON file or a
FHIR Bundle (CodeSystem and ValueSet), as an attachment named after the clinic and the version.

**Import** (admins only) runs the same whole-file check as ``vocab import``
(:func:`progress_plugin.fhir.vocabulary_files.read`): every problem is listed with its line and its
path in the file, and nothing changes. A clean file is not applied yet: the page shows what it would
change against the current version. Applying is a second form, which carries the file's text back in
a hidden field with the version it was previewed against. The text is checked again on apply, as if
uploaded anew (the hidden field is the admin's own input, nothing trusted), so nothing of the file
is kept on the server between the two steps: every process can take either step, a file left
unapplied leaves no trace, and no new table is needed. If the vocabulary changed since the preview,
nothing is applied: the page says who changed it and shows the preview against the new version,
with the file still in the form, ready to apply.
"""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import flash, make_response, redirect, request

from progress_plugin.core import categories
from progress_plugin.core.words import N_, Msg
from progress_plugin.errors import PreconditionFailed, ValidationError
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.schemas import Version, load
from progress_plugin.schemas.field_types import Int
from progress_plugin.service import vocabulary_changes as vocab_io
from progress_plugin.web import i18n
from progress_plugin.web.console.compare import compare, counts_said
from progress_plugin.web.console.history import when_said
from progress_plugin.web.console.pages import BAD_FORM, NOT_FOUND, blueprint, link, problem, render
from progress_plugin.web.console.session import current, signed_in
from progress_plugin.web.console.who import token_names, who_said
from progress_plugin.web.context import services

log = logging.getLogger(__name__)

UPLOADS = ("console.import_check", "console.import_apply")
TOO_LARGE = (N_("This file is too large"), N_("A vocabulary file is at most 5 MB. Nothing was changed."))
MEDIA_TYPES = {"json": "application/json", "fhir": "application/fhir+json"}


class ApplyForm(ma.Schema):
    """The apply step's form: the file's text as previewed, and the version it was previewed against."""

    class Meta:
        unknown = ma.EXCLUDE             # the form token rides along

    content = ma.fields.String(required=True, validate=ma.validate.Length(min=1))
    version = Int(required=True, validate=Version)
    new_categories = ma.fields.Boolean(load_default=False)


apply_form = ApplyForm()


def upload_limit() -> int:
    """The largest request an upload may be: a file at the limit of ``vocab import``, plus the form around it
    (and room for a browser sending each line break as two characters)."""
    return 2 * fhir_vocabulary.MAX_FILE_BYTES + 64 * 1024


@blueprint.url_value_preprocessor
def _upload_limits(endpoint, values):
    """A vocabulary file may be larger than the service's other requests (``max_body_bytes``): the two
    import forms take up to :func:`upload_limit`. Set here because this runs before the form token check,
    which reads the form."""
    if endpoint in UPLOADS:
        request.max_content_length = request.max_form_memory_size = upload_limit()


@blueprint.errorhandler(413)
def _too_large(exc):
    return problem(413, TOO_LARGE)


# -- export ----------------------------------------------------------------------------------
@blueprint.get("/clinics/<clinic>/export")
@signed_in()
def export_page(clinic):
    """Where to download the vocabulary, in either format, and what each is for."""
    return render("export.html", version=services().store.current_version(clinic))


@blueprint.get("/clinics/<clinic>/export/<fmt>")
@signed_in()
def export_file(clinic, fmt):
    """The current vocabulary as a file, the same text ``progress-plugin vocab export --format FMT`` writes."""
    if fmt not in fhir_vocabulary.FORMATS:
        return problem(404, NOT_FOUND)
    vocabulary = services().store.vocabulary(clinic)
    text = fhir_vocabulary.dumps(fhir_vocabulary.export(vocabulary, clinic, fmt))
    response = make_response(text.encode("utf-8"))
    response.mimetype = MEDIA_TYPES[fmt]
    response.charset = "utf-8"
    name = f"{clinic}-tags-v{vocabulary.version}" + ("-fhir" if fmt == "fhir" else "") + ".json"
    response.headers.set("Content-Disposition", "attachment", filename=name)
    log.info("console export clinic=%s version=%s format=%s", clinic, vocabulary.version, fmt)
    return response


# -- import ----------------------------------------------------------------------------------
def problems_of(exc: ValidationError, words) -> tuple[list[dict], bool]:
    """Each problem of a checked file: its line (when known), its path in the file, what is wrong; and
    whether a category was refused as unknown. The check's general advice on how to ask for a new
    category (the command line's, the API's) is left out of the list: the page says it once, pointing
    at its own box."""
    out, new_category = [], False
    for path, messages in exc.paths().items():
        for message in messages:
            line, text = None, message
            if isinstance(message, Msg) and "line" in message.params:
                line = message.params["line"]
                if set(message.params) == {"line", "message"}:      # "line {line}: {message}"
                    text = message.params["message"]
            if text == categories.HOW_TO_ADD:
                new_category = True
                continue
            out.append({"line": line, "path": "" if path == "_schema" else path, "text": words.say(text)})
    return out, new_category


def _import_page(clinic: str, status: int = 200, **context):
    return render("import.html", status, page=("console.import_page", {"clinic": clinic}),
                  max_mb=fhir_vocabulary.MAX_FILE_BYTES // (1024 * 1024), **context)


def _check(clinic: str, content, stale_from: int | None = None, new_categories: bool = False):
    """Check ``content`` against the current vocabulary: the problems page, or the preview (with the
    file's text and the version, for the apply form). ``stale_from``: the version an earlier preview
    was made against, when the vocabulary has changed since. ``new_categories``: the admin ticked
    that the file may add categories the tags do not have yet (else each is refused as a likely typo)."""
    svc, w = services(), i18n.words()
    current = svc.store.vocabulary(clinic)
    try:
        parsed = fhir_vocabulary.read(content, current, new_categories)
    except ValidationError as exc:
        found, new_category_refused = problems_of(exc, w)
        log.info("console import refused clinic=%s problems=%d", clinic, len(found))
        n = len(found)
        said = {"summary": w.plural("The file has {n} problem. Nothing was changed.",
                                    "The file has {n} problems. Nothing was changed.", n),
                "heading": w.plural("{n} problem in the file", "{n} problems in the file", n)}
        return _import_page(clinic, 422, problems=found, problems_said=said, stale_from=stale_from,
                            new_categories=new_categories, new_category_refused=new_category_refused)
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    fallback = i18n.clinic_fallback(clinic)
    comparison = compare(current, current.replace_all(parsed.tags), w, fallback)
    known = categories.known(current)
    new_groups = sorted({tag.category for tag in parsed.tags if tag.category not in known})
    new_groups_said = w.plural("It starts a new category: {names}.", "It starts new categories: {names}.",
                               len(new_groups), names=", ".join(new_groups)) if new_groups else None
    changed_by = None
    if stale_from is not None:
        row = svc.store.history(clinic)[-1]
        changed_by = {"who": who_said(row["by"], token_names(svc.store, clinic), w), "when": when_said(row["at"], w)}
    return render("import_preview.html", 409 if stale_from is not None else 200,
                  page=("console.import_page", {"clinic": clinic}), comparison=comparison,
                  counts=counts_said(comparison.counts, w), content=text, version=current.version,
                  stale_from=stale_from, changed_by=changed_by, new_categories=new_categories, new_groups_said=new_groups_said,
                  tags_said=w.plural("The file is fine: {n} tag, checked in full.",
                                     "The file is fine: {n} tags, checked in full.", len(parsed.tags)))


@blueprint.get("/clinics/<clinic>/import")
@signed_in("admin")
def import_page(clinic):
    """The upload form."""
    return _import_page(clinic)


@blueprint.post("/clinics/<clinic>/import")
@signed_in("admin")
def import_check(clinic):
    """Check an uploaded file: its problems, or a preview of what it would change. Nothing changes here."""
    w = i18n.words()
    upload = request.files.get("file")
    new_categories = request.form.get("new_categories") == "yes"
    if upload is None or not upload.filename:
        return _import_page(clinic, 422, error=w(N_("Choose a vocabulary file to import.")),
                            new_categories=new_categories)
    content = upload.stream.read(fhir_vocabulary.MAX_FILE_BYTES + 1)
    if len(content) > fhir_vocabulary.MAX_FILE_BYTES:
        return problem(413, TOO_LARGE)
    return _check(clinic, content, new_categories=new_categories)


@blueprint.post("/clinics/<clinic>/import/apply")
@signed_in("admin")
def import_apply(clinic):
    """Apply a previewed file, checked again. A vocabulary changed since the preview is shown anew, unapplied."""
    try:
        form = load(apply_form, request.form.to_dict())
    except ValidationError:
        return problem(400, BAD_FORM)
    content = form["content"].replace("\r\n", "\n")      # as the browser sent the hidden field's line breaks
    new_categories = form["new_categories"]
    svc = services()
    if svc.store.current_version(clinic) != form["version"]:
        return _check(clinic, content, stale_from=form["version"], new_categories=new_categories)
    try:
        parsed = fhir_vocabulary.read(content, svc.store.vocabulary(clinic, form["version"]), new_categories)
    except ValidationError:
        return _check(clinic, content, new_categories=new_categories)
    principal = current().principal
    try:
        vocabulary, changed = vocab_io.apply(svc.store, clinic, parsed, principal.actor, svc.clock(),
                                             expected_version=form["version"], new_categories=new_categories)
    except PreconditionFailed:                       # another change came between the check and the write
        return _check(clinic, content, stale_from=form["version"], new_categories=new_categories)
    w = i18n.words()
    if changed:
        vocab_io.changed(svc.runtime, clinic, vocabulary, principal.actor, svc.clock(),
                         queue=bool(svc.config is not None and svc.config.host_url))
        log.info("console import applied clinic=%s version=%s kind=%s by=%s", clinic, vocabulary.version,
                 parsed.kind, principal.token_id)
        flash(w(N_("The file is imported: the tags are now version {version}."), version=w.number(vocabulary.version)))
    else:
        flash(w(N_("The file matches the current tags: nothing was changed.")))
    return redirect(link("console.history", clinic=clinic), 303)

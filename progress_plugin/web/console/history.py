"""The console's history pages: every version of the vocabulary, newest first, with who made it, when
and what changed; and any two versions compared side by side, tag by tag and field by field.

Both are read-only: a viewer sees them too.
"""
from __future__ import annotations

import marshmallow as ma
from flask import request

from progress_plugin.core.words import N_, msg
from progress_plugin.errors import ValidationError
from progress_plugin.schemas import Version, load
from progress_plugin.schemas.field_types import Int
from progress_plugin.web import i18n
from progress_plugin.web.console.compare import change_said, compare, counts_said
from progress_plugin.web.console.pages import asked_language, blueprint, render
from progress_plugin.web.console.session import signed_in
from progress_plugin.web.console.who import token_names, who_said
from progress_plugin.web.context import services

PAGE_SIZE = 50


class HistoryQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE             # ?lang= rides along

    page = Int(load_default=1, validate=ma.validate.Range(min=1, max=10_000))


class CompareQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    from_ = Int(data_key="from", validate=Version)
    to = Int(validate=Version)


history_query, compare_query = HistoryQuery(), CompareQuery()


def when_said(at, words) -> str:
    """A version's date and time, in the page's language; the time in UTC, as the store keeps it."""
    return words(N_("{date}, {time} UTC"), date=words.date(at), time=at.strftime("%H:%M"))


def versions_picked(rows: list[dict], words) -> list[tuple[int, str]]:
    """Each version for the two selects, newest first: its number and how it reads."""
    return [(r["version"], words(N_("Version {version} ({date})"), version=words.number(r["version"]),
                                 date=words.date(r["at"]))) for r in reversed(rows)]


@blueprint.get("/clinics/<clinic>/history")
@signed_in()
def history(clinic):
    """The vocabulary's versions, newest first, a page at a time, and a form to compare any two."""
    svc, w = services(), i18n.words()
    try:
        page = load(history_query, request.args.to_dict())["page"]
    except ValidationError:
        page = 1
    rows = svc.store.history(clinic)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    newest_first = rows[::-1]
    shown = newest_first[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    fallback = i18n.clinic_fallback(clinic)
    made = svc.store.vocabularies(clinic, [r["version"] for r in shown])
    names = token_names(svc.store, clinic)
    entries = [{"version": r["version"], "when": when_said(r["at"], w), "who": who_said(r["by"], names, w),
                "what": change_said(r["change"], made.get(r["version"]), w, fallback), "stored": r["change"]}
               for r in shown]
    current = rows[-1]["version"]
    return render("history.html", page=("console.history", {"clinic": clinic, **({"page": page} if page > 1 else {})}),
                  entries=entries, current=current, versions=versions_picked(rows, w), pick_from=max(current - 1, 1),
                  pick_to=current, page_number=page, pages=pages, asked_lang=asked_language(), errors={})


@blueprint.get("/clinics/<clinic>/diff")
@signed_in()
def diff(clinic):
    """Two versions side by side: for each tag that differs, its fields in both; added, removed, retired
    and restored said in words."""
    svc, w = services(), i18n.words()
    rows = svc.store.history(clinic)
    current = rows[-1]["version"]
    errors: dict = {}
    try:
        args = load(compare_query, request.args.to_dict())
    except ValidationError as exc:
        args, errors = {}, {k: w.say(v) for k, v in exc.messages.items()}
    to = args.get("to") or current
    frm = args.get("from_") or max(to - 1, 1)
    for name, version in (("from", frm), ("to", to)):
        if version > current and name not in errors:
            errors[name] = [w.say(msg("There is no vocabulary version {version}.", version=version))]
    context = dict(current=current, versions=versions_picked(rows, w), asked_lang=asked_language(), errors=errors)
    if errors:
        return render("diff.html", 422, page=("console.diff", {"clinic": clinic}), comparison=None,
                      pick_from=max(current - 1, 1), pick_to=current, **context)
    fallback = i18n.clinic_fallback(clinic)
    comparison = compare(svc.store.vocabulary(clinic, frm), svc.store.vocabulary(clinic, to), w, fallback)
    names = token_names(svc.store, clinic)
    made = {r["version"]: {"when": when_said(r["at"], w), "who": who_said(r["by"], names, w)} for r in rows
            if r["version"] in (frm, to)}
    return render("diff.html", page=("console.diff", {"clinic": clinic, "from": frm, "to": to}),
                  comparison=comparison, counts=counts_said(comparison.counts, w), frm=frm, to=to, made=made,
                  pick_from=frm, pick_to=to, **context)

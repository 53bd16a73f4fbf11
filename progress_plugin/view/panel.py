"""The per-client progress panel: JSON data, a self-contained HTML page, and the SVG chart.

All three come from :func:`panel_data`, so the HTML shows exactly what the JSON holds.

Two audiences:

- ``therapist``: everything, including therapist-only tags, the private reflection and the
  prompts (conversation starters addressed to the therapist);
- ``client``: for the client, written to them ("you rated...", "your goal") in plain words
  (movement of :data:`MARGIN` or more is "a real change", explained once). Therapist-only tags,
  therapist-only intake answers (the private reflection) and the prompts are left out, and so are
  tags with the ``strain`` role unless ``show_strain`` is given: a clinic opts in with
  ``client_view_shows_strain = true`` in its ``[[clinics]]`` table of the config file, which the
  edges (HTTP, hooks, CLI) read and pass in; by default they pass False. A carer's goal is
  labelled as theirs. Ratings by the therapist stay: they are part of the shared conversation.
  The JSON keeps the therapist view's keys; only the words and the markers shown differ.

Every function takes ``words`` (:data:`~progress_plugin.core.words.ENGLISH` by default): the
page says its headings, notes, prompts, numbers and dates in that language and carries its
``lang`` and ``dir``. The JSON keeps ISO dates, raw numbers and English status codes; its
prompts' ``message`` and the review's ``next_due`` are said in the language. The client's own
words (goals, answers) are never translated: they are shown as written, in ``<bdi dir="auto">``.

The HTML fetches nothing: styles and the tooltip script are inline, the chart is inline SVG.
Goals are never summed into one score and no trend line is drawn. An attainment level
shows only on a rating recorded with one before Goal Attainment Scaling left the intake.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from html import escape

from progress_plugin.core.intake import FIELDS, THERAPIST_ONLY, Intake, not_asked
from progress_plugin.core.progress import (NO_RELIABLE_CHANGE, NOT_ENOUGH, RELIABLE_DETERIORATION,
                                           RELIABLE_IMPROVEMENT, Progress)
from progress_plugin.core.words import ENGLISH, N_, Words, msg
from progress_plugin.errors import ValidationError
from progress_plugin.view import chart
from progress_plugin.view.audience import (CLIENT_STATUS, CLIENT_STATUS_NOTE, CLIENT_WHOSE, MARGIN,  # noqa: F401
                                           THERAPIST_WHOSE, margin_note, shown_marker, whose)
from progress_plugin.view.bidi import bdi
from progress_plugin.view.checkins import checks_data, checks_html
from progress_plugin.view.panel_assets import CSS, TOOLTIP_JS, TOOLTIP_JS_HASH  # noqa: F401 (re-exported)
from progress_plugin.view.panel_table import table
from progress_plugin.view.wording import Html, day, html, number, say

AUDIENCES = ("therapist", "client")

#: Intake answers shown under "What we agreed", in this order (the conversation's).
ANSWER_FIELDS = ("hopes", "better_looks_like", "small_shift", "holding_steady_counts", "if_stirred_up",
                 "saying_not_working", "saying_not_working_other", "therapist_view", "private_reflection")

#: What each reliable-change status means, under the goal's card: movement, never success.
STATUS_NOTE = {
    RELIABLE_IMPROVEMENT: N_("The client's rating has moved up by at least the agreed margin since the start."),
    RELIABLE_DETERIORATION: N_("The client's rating has moved down by at least the agreed margin since the start."),
    NO_RELIABLE_CHANGE: N_("The movement since the start is smaller than the agreed margin."),
    NOT_ENOUGH: N_("A second rating from the client is needed to see movement."),
}

def check_audience(audience: str) -> str:
    if audience not in AUDIENCES:
        raise ValidationError({"view": [msg("Must be one of: {choices}.", choices=", ".join(AUDIENCES))]})
    return audience


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat()


def _isos():
    """An ISO formatter that formats each distinct time in UTC once (a long history repeats each
    session's time on its points and its tags); a time with another offset is formatted each
    time, so it keeps its own offset."""
    memo: dict[datetime, str] = {}

    def iso(value) -> str | None:
        if value is None:
            return None
        if getattr(value, "tzinfo", None) is not timezone.utc:
            return value.isoformat()
        text = memo.get(value)
        if text is None:
            text = memo[value] = value.isoformat()
        return text
    return iso


def _answers(intake: Intake | None, audience: str) -> dict:
    if intake is None:
        return {}
    answers = intake.answers if audience == "therapist" else intake.shareable_answers()
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v)
            for k, v in answers.items() if k in ANSWER_FIELDS and v not in (None, "")}


def _points(points, iso=_iso) -> list[dict]:
    return [{"session": p.session, "at": iso(p.at), "value": p.value, "level": p.level, "note_id": p.note_id,
             "source": p.source} for p in points]


def panel_data(progress: Progress, intake: Intake | None, audience: str = "therapist",
               words: Words = ENGLISH, *, show_strain: bool = False) -> dict:
    """Everything the panel shows, as JSON-ready data, for ``audience`` (therapist | client).
    ``show_strain``: the client view shows tags with the ``strain`` role (a clinic's opt-in).

    Dates stay ISO and numbers raw; the prompts' ``message`` and the review's ``next_due`` are
    said by ``words`` (the client's goal words inside a prompt as written)."""
    check_audience(audience)
    therapist = audience == "therapist"
    review = progress.review
    iso = _isos()
    return {
        "client_id": progress.client_id,
        "audience": audience,
        "intake": None if intake is None else {
            "status": intake.status, "on": _iso(intake.agreed_on), "version": intake.definition_version,
            "not_asked": [f for f in not_asked_fields(intake) if f in ANSWER_FIELDS]},
        "agreed_on": _iso(intake.agreed_on) if intake is not None and intake.is_agreed else None,
        "goals": [{
            "goal_id": g.goal_id, "rank": g.rank, "words": g.words, "baseline": g.baseline,
            "status": g.change.status, "delta": g.change.delta, "first": g.change.first,
            "last": g.change.last, "ratings": g.change.ratings, "attained_level": g.attained_level,
            "client": _points(g.client, iso), "therapist": _points(g.therapist, iso),
            "replaces": g.replaces, "replaced_by": g.replaced_by, "redefined_at": g.redefined_at,
        } for g in progress.goals],
        "sessions": [{"session": i, "note_id": note_id, "at": iso(at)}
                     for i, (note_id, at) in enumerate(progress.sessions, start=1)],
        "markers": [{
            "note_id": m.note_id, "session": m.session, "at": iso(m.at), "code": m.code, "label": m.label,
            "category": m.category, "direction": m.direction, "therapist_only": m.therapist_only,
            "retired": m.retired, "vocabulary_version": m.vocabulary_version,
        } for m in progress.markers if shown_marker(m, audience, show_strain)],
        "prompts": [{"kind": p.kind, "message": say(words, p.message, raw=True), "goal_id": p.goal_id,
                     "note_id": p.note_id} for p in progress.prompts] if therapist else [],
        "review": None if review is None else {
            "cadence": review.cadence, "last_reviewed": _iso(review.last_reviewed),
            "sessions_since": review.sessions_since, "due": review.due,
            "next_due": say(words, review.next_due, raw=True),
            "asked": _iso(review.asked),      # when the client asked, in a check-in, to revisit progress
        },
        "answers": _answers(intake, audience),
        "checks": checks_data(progress),      # the client's session checks: a series of their own
    }


def render_svg(progress: Progress, intake: Intake | None, audience: str = "therapist",
               words: Words = ENGLISH, *, show_strain: bool = False) -> str:
    """The chart alone, with its legend, as a standalone SVG document in ``words``' language."""
    return chart.render(panel_data(progress, intake, audience, words, show_strain=show_strain),
                        show_legend=True, words=words)


# -- HTML -----------------------------------------------------------------------------------
def _legend_icon(entry: chart.LegendEntry) -> str:
    if entry.kind in ("client", "therapist"):
        dash = ' stroke-dasharray="4 3"' if entry.kind == "therapist" else ""
        dot_fill = "#fff" if entry.kind == "therapist" else entry.colour
        return (f'<svg viewBox="0 0 22 14" aria-hidden="true"><path d="M1 7h20" stroke="{entry.colour}" '
                f'stroke-width="2.25"{dash}/><circle cx="11" cy="7" r="3.2" fill="{dot_fill}" '
                f'stroke="{entry.colour}" stroke-width="1.75"/></svg>')
    if entry.kind == "baseline":
        return ('<svg viewBox="0 0 22 14" aria-hidden="true"><circle cx="11" cy="7" r="4.5" fill="#fff" '
                f'stroke="{entry.colour}" stroke-width="2.25"/></svg>')
    return (f'<svg viewBox="0 0 22 14" aria-hidden="true"><path d="{chart.shape_path(entry.shape, 11, 7, 4.6)}" '
            f'fill="{entry.colour}"/></svg>')


def _legend_html(data: dict, words: Words) -> str:
    """The legend: one item per goal line and the starting point, then one that reads
    "Tags: step toward, holding steady, ..." with each direction's marker."""
    items, tags = [], []
    for e in chart.legend(data, words):
        if e.kind == "tag":
            tags.append((_legend_icon(e), escape(words(chart.LEGEND_WORDS[e.direction]))))
            continue
        title = f' title="{escape(e.full)}"' if e.full != e.label else ""
        text = (html(words, e.template, rank=number(words, e.goal), words=Html(bdi(e.words))) if e.words
                else escape(e.label))
        items.append(f'<li class="pp-legend-{e.kind}"{title}>{_legend_icon(e)}<span>{text}</span></li>')
    if tags:
        listed = " ".join(f'<span class="pp-legend-dir">{icon}{said}{"," if i < len(tags) - 1 else ""}</span>'
                          for i, (icon, said) in enumerate(tags))
        label = escape(words(N_("Tags:")))
        items.append(f'<li class="pp-legend-tags"><span>{label}</span> {listed}</li>')
    name = escape(words(N_("Legend")))
    return f'<ul class="pp-legend" aria-label="{name}">{"".join(items)}</ul>'


def _goal_cards(data: dict, words: Words, whose_goal: dict[str, str] | None = None) -> str:
    client = data["audience"] == "client"
    margin = number(words, MARGIN)
    cards = []
    for i, g in enumerate(data["goals"]):
        last = g["last"] if g["last"] is not None else g["baseline"]
        delta = "" if g["delta"] is None else f" ({chart.signed(words, g['delta'])})"
        level = ("" if g["attained_level"] is None else "<p>" + escape(words(
            N_("Attainment level: {level}"), level=chart.signed(words, g["attained_level"]))) + "</p>")
        values = {"baseline": number(words, g["baseline"]), "last": number(words, last)}
        if client:
            started = words(N_("You started at {baseline}/10; your latest rating is {last}/10."), **values)
            status = words(CLIENT_STATUS[g["status"]], margin=margin)
            note = words(CLIENT_STATUS_NOTE[g["status"]], margin=margin)
        else:
            started = words(N_("Started at {baseline}/10, latest client rating {last}/10."), **values)
            status, note = words(g["status"]), words(STATUS_NOTE[g["status"]])
        name = words(N_("Goal {rank}"), rank=number(words, g["rank"]))
        who = (CLIENT_WHOSE if client else THERAPIST_WHOSE).get((whose_goal or {}).get(g["goal_id"], "client"))
        who = f'<p class="pp-whose">{escape(words(who))}</p>' if who else ""
        cards.append(
            f'<li class="pp-goal" style="--goal:{chart.goal_colour(i)}" data-goal="{escape(g["goal_id"])}">'
            f'<h3>{escape(name)}</h3>{who}<q>{bdi(g["words"])}</q>'
            f'<div class="pp-status">{escape(status)}{delta}</div>'
            f'<p>{escape(started)} {escape(note)}</p>'
            f'{level}{_history(g, data["goals"], words)}</li>')
    if not cards:
        return "<p>" + escape(words(N_("No goals agreed yet."))) + "</p>"
    explained = f'<p class="pp-sub pp-margin">{escape(margin_note(words))}</p>' if client else ""
    return f'<ul class="pp-goals">{"".join(cards)}</ul>{explained}'


def _history(g: dict, goals: list[dict], words: Words) -> str:
    """One line on a redefinition: where the new goal began, and that the old one's line ended."""
    if g.get("replaced_by"):
        after = next((o for o in goals if o["goal_id"] == g["replaced_by"]), None)
        if after and after["redefined_at"] is not None:
            said = words(N_("Redefined at session {session}: these words and their ratings end here."),
                         session=number(words, after["redefined_at"]))
        else:
            said = words(N_("Redefined: these words and their ratings end here."))
        return f'<p class="pp-history">{escape(said)}</p>'
    if g.get("redefined_at") is not None:
        said = words(N_("Progress redefined at session {session}: a new line from its own starting point."),
                     session=number(words, g["redefined_at"]))
        return f'<p class="pp-history">{escape(said)}</p>'
    return ""


def not_asked_fields(intake: Intake) -> tuple[str, ...]:
    """The current questions the intake's own version of the section did not ask."""
    try:
        return not_asked(intake.definition_version)
    except ValueError:                   # a version this release does not know: claim nothing
        return ()


def _answer_text(field_id: str, value, words: Words) -> str:
    """An answer as HTML: an option's label said in the page's language, a person's own words
    as written, isolated in ``<bdi dir="auto">``."""
    field = next((f for f in FIELDS if f.id == field_id), None)
    if field is not None and field.options:
        label = next((o.label for o in field.options if o.code == value), None)
        if label is not None:
            return escape(words.say(label))
    return bdi(str(value))


def _labels(words: Words) -> dict[str, str]:
    """Each intake question as the page's language says it."""
    labels = {f.id: words.say(f.label) for f in FIELDS}
    labels["saying_not_working_other"] = words(N_("Another way to say something isn't working"))
    return labels


def _agreed(data: dict, words: Words) -> str:
    labels = _labels(words)
    rows = []
    for key in ANSWER_FIELDS:
        if key not in data["answers"]:
            continue
        private = key in THERAPIST_ONLY
        label = words(N_("Private reflection (only in your view)")) if private else labels.get(key, key)
        cls = ' class="pp-private"' if private else ""
        rows.append(f"<dt>{escape(label)}</dt><dd{cls}>{_answer_text(key, data['answers'][key], words)}</dd>")
    return f'<dl class="pp-agreed">{"".join(rows)}</dl>' if rows else ""


def _agreed_note(data: dict, words: Words) -> str:
    """" · agreed <date>" for an agreed intake, " · not yet agreed" for a draft, nothing without one."""
    if data["agreed_on"]:
        return " · " + escape(words(N_("agreed {date}"), date=day(words, data["agreed_on"])))
    return " · " + escape(words(N_("not yet agreed"))) if data["intake"] else ""


def _earlier_version_note(data: dict, words: Words) -> str:
    missing = data["intake"]["not_asked"] if data["intake"] else []
    if not missing:
        return ""
    labels = _labels(words)
    asked = "; ".join(f"\u201c{labels[f]}\u201d" for f in missing)
    said = words(N_("Filled in with an earlier version of this section ({version}), which did not ask: {questions}"),
                 version=data["intake"]["version"], questions=asked)
    return f'<p class="pp-sub">{escape(said)}</p>'


def _review_line(progress: Progress, words: Words) -> str:
    review = progress.review
    if review.due:
        said = words(N_("Looking at progress together: due now."))
    else:
        said = words(N_("Looking at progress together: next {when}."), when=say(words, review.next_due))
    return f'<p class="pp-review">{escape(said)}</p>'


def render_html(progress: Progress, intake: Intake | None, audience: str = "therapist", *,
                document: bool = True, words: Words = ENGLISH, show_strain: bool = False) -> str:
    """The panel as HTML with the chart inline, in ``words``' language. Fetches nothing.
    ``show_strain``: the client view shows tags with the ``strain`` role (a clinic's opt-in).

    ``document=False`` returns the panel fragment alone (a ``<section>`` carrying its ``lang``
    and ``dir``), for a host to place inside its own page.
    """
    data = panel_data(progress, intake, audience, words, show_strain=show_strain)
    svg = chart.render(data, show_legend=False, words=words)
    title = escape(words(N_("Progress")))
    language = f'lang="{escape(words.code)}" dir="{escape(words.direction)}"'
    view = words(N_("Shared view") if audience == "client" else N_("Therapist view"))
    sessions = words.plural("{n} session", "{n} sessions", len(data["sessions"]))
    parts = [f'<section class="pp-panel" {language} data-audience="{audience}" aria-label="{title}">',
             f"<style>{CSS}</style>",
             f"<h1>{title}</h1>",
             f'<p class="pp-sub">{escape(view)}{_agreed_note(data, words)} · {escape(sessions)}</p>',
             _goal_cards(data, words, whose(intake))]
    if data["prompts"]:                  # said again with the language's numbers (the JSON keeps digits)
        heading = escape(words(N_("Worth talking about")))
        parts.append(f'<h2>{heading}</h2><ul class="pp-prompts">'
                     + "".join(f'<li data-kind="{escape(p.kind)}">{escape(say(words, p.message))}</li>'
                               for p in progress.prompts) + "</ul>")
    caption = words(N_("Lines join ratings in session order; they are not a trend. "
                       "Each goal is shown on its own; they are never added up."))
    heading = escape(words(N_("Ratings and tags over time")))
    parts.append(f'<h2>{heading}</h2><figure class="pp-chart" '
                 f'style="margin:0">{svg}{_legend_html(data, words)}<figcaption class="pp-sub" '
                 f'style="margin-top:8px">{escape(caption)}</figcaption></figure>')
    if audience == "therapist":
        parts.append(checks_html(data, words))
    summary = words(N_("The chart's data as a table"))
    parts.append(f"<details><summary>{escape(summary)}</summary>{table(data, words)}</details>")
    if progress.review is not None:
        parts.append(_review_line(progress, words))
    agreed = _agreed(data, words)
    if agreed:
        heading = words(N_("What we agreed progress would look like") if data["agreed_on"]
                        else N_("What progress would look like (not yet agreed)"))
        parts.append(f"<h2>{escape(heading)}</h2>{agreed}{_earlier_version_note(data, words)}")
    parts.append('<div class="pp-tip" role="tooltip" hidden></div>')
    parts.append(f"<script>{TOOLTIP_JS}</script></section>")
    fragment = "".join(parts)
    if not document:
        return fragment
    return (f'<!doctype html><html {language}><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body style=\"margin:0\">{fragment}</body></html>")

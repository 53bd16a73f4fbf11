"""The per-client progress panel: JSON data, a self-contained HTML page, and the SVG chart.

All three come from :func:`panel_data`, so the HTML shows exactly what the JSON holds.

Two audiences:

- ``therapist``: everything, including therapist-only tags, the private reflection and the
  prompts (conversation starters addressed to the therapist);
- ``client``: for sharing with the client. Therapist-only tags, therapist-only intake
  answers (the private reflection) and the prompts are left out. Ratings by the therapist
  stay: they are part of the shared conversation.

The HTML fetches nothing: styles and the tooltip script are inline, the chart is inline SVG.
Goals are never summed into one score and no trend line is drawn. An attainment level
shows only on a rating recorded with one before Goal Attainment Scaling left the intake.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from html import escape

from progress_plugin.view import chart
from progress_plugin.view.bidi import bdi
from progress_plugin.errors import ValidationError
from progress_plugin.core.intake import FIELDS, THERAPIST_ONLY, Intake, not_asked
from progress_plugin.core.progress import (NO_RELIABLE_CHANGE, NOT_ENOUGH, RELIABLE_DETERIORATION,
                                      RELIABLE_IMPROVEMENT, Progress)

AUDIENCES = ("therapist", "client")

#: Intake answers shown under "What we agreed", in this order (the conversation's).
ANSWER_FIELDS = ("hopes", "better_looks_like", "small_shift", "holding_steady_counts", "if_stirred_up",
                 "saying_not_working", "saying_not_working_other", "therapist_view", "private_reflection")

STATUS_NOTE = {
    RELIABLE_IMPROVEMENT: "The client's rating has moved up by at least the agreed margin since the start.",
    RELIABLE_DETERIORATION: "The client's rating has moved down by at least the agreed margin since the start.",
    NO_RELIABLE_CHANGE: "The movement since the start is smaller than the agreed margin.",
    NOT_ENOUGH: "A second rating from the client is needed to see movement.",
}


def check_audience(audience: str) -> str:
    if audience not in AUDIENCES:
        raise ValidationError({"view": [f"Must be one of: {', '.join(AUDIENCES)}."]})
    return audience


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat()


def _answers(intake: Intake | None, audience: str) -> dict:
    if intake is None:
        return {}
    answers = intake.answers if audience == "therapist" else intake.shareable_answers()
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v)
            for k, v in answers.items() if k in ANSWER_FIELDS and v not in (None, "")}


def _points(points) -> list[dict]:
    return [{"session": p.session, "at": _iso(p.at), "value": p.value, "level": p.level, "note_id": p.note_id}
            for p in points]


def panel_data(progress: Progress, intake: Intake | None, audience: str = "therapist") -> dict:
    """Everything the panel shows, as JSON-ready data, for ``audience`` (therapist | client)."""
    check_audience(audience)
    therapist = audience == "therapist"
    review = progress.review
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
            "client": _points(g.client), "therapist": _points(g.therapist),
            "replaces": g.replaces, "replaced_by": g.replaced_by, "redefined_at": g.redefined_at,
        } for g in progress.goals],
        "sessions": [{"session": i, "note_id": note_id, "at": _iso(at)}
                     for i, (note_id, at) in enumerate(progress.sessions, start=1)],
        "markers": [{
            "note_id": m.note_id, "session": m.session, "at": _iso(m.at), "code": m.code, "label": m.label,
            "category": m.category, "direction": m.direction, "therapist_only": m.therapist_only,
            "retired": m.retired, "vocabulary_version": m.vocabulary_version,
        } for m in progress.markers if therapist or not m.therapist_only],
        "prompts": [{"kind": p.kind, "message": p.message, "goal_id": p.goal_id, "note_id": p.note_id}
                    for p in progress.prompts] if therapist else [],
        "review": None if review is None else {
            "cadence": review.cadence, "last_reviewed": _iso(review.last_reviewed),
            "sessions_since": review.sessions_since, "due": review.due, "next_due": review.next_due,
        },
        "answers": _answers(intake, audience),
    }


def render_svg(progress: Progress, intake: Intake | None, audience: str = "therapist") -> str:
    """The chart alone, with its legend, as a standalone SVG document."""
    return chart.render(panel_data(progress, intake, audience), show_legend=True)


# -- HTML -----------------------------------------------------------------------------------
TOOLTIP_JS = """(function () {
  var panel = document.currentScript.closest('.pp-panel');
  var tip = panel.querySelector('.pp-tip');
  var area = panel.querySelector('.pp-chart');
  area.querySelectorAll('svg title').forEach(function (t) {
    var host = t.parentNode;
    if (host.tagName.toLowerCase() === 'svg') return;
    host.setAttribute('data-tip', t.textContent);
    host.removeChild(t);
  });
  panel.querySelectorAll('.pp-legend [title]').forEach(function (el) {
    el.setAttribute('data-tip', el.getAttribute('title'));
    el.removeAttribute('title');
  });
  function show(el, x, y) {
    tip.textContent = el.getAttribute('data-tip');
    tip.hidden = false;
    var box = panel.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    var left = Math.min(Math.max(4, x - box.left - w / 2), box.width - w - 4);
    var top = y - box.top - h - 12;
    if (top < 0) top = y - box.top + 16;
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  }
  function hide() { tip.hidden = true; }
  panel.addEventListener('pointerover', function (e) {
    var el = e.target.closest && e.target.closest('[data-tip]');
    if (el && panel.contains(el)) show(el, e.clientX, e.clientY); else hide();
  });
  panel.addEventListener('pointerleave', hide);
  panel.addEventListener('focusin', function (e) {
    var el = e.target.closest && e.target.closest('[data-tip]');
    if (!el) return;
    var r = el.getBoundingClientRect();
    show(el, r.left + r.width / 2, r.top);
  });
  panel.addEventListener('focusout', hide);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') hide(); });
})();"""

#: For a Content-Security-Policy that allows exactly this inline script.
TOOLTIP_JS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(TOOLTIP_JS.encode()).digest()).decode()

CSS = """
.pp-panel{--ink:#1f2328;--muted:#57606a;--line:#d8dee4;--soft:#f6f8fa;position:relative;max-width:760px;
margin:0 auto;padding:16px;color:var(--ink);background:#fff;
font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,sans-serif;box-sizing:border-box}
.pp-panel *{box-sizing:border-box}
.pp-panel h1{font-size:1.25rem;margin:0 0 2px;font-weight:600}
.pp-panel h2{font-size:1rem;margin:20px 0 8px;font-weight:600}
.pp-panel h3{font-size:.95rem;margin:0;font-weight:600}
.pp-sub{color:var(--muted);margin:0 0 12px;font-size:.9rem}
.pp-chart svg{display:block;width:100%;height:auto;max-width:560px}
.pp-legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.85rem}
.pp-legend li{display:flex;align-items:center;gap:6px;min-width:0;max-width:100%}
.pp-legend svg{flex:none;width:22px;height:14px}
.pp-legend span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pp-legend li.pp-legend-tags{display:block;flex-basis:100%;white-space:normal}
.pp-legend-dir{white-space:nowrap}
.pp-chart .pp-legend-tags svg{display:inline-block;vertical-align:middle;margin:0 3px 0 4px}
.pp-goals{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:10px;margin:0;padding:0;list-style:none}
.pp-goal{border:1px solid var(--line);border-left:4px solid var(--goal);border-radius:6px;padding:10px 12px}
.pp-goal q{display:block;margin:2px 0 6px;quotes:'\\201C' '\\201D'}
.pp-status{font-weight:600}
.pp-goal p{margin:0;font-size:.85rem;color:var(--muted)}
.pp-prompts{margin:0;padding:0;list-style:none}
.pp-prompts li{background:var(--soft);border-radius:6px;padding:8px 12px;margin:0 0 6px}
.pp-agreed{margin:0}
.pp-agreed dt{font-size:.85rem;color:var(--muted)}
.pp-agreed dd{margin:0 0 8px}
.pp-private{border-left:3px solid var(--muted);padding-left:8px}
.pp-review{margin:8px 0 0;font-size:.9rem}
.pp-table{overflow-x:auto}
.pp-panel table{border-collapse:collapse;font-size:.85rem;width:100%}
.pp-panel th,.pp-panel td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
.pp-panel td.num{text-align:right;font-variant-numeric:tabular-nums}
.pp-panel details summary{cursor:pointer;color:var(--muted);margin:12px 0 6px}
.pp-tip{position:absolute;z-index:10;max-width:280px;padding:6px 9px;border-radius:6px;background:#1f2328;
color:#fff;font-size:.8rem;line-height:1.35;pointer-events:none;box-shadow:0 2px 8px rgba(0,0,0,.2)}
.pp-tip[hidden]{display:none}
@media (max-width:480px){.pp-panel{padding:10px}.pp-panel h1{font-size:1.1rem}}
"""


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


def _legend_html(data: dict) -> str:
    """The legend: one item per goal line and the starting point, then one that reads
    "Tags: step toward, holding steady, ..." with each direction's marker."""
    items, tags = [], []
    for e in chart.legend(data):
        if e.kind == "tag":
            tags.append((_legend_icon(e), escape(chart.LEGEND_WORDS[e.direction])))
            continue
        title = f' title="{escape(e.full)}"' if e.full != e.label else ""
        text = escape(chart.goal_prefix(e.goal)) + bdi(e.words) if e.words else escape(e.label)
        items.append(f'<li class="pp-legend-{e.kind}"{title}>{_legend_icon(e)}<span>{text}</span></li>')
    if tags:
        listed = " ".join(f'<span class="pp-legend-dir">{icon}{words}{"," if i < len(tags) - 1 else ""}</span>'
                          for i, (icon, words) in enumerate(tags))
        items.append(f'<li class="pp-legend-tags"><span>Tags:</span> {listed}</li>')
    return f'<ul class="pp-legend" aria-label="Legend">{"".join(items)}</ul>'


def _goal_cards(data: dict) -> str:
    cards = []
    for i, g in enumerate(data["goals"]):
        last = g["last"] if g["last"] is not None else g["baseline"]
        delta = "" if g["delta"] is None else f" ({g['delta']:+d})"
        level = "" if g["attained_level"] is None else f"<p>Attainment level: {g['attained_level']:+d}</p>"
        cards.append(
            f'<li class="pp-goal" style="--goal:{chart.goal_colour(i)}" data-goal="{escape(g["goal_id"])}">'
            f'<h3>Goal {g["rank"]}</h3><q>{bdi(g["words"])}</q>'
            f'<div class="pp-status">{escape(g["status"])}{delta}</div>'
            f'<p>Started at {g["baseline"]}/10, latest client rating {last}/10. {STATUS_NOTE[g["status"]]}</p>'
            f'{level}{_history(g, data["goals"])}</li>')
    return f'<ul class="pp-goals">{"".join(cards)}</ul>' if cards else "<p>No goals agreed yet.</p>"


def _history(g: dict, goals: list[dict]) -> str:
    """One line on a redefinition: where the new goal began, and that the old one's line ended."""
    if g.get("replaced_by"):
        after = next((o for o in goals if o["goal_id"] == g["replaced_by"]), None)
        when = f" at session {after['redefined_at']}" if after and after["redefined_at"] is not None else ""
        return f'<p class="pp-history">Redefined{when}: these words and their ratings end here.</p>'
    if g.get("redefined_at") is not None:
        return (f'<p class="pp-history">Progress redefined at session {g["redefined_at"]}: '
                "a new line from its own starting point.</p>")
    return ""


def not_asked_fields(intake: Intake) -> tuple[str, ...]:
    """The current questions the intake's own version of the section did not ask."""
    try:
        return not_asked(intake.definition_version)
    except ValueError:                   # a version this release does not know: claim nothing
        return ()


def _answer_text(field_id: str, value) -> str:
    """An answer as HTML: an option's label as it is, a person's own words isolated in ``<bdi>``."""
    field = next((f for f in FIELDS if f.id == field_id), None)
    if field is not None and field.options:
        label = next((o.label for o in field.options if o.code == value), None)
        if label is not None:
            return escape(label)
    return bdi(str(value))


def _agreed(data: dict) -> str:
    labels = {f.id: f.label for f in FIELDS}
    labels["saying_not_working_other"] = "Another way to say something isn't working"
    rows = []
    for key in ANSWER_FIELDS:
        if key not in data["answers"]:
            continue
        private = key in THERAPIST_ONLY
        label = "Private reflection (only in your view)" if private else labels.get(key, key)
        cls = ' class="pp-private"' if private else ""
        rows.append(f"<dt>{escape(label)}</dt><dd{cls}>{_answer_text(key, data['answers'][key])}</dd>")
    return f'<dl class="pp-agreed">{"".join(rows)}</dl>' if rows else ""


def _agreed_note(data: dict) -> str:
    """" · agreed <date>" for an agreed intake, " · not yet agreed" for a draft, nothing without one."""
    if data["agreed_on"]:
        return " · agreed " + escape(chart.day(data["agreed_on"]))
    return " · not yet agreed" if data["intake"] else ""


def _earlier_version_note(data: dict) -> str:
    missing = data["intake"]["not_asked"] if data["intake"] else []
    if not missing:
        return ""
    labels = {f.id: f.label for f in FIELDS}
    asked = "; ".join(f"“{labels[f]}”" for f in missing)
    return (f'<p class="pp-sub">Filled in with an earlier version of this section '
            f'({escape(data["intake"]["version"])}), which did not ask: {escape(asked)}</p>')


def _table(data: dict) -> str:
    goals = data["goals"]
    head = "".join(f'<th scope="col">Goal {g["rank"]}</th>' for g in goals)
    rows: dict[int, dict] = {0: {"at": (data["intake"] or {}).get("on"), "cells": {}, "tags": []}}
    for s in data["sessions"]:
        rows[s["session"]] = {"at": s["at"], "cells": {}, "tags": []}
    for g in goals:
        for rater in ("client", "therapist"):
            for p in g[rater]:
                if p["value"] is None:
                    continue
                row = rows.setdefault(p["session"], {"at": p["at"], "cells": {}, "tags": []})
                row["cells"].setdefault(g["goal_id"], []).append(
                    f'{p["value"]}' + (" (therapist)" if rater == "therapist" else ""))
    for m in data["markers"]:
        rows.setdefault(m["session"], {"at": m["at"], "cells": {}, "tags": []})["tags"].append(
            f'{m["label"]} ({m["direction"]})')
    body = []
    for session in sorted(rows):
        row = rows[session]
        cells = "".join(f'<td class="num">{escape(", ".join(row["cells"].get(g["goal_id"], [])))}</td>'
                        for g in goals)
        name = "Intake" if session == 0 else str(session)
        body.append(f'<tr><th scope="row">{name}</th><td>{escape(chart.day(row["at"]))}</td>{cells}'
                    f'<td>{escape("; ".join(row["tags"]))}</td></tr>')
    return (f'<div class="pp-table"><table><caption class="pp-sub">Ratings are 0-10, the client\'s unless marked.'
            f'</caption><thead><tr><th scope="col">Session</th><th scope="col">Date</th>{head}'
            f'<th scope="col">Tags</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def render_html(progress: Progress, intake: Intake | None, audience: str = "therapist", *,
                document: bool = True) -> str:
    """The panel as HTML with the chart inline. Fetches nothing.

    ``document=False`` returns the panel fragment alone (a ``<section>``), for a host to
    place inside its own page.
    """
    data = panel_data(progress, intake, audience)
    svg = chart.render(data, show_legend=False)
    parts = [f'<section class="pp-panel" data-audience="{audience}" aria-label="Progress">',
             f"<style>{CSS}</style>",
             "<h1>Progress</h1>",
             f'<p class="pp-sub">{"Shared view" if audience == "client" else "Therapist view"}'
             f'{_agreed_note(data)}'
             f' · {len(data["sessions"])} session{"s" if len(data["sessions"]) != 1 else ""}</p>',
             _goal_cards(data)]
    if data["prompts"]:
        parts.append('<h2>Worth talking about</h2><ul class="pp-prompts">'
                     + "".join(f'<li data-kind="{escape(p["kind"])}">{escape(p["message"])}</li>'
                               for p in data["prompts"]) + "</ul>")
    parts.append(f'<h2>Ratings and tags over time</h2><figure class="pp-chart" style="margin:0">{svg}'
                 f'{_legend_html(data)}<figcaption class="pp-sub" style="margin-top:8px">Lines join ratings in '
                 "session order; they are not a trend. Each goal is shown on its own; they are never added up."
                 "</figcaption></figure>")
    parts.append(f"<details><summary>The chart's data as a table</summary>{_table(data)}</details>")
    review = data["review"]
    if review is not None:
        parts.append(f'<p class="pp-review">Looking at progress together: '
                     f'{"due now" if review["due"] else "next " + escape(review["next_due"])}.</p>')
    agreed = _agreed(data)
    if agreed:
        heading = ("What we agreed progress would look like" if data["agreed_on"]
                   else "What progress would look like (not yet agreed)")
        parts.append(f"<h2>{heading}</h2>{agreed}{_earlier_version_note(data)}")
    parts.append('<div class="pp-tip" role="tooltip" hidden></div>')
    parts.append(f"<script>{TOOLTIP_JS}</script></section>")
    fragment = "".join(parts)
    if not document:
        return fragment
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Progress</title></head><body style=\"margin:0\">{fragment}</body></html>")

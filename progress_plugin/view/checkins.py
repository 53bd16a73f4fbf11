"""The client's check-ins on the panel (pure): the session check as a small series of its own,
under the goals, never added to them and never summed into a score.

Each check-in is one row: when it came, which session it followed, the four items 0-10 (a dash
when skipped) and whether the client asked to look at progress again. A small chart above the
table draws each item's line over the check-ins, on its own 0-10 axis. Goal ratings from a
check-in are on the goals' lines (marked as the client's own check-in); they are not repeated here.
"""
from __future__ import annotations

from html import escape

from progress_plugin.core.checkin import SESSION_CHECK_ITEMS
from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin.view.wording import day, number

#: The column heads of the session-check table, and the chart's legend.
ITEM_HEADS = {"heard": N_("Felt heard"), "mattered": N_("Worked on what matters"),
              "fits": N_("Way of working fits"), "overall": N_("Overall")}
#: One colour and dash per item (Okabe-Ito), so the lines hold without colour too.
ITEM_STYLES = {"heard": ("#0072B2", ""), "mattered": ("#009E73", "5 3"), "fits": ("#E69F00", "2 3"),
               "overall": ("#1A1A1A", "")}
#: How the chart marks a goal rating from the client's own check-in, on the goal's line (and the legend).
SELF_COLOUR, SELF_SHAPE = "#4D4D4D", "square"
W, H, PAD_X, PAD_Y = 320, 120, 30, 12
MAX_DOTS = 60                     # as on the goals' chart: past this many points, lines only


def checks_data(progress) -> list[dict]:
    """The check-ins of the panel's JSON: ISO time, the session each followed, the items (null when
    skipped) and ``revisit``."""
    return [{"checkin_id": c.checkin_id, "session": c.session, "at": c.at.isoformat(), **c.values(),
             "revisit": c.revisit, "source": "self"} for c in progress.checks]


def after(words: Words, session: int) -> str:
    """Which session a check-in followed, as a person reads it."""
    if session == 0:
        return words(N_("before the first session"))
    return words(N_("after session {session}"), session=number(words, session))


def x_of(p: dict) -> float:
    """Where a point sits on the session axis: a rating from the client's own check-in halfway
    after the session it followed."""
    return p["session"] + 0.5 if p.get("source") == "self" else p["session"]


def marked(g: dict) -> bool:
    """Whether the goal's ratings from the client's own check-ins are marked with squares: when it
    has any, and few enough points to be drawn as dots (else its line carries them, as any long line)."""
    rated = [p for p in g["client"] if p["value"] is not None]
    return len(rated) <= MAX_DOTS and any(p.get("source") == "self" for p in rated)


def self_values(g: dict, colour: str, words: Words = ENGLISH) -> list[dict]:
    """The goal's ratings from the client's own check-ins: squares over its line, in its colour."""
    if not marked(g):
        return []
    rank = number(words, g["rank"])
    return [{"value": (x_of(p), p["value"]), "shape": SELF_SHAPE, "fill": colour,
             "tooltip": words(N_("Goal {rank}, the client's own check-in {when} ({date}): {value}/10"), rank=rank,
                              when=after(words, p["session"]), date=day(words, p["at"]), value=number(words, p["value"]))}
            for p in g["client"] if p.get("source") == "self" and p["value"] is not None]


def _chart(checks: list[dict], words: Words) -> str:
    """Each item's line over the check-ins, 0-10, as a small inline SVG (needs two check-ins)."""
    n = len(checks)
    if n < 2:
        return ""

    def xy(i, v):
        return PAD_X + i * (W - PAD_X - 8) / (n - 1), PAD_Y + (10 - v) * (H - 2 * PAD_Y) / 10

    parts = []
    for v in (0, 5, 10):
        _, y = xy(0, v)
        parts.append(f'<path d="M{PAD_X} {y:.1f}H{W - 8}" stroke="#e3e3e3"/>'
                     f'<text x="{PAD_X - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(number(words, v))}</text>')
    for item in SESSION_CHECK_ITEMS:
        colour, dash = ITEM_STYLES[item]
        runs, run = [], []
        for i, c in enumerate(checks):
            if c[item] is None:
                runs, run = runs + [run] if run else runs, []
                continue
            run.append((i, c[item]))
        runs += [run] if run else []
        for r in runs:
            d = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in (xy(i, v) for i, v in r))
            style = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{style}/>')
            for i, v in r if n <= MAX_DOTS else ():
                x, y = xy(i, v)
                tip = words(N_("{item}, {when} ({date}): {value}/10"), item=words(ITEM_HEADS[item]),
                            when=after(words, checks[i]["session"]), date=day(words, checks[i]["at"]),
                            value=number(words, v))
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(tip)}'
                             '</title></circle>')
    label = escape(words(N_("The client's session checks over time, each item 0 to 10")))
    legend = "".join(f'<li>{_line_icon(*ITEM_STYLES[i])}<span>{escape(words(ITEM_HEADS[i]))}</span></li>'
                     for i in SESSION_CHECK_ITEMS)
    return (f'<svg class="pp-checks-chart" viewBox="0 0 {W} {H}" role="img" aria-label="{label}" '
            f'font-size="10" fill="#57606a">{"".join(parts)}</svg><ul class="pp-legend">{legend}</ul>')


def _line_icon(colour: str, dash: str) -> str:
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg viewBox="0 0 22 14" aria-hidden="true"><path d="M1 7h20" stroke="{colour}" '
            f'stroke-width="2"{style}/></svg>')


def checks_html(data: dict, words: Words = ENGLISH) -> str:
    """The session checks as their own small chart and table, or nothing when there are none."""
    checks = data.get("checks") or []
    if not checks:
        return ""
    dash, yes = "–", escape(words(N_("yes")))
    heads = "".join(f'<th scope="col">{escape(words(ITEM_HEADS[i]))}</th>' for i in SESSION_CHECK_ITEMS)
    rows = []
    for c in reversed(checks):               # the latest first
        cells = "".join(f'<td>{dash if c[i] is None else escape(number(words, c[i]))}</td>'
                        for i in SESSION_CHECK_ITEMS)
        rows.append(f'<tr><th scope="row">{escape(day(words, c["at"]))}</th>'
                    f'<td>{escape(after(words, c["session"]))}</td>{cells}'
                    f'<td>{yes if c["revisit"] else ""}</td></tr>')
    heading = escape(words(N_("The client's session checks")))
    note = escape(words(N_("From the client's own check-ins, each 0-10 (10: completely); a dash where they "
                           "skipped it. A series of its own: never added to the goals.")))
    when, follows, revisit = (escape(words(t)) for t in (N_("Check-in"), N_("When"), N_("Asked to revisit progress")))
    return (f'<h2>{heading}</h2><p class="pp-sub">{note}</p><div class="pp-checks">{_chart(checks, words)}</div>'
            f'<div class="pp-table" tabindex="0" role="region" aria-label="{heading}">'
            f'<table class="pp-checks-table" aria-label="{heading}"><thead><tr>'
            f'<th scope="col">{when}</th><th scope="col">{follows}</th>{heads}<th scope="col">{revisit}</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')

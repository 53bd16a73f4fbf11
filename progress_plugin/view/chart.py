"""The progress chart: one 0-10 line per goal and tag markers on the session axis, as SVG.

Written as SVG text by :mod:`progress_plugin.view.chart_svg` (no charting library: the chart is a
few fixed shapes on fixed axes, and a library's config, node tree and serialisation were most of
a panel's time). It draws from the panel's data (see
:func:`progress_plugin.view.panel.panel_data`), so the chart shows exactly what the JSON holds.

- The client's ratings are solid lines with filled dots; the therapist's are dashed, with
  hollow dots, in the same colour as their goal. The baseline from intake is a ring at
  "Intake" (session 0).
- Tags sit in a strip under the 0 line, one row per direction, coloured *and* shaped by
  direction (Okabe-Ito colours, so they hold for colour-blind readers).
- Nothing is summed across goals and no trend or fitted line is drawn: points are joined in
  session order, nothing more. A session without a rating breaks the line (a gap), so no
  line runs across sessions nobody rated.
- An empty chart still shows its 0-10 axis and the session axis from intake; each session
  number is labelled (every one up to :data:`MAX_X_LABELS` sessions).
- Every point carries an SVG ``<title>``, which browsers show natively; the HTML panel upgrades
  those to a styled tooltip with its own inline script.
- Every word, number and date on it is said by ``words`` (English by default); the client's
  goal words are shown as written, isolated for bidirectional text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from progress_plugin.core.bidi import isolate
from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin.view.chart_text import (DIRECTION_WORDS, DIRECTIONS, LEGEND_WORDS,  # noqa: F401 (re-exported)
                                              describe, signed, title_text)
from progress_plugin.view.chart_svg import (HEIGHT, STRIP_STEP, STRIP_TOP, WIDE, WIDTH, Y_MIN, Series,  # noqa: F401
                                             draw, row_y, shape_path)
from progress_plugin.view.checkins import SELF_COLOUR, SELF_SHAPE, marked, self_values, x_of
from progress_plugin.view.wording import day, number

# Okabe-Ito colours. Goals use blue, reddish purple and black; tag directions use the rest.
GOAL_COLOURS = ("#0072B2", "#CC79A7", "#1A1A1A")
DIRECTION_COLOURS = {"toward": "#009E73", "steady": "#56B4E9", "mixed": "#E69F00",
                     "away": "#D55E00", "none": "#8C8C8C"}
DIRECTION_SHAPES = {"toward": "triangle-up", "steady": "square", "mixed": "diamond",
                    "away": "triangle-down", "none": "circle"}
GOAL_LABEL = N_("Goal {rank}: {words}")
REPLACED_GOAL_LABEL = N_("Goal {rank}, until redefined: {words}")

MAX_MARKER_COLUMNS = 48            # beyond this many sessions, tags are grouped into spans
MAX_DOTS = 60                      # a rating series with more points is drawn as a line only
MAX_X_LABELS = 12                  # up to this many sessions, every session number is labelled
LABEL_CHARS = 34                   # goal words longer than this are truncated in labels


@dataclass(frozen=True)
class LegendEntry:
    kind: str            # client | therapist | self | baseline | tag
    label: str           # as shown, said in the chart's language (goal words truncated, bidi-isolated)
    full: str            # full text, for the tooltip (goal words bidi-isolated)
    colour: str
    shape: str = ""      # for tag and baseline entries
    direction: str = ""  # for tag entries
    goal: int = 0        # the goal's rank, for client and therapist entries
    index: int = -1      # the goal's place in the panel's goals (two may share a rank: a redefinition)
    words: str = ""      # the goal's words as shown in ``label`` (truncated, not isolated), for HTML
    template: str = ""   # the marked template of ``label`` around ``words`` ({rank}, {words}), for HTML


def truncate(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def goal_colour(index: int) -> str:
    return GOAL_COLOURS[index % len(GOAL_COLOURS)]


def legend(data: dict, words: Words = ENGLISH) -> list[LegendEntry]:
    """The legend entries, in drawing order: per goal client then therapist, baseline, tag directions."""
    out = []
    for i, g in enumerate(data["goals"]):
        template = REPLACED_GOAL_LABEL if g.get("replaced_by") else GOAL_LABEL
        rank = number(words, g["rank"])
        shown = truncate(g["words"], LABEL_CHARS - len(words(template, rank=rank, words="")))
        name = words(template, rank=rank, words=isolate(g["words"]))
        out.append(LegendEntry("client", words(template, rank=rank, words=isolate(shown)),
                               words(N_("{goal} (your rating)") if data.get("audience") == "client"
                                     else N_("{goal} (client's rating)"), goal=name), goal_colour(i),
                               goal=g["rank"], words=shown, index=i, template=template))
        if any(p["value"] is not None for p in g["therapist"]):
            out.append(LegendEntry("therapist", words(N_("Goal {rank}: therapist's rating"), rank=rank),
                                   words(N_("{goal} (therapist's rating)"), goal=name), goal_colour(i),
                                   goal=g["rank"], index=i))
    if any(marked(g) for g in data["goals"]):
        out.append(LegendEntry("self", words(N_("The client's own check-in")),
                               words(N_("A goal rating the client gave in their own check-in, between sessions")),
                               SELF_COLOUR, SELF_SHAPE))
    if data["goals"]:
        redefined = any(g.get("redefined_at") is not None for g in data["goals"])
        out.append(LegendEntry("baseline", words(N_("Starting point (intake, or where redefined)") if redefined
                                                 else N_("Starting point (intake)")),
                               words(N_("Each goal's rating at intake, or at the session where it was redefined")),
                               "#4D4D4D", "ring"))
    shown = [d for d in DIRECTIONS if d in {m["direction"] for m in data["markers"]}]
    tags = words(N_("Tags:"))
    for i, d in enumerate(shown):            # reads on as a list: "Tags: step toward", "holding steady", ...
        said = words(LEGEND_WORDS[d])
        out.append(LegendEntry("tag", f"{tags} {said}" if i == 0 else said, f"{tags} {said}",
                               DIRECTION_COLOURS[d], DIRECTION_SHAPES[d], d, words=""))
    return out


def _x_labels(last: int, words: Words = ENGLISH) -> list[dict]:
    """"Intake" at 0, then every session number; past :data:`MAX_X_LABELS` sessions, every 2nd, 5th, 10th..."""
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10 ** 9) if last / s <= MAX_X_LABELS)
    return [{"label": words(N_("Intake")), "value": 0}] + [{"label": number(words, s), "value": s}
                                                           for s in range(step, last + 1, step)]


def _marker_groups(markers: list[dict], sessions: int, words: Words = ENGLISH) -> list[tuple[str, float, str]]:
    """(direction, x, tooltip) per drawn marker: one per session and direction, or per span when long."""
    width = max(1, math.ceil(sessions / MAX_MARKER_COLUMNS))
    groups: dict[tuple[int, str], tuple[dict, dict[str, int]]] = {}     # first marker, count per label
    retired: dict[str, str] = {}
    for m in markers:
        key = ((m["session"] - 1) // width, m["direction"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = (m, {})
        label = m["label"]
        if m["retired"]:
            said = retired.get(label)
            label = retired[label] = said if said is not None else words(N_("{label} (retired tag)"), label=label)
        counts = group[1]
        counts[label] = counts.get(label, 0) + 1
    out = []
    order = {d: i for i, d in enumerate(DIRECTIONS)}
    # each template looked up once, not once per group
    times, session_at, span_of, tip = (words.gettext(t).format for t in (
        N_("{label} ×{n}"), N_("Session {session}, {date}"), N_("Sessions {first}–{last}"),
        N_("{where} · {direction}: {tags}")))
    directions = {d: words(w) for d, w in DIRECTION_WORDS.items()}
    for (span, direction), (first, counts) in sorted(groups.items(), key=lambda kv: (order[kv[0][1]], kv[0][0])):
        labels = ", ".join(k if n == 1 else times(label=k, n=number(words, n)) for k, n in counts.items())
        if width == 1:
            where = session_at(session=number(words, first["session"]), date=day(words, first["at"]))
            x = float(first["session"])
        else:
            lo, hi = span * width + 1, min(sessions, (span + 1) * width)
            where = span_of(first=number(words, lo), last=number(words, hi))
            x = (lo + hi) / 2
        out.append((direction, x, tip(where=where, direction=directions[direction], tags=labels)))
    return out


def _rating_values(g: dict, rater: str, with_baseline: bool, words: Words = ENGLISH, you: bool = False) -> list[dict]:
    """The points of one rating line; with tooltips when few enough to be drawn as dots (``you``: said to
    the client). A point from the client's own check-in is on the line with no dot of its own
    (:func:`_self_values` marks it)."""
    points = [p for p in g[rater] if p["value"] is not None and (with_baseline or p["session"] > 0)]
    if len(points) > MAX_DOTS:                  # a line only: its points, with a gap where sessions went unrated
        values: list[dict] = []
        previous = None
        for p in points:
            x = p["session"] + 0.5 if p.get("source") == "self" else p["session"]      # x_of(p)
            if previous is not None and x - previous > 1:
                values.append({"value": (math.floor(previous) + 1, None)})
            previous = x
            values.append({"value": (x, p["value"])})
        return values
    tip = (N_("Goal {rank}, {when} ({date}): {value}/10, therapist's rating") if rater != "client"
           else N_("Goal {rank}, {when} ({date}): {value}/10, your rating") if you
           else N_("Goal {rank}, {when} ({date}): {value}/10, client's rating"))
    rank = number(words, g["rank"])
    values = []
    previous = None
    for p in points:
        x = x_of(p)
        if previous is not None and x - previous > 1:
            values.append({"value": (math.floor(previous) + 1, None)})    # sessions without a rating: a gap
        previous = x
        if p.get("source") == "self":
            values.append({"value": (x, p["value"])})                      # on the line, no dot of its own
            continue
        when = (words(N_("at intake")) if p["session"] == 0
                else words(N_("session {session}"), session=number(words, p["session"])))
        values.append({"value": (p["session"], p["value"]),
                       "tooltip": words(tip, rank=rank, when=when, date=day(words, p["at"]),
                                        value=number(words, p["value"]))})
    return values


def _start_tip(g: dict, words: Words = ENGLISH) -> str:
    if g.get("redefined_at") is None:
        return words(N_("Goal {rank}, starting point at intake: {baseline}/10"), rank=number(words, g["rank"]),
                     baseline=number(words, g["baseline"]))
    return words(N_("Goal {rank}, progress redefined at session {session}: new starting point {baseline}/10"),
                 rank=number(words, g["rank"]), session=number(words, g["redefined_at"]),
                 baseline=number(words, g["baseline"]))


def render(data: dict, *, show_legend: bool = True, words: Words = ENGLISH) -> str:
    """The chart for one client's panel data, as an SVG document string, in ``words``' language.

    ``show_legend=False`` leaves the legend out, for pages that lay it out in HTML.
    """
    entries = {(e.kind, e.index, e.direction): e for e in legend(data, words)}
    series: list[Series] = []
    for i, g in enumerate(data["goals"]):
        colour = goal_colour(i)
        client = _rating_values(g, "client", True, words, data.get("audience") == "client")
        series.append(Series(entries[("client", i, "")], client, colour, line="line"))
        therapist = _rating_values(g, "therapist", False, words)
        if therapist:
            series.append(Series(entries[("therapist", i, "")], therapist, colour, line="line dash", hollow=True,
                                 r=3.25))
    marked = [v for i, g in enumerate(data["goals"]) for v in self_values(g, goal_colour(i), words)]
    if marked:
        series.append(Series(entries[("self", -1, "")], marked, SELF_COLOUR, r=4.5))
    if data["goals"]:
        rings = [{"value": (g.get("redefined_at") or 0, g["baseline"]), "ring": goal_colour(i),
                  "tooltip": _start_tip(g, words)} for i, g in enumerate(data["goals"])]
        series.append(Series(entries[("baseline", -1, "")], rings, "#4D4D4D"))
    sessions = len(data["sessions"])
    groups = _marker_groups(data["markers"], max(sessions, 1), words)
    for d in DIRECTIONS:
        values = [{"value": (x, row_y(d)), "tooltip": tip, "shape": DIRECTION_SHAPES[d], "direction": d}
                  for direction, x, tip in groups if direction == d]
        if values:
            series.append(Series(entries[("tag", -1, d)], values, DIRECTION_COLOURS[d], r=4.5))
    last = max([sessions, 1] + [p["session"] for g in data["goals"] for p in g["client"] + g["therapist"]])
    right = max([last] + [x_of(p) for g in data["goals"] for p in g["client"]])
    pad = 0.04 * last + 0.4
    return draw(data, series, (-pad, right + pad), _x_labels(last, words), show_legend, words)


__all__ = ["DIRECTIONS", "DIRECTION_WORDS", "LEGEND_WORDS", "LegendEntry", "describe", "legend", "render",
           "shape_path", "signed", "title_text", "truncate"]

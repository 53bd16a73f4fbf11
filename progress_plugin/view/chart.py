"""The progress chart: one 0-10 line per goal and tag markers on the session axis, as SVG.

Drawn with pygal (pure Python, SVG output). It draws from the panel's data (see
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
- pygal's tooltip script is not used (it would be fetched from a CDN): every point carries
  an SVG ``<title>``, which browsers show natively, and the HTML panel upgrades those to a
  styled tooltip with its own inline script.
- Every word, number and date on it is said by ``words`` (English by default); the client's
  goal words are shown as written, isolated for bidirectional text.
"""
from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pygal
from pygal.style import Style

from progress_plugin.core.bidi import isolate
from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin.view.chart_text import (DIRECTION_WORDS, DIRECTIONS, LEGEND_WORDS,  # noqa: F401 (re-exported)
                                              describe, signed, title_text)
from progress_plugin.view.pygal_fast import XY
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

WIDTH, HEIGHT = 400, 290           # viewBox; the SVG scales to its container
WIDE = 640                         # the standalone SVG, with its legend in two columns
STRIP_TOP, STRIP_STEP = -1.1, 0.62  # y of the first tag row under 0, and the row spacing
Y_MIN = STRIP_TOP - STRIP_STEP * (len(DIRECTIONS) - 1) - 0.5
MAX_MARKER_COLUMNS = 48            # beyond this many sessions, tags are grouped into spans
MAX_DOTS = 60                      # a rating series with more points is drawn as a line only
MAX_X_LABELS = 12                  # up to this many sessions, every session number is labelled
LABEL_CHARS = 34                   # goal words longer than this are truncated in labels
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"


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


def row_y(direction: str) -> float:
    return STRIP_TOP - STRIP_STEP * DIRECTIONS.index(direction)


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


def shape_path(shape: str, x: float, y: float, r: float) -> str:
    """Path data for a marker shape centred on (x, y), of about the area of a circle of radius r."""
    if shape == "square":
        s = r * 0.9
        return f"M{x - s:.1f} {y - s:.1f}h{2 * s:.1f}v{2 * s:.1f}h{-2 * s:.1f}z"
    if shape == "diamond":
        s = r * 1.3
        return f"M{x:.1f} {y - s:.1f}L{x + s:.1f} {y:.1f}L{x:.1f} {y + s:.1f}L{x - s:.1f} {y:.1f}z"
    if shape in ("triangle-up", "triangle-down"):
        s = r * 1.35
        k = -1 if shape == "triangle-up" else 1
        return (f"M{x:.1f} {y + k * s:.1f}L{x + s * 0.95:.1f} {y - k * s * 0.6:.1f}"
                f"L{x - s * 0.95:.1f} {y - k * s * 0.6:.1f}z")
    return f"M{x - r:.1f} {y:.1f}a{r:.1f} {r:.1f} 0 1 0 {2 * r:.1f} 0a{r:.1f} {r:.1f} 0 1 0 {-2 * r:.1f} 0z"


def _x_labels(last: int, words: Words = ENGLISH) -> list[dict]:
    """"Intake" at 0, then every session number; past :data:`MAX_X_LABELS` sessions, every 2nd, 5th, 10th..."""
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10 ** 9) if last / s <= MAX_X_LABELS)
    return [{"label": words(N_("Intake")), "value": 0}] + [{"label": number(words, s), "value": s}
                                                           for s in range(step, last + 1, step)]


def _marker_groups(markers: list[dict], sessions: int, words: Words = ENGLISH) -> list[tuple[str, float, str]]:
    """(direction, x, tooltip) per drawn marker: one per session and direction, or per span when long."""
    width = max(1, math.ceil(sessions / MAX_MARKER_COLUMNS))
    groups: dict[tuple[int, str], list[dict]] = {}
    for m in markers:
        groups.setdefault(((m["session"] - 1) // width, m["direction"]), []).append(m)
    out = []
    for (span, direction), ms in sorted(groups.items(), key=lambda kv: (DIRECTIONS.index(kv[0][1]), kv[0][0])):
        counts: dict[str, int] = {}
        for m in ms:
            label = words(N_("{label} (retired tag)"), label=m["label"]) if m["retired"] else m["label"]
            counts[label] = counts.get(label, 0) + 1
        labels = ", ".join(k if n == 1 else words(N_("{label} ×{n}"), label=k, n=number(words, n))
                           for k, n in counts.items())
        if width == 1:
            where = words(N_("Session {session}, {date}"), session=number(words, ms[0]["session"]),
                          date=day(words, ms[0]["at"]))
            x = float(ms[0]["session"])
        else:
            lo, hi = span * width + 1, min(sessions, (span + 1) * width)
            where = words(N_("Sessions {first}–{last}"), first=number(words, lo), last=number(words, hi))
            x = (lo + hi) / 2
        out.append((direction, x, words(N_("{where} · {direction}: {tags}"), where=where,
                                        direction=words(DIRECTION_WORDS[direction]), tags=labels)))
    return out


def _rating_values(g: dict, rater: str, with_baseline: bool, words: Words = ENGLISH, you: bool = False) -> list[dict]:
    """The points of one rating line; with tooltips when few enough to be drawn as dots (``you``: said to
    the client). A point from the client's own check-in is on the line with no dot of its own
    (:func:`_self_values` marks it)."""
    points = [p for p in g[rater] if p["value"] is not None and (with_baseline or p["session"] > 0)]
    tip = (N_("Goal {rank}, {when} ({date}): {value}/10, therapist's rating") if rater != "client"
           else N_("Goal {rank}, {when} ({date}): {value}/10, your rating") if you
           else N_("Goal {rank}, {when} ({date}): {value}/10, client's rating"))
    rank = number(words, g["rank"])
    values: list[dict] = []
    previous = None
    for p in points:
        x = x_of(p)
        if previous is not None and x - previous > 1:
            values.append({"value": (math.floor(previous) + 1, None)})    # sessions without a rating: a gap
        previous = x
        if len(points) > MAX_DOTS:
            values.append({"value": (x, p["value"])})
            continue
        if p.get("source") == "self":
            values.append({"value": (x, p["value"]), "node": {"r": "0", "style": "fill:none;stroke:none"}})
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


def _dotted(values: list[dict]) -> bool:
    """Whether a series is drawn with dots: when its points carry tooltips (few enough points)."""
    return any("tooltip" in v for v in values)


def render(data: dict, *, show_legend: bool = True, words: Words = ENGLISH) -> str:
    """The chart for one client's panel data, as an SVG document string, in ``words``' language.

    ``show_legend=False`` leaves the legend out, for pages that lay it out in HTML.
    """
    entries = {(e.kind, e.index, e.direction): e for e in legend(data, words)}
    series: list[tuple[LegendEntry, list, dict]] = []    # (legend entry, values, pygal series options)
    for i, g in enumerate(data["goals"]):
        client = _rating_values(g, "client", True, words, data.get("audience") == "client")
        series.append((entries[("client", i, "")], client, {"show_dots": _dotted(client)}))
        therapist = _rating_values(g, "therapist", False, words)
        if therapist:
            hollow = [{**v, "node": {"style": "fill:#ffffff;stroke-width:1.75"}} for v in therapist]
            series.append((entries[("therapist", i, "")], hollow, {
                "show_dots": _dotted(therapist), "dots_size": 3.25,
                "stroke_style": {"dasharray": "6,4", "width": 1.75}}))
    marked = [v for i, g in enumerate(data["goals"]) for v in self_values(g, goal_colour(i), words)]
    if marked:
        series.append((entries[("self", -1, "")], marked, {"stroke": False, "dots_size": 4.5}))
    if data["goals"]:
        rings = [{"value": (g.get("redefined_at") or 0, g["baseline"]), "color": goal_colour(i),
                  "node": {"style": f"fill:#ffffff;stroke:{goal_colour(i)};stroke-width:2.5", "r": "5.5"},
                  "tooltip": _start_tip(g, words)}
                 for i, g in enumerate(data["goals"])]
        series.append((entries[("baseline", -1, "")], rings, {"stroke": False}))
    sessions = len(data["sessions"])
    groups = _marker_groups(data["markers"], max(sessions, 1), words)
    for d in DIRECTIONS:
        values = [{"value": (x, row_y(d)), "tooltip": tip,
                   "node": {"data-shape": DIRECTION_SHAPES[d], "data-direction": d}}
                  for direction, x, tip in groups if direction == d]
        if values:
            series.append((entries[("tag", -1, d)], values, {"stroke": False, "dots_size": 4.5}))

    empty = not series
    if empty:            # nothing to draw: an invisible point keeps pygal drawing the axes
        series.append((LegendEntry("placeholder", "", "", "#ffffff"),
                       [{"value": (0, 0), "node": {"r": "0", "style": "fill:none;stroke:none"}}], {"stroke": False}))
    last = max([sessions, 1] + [p["session"] for g in data["goals"] for p in g["client"] + g["therapist"]])
    right = max([last] + [x_of(p) for g in data["goals"] for p in g["client"]])
    pad = 0.04 * last + 0.4
    legend_rows = math.ceil(len(series) / 2) if show_legend and not empty else 0
    chart = XY(
        style=Style(
            background="#ffffff", plot_background="#ffffff", foreground="#333333",
            foreground_strong="#1a1a1a", foreground_subtle="#d9d9d9", font_family=FONT,
            label_font_size=13, major_label_font_size=13, legend_font_size=13, title_font_size=12,
            no_data_font_size=16, guide_stroke_color="#e3e3e3", major_guide_stroke_color="#e3e3e3",
            guide_stroke_dasharray="0", major_guide_stroke_dasharray="0",
            opacity="1", opacity_hover="1", stroke_opacity="1", stroke_opacity_hover="1",
            stroke_width="2.25", stroke_width_hover="2.25", transition="0s",
            colors=tuple(e.colour for e, _, _ in series) or ("#000000",)),
        width=WIDE if show_legend else WIDTH, height=HEIGHT + legend_rows * 20,
        range=(Y_MIN, 10.4), xrange=(-pad, right + pad),
        y_labels=[{"label": number(words, v), "value": v} for v in (0, 2, 4, 6, 8, 10)]
        + [{"label": words(N_("Tags")), "value": row_y("mixed")}], x_labels=_x_labels(last, words),
        allow_interruptions=True,         # a None value (an unrated session) breaks the line
        x_title=words(N_("Session")),
        show_legend=show_legend, legend_at_bottom=True, legend_at_bottom_columns=2, legend_box_size=12,
        truncate_legend=-1,               # labels come truncated (and bidi-isolated): pygal must not cut them
        truncate_label=-1,                # every session number and "Intake" in full
        show_x_guides=False, show_y_guides=True,
        dots_size=3.5, margin=8, spacing=8, js=[], disable_xml_declaration=True, explicit_size=False,
        no_data_text=words(N_("No ratings or tags yet")), classes=["progress-chart"],
    )
    chart.uuid = "pp-" + hashlib.sha1(f"{data['client_id']}/{data['audience']}".encode()).hexdigest()[:12]
    for entry, values, options in series:
        title = None if entry.kind == "placeholder" else {"title": entry.label, "tooltip": entry.full}
        chart.add(title, values, **options)
    kinds = [entry for entry, _, _ in series]
    chart.add_xml_filter(lambda root: _finish(root, data, kinds, show_legend, words))
    return chart.render()


def _finish(root, data: dict, kinds, show_legend: bool, words: Words = ENGLISH):
    """Accessibility attributes, the language, marker shapes and legend symbols on pygal's tree."""
    for comment in [c for c in root if c.tag is ET.Comment]:
        root.remove(comment)             # pygal's banner carries the render date: keep output reproducible
    for defs in [el for el in root.iter() if _local(el) == "defs"]:
        for script in [c for c in defs if _local(c) == "script"]:
            defs.remove(script)          # pygal's config script: not needed without its tooltip script
    root.set("role", "img")
    root.set(XML_LANG, words.code)
    root.set("aria-labelledby", f"{root.get('id')}-title {root.get('id')}-desc")
    for child in list(root):
        if _local(child) == "title":
            child.text = title_text(data, words)
            child.set("id", f"{root.get('id')}-title")
            desc = ET.Element(child.tag.replace("title", "desc"), {"id": f"{root.get('id')}-desc"})
            desc.text = describe(data, words)
            root.insert(list(root).index(child) + 1, desc)
            break
    for dots in [el for el in root.iter() if _local(el) == "g" and el.get("class") == "dots"]:
        for desc in [c for c in dots if _local(c) == "desc"]:
            dots.remove(desc)            # pygal's data for its tooltip script (not used): raw numbers, unread
    tags, intake = words(N_("Tags")), words(N_("Intake"))
    for guides in [el for el in root.iter() if _local(el) == "g" and el.get("class") == "guides"]:
        for title in [c for c in guides if _local(c) == "title"]:
            guides.remove(title)         # axis labels need no tooltip
        if any(_local(c) == "text" and c.text == tags for c in guides):
            for line in [c for c in guides if _local(c) == "path"]:
                guides.remove(line)      # the strip's name, without a grid line through its markers
    for el in root.iter():
        if _local(el) == "text" and el.text == intake and "x" in el.attrib:    # ends at its tick: clear of "1"
            el.set("x", f"{float(el.get('x')) + 5:.2f}")
            el.set("style", "text-anchor:end")           # pygal's stylesheet centres axis labels
        if _local(el) == "circle" and "data-shape" in el.attrib:      # a tag marker: give it its shape
            shape = el.attrib.pop("data-shape")
            x, y, r = (float(el.attrib.pop(k)) for k in ("cx", "cy", "r"))
            el.tag = el.tag.replace("circle", "path")
            el.set("d", shape_path(shape, x, y, r))   # its white outline: one rule in the stylesheet (below)
    style = next((el for el in root.iter() if _local(el) == "style"), None)
    if style is not None:
        style.text = (style.text or "") + f"#{root.get('id')} path[data-direction]{{stroke:#fff;stroke-width:.75}}"
    if show_legend:
        _legend_symbols(root, kinds)
    if kinds and kinds[0].kind == "placeholder":
        _say_empty(root, words)
    return root


def _say_empty(root, words: Words = ENGLISH) -> None:
    """Write "No ratings or tags yet" in the middle of an empty plot."""
    plot = next((el for el in root.iter() if _local(el) == "g" and "plot" in (el.get("class") or "").split()), None)
    back = next((c for c in plot if _local(c) == "rect"), None) if plot is not None else None
    if back is None:
        return
    x = float(back.get("x", 0)) + float(back.get("width", 0)) / 2
    y = float(back.get("y", 0)) + float(back.get("height", 0)) / 3
    text = ET.SubElement(plot, back.tag.replace("rect", "text"),
                         {"x": f"{x:.1f}", "y": f"{y:.1f}", "text-anchor": "middle", "class": "pp-empty",
                          "style": "fill:#5a5a5a;font-size:14px"})
    text.text = words(N_("No ratings or tags yet"))


def _local(el) -> str:
    """An element's tag without its namespace ('' for comments)."""
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _legend_symbols(root, kinds) -> None:
    for group in root.iter():
        gid = group.get("id", "")
        if not gid.startswith("activate-serie-"):
            continue
        entry = kinds[int(gid.rsplit("-", 1)[1])]
        kind = entry.kind
        rect = next(c for c in group if _local(c) == "rect")
        x, y, size = float(rect.get("x")), float(rect.get("y")), float(rect.get("width"))
        cx, cy = x + size / 2, y + size / 2
        rect.tag = rect.tag.replace("rect", "path")
        for k in ("x", "y", "width", "height", "class"):
            rect.attrib.pop(k, None)
        if kind in ("client", "therapist"):
            rect.set("d", f"M{x - 1:.2f} {cy:.2f}h{size:.2f}")
            rect.set("style", f"fill:none;stroke:{entry.colour};stroke-width:2.25"
                     + (";stroke-dasharray:4,3" if kind == "therapist" else ""))
        elif kind == "baseline":
            rect.set("d", shape_path("circle", cx, cy, size / 2.6))
            rect.set("style", f"fill:#ffffff;stroke:{entry.colour};stroke-width:2.25")
        else:
            rect.set("d", shape_path(entry.shape, cx, cy, size / 2.6))
            rect.set("style", f"fill:{entry.colour};stroke:none")

"""The progress chart's SVG, written directly (pure): axes, the tags' strip, one line per run of
rated sessions (a subpath each), dots with their tooltips, markers, the starting points, and for the standalone
chart its legend.

The chart is a few fixed shapes on fixed axes, so it is written as text in one pass: every
word in it is escaped (:func:`escape`), coordinates have one decimal (a tenth of a
unit of a 400-wide viewBox is below a pixel at any size the chart is shown), and one small
stylesheet, scoped to the chart's id, carries what every shape of a kind shares.

What :func:`draw` is given (:class:`Series`) and what it reads of each value:

- ``value``: ``(x, y)`` in sessions and rating points; ``y`` None breaks the line (a session
  nobody rated);
- ``tooltip``: the point gets a dot (or its marker) with this ``<title>``; without one the point
  is on the line only;
- ``shape`` (and ``fill``): a marker of that shape instead of a round dot; ``direction``: a tag
  marker's direction (``data-direction``); ``ring``: a starting point, a white ring of that colour.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from html import escape as _escape

from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin.view.chart_text import DIRECTIONS, describe, title_text
from progress_plugin.view.wording import number

WIDTH, HEIGHT = 400, 290           # viewBox; the SVG scales to its container
WIDE = 640                         # the standalone SVG, with its legend in two columns
STRIP_TOP, STRIP_STEP = -1.1, 0.62  # y of the first tag row under 0, and the row spacing
Y_MIN, Y_MAX = STRIP_TOP - STRIP_STEP * (len(DIRECTIONS) - 1) - 0.5, 10.4
MARGIN, LEGEND_ROW = 8, 20
FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,sans-serif"


@dataclass
class Series:
    """One legend entry's shapes: its values, colour, and how its line and dots are drawn."""
    entry: object                  # a chart.LegendEntry (kind, label, full)
    values: list[dict]
    colour: str
    line: str = ""                 # the line's classes ("line", "line dash"); "" draws no line
    hollow: bool = False           # white dots ringed in the colour
    r: float = 3.5                 # a dot's radius


def escape(text: str) -> str:
    """Text for an element's content or a double-quoted attribute: ``&``, ``<``, ``>`` and ``"``
    escaped (an apostrophe needs no escape there, and the tooltips are full of them)."""
    return _escape(text, quote=False).replace('"', "&quot;")


def row_y(direction: str) -> float:
    return STRIP_TOP - STRIP_STEP * DIRECTIONS.index(direction)


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def shape_path(shape: str, x: float, y: float, r: float) -> str:
    """Path data for a marker shape centred on (x, y), of about the area of a circle of radius r."""
    if shape == "square":
        s = r * 0.9
        return f"M{_n(x - s)} {_n(y - s)}h{_n(2 * s)}v{_n(2 * s)}h{_n(-2 * s)}z"
    if shape == "diamond":
        s = r * 1.3
        return f"M{_n(x)} {_n(y - s)}L{_n(x + s)} {_n(y)}L{_n(x)} {_n(y + s)}L{_n(x - s)} {_n(y)}z"
    if shape in ("triangle-up", "triangle-down"):
        s = r * 1.35
        k = -1 if shape == "triangle-up" else 1
        return (f"M{_n(x)} {_n(y + k * s)}L{_n(x + s * 0.95)} {_n(y - k * s * 0.6)}"
                f"L{_n(x - s * 0.95)} {_n(y - k * s * 0.6)}z")
    return f"M{_n(x - r)} {_n(y)}a{_n(r)} {_n(r)} 0 1 0 {_n(2 * r)} 0a{_n(r)} {_n(r)} 0 1 0 {_n(-2 * r)} 0z"


def _label_width(texts) -> float:
    """About how wide the widest y-axis label is at 13 px (no font metrics in a pure module)."""
    return max(len(t) for t in texts) * 7.5


def draw(data: dict, series: list[Series], xrange: tuple[float, float], x_labels: list[dict],
         show_legend: bool = True, words: Words = ENGLISH) -> str:
    """The chart's SVG document for ``series`` on the session axis ``xrange``."""
    cid = "pp-" + hashlib.sha1(f"{data['client_id']}/{data['audience']}".encode()).hexdigest()[:12]
    tags, intake = words(N_("Tags")), words(N_("Intake"))
    y_labels = [(number(words, v), float(v)) for v in (0, 2, 4, 6, 8, 10)] + [(tags, row_y("mixed"))]
    width = WIDE if show_legend else WIDTH
    rows = math.ceil(len(series) / 2) if show_legend and series else 0
    height = HEIGHT + rows * LEGEND_ROW
    left = MARGIN + _label_width(t for t, _ in y_labels) + 8
    top, right, bottom = MARGIN + 4, width - MARGIN - 4, HEIGHT - MARGIN - 44
    x0, sx = xrange[0], (right - left) / (xrange[1] - xrange[0])
    sy = (bottom - top) / (Y_MAX - Y_MIN)

    def X(v: float) -> float:
        return left + (v - x0) * sx

    def Y(v: float) -> float:
        return top + (Y_MAX - v) * sy

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="progress-chart" viewBox="0 0 {width} {height}" '
           f'role="img" xml:lang="{escape(words.code)}" aria-labelledby="{cid}-title {cid}-desc">'
           f'<title id="{cid}-title">{escape(title_text(data, words))}</title>'
           f'<desc id="{cid}-desc">{escape(describe(data, words))}</desc>'
           f"<style>#{cid}{{font:13px {FONT}}}#{cid} text{{fill:#333}}#{cid} .guides path{{stroke:#e3e3e3}}"
           f"#{cid} .axis.y text{{text-anchor:end}}#{cid} .axis.x text{{text-anchor:middle}}"
           f"#{cid} .line{{fill:none;stroke-width:2.25;stroke-linejoin:round}}"
           f"#{cid} .dash{{stroke-dasharray:6,4;stroke-width:1.75}}"
           f"#{cid} path[data-direction]{{stroke:#fff;stroke-width:.75}}</style>"
           f'<rect width="{width}" height="{height}" fill="#fff"/><g class="axis y">']
    for label, v in y_labels:
        y = _n(Y(v))
        grid = "" if label == tags else f'<path d="M{_n(left)} {y}H{_n(right)}"/>'
        out.append(f'<g class="guides">{grid}<text x="{_n(left - 6)}" y="{_n(Y(v) + 4.5)}">{escape(label)}</text></g>')
    out.append('</g><g class="axis x">')
    label_y = _n(bottom + 18)
    for label in x_labels:
        if label["value"] == 0:               # "Intake" ends at its tick: clear of "1"
            out.append(f'<text x="{_n(X(0) + 5)}" y="{label_y}" style="text-anchor:end">'
                       f'{escape(label["label"])}</text>')
        else:
            out.append(f'<text x="{_n(X(label["value"]))}" y="{label_y}">{escape(label["label"])}</text>')
    session = escape(words(N_("Session")))
    out.append(f'<text x="{_n((left + right) / 2)}" y="{_n(bottom + 38)}">{session}</text></g>')
    xs: dict[float, str] = {}             # a line's coordinates, each distinct one written once
    ys: dict[float, str] = {}
    for n, s in enumerate(series):
        out.append(f'<g class="series serie-{n}" stroke="{s.colour}" fill="{"#fff" if s.hollow else s.colour}">')
        if s.line:                        # one path; each run of rated sessions a subpath of its own
            runs: list[str] = []
            run: list[str] = []
            for v in s.values + [{"value": (0, None)}]:
                x, y = v["value"]
                if y is not None:
                    at_x, at_y = xs.get(x), ys.get(y)
                    if at_x is None:
                        at_x = xs[x] = _n(X(x))
                    if at_y is None:
                        at_y = ys[y] = _n(Y(y))
                    run.append(f"{at_x} {at_y}")
                    continue
                if len(run) > 1:
                    runs.append(f"M{run[0]}L{' '.join(run[1:])}")
                run = []
            if runs:
                out.append(f'<path class="{s.line}" d="{"".join(runs)}"/>')
        dots = [v for v in s.values if "tooltip" in v]
        if dots:
            out.append('<g class="dots">')
            for v in dots:
                x, y = X(v["value"][0]), Y(v["value"][1])
                tip = f"<title>{escape(v['tooltip'])}</title>"
                if "ring" in v:
                    out.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="5.5" fill="#fff" stroke="{v["ring"]}" '
                               f'stroke-width="2.5">{tip}</circle>')
                elif "direction" in v:
                    out.append(f'<path d="{shape_path(v["shape"], x, y, s.r)}" data-direction="{v["direction"]}">'
                               f"{tip}</path>")
                elif "shape" in v:
                    out.append(f'<path d="{shape_path(v["shape"], x, y, s.r)}" fill="{v["fill"]}">{tip}</path>')
                else:
                    out.append(f'<circle class="dot" cx="{_n(x)}" cy="{_n(y)}" r="{_n(s.r)}">{tip}</circle>')
            out.append("</g>")
        out.append("</g>")
    if not series:
        empty = escape(words(N_("No ratings or tags yet")))
        out.append(f'<text class="pp-empty" x="{_n((left + right) / 2)}" y="{_n(top + (bottom - top) / 3)}" '
                   f'text-anchor="middle" style="fill:#5a5a5a;font-size:14px">'
                   f'{empty}</text>')
    if rows:
        out.extend(_legend(series, width, HEIGHT))
    out.append("</svg>")
    return "".join(out)


def _legend(series: list[Series], width: int, top: float) -> list[str]:
    """The standalone chart's legend, two columns under the plot: a symbol, the label, and the
    full text as its tooltip."""
    out = []
    column = (width - 2 * MARGIN) / 2
    for i, s in enumerate(series):
        e = s.entry
        x, y = MARGIN + (i % 2) * column, top + (i // 2) * LEGEND_ROW
        cx, cy = x + 6, y + 6
        if e.kind in ("client", "therapist"):
            dash = ' stroke-dasharray="4,3"' if e.kind == "therapist" else ""
            symbol = f'<path d="M{_n(x - 1)} {_n(cy)}h12" fill="none" stroke="{e.colour}" stroke-width="2.25"{dash}/>'
        elif e.kind == "baseline":
            symbol = (f'<path d="{shape_path("circle", cx, cy, 12 / 2.6)}" fill="#fff" stroke="{e.colour}" '
                      'stroke-width="2.25"/>')
        else:
            symbol = f'<path d="{shape_path(e.shape, cx, cy, 12 / 2.6)}" fill="{e.colour}"/>'
        out.append(f'<g class="legend">{symbol}<text x="{_n(x + 17)}" y="{_n(y + 10.5)}">{escape(e.label)}</text>'
                   f"<title>{escape(e.full)}</title></g>")
    return out

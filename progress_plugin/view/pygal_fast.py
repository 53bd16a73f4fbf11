"""pygal, faster and smaller: the chart class the progress chart draws with, and two fixes.

What pygal draws is unchanged but for the precision of its coordinates:

- :class:`XY`: pygal's XY chart with a one-step attribute lookup (below).
- Series options: pygal copies the chart's options to each series checking each name against
  ``dir()`` of a new series config, computed again for every name (about a thousand ``dir()``
  calls per chart). :class:`_SerieConfig` answers ``dir()`` from its class's list, made once.
- Coordinates: pygal writes each one with six decimals (``19.137028 118.975563``). The chart is
  a 400 x 290 viewBox, so a tenth of a unit is below a pixel at any size it is shown:
  :class:`_Svg` writes one decimal, which halves the SVG of a long history.

Both fixes replace names in pygal's modules when this module is imported (pygal draws only
the progress chart in this package), so a stock ``pygal.XY`` draws the same as :class:`XY`.
"""
from __future__ import annotations


import pygal
import pygal.graph.base
import pygal.svg
from pygal.config import SerieConfig


class XY(pygal.XY):
    """pygal's XY chart with a faster attribute lookup; the output is the same.

    pygal answers every attribute of a chart through a Python-level ``__getattribute__``
    that prefers the render-time state object, calling itself three times per lookup. On a
    500-session history that is half of the render time. This does the same lookup in one
    step: the state's own attributes first, then the chart's.
    """

    def __getattribute__(self, name):
        state = object.__getattribute__(self, "__dict__").get("state")
        if state is not None and name != "state" and not name.startswith("__"):
            held = state.__dict__
            if name in held:
                return held[name]
        return object.__getattribute__(self, name)


class _SerieConfig(SerieConfig):
    """A series config whose ``dir()`` is its class's, listed once (its instances add no names of
    their own before pygal asks: it asks right after ``__init__``, which sets the class's)."""

    _names: list | None = None

    def __dir__(self):
        cls = type(self)
        if cls._names is None:
            cls._names = sorted(set(super().__dir__()))
        return cls._names


def _short(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


class _Svg(pygal.svg.Svg):
    """pygal's SVG writer with coordinates to one decimal, and its stylesheet made once per chart
    id, colours and style (pygal reads its CSS files from disk and fills them in for every chart)."""

    _styles: dict = {}

    def add_styles(self):
        graph = self.graph
        key = (self.id, tuple(graph.css), tuple(graph.style.get_colors(self.id, graph._order)),
               repr(self.get_strokes()), repr(sorted(vars(graph.style).items())))
        text = self._styles.get(key)
        if text is None:
            super().add_styles()
            text = self.defs[-1].text
            if len(self._styles) > 256:
                self._styles.clear()
            self._styles[key] = text
            return
        self.node(self.defs, "style", type="text/css").text = text

    def node(self, parent=None, tag="g", attrib=None, **extras):
        for values in (attrib, extras):
            if values:
                for key, value in values.items():
                    if isinstance(value, float):
                        values[key] = _short(value)
        return super().node(parent, tag, attrib, **extras)

    def line(self, node, coords, close=False, **kwargs):
        coords = [c if None in c else (round(c[0], 1), round(c[1], 1)) for c in coords]
        if len([c for c in coords if c[1] is not None]) < 2:
            return None
        first = next((i for i, c in enumerate(coords) if None not in c), None)
        if first is None:
            return None
        points = [f"{_short(x)} {_short(y)}" for x, y in (c for c in coords[first + 1:] if None not in c)]
        d = f"M{_short(coords[first][0])} {_short(coords[first][1])} L{' '.join(points)}" + (" Z" if close else "")
        return self.node(node, "path", d=d, **kwargs)


pygal.graph.base.SerieConfig = _SerieConfig
pygal.graph.base.Svg = _Svg

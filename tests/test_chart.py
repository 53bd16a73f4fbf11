"""The chart: markers coloured and shaped by direction, legend, tooltips, text alternative, scaling."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

from progress_plugin.view import chart
from progress_plugin.view import panel
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.words import ENGLISH

from tests.test_panel import START, make_intake, make_notes, progress_of

NS = "{http://www.w3.org/2000/svg}"


def local(el) -> str:
    return el.tag.rsplit("}", 1)[-1]


def svg_of(intake, notes, audience="therapist", legend=True):
    data = panel.panel_data(progress_of(intake, notes), intake, audience)
    return data, ET.fromstring(chart.render(data, show_legend=legend))


def note(i, codes=(), ratings=()):
    at = START + timedelta(days=7 * i)
    return NoteProgress(f"n{i}", "c1", at, "t1", tuple(AppliedTag(c, 1) for c in codes),
                        tuple(Rating(g, v, r, None, f"n{i}", at) for g, v, r in ratings))


def css_of(root) -> str:
    return "".join(el.text or "" for el in root.iter() if local(el) == "style")


def test_each_direction_has_its_own_colour_and_shape_from_a_colour_blind_safe_palette():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert len(set(chart.DIRECTION_COLOURS.values())) == 5 and len(set(chart.DIRECTION_SHAPES.values())) == 5
    assert set(chart.DIRECTION_COLOURS.values()) - okabe_ito == {chart.DIRECTION_COLOURS["none"]}   # neutral grey
    notes = [note(1, ["step-forward", "holding-steady", "stirring-up", "setback", "tried-something-new"])]
    data, root = svg_of(make_intake(), notes)
    markers = {el.get("data-direction"): el for el in root.iter() if el.get("data-direction")}
    assert set(markers) == set(chart.DIRECTIONS)
    css = css_of(root)
    for direction, el in markers.items():
        assert local(el) == "path"
        d = el.get("d")
        expected = {"triangle-up": 2, "triangle-down": 2, "diamond": 3, "square": 0, "circle": 0}
        assert d.count("L") == expected[chart.DIRECTION_SHAPES[direction]]
        assert ("a" in d) == (chart.DIRECTION_SHAPES[direction] == "circle")
        assert painted(root, el, "fill") == chart.DIRECTION_COLOURS[direction]
    assert re.search(r"path\[data-direction\]\{stroke:#fff;", css)            # a white outline on each marker
    tips = {el.get("data-direction"): next(c.text for c in el if local(c) == "title") for el in markers.values()}
    assert tips["toward"] == "Session 1, 9 June 2025 · toward: Step forward"
    assert tips["away"] == "Session 1, 9 June 2025 · away: Setback"


def el_parent(root, child):
    return next(p for p in root.iter() if child in list(p))


def painted(root, el, attribute):
    """The presentation attribute an element has, its own or inherited from its groups."""
    while el is not None:
        if el.get(attribute):
            return el.get(attribute)
        el = next((p for p in root.iter() if el in list(p)), None)
    return None


def test_client_line_is_solid_therapist_line_dashed_with_hollow_dots_and_baseline_is_a_ring():
    notes = [note(i, ["step-forward"], [("g1", v, "client"), ("g1", v - 1, "therapist")]) for i, v in
             enumerate([4, 5, 6], start=1)]
    data, root = svg_of(make_intake(goals=1), notes)
    assert re.search(r"\.dash\{stroke-dasharray:6,4", css_of(root))
    lines = {g.get("class").split()[1]: [p.get("class").split() for p in g if local(p) == "path"]
             for g in root.iter() if "series" in (g.get("class") or "").split()}
    assert lines["serie-0"] == [["line"]]                      # series 0 is the client: solid
    assert lines["serie-1"] == [["line", "dash"]]              # 1 the therapist: dashed
    therapist_dots = [c for c in root.iter() if local(c) == "circle" and painted(root, c, "fill") == "#fff"]
    assert len(therapist_dots) == 3 + 1                       # three hollow therapist dots and the baseline ring
    assert {painted(root, c, "stroke") for c in therapist_dots} == {chart.goal_colour(0)}
    ring = next(c for c in therapist_dots if c.get("r") == "5.5")
    assert next(t.text for t in ring if local(t) == "title") == "Goal 1, starting point at intake: 3/10"


def test_legend_names_goals_in_their_words_truncated_with_the_full_text_as_title():
    long = "Be able to walk into the supermarket on a Saturday morning without needing to leave"
    intake = make_intake(goals=1, words=(long,))
    data, root = svg_of(intake, [note(1, ["setback"], [("g1", 4, "client")])])
    legends = [g for g in root.iter() if g.get("class") == "legend"]
    texts = ["".join(t.text for t in g if local(t) == "text") for g in legends]
    assert texts[0].startswith("Goal 1: \u2068") and texts[0].endswith("…\u2069")     # the words isolated
    assert long.startswith(texts[0][9:-2]) and len(texts[0]) >= 30
    assert f"\u2068{long}\u2069" in "".join(t.text or "" for t in legends[0].iter() if local(t) == "title")
    assert texts[1:] == ["Starting point (intake)", "Tags: step back"]
    entries = chart.legend(data)
    assert [e.kind for e in entries] == ["client", "baseline", "tag"]
    assert entries[0].full == f"Goal 1: \u2068{long}\u2069 (client's rating)"


def test_svg_is_accessible_scales_and_fetches_nothing():
    data, root = svg_of(make_intake(), make_notes(12, seed=2), legend=False)
    text = chart.render(data, show_legend=False)
    assert not text.startswith("<?xml")
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {chart.WIDTH} {root.get('viewBox').split()[3]}"
    assert root.get("width") is None and root.get("height") is None           # sized by its container
    title_id, desc_id = root.get("aria-labelledby").split()
    title = next(el for el in root if el.get("id") == title_id)
    desc = next(el for el in root if el.get("id") == desc_id)
    assert title.text.startswith("Progress chart: 3 goals rated 0 to 10 over 12 sessions")
    for g in data["goals"]:
        assert f"Goal {g['rank']}, \u2068{g['words']}\u2069: started at {g['baseline']}/10" in desc.text
    assert not [el for el in root.iter() if local(el) == "script"]
    axis_titles = [t for g in root.iter() if "axis" in (g.get("class") or "") for t in g.iter() if local(t) == "title"]
    assert axis_titles == []                                   # only data points and legend entries have tooltips
    assert "http" not in re.sub(r'xmlns(:xlink)?="[^"]+"', "", text)


def test_long_histories_group_tags_into_spans_and_draw_dense_lines_without_dots():
    notes = [note(i, ["step-forward", "setback"] if i % 2 else ["holding-steady"], [("g1", i % 11, "client")])
             for i in range(1, 301)]
    data, root = svg_of(make_intake(goals=1), notes)
    markers = [el for el in root.iter() if el.get("data-direction")]
    per_direction = {d: sum(1 for m in markers if m.get("data-direction") == d) for d in ("toward", "away", "steady")}
    span = math.ceil(300 / chart.MAX_MARKER_COLUMNS)                      # 7 sessions per marker
    assert per_direction == {d: math.ceil(300 / span) for d in per_direction}
    assert math.ceil(300 / span) <= chart.MAX_MARKER_COLUMNS
    first = next(el for el in markers if el.get("data-direction") == "toward")
    tip = next(c.text for c in first if local(c) == "title")
    assert tip == "Sessions 1–7 · toward: Step forward ×4"
    client_dots = [c for c in root.iter() if local(c) == "circle"]
    assert len(client_dots) == 1                               # the baseline ring only: 301 points are a line


def test_x_axis_starts_at_intake_and_labels_every_session_while_they_fit():
    for sessions in (1, 7, 8, chart.MAX_X_LABELS):
        assert chart._x_labels(sessions) == [{"label": "Intake", "value": 0}] + [
            {"label": str(s), "value": s} for s in range(1, sessions + 1)]
    for sessions in (40, 500):
        labels = chart._x_labels(sessions)
        assert labels[0] == {"label": "Intake", "value": 0}
        assert 2 <= len(labels) <= chart.MAX_X_LABELS + 1
        assert labels[-1]["value"] <= sessions


def test_an_unrated_session_breaks_the_line_instead_of_bridging_it():
    intake = make_intake(goals=1)
    notes = [note(1, (), [("g1", 4, "client")]), note(2, ["holding-steady"]), note(3, (), [("g1", 4, "client")]),
             note(4, (), [("g1", 6, "client")])]
    data, root = svg_of(intake, notes)
    (goal,) = data["goals"]
    values = [v["value"] for v in chart._rating_values(goal, "client", with_baseline=True)]
    assert values == [(0, goal["baseline"]), (1, 4), (2, None), (3, 4), (4, 6)]
    (line,) = [el for el in root.iter() if local(el) == "path" and "line" in (el.get("class") or "").split()]
    runs = line.get("d").split("M")[1:]
    assert len(runs) == 2                      # intake to session 1, then 3 to 4: nothing drawn across session 2
    assert sorted(1 + len(run.split("L", 1)[1].split()) // 2 for run in runs) == [2, 2]


def test_an_empty_chart_shows_the_0_to_10_axis_and_says_it_is_empty():
    data, root = svg_of(None, [])
    texts = [el.text for el in root.iter() if local(el) == "text"]
    assert ["0", "2", "4", "6", "8", "10"] == [t for t in texts if t in {"0", "2", "4", "6", "8", "10"}]
    assert "Intake" in texts and "Session" in texts and "No ratings or tags yet" in texts
    assert not [g for g in root.iter() if g.get("class") == "legend"]     # no legend entry
    assert not [el for el in root.iter() if local(el) == "path" and "line" in (el.get("class") or "").split()]


def test_the_legend_reads_tags_then_their_directions_in_plain_words():
    notes = [note(1, ["step-forward", "holding-steady", "stirring-up", "setback", "tried-something-new"])]
    data, _ = svg_of(make_intake(goals=1), notes)
    tags = [e.label for e in chart.legend(data) if e.kind == "tag"]
    assert tags == ["Tags: step toward", "holding steady", "mixed", "step back", "no direction"]


def test_points_sit_at_their_session_and_rating_and_lines_join_them_in_session_order():
    notes = [note(i, ["step-forward"], [("g1", v, "client")]) for i, v in enumerate([2, 9, 5, 5], start=1)]
    data, root = svg_of(make_intake(goals=1), notes, legend=False)
    (line,) = [el for el in root.iter() if "line" in (el.get("class") or "").split()]
    d = line.get("d")
    assert d.count("M") == 1
    points = [tuple(map(float, pair)) for pair in zip(*[iter(d[1:].replace("L", " ").split())] * 2)]
    assert len(points) == 5                                       # intake, then sessions 1 to 4
    xs, ys = zip(*points)
    assert list(xs) == sorted(xs) and len(set(xs)) == 5           # left to right, one point per session
    steps = [b - a for a, b in zip(xs, xs[1:])]
    assert max(steps) - min(steps) < 0.3                          # sessions evenly spaced
    values = [3, 2, 9, 5, 5]                                      # the baseline, then the ratings
    scale = (ys[1] - ys[2]) / (9 - 2)                             # higher ratings higher up (smaller y)
    assert scale > 0
    for y, v in zip(ys, values):
        assert abs((ys[1] - y) - (v - 2) * scale) < 0.3
    dots = [c for c in root.iter() if local(c) == "circle" and c.get("class") == "dot"]
    assert [(float(c.get("cx")), float(c.get("cy"))) for c in dots] == points


def test_goal_words_cannot_reorder_the_text_around_them():
    """U+202E (right-to-left override) in a goal's words stays inside an isolate in every SVG text."""
    words = "Sleep \u202eevil\u202c more \u202e\u2069 after"          # an override, and a stray closer
    data, root = svg_of(make_intake(goals=1, words=(words,)), [note(1, ["setback"], [("g1", 4, "client")])])
    shown = [el.text for el in root.iter() if local(el) in ("text", "title", "desc") and el.text and "\u202e" in el.text]
    assert len(shown) >= 3                                                  # legend, its tooltip, the description
    for text in shown:
        start = text.index("\u2068")
        end = text.index("\u2069", start)
        inside = text[start + 1:end]
        assert "\u202e" not in text[:start] + text[end + 1:]                # nothing outside the isolate
        assert inside.count("\u202e") == inside.count("\u202c")           # every override closed inside
        assert "\u2069" not in inside                                      # the stray closer dropped


def test_the_chart_in_hindi_keeps_its_layout_rules():
    """The strip's name and the intake label are found by their words: in Hindi too the strip has no
    grid line through its markers, "शुरुआत" ends at its tick, and an empty chart says so in Hindi."""
    from progress_plugin import lang
    hi = lang.words("hi")
    intake = make_intake(goals=1)
    notes = [note(1, ["step-forward", "setback"], [("g1", 4, "client")]), note(2, ["holding-steady"])]
    data = panel.panel_data(progress_of(intake, notes), intake, "therapist", hi)
    english, hindi = (ET.fromstring(chart.render(data, show_legend=True, words=w)) for w in (ENGLISH, hi))
    for root, tags, start, session in ((english, "Tags", "Intake", "Session"), (hindi, "टैग", "शुरुआत", "सेशन")):
        texts = [el for el in root.iter() if local(el) == "text"]
        strip = next(g for g in root.iter() if local(g) == "g" and g.get("class") == "guides"
                     and any(local(c) == "text" and c.text == tags for c in g))
        assert not [c for c in strip if local(c) == "path"]                     # no grid line through the tags
        label = next(el for el in texts if el.text == start and "x" in el.attrib)
        assert label.get("style") == "text-anchor:end"
        assert session in [el.text for el in texts]
    assert [t.text for t in hindi.iter() if local(t) == "title"][0].startswith("प्रगति का चार्ट: 1 लक्ष्य के 0 से 10")
    tips = [t.text for t in hindi.iter() if local(t) == "title"]
    assert "सेशन 1, 9 जून 2025 · आगे की ओर: Step forward" in tips              # the tag label as the vocabulary gives it
    assert "लक्ष्य 1, शुरुआती अंक: 3/10" in tips
    assert any(t.startswith("लक्ष्य 1, सेशन 1 (9 जून 2025): 4/10, क्लाइंट का अंक") for t in tips)
    assert hindi.get("{http://www.w3.org/XML/1998/namespace}lang") == "hi"
    empty = ET.fromstring(chart.render(panel.panel_data(progress_of(None, []), None, "therapist", hi), words=hi))
    assert "अभी कोई अंक या टैग नहीं" in [el.text for el in empty.iter() if local(el) == "text"]

"""The panel in headless Chromium, served over HTTP from 127.0.0.1 by the service itself.

A client with 3 goals and 40 notes: the chart renders, the legend is there, a tooltip shows
on hover, the page fetches nothing else, and the client view has no therapist-only tag.
Screenshots go to tests/artifacts/ (at a desktop width and at 320 px).
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from progress_plugin import lang
from progress_plugin.view import chart, wording
from progress_plugin.web import panel_routes as panel_http
from progress_plugin.store import tokens
from progress_plugin.web.app import create_app
from progress_plugin.service.runtime import Runtime

from tests.test_panel import PRIVATE, THERAPIST_ONLY_LABEL, seed_client


@pytest.fixture
def served(sqlite_store, now):
    runtime = Runtime(sqlite_store, clock=lambda: now)
    seed_client(runtime, "clinic-a", "c1", 40)
    _, token = tokens.create(sqlite_store, "clinic-a", "viewer", "browser", now)
    app = create_app(sqlite_store, clock=lambda: now, blueprints=[panel_http.blueprint])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/clinics/clinic-a/clients/c1/progress", token
    server.shutdown()
    thread.join(5)


def open_panel(page, base, token, view="therapist"):
    """Load the HTML view; returns the URLs the page requested and the console errors it logged."""
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
    response = page.goto(f"{base}.html?view={view}")
    assert response.status == 200
    page.wait_for_load_state("load")
    return requested, errors


def expected_tip(data: dict, direction: str) -> tuple[int, str]:
    """The first session with a tag of ``direction`` and the tooltip its marker should show (in
    English, the service's language when nothing asks for another)."""
    session = min(m["session"] for m in data["markers"] if m["direction"] == direction)
    labels = [m["label"] for m in data["markers"] if m["session"] == session and m["direction"] == direction]
    at = next(s["at"] for s in data["sessions"] if s["session"] == session)
    when = wording.day(lang.words("en"), at)
    return session, f"Session {session}, {when} · {chart.DIRECTION_WORDS[direction]}: {', '.join(labels)}"


def test_therapist_view_renders_chart_legend_and_tooltips(served, page, artifacts_dir):
    base, token = served
    data = page.request.get(f"{base}.json", headers={"Authorization": f"Bearer {token}"}).json()
    page.set_viewport_size({"width": 1000, "height": 900})
    requested, errors = open_panel(page, base, token)

    assert requested == [f"{base}.html?view=therapist"]            # nothing else was fetched
    assert errors == []                                              # no script error, no CSP violation

    svg = page.locator(".pp-chart svg[role=img]")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    # each goal is rated every third session here, so its ratings stand alone as dots (a line joins
    # consecutive sessions only): a dot per rating, the intake's line of goal 2, nothing else
    assert page.locator(".pp-chart svg circle.dot").count() == 3 + 40 + 10   # intake, client, therapist
    assert page.locator(".pp-chart svg path.line").count() == 1
    shown = {d: page.locator(f".pp-chart [data-direction={d}]").count() for d in chart.DIRECTIONS}
    assert sum(shown.values()) > 40 and all(shown[m["direction"]] for m in data["markers"])

    legend = page.locator(".pp-legend li")
    texts = legend.all_inner_texts()
    assert texts[0] == chart.truncate(f"Goal 1: {data['goals'][0]['words']}") == "Goal 1: Get through a work meetin…"
    assert "Goal 1: therapist's rating" in texts and "Starting point (intake)" in texts
    directions = [d for d in chart.DIRECTIONS if d in {m["direction"] for m in data["markers"]}]
    assert " ".join(texts[-1].split()) == "Tags: " + ", ".join(chart.LEGEND_WORDS[d] for d in directions)

    # a tag marker: hover shows the styled tooltip with its label (and no native title is left to double it)
    session, want = expected_tip(data, "toward")
    marker = page.locator(".pp-chart [data-direction=toward]").first
    tip = page.locator(".pp-tip")
    assert tip.is_hidden()
    marker.hover()
    tip.wait_for(state="visible")
    assert tip.inner_text() == want
    assert page.locator(".pp-chart svg g title").count() == 0
    # a client rating point
    page.locator(".pp-chart .serie-0 circle.dot").nth(1).hover()
    assert tip.inner_text().startswith("Goal 1, session ") and tip.inner_text().endswith("/10, client's rating")
    # the legend's truncated goal words show in full
    legend.first.hover()
    assert tip.inner_text() == f"Goal 1: \u2068{data['goals'][0]['words']}\u2069 (client's rating)"   # bidi-isolated
    page.mouse.move(2, 2)
    assert tip.is_hidden() or tip.inner_text() == ""

    assert THERAPIST_ONLY_LABEL in page.content() and PRIVATE in page.inner_text("body")
    page.screenshot(path=str(artifacts_dir / "panel-therapist.png"), full_page=True)


def test_client_view_has_no_therapist_only_tag(served, page, artifacts_dir):
    base, token = served
    page.set_viewport_size({"width": 1000, "height": 900})
    open_panel(page, base, token, view="client")
    assert page.locator(".pp-chart svg[role=img]").is_visible()
    assert page.locator(".pp-legend li").count() >= 5
    tips = page.locator("[data-tip]").evaluate_all("els => els.map(e => e.getAttribute('data-tip'))")
    assert len(tips) > 40
    assert not [t for t in tips if THERAPIST_ONLY_LABEL in t]
    assert THERAPIST_ONLY_LABEL not in page.content()
    assert PRIVATE not in page.content()
    assert "Shared view" in page.inner_text("h1 + .pp-sub")
    page.screenshot(path=str(artifacts_dir / "panel-client.png"), full_page=True)


def test_works_at_320_px(served, page, artifacts_dir):
    base, token = served
    data = page.request.get(f"{base}.json", headers={"Authorization": f"Bearer {token}"}).json()
    page.set_viewport_size({"width": 320, "height": 700})
    open_panel(page, base, token)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320     # no sideways scrolling
    box = page.locator(".pp-chart svg[role=img]").bounding_box()
    assert 260 <= box["width"] <= 320
    font = page.locator(".pp-chart svg .axis.y text").first.bounding_box()
    assert font["height"] >= 8                                           # tick labels stay legible
    marker = page.locator(".pp-chart [data-direction=away]").first
    marker.hover()
    tip = page.locator(".pp-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text() == expected_tip(data, "away")[1]
    tip_box = tip.bounding_box()
    assert tip_box["x"] >= 0 and tip_box["x"] + tip_box["width"] <= 320   # the tooltip stays on screen
    page.locator(".pp-chart").screenshot(path=str(artifacts_dir / "panel-chart-320.png"))
    page.screenshot(path=str(artifacts_dir / "panel-therapist-320.png"), full_page=True)


def _details_panel(empty: bool = False) -> str:
    """Eight weekly sessions, two goals, some sessions unrated (gaps), tags of every direction; or nothing at all."""
    from progress_plugin.view import panel
    from tests.test_chart import note
    from tests.test_panel import make_intake, progress_of
    if empty:
        return panel.render_html(progress_of(None, []), None, "therapist")
    rated = {1: (4, 3), 2: (5, 3), 3: (None, 4), 4: (5, None), 5: (6, 4), 6: (6, 5), 7: (None, 5), 8: (7, 6)}
    codes = {1: ["step-forward"], 2: ["stirring-up"], 3: ["setback", "strain-noticed"], 4: ["repair"],
             5: ["holding-steady"], 6: ["tried-something-new"], 7: ["holding-steady"], 8: ["step-forward"]}
    notes = [note(i, codes[i], [(g, v, "client") for g, v in zip(("g1", "g2"), rated[i]) if v is not None])
             for i in range(1, 9)]
    intake = make_intake(goals=2)
    return panel.render_html(progress_of(intake, notes), intake, "therapist")


@pytest.mark.parametrize("width", [1280, 360])
def test_panel_details_gaps_session_labels_legend_and_empty_axis(page, artifacts_dir, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.set_content(_details_panel())
    x_labels = page.locator(".pp-chart svg .axis.x text").evaluate_all("els => els.map(e => e.textContent)")
    assert [t for t in x_labels if t != "Session"] == ["Intake"] + [str(i) for i in range(1, 9)]
    for label in page.locator(".pp-chart svg .axis.x text").all():
        assert label.is_visible()
    # goal 1 is unrated at sessions 3 and 7, goal 2 at session 4: no line crosses those sessions
    runs = page.locator(".pp-chart svg path.line").evaluate_all("els => els.map(e => e.getAttribute('d'))")
    assert sum(d.count("M") for d in runs) == 4                   # 0-2, 4-6 and 0-3, 5-8: a subpath each
    legend = " ".join(page.locator(".pp-legend li.pp-legend-tags").inner_text().split())
    assert legend == "Tags: step toward, holding steady, mixed, step back, no direction"
    assert "session order; they are not a trend" in page.inner_text(".pp-chart figcaption")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts_dir / f"panel-details-{width}.png"), full_page=True)

    page.set_content(_details_panel(empty=True))
    y_labels = page.locator(".pp-chart svg .axis.y text").evaluate_all("els => els.map(e => e.textContent)")
    assert [t for t in y_labels if t.isdigit()] == ["0", "2", "4", "6", "8", "10"]
    assert page.locator(".pp-chart svg text.pp-empty").text_content() == "No ratings or tags yet"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts_dir / f"panel-empty-{width}.png"), full_page=True)


# -- English and Hindi -------------------------------------------------------------------------------
MIXED_WORDS = ("Get through a work meeting without my chest going tight", "दीदी से फिर से बात करना",
               "रात को बिना डरे सोना")


@pytest.fixture
def served_mixed(sqlite_store, now):
    """A 14-session course whose goals are in English and in Devanagari, served over HTTP."""
    runtime = Runtime(sqlite_store, clock=lambda: now)
    seed_client(runtime, "clinic-a", "c2", 14, seed=3, words=MIXED_WORDS)
    _, token = tokens.create(sqlite_store, "clinic-a", "viewer", "browser", now)
    app = create_app(sqlite_store, clock=lambda: now, blueprints=[panel_http.blueprint])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/clinics/clinic-a/clients/c2/progress", token
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_panel_in_english_and_hindi(served_mixed, page, artifacts_dir, language, width):
    base, token = served_mixed
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_extra_http_headers({"Authorization": f"Bearer {token}",
                                 "Accept-Language": "en" if language == "hi" else "hi"})   # ?lang= wins
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(f"{base}.html?lang={language}")
    assert response.status == 200 and response.headers["content-language"] == language
    assert requested == [f"{base}.html?lang={language}"] and errors == []
    assert page.evaluate("document.documentElement.lang") == language
    hindi = language == "hi"
    assert page.inner_text("h1") == ("प्रगति" if hindi else "Progress")
    headings = page.locator("h2").all_inner_texts()
    assert ("इन पर बात करना अच्छा रहेगा" in headings) == hindi and ("Worth talking about" in headings) != hindi
    # the client's words as written, in either language, each laid out by its own script
    quotes = page.locator(".pp-goal q bdi").evaluate_all("els => els.map(e => [e.textContent, e.dir])")
    assert quotes == [[w, "auto"] for w in MIXED_WORDS]
    # Devanagari is drawn with a real font: a word of it is as wide as its letters need, not boxes
    heading = page.locator(".pp-goal q bdi").nth(1).bounding_box()
    assert heading["width"] > 60 and heading["height"] >= 14
    # nothing runs off a phone's screen: no sideways scrolling, every card and the chart inside
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in (".pp-goal", ".pp-chart svg[role=img]", ".pp-legend li", ".pp-prompts li", ".pp-sub"):
        for box in (el.bounding_box() for el in page.locator(selector).all()):
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, selector
    # a tag marker's tooltip says where and what in the page's language
    marker = page.locator(".pp-chart [data-direction]").first
    marker.hover()
    tip = page.locator(".pp-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().startswith("सेशन " if hindi else "Session ")
    box = tip.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.mouse.move(1, 1)
    page.locator("details summary").click()                          # the table too, in the screenshot
    assert page.locator(".pp-table th").first.inner_text() == ("सेशन" if hindi else "Session")
    page.screenshot(path=str(artifacts_dir / f"panel-{language}-{width}.png"), full_page=True)


# -- the client's own check-ins ---------------------------------------------------------------
@pytest.fixture
def served_checkins(sqlite_store, now):
    """The mixed-language course with four check-ins dispatched through the runtime, the last one
    low and asking to revisit progress."""
    from datetime import timedelta
    from progress_plugin.core.checkin import Checkin, SessionCheck
    from progress_plugin.core.events import CheckinSubmitted
    from progress_plugin.core.notes import Rating
    from tests.test_panel import START
    runtime = Runtime(sqlite_store, clock=lambda: now)
    seed_client(runtime, "clinic-a", "c3", 14, seed=3, words=MIXED_WORDS)
    for i, (g1, g2, check, revisit) in enumerate([(4, 5, (8, 8, 7, 8), False), (5, None, (9, 8, 8, 9), False),
                                                  (6, 6, (8, 9, None, 8), False), (3, 4, (5, 6, 3, 4), True)]):
        at = START + timedelta(days=7 * (3 * i + 2) + 3)
        runtime.dispatch(CheckinSubmitted("clinic-a", at, "c3", Checkin(
            f"checkin:b{i}", at, (Rating("g1", g1), Rating("g2", g2)), SessionCheck(*check), revisit)))
    _, token = tokens.create(sqlite_store, "clinic-a", "viewer", "browser", now)
    app = create_app(sqlite_store, clock=lambda: now, blueprints=[panel_http.blueprint])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/clinics/clinic-a/clients/c3/progress", token
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_panel_with_checkins(served_checkins, page, artifacts_dir, language, width):
    base, token = served_checkins
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
    page.set_viewport_size({"width": width, "height": 900})
    assert page.goto(f"{base}.html?lang={language}").status == 200
    assert requested == [f"{base}.html?lang={language}"] and errors == []
    hindi = language == "hi"
    # self-ratings: squares on the goals' lines, with their own legend entry
    assert page.locator(".pp-legend-self").inner_text() == ("क्लाइंट का अपना चेक-इन" if hindi
                                                             else "The client's own check-in")
    squares = page.locator(".pp-chart svg .dots path")
    assert squares.count() >= 7                                     # 4 check-ins, goal 2 skipped once
    # the session check: its own chart and table, the latest first
    table = page.locator(".pp-checks-table")
    assert table.is_visible() and table.locator("tbody tr").count() == 4
    first = table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert first[1:] == ["5", "6", "3", "4", "हाँ" if hindi else "yes"]
    assert page.locator(".pp-checks-chart").is_visible()
    kinds = page.locator(".pp-prompts li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "session-check-low" in kinds and "revisit-asked" in kinds
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in (el.bounding_box() for el in page.locator(".pp-checks-chart, .pp-legend li, .pp-prompts li").all()):
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
    squares.first.hover()
    tip = page.locator(".pp-tip")
    tip.wait_for(state="visible")
    assert ("क्लाइंट का अपना चेक-इन" if hindi else "the client's own check-in") in tip.inner_text()
    page.mouse.move(1, 1)
    page.screenshot(path=str(artifacts_dir / f"panel-checkin-{language}-{width}.png"), full_page=True)


@pytest.mark.parametrize("language", ["en", "hi"])
def test_axe_finds_no_serious_problem_on_the_panel_and_its_table(page, language):
    """The chart's SVG, its legend and the data table (rows whose cells close by implication)."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    from progress_plugin.view import panel
    from tests.test_panel import make_intake, make_notes, progress_of
    intake = make_intake()
    page.set_viewport_size({"width": 360, "height": 900})
    page.set_content(panel.render_html(progress_of(intake, make_notes(40, seed=3)), intake, "therapist",
                                       words=lang.words(language)))
    page.locator("details summary").click()
    rows = page.locator("table.pp-data tbody tr")
    assert rows.count() >= 41 and rows.first.locator("td").count() == 1 + 3 + 1    # the date, 3 goals, the tags
    results = axe.Axe().run(page)
    assert [v["id"] for v in results.response["violations"] if v.get("impact") in ("serious", "critical")] == []

"""The example notes host in headless Chromium: intake, two tagged notes (one rejected first), the panel."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from examples.notes_host import create_host_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def host_url(tmp_path):
    app = create_host_app(str(tmp_path / "notes.db"), f"sqlite:///{tmp_path / 'progress.db'}", clinic_id="clinic-b")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    app.extensions["notes_host"]["pm"].get_plugin("progress").reset()


def test_a_therapist_fills_the_intake_tags_two_notes_and_sees_the_panel(page, host_url, artifacts_dir):
    page.goto(host_url + "/")
    page.fill("input[name=name]", "Robin")
    page.click("text=Add client")
    assert page.locator("main > h1").inner_text() == "Robin"

    # the intake section, rendered from the plugin's field definitions
    page.click("text=Intake")
    assert page.locator("section[data-section=defining-progress-together] h2").inner_text().startswith(
        "Defining progress together")
    page.fill("[name=goals-0-words]", "Sleep through most nights")
    page.select_option("[name=goals-0-whose]", "client")
    page.fill("[name=goals-0-baseline]", "3")
    page.fill("[name=goals-1-words]", "Call my sister")
    page.select_option("[name=goals-1-whose]", "client")
    page.fill("[name=goals-1-baseline]", "2")
    page.fill("[name=small_shift]", "One good night")
    page.select_option("[name=holding_steady_counts]", "yes")
    page.select_option("[name=review_cadence]", "every-4-sessions")
    page.check("[name=agreed]")
    page.fill("[name=agreed_on]", "2026-01-05")
    page.check("[name=goals_reviewed]")
    page.click("text=Save intake")
    assert page.locator(".flash").inner_text() == "Intake saved."

    # first note: the second tag rates goal 2 without linking it, so it is rejected at that field
    page.click("text=New progress note")
    page.fill("[name=session_at]", "2026-01-12T10:00")
    page.fill("[name=text]", "Talked about the week.")
    page.select_option("[name=tags-0-code]", "step-forward")
    page.check("[name=tags-0-goal-g1]")
    page.fill("[name=tags-0-rating-g1]", "5")
    page.select_option("[name=tags-1-code]", "setback")
    page.fill("[name=tags-1-rating-g2]", "3")
    page.click("text=Save note")
    error = page.locator(".tagrow[data-row='1'] [data-error-for='tags-1-rating-g2']")
    assert error.inner_text() == "Rating for goal 2 needs the tag to link that goal."
    rating = page.locator("[name=tags-1-rating-g2]").bounding_box()
    shown = error.bounding_box()
    assert 0 <= shown["y"] - (rating["y"] + rating["height"]) < 40        # directly under the field
    assert page.input_value("[name=tags-1-rating-g2]") == "3"              # what was typed is kept
    assert page.input_value("[name=text]") == "Talked about the week."
    page.locator(".tagrow[data-row='1']").screenshot(path=str(artifacts_dir / "notes_host_rejected_tag.png"))

    page.check("[name=tags-1-goal-g2]")
    page.click("text=Save note")
    assert page.locator(".flash").inner_text() == "Note saved."

    # second note
    page.click("text=New progress note")
    page.fill("[name=session_at]", "2026-01-19T10:00")
    page.fill("[name=text]", "Slept better twice.")
    page.select_option("[name=tags-0-code]", "holding-steady")
    page.check("[name=tags-0-goal-g1]")
    page.fill("[name=tags-0-rating-g1]", "6")
    page.select_option("[name=tags-1-code]", "moment-of-connection")
    page.click("text=Save note")
    assert page.locator(".flash").inner_text() == "Note saved."

    # the notes list and the progress panel from the chart_panels hook
    rows = page.locator("#notes tbody tr")
    assert rows.count() == 2
    assert "Step forward" in rows.nth(0).inner_text() and "Setback" in rows.nth(0).inner_text()
    panel = page.locator("section[data-panel=progress] .pp-panel")
    assert panel.is_visible()
    assert "Sleep through most nights" in panel.inner_text()
    assert panel.locator("svg").count() >= 1
    shot = artifacts_dir / "notes_host_panel.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

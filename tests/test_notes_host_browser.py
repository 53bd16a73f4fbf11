"""The example notes host in headless Chromium: intake, the note form (one rejected first), the panel."""
from __future__ import annotations

import re

import pytest

from examples.notes_host import create_host_app
from tests.serving import serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def host_url(tmp_path):
    app = create_host_app(str(tmp_path / "notes.db"), f"sqlite:///{tmp_path / 'progress.db'}", clinic_id="clinic-b")
    with serving(app, join_seconds=10) as base:
        yield base
    app.extensions["notes_host"]["pm"].get_plugin("progress").reset()


def test_a_therapist_fills_the_intake_rates_goals_in_two_notes_and_sees_the_panel(page, host_url, artifacts_dir):
    page.goto(host_url + "/")
    page.fill("input[name=name]", "Robin")
    page.click("text=Add client")
    assert page.locator("main > h1").inner_text() == "Robin"

    # the intake section, rendered from the plugin's field definitions
    page.click("text=Intake")
    assert page.locator("section[data-section=defining-progress-together] h2").inner_text().startswith(
        "Defining progress together")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(artifacts_dir / "notes_host_intake_1280.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 800})
    page.screenshot(path=str(artifacts_dir / "notes_host_intake_360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})
    page.fill("[name=goals-0-words]", "Sleep through most nights")
    page.select_option("[name=goals-0-whose]", "client")
    page.fill("[name=goals-0-baseline]", "3")
    page.click("text=Add another goal")
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

    # editing it: per saved goal, fix the wording (the default) or a new goal replacing it
    page.click("a:text-is('Intake')")
    assert page.is_checked("[name=goals-0-change][value=edit]")
    assert page.locator("[name=goals-2-change]").count() == 0
    page.get_by_label("This is a new goal that replaces it").first.check()   # the label names the control
    assert page.is_checked("[name=goals-0-change][value=replaces]")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(artifacts_dir / "notes_host_intake_edit_1280.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 800})
    page.screenshot(path=str(artifacts_dir / "notes_host_intake_edit_360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.go_back()

    # the new note form: one rating row per goal, today's date filled in
    page.click("text=New progress note")
    assert page.locator(".goalrow").count() == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page.input_value("[name=session_at]"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(artifacts_dir / "notes_host_note_form_1280.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 800})
    page.screenshot(path=str(artifacts_dir / "notes_host_note_form_360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360      # nothing runs off the side
    page.set_viewport_size({"width": 1280, "height": 900})

    # an error: the session date left out; shown at the top, linked, and at the field, with what was typed kept
    page.fill("[name=session_at]", "")
    page.fill("[name=text]", "Talked about the week.")
    page.select_option("[name=rating-g1]", "5")
    page.click("text=Save note")
    summary = page.locator(".error-summary")
    assert summary.locator("li").all_inner_texts() == ["Session date and time: Give the session's date and time."]
    error = page.locator("[data-error-for=session_at]")
    assert error.inner_text() == "Give the session's date and time."
    field = page.locator("[name=session_at]").bounding_box()
    assert 0 <= error.bounding_box()["y"] - (field["y"] + field["height"]) < 40        # directly under the field
    assert page.input_value("[name=rating-g1]") == "5" and page.input_value("[name=text]") == "Talked about the week."
    page.set_viewport_size({"width": 360, "height": 800})
    page.screenshot(path=str(artifacts_dir / "notes_host_note_error_360.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    summary.locator("a").click()
    assert page.evaluate("document.activeElement.name") == "session_at"

    # two goal ratings, no tags, by keyboard for the second
    page.fill("[name=session_at]", "2026-01-12T10:00")
    page.focus("[name=rating-g2]")
    page.keyboard.press("ArrowDown")        # from "Not rated" to 0
    page.keyboard.press("ArrowDown")        # to 1
    page.keyboard.press("ArrowDown")        # to 2
    assert page.input_value("[name=rating-g2]") == "2"
    page.select_option("[name=rating-g2]", "4")
    page.click("text=Save note")
    assert page.locator(".flash").inner_text() == "Note saved."

    # second note, with a tag
    page.click("text=New progress note")
    page.fill("[name=session_at]", "2026-01-19T10:00")
    page.fill("[name=text]", "Slept better twice.")
    page.select_option("[name=rating-g1]", "7")
    page.check("label:has-text('Holding steady')")
    page.click("text=Save note")
    assert page.locator(".flash").inner_text() == "Note saved."

    # the panel sits above the notes list and shows the ratings
    panel = page.locator("section[data-panel=progress] .pp-panel")
    assert panel.is_visible()
    assert panel.bounding_box()["y"] < page.locator("#notes").bounding_box()["y"]
    assert "Sleep through most nights" in panel.inner_text() and "Call my sister" in panel.inner_text()
    text = panel.inner_text()
    assert "5" in text and "7" in text and "4" in text
    assert panel.locator("svg").count() >= 1
    rows = page.locator("#notes tbody tr")
    assert rows.count() == 2
    assert "Holding steady" in page.locator("#notes").inner_text()
    shot = artifacts_dir / "notes_host_panel.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.set_viewport_size({"width": 360, "height": 800})
    page.screenshot(path=str(artifacts_dir / "notes_host_panel_360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.locator("#notes button:has-text('Sign')").first.bounding_box()["x"] + 40 < 360   # reachable


HINDI_GOAL = "रात को चैन से सोना"


def shoot(page, artifacts_dir, name):
    """Screenshots at desktop and phone width; nothing may run off the side at either."""
    for width, height in ((1280, 900), (360, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_in_hindi_the_intake_keeps_its_rules_and_the_note_form_and_panel_follow(page, host_url, artifacts_dir):
    refused = []              # what the pages' Content-Security-Policy refused, and any script error
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    page.goto(host_url + "/?lang=hi")
    assert page.get_attribute("html", "lang") == "hi" and page.get_attribute("html", "dir") == "ltr"
    page.fill("input[name=name]", "रवि")
    page.click("text=क्लाइंट जोड़ें")
    assert page.url.endswith("?lang=hi")                  # the language is kept from page to page
    page.click("a:text-is('शुरुआती बातचीत')")
    assert page.url.endswith("/intake?lang=hi")
    assert page.locator("button[type=submit]").inner_text() == "शुरुआती बातचीत सेव करें"

    # the planned review date waits until the cadence asks for it
    review = page.locator("[data-field=review_date]")
    assert review.is_hidden()
    page.select_option("[name=review_cadence]", "at-review")
    assert review.is_visible() and page.locator("[name=review_date]").evaluate("e => e.required")
    page.select_option("[name=review_cadence]", "every-4-sessions")
    assert review.is_hidden() and page.locator("[name=review_date]").is_disabled()
    other = page.locator("[name=saying_not_working_other]")      # words for "another way", only for it
    assert other.is_hidden()
    page.select_option("[name=saying_not_working]", "other")
    assert other.is_visible()
    page.select_option("[name=saying_not_working]", "tell-in-session")
    assert other.is_hidden()

    # one goal shows; "add another goal" (by keyboard) brings the next, up to three and no more
    rows = page.locator("fieldset.goal")
    assert [rows.nth(i).is_visible() for i in range(3)] == [True, False, False]
    add = page.locator("button.add-goal")
    assert add.inner_text() == "एक और लक्ष्य जोड़ें"
    add.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "goals-1-words"
    page.keyboard.type(HINDI_GOAL)
    page.select_option("[name=goals-1-whose]", "client")
    page.fill("[name=goals-1-baseline]", "2")
    add.click()
    assert rows.nth(2).is_visible() and add.is_hidden()
    assert page.locator("[data-goals-full]").is_visible() and page.locator("[name=goals-3-words]").count() == 0

    # a baseline of 11 is refused before anything is sent
    page.fill("[name=goals-0-words]", "Sleep through most nights")
    page.select_option("[name=goals-0-whose]", "client")
    page.fill("[name=goals-0-baseline]", "11")
    page.select_option("[name=holding_steady_counts]", "yes")
    page.check("[name=agreed]")
    page.fill("[name=agreed_on]", "2026-01-05")
    page.check("[name=goals_reviewed]")
    before = page.url
    page.click("button[type=submit]")
    assert page.url == before and page.locator(".flash").count() == 0
    assert page.locator("[name=goals-0-baseline]").evaluate("e => e.validity.rangeOverflow")
    page.fill("[name=goals-0-baseline]", "3")
    page.fill("[name=goals-0-rank]", "4")                  # rank is 1-3
    page.click("button[type=submit]")
    assert page.url == before and page.locator("[name=goals-0-rank]").evaluate("e => e.validity.rangeOverflow")
    page.fill("[name=goals-0-rank]", "")
    shoot(page, artifacts_dir, "notes_host_intake_hi")
    page.click("button[type=submit]")
    assert page.locator(".flash").inner_text() == "शुरुआती बातचीत सेव हो गई।"
    assert page.url.endswith("?lang=hi")

    # the note form: the goals in the client's words, as written; the tag picker
    page.click("text=नया प्रगति नोट")
    assert page.locator("label[for=rating-g2] bdi").inner_text() == HINDI_GOAL
    assert page.locator("#ratings legend").inner_text().startswith("अभी बात कहाँ है?")
    shoot(page, artifacts_dir, "notes_host_note_form_hi")
    page.select_option("[name=rating-g1]", "5")
    page.select_option("[name=rating-g2]", "6")
    page.check("#tag-setback")
    page.click("button[type=submit]")
    assert page.locator(".flash").inner_text() == "नोट सेव हो गया।"

    # the panel above the notes; the notes table in Hindi
    assert page.locator("section[data-panel=progress] .pp-panel").is_visible()
    assert page.locator("#notes th").first.inner_text() == "सेशन"
    assert HINDI_GOAL in page.locator("section[data-panel=progress]").inner_text()
    shoot(page, artifacts_dir, "notes_host_panel_hi")
    # the panel's own script runs under the page's policy: it turned the chart's titles into tooltips
    tipped = page.locator("section[data-panel=progress] [data-tip]")
    assert tipped.count() > 0
    tipped.first.dispatch_event("pointerover")      # on the point itself (a hover may land on an overlapping one)
    assert page.locator(".pp-tip").is_visible()
    assert refused == []


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_check_in_link_and_its_qr_code_on_a_phone(page, host_url, artifacts_dir, language):
    from tests.test_notes_host import INTAKE
    refused = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    page.goto(host_url + f"/?lang={language}")
    page.fill("input[name=name]", "Robin")
    page.locator("form[action^='/clients'] button").click()
    client_page = page.url
    client_id = re.search(r"/clients/([^/?]+)", client_page).group(1)
    assert page.request.post(f"{host_url}/clients/{client_id}/intake", form=INTAKE,
                             max_redirects=0).status == 302
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(client_page)
    page.get_by_role("button", name={"en": "Check-in link", "hi": "चेक-इन लिंक"}[language]).click()
    qr = page.locator(".checkin-link svg.qr")
    assert qr.is_visible() and 100 <= qr.bounding_box()["width"] <= 340
    assert re.fullmatch(host_url + r"/c/[A-Za-z0-9_-]{20,}", page.locator("a.checkin-url").inner_text())
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator(".checkin-link").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"notes_host_checkin_link_{language}_360.png"), full_page=True)
    assert refused == []

"""The SMART app's pages in headless Chromium, served over HTTP on 127.0.0.1 with the test launch
(tests/smart_app.py) and the Medplum test host as the EHR.

A therapist fills the intake with the keyboard alone (a goal's 0-10 with the arrow keys), sends it
with an error first (the summary takes the focus and links to the question), then tags the note
and opens the panel. Then every page in English and Hindi at 1280 and 360 px: axe-core finds no
serious or critical problem, nothing is fetched from elsewhere, no sideways scrolling; screenshots
go to tests/artifacts/smart-<page>-<language>-<width>.png (and $SMART_SHOTS when set).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.smart_app import build, search
from tests.test_console_browser import UNLABELLED, watch

axe = pytest.importorskip("axe_playwright_python.sync_playwright")
SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
PAGES = {"home": "/smart/app/", "intake": "/smart/app/intake", "tags": "/smart/app/tags", "panel": "/smart/app/panel"}


def fault(smart, **spec):
    smart.medplum.fault(**spec)


@pytest.fixture
def served(tmp_path, medplum):
    smart = build(f"sqlite:///{tmp_path / 'progress.db'}", medplum)
    smart.medplum = medplum
    server = make_server("127.0.0.1", 0, smart.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", smart
    server.shutdown()
    thread.join(5)
    smart.store.close()


def problems(page) -> list[str]:
    """axe-core's serious and critical findings on the page."""
    results = axe.Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def tab_to(page, selector: str, limit: int = 200) -> None:
    """Press Tab until ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate(f"() => document.activeElement && document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def type_into(page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def choose(page, name: str, value: str) -> None:
    """Tab into a radio group, then arrow keys to ``value``."""
    tab_to(page, f'input[name="{name}"]')
    for _ in range(20):
        if page.evaluate(f"() => document.activeElement.value") == value:
            break
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    assert page.locator(f'input[name="{name}"][value="{value}"]').is_checked()


def test_a_therapist_fills_the_intake_by_keyboard_tags_the_note_and_sees_the_panel(served, page, artifacts_dir):
    base, smart = served
    requested, errors = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/smart/app/intake")
    type_into(page, "#hopes", "To feel less tired")
    type_into(page, "#goals-0-words", "Sleep through most nights")
    choose(page, "goals-0-whose", "client")
    tab_to(page, "button[type=submit]")                   # the baseline forgotten: sent with an error
    with page.expect_navigation():
        page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    assert summary.is_visible() and page.evaluate("() => document.activeElement.className") == "error-summary"
    assert "Goal 1: Where are things now, from 0 to 10?" in summary.inner_text()
    assert page.locator("#hopes").input_value() == "To feel less tired"          # nothing typed is lost
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")                                                    # the summary's link
    assert page.url.endswith("#goals-0-baseline-0")
    choose(page, "goals-0-baseline", "4")
    choose(page, "review_cadence", "at-review")
    assert page.locator("#review_date").is_visible()                               # asked only for "at review"
    tab_to(page, "#review_date")
    page.keyboard.type("04012026")
    tab_to(page, "#agreed")
    page.keyboard.press("Space")
    tab_to(page, "#goals_reviewed")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_text("Saved as agreed.").is_visible()
    goals = search(smart.base, f"Goal?subject=Patient/{smart.launch.patient}")
    assert [g["description"]["text"] for g in goals] == ["Sleep through most nights"]

    page.goto(base + "/smart/app/tags")
    page.get_by_label("Step forward").check()
    page.locator('label[for="rating-g1-6"]').click()
    page.get_by_role("button", name="Save tags and ratings").click()
    expect(page.get_by_text("Saved on this session's note.")).to_be_visible()        # waits for the answer
    page.goto(base + "/smart/app/panel")
    assert page.get_by_text("Sleep through most nights").first.is_visible()

    smart.use(fhir_context=())                                     # another session: the encounter's note
    page.set_viewport_size({"width": 360, "height": 900})
    page.goto(base + "/smart/app/tags")
    page.get_by_label("Holding steady").check()
    fault(smart, status=422, method="PATCH", path="DocumentReference", text="This note is locked for signing")
    page.get_by_role("button", name="Save tags and ratings").click()
    kept = page.locator(".kept")
    expect(kept).to_contain_text("This note is locked for signing")
    assert "This note is locked for signing" in kept.inner_text() and problems(page) == []
    page.screenshot(path=str(artifacts_dir / "smart-refused-en-360.png"), full_page=True)
    if os.environ.get("SMART_SHOTS"):
        page.screenshot(path=str(Path(os.environ["SMART_SHOTS"]) / "smart-refused-en-360.png"), full_page=True)
    kept.get_by_role("button", name="Try again").click()
    expect(page.get_by_text("Sent to your notes system.")).to_be_visible()
    assert all(u.startswith((base, "data:")) for u in requested)
    assert [e for e in errors if "status of 422" not in e] == []          # the form sent with an error is a 422


@pytest.mark.parametrize("language", ["en", "hi"])
def test_every_page_at_phone_and_desktop_widths(served, page, artifacts_dir, language):
    base, smart = served
    from tests.test_smart_pages import intake_form
    from tests.smart_app import form_token
    client = smart.client()                                  # an intake and a tagged note to show
    token = form_token(client.get("/smart/app/intake").get_data(as_text=True))
    client.post("/smart/app/intake", data=intake_form(token))
    client.post("/smart/app/tags", data={"csrf_token": token, "tag": ["step-forward", "setback"],
                                         "rating-g1": "5", "rater-g1": "client"})
    shots = [artifacts_dir, *([Path(os.environ["SMART_SHOTS"])] if os.environ.get("SMART_SHOTS") else [])]
    requested, errors = watch(page)
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in PAGES.items():
            page.goto(f"{base}{path}?lang={language}")
            assert page.locator("html").get_attribute("lang") == language
            assert problems(page) == [], (name, width)
            assert page.evaluate(UNLABELLED) == [], name
            assert not page.evaluate(SIDEWAYS), (name, width)
            for folder in shots:
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / f"smart-{name}-{language}-{width}.png"), full_page=True)
    assert all(u.startswith((base, "data:")) for u in requested) and errors == []

"""The client's check-in in headless Chromium on a phone-sized screen, served over HTTP on 127.0.0.1.

A client opens their link, rates two goals and the session check, sends it twice (it is sent
once; the second time the page says it was received), then opens their progress; then the
therapist's panel shows the self-ratings and a prompt about the low session check. Then the form
and the thank-you page in English and Hindi at 360 and 1280 px: nothing fetched from elsewhere,
every control labelled, text contrast at least WCAG AA, targets at least 44 px, no sideways
scrolling. Screenshots go to tests/artifacts/checkin-<page>-<language>-<width>.png.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from progress_plugin.core.events import CheckinSubmitted
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, checkins, tokens
from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app

from tests.test_console_browser import CONTRAST, UNLABELLED, watch
from tests.test_panel import GOAL_WORDS, seed_client

PHONE = {"width": 360, "height": 800}
#: The smallest tap target among the scale's options, in CSS pixels.
SMALLEST = """() => Math.min(...[...document.querySelectorAll('.option span')].map(
  e => Math.min(e.getBoundingClientRect().width, e.getBoundingClientRect().height)))"""
SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"


@pytest.fixture
def served(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'progress.db'}")
    seed_client(Runtime(store), "clinic-a", "c1", 4)
    server = make_server("127.0.0.1", 0, create_app(store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def new_link():
        return base + "/c/" + checkins.create_link(store, "clinic-a", "c1", datetime.now(timezone.utc),
                                                   timedelta(days=7), "t1")[1]
    yield base, new_link, store
    server.shutdown()
    thread.join(5)
    store.close()


def test_a_client_checks_in_on_a_phone_once_and_the_therapist_sees_it(served, page, dispatched, artifacts_dir):
    base, new_link, store = served
    requested, errors = watch(page)
    page.set_viewport_size(PHONE)
    url = new_link()
    page.goto(url)
    assert page.url == base + "/checkin/"                        # the token left the address bar
    assert page.get_by_text(GOAL_WORDS[0]).is_visible()
    assert page.locator('input[name="check-heard"]').count() == 12   # 0-10 and skip: asked, the client has had sessions
    page.locator('input[name="goal-g1"][value="7"]').check()          # the whole target takes the tap
    page.locator('input[name="goal-g2"][value="4"]').check()
    for item in ("heard", "mattered", "fits", "overall"):
        page.locator(f'input[name="check-{item}"][value="2"]').check()
    page.get_by_label("I'd like us to look at what progress means next time.").check()
    page.screenshot(path=str(artifacts_dir / "checkin-flow-filled-en-360.png"), full_page=True)
    page.get_by_role("button", name="Send my check-in").click()
    assert page.get_by_role("heading", name="Thank you").is_visible()
    page.go_back()                                               # back to the form, and send it again
    page.goto(base + "/checkin/")
    page.locator('input[name="goal-g1"][value="2"]').check()
    page.get_by_role("button", name="Send my check-in").click()
    assert page.get_by_role("heading", name="We already have your check-in").is_visible()
    page.get_by_role("link", name="See your progress").click()
    assert page.url == base + "/checkin/progress"
    assert page.get_by_text(GOAL_WORDS[1]).first.is_visible()
    page.screenshot(path=str(artifacts_dir / "checkin-flow-client-view-en-360.png"), full_page=True)
    sent = [e for e, _ in dispatched if isinstance(e, CheckinSubmitted)]
    assert len(sent) == 1
    checkin = sent[0].checkin
    assert [(r.goal_id, r.value) for r in checkin.ratings] == [("g1", 7), ("g2", 4)]
    assert checkin.session_check.values() == {"heard": 2, "mattered": 2, "fits": 2, "overall": 2}
    assert checkin.revisit is True

    # stored once: one session check and the two self-ratings of that check-in
    with store.engine.connect() as c:
        checks = c.execute(sa.select(t.session_checks).where(t.session_checks.c.client_id == "c1")).all()
        own = c.execute(sa.select(t.ratings.c.goal_id, t.ratings.c.value, t.ratings.c.source).where(
            t.ratings.c.client_id == "c1", t.ratings.c.origin == "self").order_by(t.ratings.c.goal_id)).all()
    assert len(checks) == 1 and (checks[0].heard, checks[0].overall, checks[0].revisit) == (2, 2, True)
    assert [(r.goal_id, r.value, r.source) for r in own] == [("g1", 7, checks[0].checkin_id),
                                                             ("g2", 4, checks[0].checkin_id)]

    # the therapist's panel, as the service gives it to a viewer of the clinic
    token = tokens.create(store, "clinic-a", "viewer", "panel-viewer", datetime.now(timezone.utc))[1]
    page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
    page.goto(base + "/clinics/clinic-a/clients/c1/progress.html?view=therapist&lang=en")
    page.set_extra_http_headers({})
    assert "The client's own check-in" in page.locator(".pp-legend-self").inner_text()
    assert page.locator('.pp-prompts li[data-kind="session-check-low"]').is_visible()
    assert page.locator('.pp-prompts li[data-kind="revisit-asked"]').count() == 1
    page.screenshot(path=str(artifacts_dir / "checkin-therapist-panel-en-360.png"), full_page=True)
    assert all(u.startswith((base, "data:")) for u in requested) and errors == []


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_form_and_the_thanks_at_phone_and_desktop_widths(served, page, artifacts_dir, language):
    base, new_link, _ = served
    requested, errors = watch(page)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(new_link() + f"?lang={language}")
        assert page.locator("html").get_attribute("lang") == language
        for name in ("form", "thanks"):
            if name == "thanks":
                page.locator("button[type=submit]").click()
                page.wait_for_load_state()
            assert page.evaluate(UNLABELLED) == [], name
            assert page.evaluate(CONTRAST) == [], name
            assert not page.evaluate(SIDEWAYS), (name, width)
            if name == "form":
                assert page.evaluate(SMALLEST) >= 44
            page.screenshot(path=str(artifacts_dir / f"checkin-{name}-{language}-{width}.png"), full_page=True)
    assert all(u.startswith((base, "data:")) for u in requested) and errors == []

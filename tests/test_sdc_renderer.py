"""Our Questionnaire in a real SDC form renderer: LHC-Forms (npm ``lforms``, installed under
tests/sdc by scripts/test) in headless Chromium, served from 127.0.0.1 with nothing fetched elsewhere.

A therapist fills the form by typing: one goal in English, one in Devanagari. The renderer's own
QuestionnaireResponse then goes the FHIR subscription path (an inbox row naming it, the worker
reading it from the host) into the store, and the stored goals are exactly the words typed. The
renderer enforces the Questionnaire's rules: a baseline of 11 is refused, there is no fourth
goal, and the review date appears only once the cadence asks for it.
"""
from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from progress_plugin.errors import ValidationError
from progress_plugin.fhir import inbound, resources
from progress_plugin.service.worker import Worker
from progress_plugin.store import Store, inbox

HERE = Path(__file__).parent / "sdc"
LFORMS = HERE / "node_modules" / "lforms"
DIST = LFORMS / "dist" / "lforms"
ENGLISH_GOAL = "Sleep through most nights"
HINDI_GOAL = "रात को पूरी नींद सोना"
HINDI_OTHER = "अगले दिन एक मैसेज भेजकर"
PRIVATE = "A pull to fix it for them"

if not DIST.is_dir():
    if os.environ.get("CI"):
        pytest.fail(f"LHC-Forms is not installed in {LFORMS}: scripts/test installs it (npm ci in tests/sdc)",
                    pytrace=False)
    pytest.skip("LHC-Forms is not installed (tests/sdc/node_modules); scripts/test installs it with npm ci",
                allow_module_level=True)


class _Files(http.server.SimpleHTTPRequestHandler):
    """The page and LHC-Forms' browser build, nothing else."""

    def translate_path(self, path):
        path = urlsplit(path).path
        if path == "/":
            return str(HERE / "index.html")
        if path.startswith("/lforms/"):
            target = (DIST / path.removeprefix("/lforms/")).resolve()
            if target.is_relative_to(DIST.resolve()):
                return str(target)
        return str(HERE / "missing")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def form(page, site):
    """The page with our Questionnaire rendered; every request off 127.0.0.1 is refused and recorded."""
    elsewhere, errors = [], []
    origin = urlsplit(site).netloc

    def only_here(route):
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()
    page.route("**/*", only_here)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)   # a CSP refusal too
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.goto(site + "/").status == 200
    page.wait_for_function("() => !!(window.LForms && LForms.Util && LForms.Util.addFormToPage)")
    page.evaluate("q => LForms.Util.addFormToPage(q, 'form')", resources.questionnaire())
    page.wait_for_selector(field_id("goals.words/1/1"))
    yield page
    assert elsewhere == []                         # no third-party request, not even attempted
    assert errors == []


def field_id(lforms_id: str) -> str:
    return f'[id="{lforms_id}"]'


def type_into(page, lforms_id: str, text: str) -> None:
    box = page.locator(field_id(lforms_id))
    box.click()
    box.press_sequentially(text)
    box.press("Tab")


def pick(page, lforms_id: str, option: str) -> None:
    """Choose an option in the renderer's list, as a person does: open it, click the option."""
    page.locator(field_id(lforms_id)).click()
    page.locator("#lhc-tools-searchResults li", has_text=option).first.click()
    expect(page.locator(field_id(lforms_id))).to_have_value(option)


def response(page) -> dict:
    return page.evaluate("""() => LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4',
        document.getElementById('form'), {subject: {resourceType: 'Patient', id: 'p1'}})""")


def shown(page, lforms_id: str) -> None:
    expect(page.locator(field_id(lforms_id))).to_have_count(1)      # waits for the renderer to draw it


def hidden(page, lforms_id: str) -> None:
    page.wait_for_timeout(300)                                      # let the renderer act on the last answer
    expect(page.locator(field_id(lforms_id))).to_have_count(0)


def add_goal_button(page):
    return page.locator('[id^="add-goals/"]')


class Host:
    """The FHIR host the worker reads the response back from; it gives the response an id on save."""

    def __init__(self, qr: dict):
        self.qr = {**qr, "id": "qr-lhc-1"}

    def read(self, rtype, rid, elements=None):
        assert (rtype, rid) == ("QuestionnaireResponse", "qr-lhc-1")
        return json.loads(json.dumps(self.qr))


def through_the_fhir_path(config, qr: dict, now):
    """The subscription path: the notification's inbox row names the response, the worker reads
    it from the host and records the intake. Returns the client's stored state."""
    store = Store.open(config.store_url)
    try:
        with store.begin() as conn:
            inbox.put(conn, "clinic-a", "evt-qr-1", "fhir.focus", {"focus": "QuestionnaireResponse/qr-lhc-1"}, now)
        worker = Worker(store, config, clock=lambda: now, client=Host(qr))
        while worker.process_inbox():
            pass
        return store.load_state("clinic-a", "p1")
    finally:
        store.close()


def test_a_form_filled_in_lhc_forms_becomes_the_intake_with_the_words_as_typed(form, service_config, now,
                                                                                artifacts_dir):
    page = form
    assert page.evaluate("LForms.lformsVersion") == json.loads((LFORMS / "package.json").read_text())["version"]

    type_into(page, "hopes/1", "To sleep again")
    # goal 1, in English; the renderer refuses a baseline of 11
    type_into(page, "goals.words/1/1", ENGLISH_GOAL)
    pick(page, "goals.whose/1/1", "The client's")
    type_into(page, "goals.baseline/1/1", "11")
    baseline = page.locator(field_id("item-goals.baseline/1/1"))
    expect(baseline).to_contain_text("must be a value less than or equal to 10")
    problems = page.evaluate("LForms.Util.checkValidity(document.getElementById('form'))")
    assert "Where are things now, from 0 to 10? must be a value less than or equal to 10." in problems
    with pytest.raises(ValidationError) as refused:          # sent anyway, the plugin refuses it too
        inbound.intake_event("clinic-a", {**response(page), "id": "qr-x"}, now)
    assert refused.value.messages["goals"][0]["baseline"] == ["Ratings are 0-10; got 11."]
    page.locator(field_id("goals.baseline/1/1")).fill("")
    type_into(page, "goals.baseline/1/1", "3")
    expect(baseline).not_to_contain_text("less than or equal")
    assert not any("from 0 to 10" in p for p in page.evaluate("LForms.Util.checkValidity(document.getElementById('form'))"))
    type_into(page, "goals.rank/1/1", "1")

    # goal 2, in Devanagari; goal 3; then no button for a fourth
    add_goal_button(page).click()
    type_into(page, "goals.words/2/1", HINDI_GOAL)
    pick(page, "goals.whose/2/1", "A carer's or family member's")
    type_into(page, "goals.baseline/2/1", "2")
    type_into(page, "goals.rank/2/1", "2")
    add_goal_button(page).click()
    type_into(page, "goals.words/3/1", "Say no to my boss once")
    pick(page, "goals.whose/3/1", "The client's")
    type_into(page, "goals.baseline/3/1", "0")
    expect(add_goal_button(page)).to_have_count(0)         # maxOccurs 3: the renderer offers no fourth goal
    assert page.locator(field_id("goals.words/4/1")).count() == 0

    pick(page, "holding_steady_counts/1", "Not sure")
    # the follow-up questions appear only when their answer asks for them
    hidden(page, "saying_not_working_other/1/1")
    pick(page, "saying_not_working/1", "Another way")
    shown(page, "saying_not_working_other/1/1")
    type_into(page, "saying_not_working_other/1/1", HINDI_OTHER)
    hidden(page, "review_date/1")
    pick(page, "review_cadence/1", "Every session")
    hidden(page, "review_date/1")
    pick(page, "review_cadence/1", "At the planned review")
    shown(page, "review_date/1")
    type_into(page, "review_date/1", "03/15/2026")
    page.locator(field_id("agreed/1|true")).check()
    type_into(page, "agreed_on/1", "01/05/2026")
    page.locator(field_id("goals_reviewed/1|true")).check()
    type_into(page, "private_reflection/1", PRIVATE)
    page.screenshot(path=str(artifacts_dir / "sdc-renderer-1280.png"), full_page=True)

    qr = response(page)
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert qr["questionnaire"] == f"{resources.questionnaire()['url']}|{resources.questionnaire()['version']}"
    assert any("lformsVersion" in t.get("code", "") for t in qr["meta"]["tag"])   # the renderer's own mark
    assert [i["linkId"] for i in qr["item"]].count("goals") == 3                  # the group, repeated

    state = through_the_fhir_path(service_config, qr, now)
    stored = state.intake
    assert stored is not None and stored.intake_id == "qr-lhc-1" and stored.is_agreed
    assert [(g.words, g.whose, g.baseline, g.rank) for g in stored.goals] == [
        (ENGLISH_GOAL, "client", 3, 1), (HINDI_GOAL, "carer", 2, 2), ("Say no to my boss once", "client", 0, 3)]
    assert stored.goals[1].words.encode() == HINDI_GOAL.encode()                 # not a code point changed
    assert stored.answers["saying_not_working_other"] == HINDI_OTHER
    assert (stored.review_cadence, stored.review_date.isoformat()) == ("at-review", "2026-03-15")
    assert stored.answers["holding_steady_counts"] == "unsure" and stored.answers["hopes"] == "To sleep again"
    assert "private_reflection" not in stored.answers          # never taken from a response


def test_the_renderer_shows_help_behind_a_button_and_the_form_at_phone_width(form, artifacts_dir):
    page = form
    expect(page.locator(".lhc-help-button")).to_have_count(17)  # one per question shown (the review date is not)
    assert page.locator("text=Write it as the client says it").count() == 0     # not a plain row
    help_text = page.locator(field_id("help-content-goals.baseline/1/1"))
    expect(help_text).to_have_count(0)                           # not drawn until asked for
    page.locator(field_id("help-button-goals.baseline/1/1")).click()
    expect(help_text).to_be_visible()
    assert help_text.inner_text().startswith("0 is as far from the goal as it could be")
    page.set_viewport_size({"width": 360, "height": 800})        # drawn again at phone width
    page.evaluate("q => LForms.Util.addFormToPage(q, 'form')", resources.questionnaire())
    page.wait_for_selector(field_id("goals.words/1/1"))
    page.screenshot(path=str(artifacts_dir / "sdc-renderer-360.png"), full_page=True)

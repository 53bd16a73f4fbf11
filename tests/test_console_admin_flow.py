"""A practice manager's afternoon in the admin console, as one flow in headless Chromium against the
service on 127.0.0.1, with the keyboard and the odd click, as a person would.

Before it starts, a client has an intake and notes, one of them tagged "Step forward". The manager
signs in with an admin token, then:

1. adds "Named a need" with its Hindi label, in the category "relationship";
2. renames "Step forward" to "Moved toward";
3. retires "Setback" and restores it, each after its confirmation page;
4. downloads the tags as JSON, edits the file with two mistakes (a category typo and a direction that
   does not exist), sees both listed with their line and path and nothing changed, fixes them, checks
   the file again, reads the preview and applies it;
5. downloads the FHIR export: a CodeSystem whose "Named a need" carries its Hindi label as a
   designation in language "hi";
6. makes a viewer token for a therapist, whose secret is shown once.

Then the therapist's viewer token opens the client's progress panel: the note tagged before the
rename still reads "Step forward", while a note tagged after it reads "Moved toward", and the tag
picker the console previews offers "Moved toward". Screenshots of each step go to
tests/artifacts/console-flow-<step>-<width>.png (1280 px, and 360 px for a few).
"""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from progress_plugin import schemas
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, tokens
from progress_plugin.web.app import create_app

from tests.test_console_browser import CONTRAST, UNLABELLED, press_enter, tab_to, watch
from tests.test_panel import START, seed_client

CLINIC, NAME, CLIENT = "clinic-a", "Lajpat Nagar Family Clinic", "c1"
BASE = f"/admin/clinics/{CLINIC}"
HINDI = "ज़रूरत बताई"


def note(runtime, note_id: str, week: int, code: str) -> None:
    """A signed note of CLIENT tagged ``code`` (with a rating of the first goal), through the service's runtime."""
    at = (START + timedelta(days=7 * week)).isoformat()
    runtime.dispatch(schemas.load(schemas.note_schema, {
        "clinic_id": CLINIC, "client_id": CLIENT, "note_id": note_id, "session_at": at, "author": "t1", "at": at,
        "signed": True, "tags": [{"code": code, "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}]}))


@pytest.fixture
def served(tmp_path, now):
    store = Store.open(f"sqlite:///{tmp_path / 'progress.db'}")
    store.ensure_clinic(CLINIC, now, NAME)
    runtime = Runtime(store, clock=lambda: now)
    seed_client(runtime, CLINIC, CLIENT, 3)                        # an intake and three notes
    note(runtime, "c1-before-the-rename", 4, "step-forward")        # session 4
    _, admin = tokens.create(store, CLINIC, "admin", "Practice manager", now)
    server = make_server("127.0.0.1", 0, create_app(store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", admin, store, runtime
    server.shutdown()
    thread.join(5)
    store.close()


def shot(page, folder, name: str, widths=(1280,), console=True, mask=()) -> None:
    """The page as it is now, photographed at each width; a console page is checked first (every control
    labelled, contrast at least WCAG AA, no sideways scrolling)."""
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        if console:
            assert page.evaluate(UNLABELLED) == [], name
            assert page.evaluate(CONTRAST) == [], (name, width)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
        page.screenshot(path=str(folder / f"console-flow-{name}-{width}.png"), full_page=True, mask=list(mask))
    page.set_viewport_size({"width": 1280, "height": 900})


def go(page, link_text: str) -> None:
    """Follow a link of the console's menu, by its text, with the keyboard."""
    tab_to(page, f"e.tagName === 'A' && e.closest('nav.pages') && e.textContent.trim() === {json.dumps(link_text)}",
           limit=200)                                      # from the foot of a long page, round to the top
    press_enter(page)


def choose_file(page, path) -> None:
    """Open the file field with the keyboard and pick ``path`` in the dialog that opens."""
    tab_to(page, "e.id === 'file'")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(path))


def expected(errors: list[str]) -> list[str]:
    """The page's errors less Chromium's note that a page came with the 4xx a form with problems answers."""
    return [e for e in errors if not ("Failed to load resource" in e and "status of 422" in e)]


def test_a_practice_manager_runs_the_vocabulary_from_the_console(served, page, browser, artifacts_dir, tmp_path):
    base, admin, store, runtime = served
    requested, errors = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # sign in: paste the admin token once
    page.goto(f"{base}/admin/")
    shot(page, artifacts_dir, "01-sign-in", widths=(1280, 360))
    tab_to(page, "e.id === 'token'")
    page.keyboard.insert_text(admin)
    press_enter(page)
    assert page.url == f"{base}{BASE}/" and page.locator("h1").inner_text() == NAME
    assert "by the plugin itself." in page.locator("p.lead").inner_text()
    shot(page, artifacts_dir, "02-home", widths=(1280, 360))

    # 1. add "Named a need" with its Hindi label, in the category "relationship"
    go(page, "Tags")
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Add a tag'")
    press_enter(page)
    tab_to(page, "e.id === 'label_en'")
    page.keyboard.type("Named a need")
    tab_to(page, "e.id === 'label_hi'")
    page.keyboard.insert_text(HINDI)                            # as a Hindi keyboard or a paste would
    tab_to(page, "e.id === 'description_en'")
    page.keyboard.type("Said what they need.")
    tab_to(page, "e.id === 'category'")
    page.keyboard.type("Relationship")                          # a closed select picks by typing
    assert page.locator("#category").input_value() == "relationship"
    tab_to(page, "e.id === 'direction-toward'")
    page.keyboard.press("Space")
    shot(page, artifacts_dir, "03-add-form")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Add the tag'")
    press_enter(page)
    assert "Added the tag “Named a need”." in page.locator("[role=status]").inner_text()
    card = page.locator("#tag-named-a-need")
    assert HINDI in card.inner_text() and "Relationship" in page.locator("section", has=card).locator("h2").inner_text()
    shot(page, artifacts_dir, "04-added")
    added = store.vocabulary(CLINIC).resolve("named-a-need")
    assert (added.category, added.direction, dict(added.labels)) == ("relationship", "toward", {"hi": HINDI})

    # 2. rename "Step forward" to "Moved toward"; a note carries it already
    carried = page.locator("#tag-step-forward dl > div", has=page.locator("dt", has_text="Notes")).locator("dd")
    assert re.fullmatch(r"\d+ notes? carr(y|ies) it", carried.inner_text())   # the note of session 4, at least
    tab_to(page, "e.getAttribute('aria-label') === 'Edit the tag “Step forward”'")
    press_enter(page)
    tab_to(page, "e.id === 'label_en'")
    page.keyboard.press("Control+A")
    page.keyboard.type("Moved toward")
    shot(page, artifacts_dir, "05-rename-form")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Save changes'")
    press_enter(page)
    assert "Saved the tag “Moved toward”." in page.locator("[role=status]").inner_text()
    assert store.vocabulary(CLINIC).resolve("step-forward").label == "Moved toward"

    # 3. retire "Setback" and restore it, each after the page that says what it means
    tab_to(page, "e.getAttribute('aria-label') === 'Retire the tag “Setback”'")
    press_enter(page)
    assert re.fullmatch(r"\d+ notes? carr(y|ies) this tag; (they keep their|it keeps its) meaning\. Once retired, "
                        r"it can no longer be applied to a note\.", page.locator("p.lead").inner_text())
    shot(page, artifacts_dir, "06-retire-confirm", widths=(1280, 360))
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Retire this tag'")
    press_enter(page)
    assert "Retired the tag “Setback”." in page.locator("[role=status]").inner_text()
    assert not store.vocabulary(CLINIC).resolve("setback").active
    tab_to(page, "e.getAttribute('aria-label') === 'Restore the tag “Setback”'")
    press_enter(page)
    shot(page, artifacts_dir, "07-restore-confirm")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Restore this tag'")
    press_enter(page)
    assert "Restored the tag “Setback”." in page.locator("[role=status]").inner_text()
    assert store.vocabulary(CLINIC).resolve("setback").active and store.current_version(CLINIC) == 5

    # 4. a file of tags: downloaded, edited with two mistakes, refused in full, fixed, previewed, applied
    go(page, "Export")
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Download as JSON'")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    doc = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert [t["label"] for t in doc["tags"] if t["code"] == "step-forward"] == ["Moved toward"]
    asked = {"code": "asked-for-help", "label": "Asked for help", "description": "Asked someone for help.",
             "category": "relationships", "direction": "toward", "audience": "all", "status": "active",
             "labels": {"hi": "मदद माँगी"}}
    holding = next(i for i, t in enumerate(doc["tags"]) if t["code"] == "holding-steady")
    bad = json.loads(json.dumps(doc))
    bad["tags"].append(asked)                                  # "relationships": a typo of a category
    bad["tags"][holding]["direction"] = "sideways"             # not a direction
    bad_text = json.dumps(bad, indent=2, ensure_ascii=False) + "\n"
    (tmp_path / "tags.json").write_text(bad_text, encoding="utf-8")
    go(page, "Import")
    choose_file(page, tmp_path / "tags.json")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Check the file'")
    press_enter(page)
    assert "The file has 2 problems. Nothing was changed." in page.locator(".error-summary").inner_text()
    rows = page.locator("table.problems tbody tr")
    found = sorted(tuple(rows.nth(i).locator("td").all_inner_texts()) for i in range(rows.count()))
    lines = bad_text.splitlines()
    typo = str(next(n for n, line in enumerate(lines, 1) if '"relationships"' in line))
    sideways = str(next(n for n, line in enumerate(lines, 1) if '"sideways"' in line))
    assert found == sorted([
        (typo, f"tags.{len(doc['tags'])}.category", "Unknown category 'relationships'. Did you mean 'relationship'?"),
        (sideways, f"tags.{holding}.direction", "Must be one of: toward, steady, mixed, away, none.")])
    assert "tick “This file may add new categories”" in page.locator("#new-category-advice").inner_text()
    assert store.current_version(CLINIC) == 5                                   # nothing changed
    shot(page, artifacts_dir, "08-import-errors", widths=(1280, 360))

    asked["category"] = "relationship"
    doc["tags"].append(asked)                                  # the file, fixed
    (tmp_path / "tags.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    choose_file(page, tmp_path / "tags.json")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Check the file'")
    press_enter(page)
    assert page.locator("h1").inner_text() == "Check what the file changes"
    assert page.locator("ul.counts li").all_inner_texts() == ["1 tag added", "18 tags stay as they are"]
    assert "Added" in page.locator("ul.changes > li", has_text="asked-for-help").locator("h3").inner_text()
    assert store.current_version(CLINIC) == 5                                   # a preview changes nothing
    shot(page, artifacts_dir, "09-import-preview")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Apply: make version 6'")
    press_enter(page)
    assert "The file is imported: the tags are now version 6." in page.locator("[role=status]").inner_text()
    assert store.vocabulary(CLINIC).resolve("asked-for-help").label_in("hi") == "मदद माँगी"
    newest = page.locator("ol.versions > li").first.inner_text()
    assert "Practice manager" in newest and "Imported the plugin's JSON file: 1 tag added." in newest
    shot(page, artifacts_dir, "10-history")

    # 5. the FHIR export: a CodeSystem with the Hindi label as a designation in language "hi"
    go(page, "Export")
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Download as FHIR'")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"{CLINIC}-tags-v6-fhir.json"
    bundle = json.loads(open(download.value.path(), encoding="utf-8").read())
    (code_system,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CodeSystem"]
    concept = next(c for c in code_system["concept"] if c["code"] == "named-a-need")
    assert concept["display"] == "Named a need"
    assert {"language": "hi", "value": HINDI} in [{k: d[k] for k in ("language", "value")}
                                                  for d in concept["designation"]]
    shot(page, artifacts_dir, "11-export")

    # 6. a viewer token for a therapist: its secret once, then never again
    go(page, "Tokens")
    tab_to(page, "e.id === 'name'")
    page.keyboard.type("Dr Asha Rao")
    press_enter(page)
    assert page.locator("h1").inner_text() == "Viewer token made for Dr Asha Rao"
    viewer = page.locator("textarea#secret").input_value()
    made = tokens.verify(store, viewer)
    assert made is not None and (made.clinic_id, made.role) == (CLINIC, "viewer")
    shot(page, artifacts_dir, "12-token-made", mask=[page.locator("textarea#secret")])   # no secret in a picture
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Back to tokens'")
    press_enter(page)
    assert viewer not in page.content() and "Dr Asha Rao" in page.locator("ul.cards").inner_text()

    # the home page says who made the current version, by the token's name
    go(page, "Home")
    assert "by Practice manager." in page.locator("p.lead").inner_text()

    # a new note after the rename; then the panel, as the therapist's viewer token opens it
    note(runtime, "c1-after-the-rename", 5, "step-forward")                    # session 5
    therapist = browser.new_context(extra_http_headers={"Authorization": f"Bearer {viewer}"})
    try:
        panel = therapist.new_page()
        panel_errors = watch(panel)[1]
        answer = panel.goto(f"{base}/clinics/{CLINIC}/clients/{CLIENT}/progress.html")
        assert answer.status == 200
        panel.locator("details > summary").click()               # the chart's data as a table
        tagged = {row.locator("th").inner_text(): row.locator("td:last-child").inner_text()
                  for row in panel.locator(".pp-table tbody tr").all()}
        assert tagged["4"] == "Step forward (toward)"          # tagged before the rename: its old meaning
        assert tagged["5"] == "Moved toward (toward)"          # tagged after it: the new label
        shot(panel, artifacts_dir, "13-panel", widths=(1280, 360), console=False)
        assert panel_errors == []
    finally:
        therapist.close()

    # and a therapist's tag picker now offers "Moved toward", and "Named a need" in Hindi
    go(page, "Tags")
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'See the tag picker as a therapist sees it'")
    press_enter(page)
    offered = page.locator(".picker .pick-tag label").all_inner_texts()
    assert "Moved toward" in [t.strip() for t in offered] and not any("Step forward" in t for t in offered)
    assert "Named a need" in [t.strip() for t in offered] and "Asked for help" in [t.strip() for t in offered]
    shot(page, artifacts_dir, "14-picker", widths=(1280, 360))
    tab_to(page, "e.id === 'language'")
    page.keyboard.press("ArrowDown")                            # English, then हिन्दी
    assert page.locator("#language").input_value() == "hi"
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Show'")
    press_enter(page)
    offered = [t.strip() for t in page.locator(".picker .pick-tag label").all_inner_texts()]
    assert HINDI in offered and "मदद माँगी" in offered
    shot(page, artifacts_dir, "15-picker-hindi")

    assert all(url.startswith(base + "/") for url in requested)                # nothing from elsewhere
    assert expected(errors) == []

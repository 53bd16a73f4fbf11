"""The console's history, diff, import and export pages in headless Chromium, served by the service on
127.0.0.1.

A practice manager signs in, imports a file with two errors and sees both with their lines and
paths, fixes the file and imports it again through the preview, downloads the FHIR export and
reads it, then looks at the history and compares two versions with the keyboard. The four pages
(history, diff, import with errors, import preview) are checked in English and Hindi at 1280 and
360 px: every control labelled, text contrast at least WCAG AA, a visible focus, no sideways
scrolling, nothing fetched from elsewhere. Screenshots go to
tests/artifacts/console-<page>-<language>-<width>.png.
"""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.store import Store, tokens
from progress_plugin.web.app import create_app

from tests.test_console_browser import CONTRAST, FOCUS, UNLABELLED, press_enter, tab_to, watch

CLINIC = "clinic-a"
BASE = f"/admin/clinics/{CLINIC}"


@pytest.fixture
def served(tmp_path, now):
    store = Store.open(f"sqlite:///{tmp_path / 'progress.db'}")
    store.ensure_clinic(CLINIC, now, "Lajpat Nagar Family Clinic")
    v1 = store.vocabulary(CLINIC)
    store.save_vocabulary(CLINIC, v1.edit("step-forward", label="Moved toward", labels={"hi": "आगे बढ़े"}), "cli:sam",
                          "edit step-forward label,labels", now)
    store.save_vocabulary(CLINIC, store.vocabulary(CLINIC).retire("came-back"), "cli:sam", "retire came-back", now)
    _, admin = tokens.create(store, CLINIC, "admin", "Practice manager", now)
    server = make_server("127.0.0.1", 0, create_app(store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", admin, store
    server.shutdown()
    thread.join(5)
    store.close()


def real(errors: list[str]) -> list[str]:
    """The page's errors, less Chromium's note that a page came with a 4xx status (a form with problems
    answers 422, on purpose): a CSP violation or a script error stays."""
    return [e for e in errors if "the server responded with a status of 422" not in e]


def files(store, folder):
    """A file with two errors, and the same file fixed (a new tag with a Hindi label, one renamed)."""
    doc = fhir_vocabulary.export(store.vocabulary(CLINIC), CLINIC)
    doc["tags"][1]["label"] = "Holding on"
    doc["tags"].append({"code": "named-a-need", "label": "Named a need", "description": "Said what they need.",
                        "category": "relationship", "direction": "toward", "audience": "all", "status": "active",
                        "labels": {"hi": "ज़रूरत बताई"}, "descriptions": {"hi": "अपनी ज़रूरत खुलकर कही।"}})
    fixed = fhir_vocabulary.dumps(doc)
    doc["tags"][0]["direction"] = "sideways"
    doc["tags"][-1]["category"] = "relationships"          # a typo: a category the tags do not have
    bad = fhir_vocabulary.dumps(doc)
    (folder / "bad.json").write_text(bad, encoding="utf-8")
    (folder / "fixed.json").write_text(fixed, encoding="utf-8")
    return folder / "bad.json", folder / "fixed.json", bad


def sign_in(page, base, admin, language):
    page.goto(f"{base}/admin/?lang={language}")
    page.fill("#token", admin)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}{BASE}/?lang={language}")


def look(page, artifacts_dir, name, language):
    """The page as it is, at 1280 then 360 px: checked, and photographed."""
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.locator("html").get_attribute("lang") == language
        assert page.evaluate(UNLABELLED) == [], name
        assert page.evaluate(CONTRAST) == [], (name, width)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
        page.screenshot(path=str(artifacts_dir / f"console-{name}-{language}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_import_with_errors_fix_preview_apply_export_and_compare(served, page, tmp_path):
    base, admin, store = served
    requested, errors = watch(page)
    bad, fixed, bad_text = files(store, tmp_path)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, admin, "en")

    page.goto(f"{base}{BASE}/import")
    page.set_input_files("#file", str(bad))
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Check the file'")
    press_enter(page)
    assert "The file has 2 problems. Nothing was changed." in page.locator(".error-summary").inner_text()
    rows = page.locator("table.problems tbody tr")
    assert rows.count() == 2
    found = sorted(tuple(rows.nth(i).locator("td").all_inner_texts()[:2]) for i in range(2))
    lines = bad_text.splitlines()
    sideways = str(next(i for i, line in enumerate(lines, 1) if '"sideways"' in line))
    typo = str(next(i for i, line in enumerate(lines, 1) if '"category": "relationships"' in line))
    last = len(store.vocabulary(CLINIC).tags)                 # the new tag, after every tag there is
    assert found == sorted([(sideways, "tags.0.direction"), (typo, f"tags.{last}.category")])
    assert "tick “This file may add new categories” below" in page.locator("#new-category-advice").inner_text()
    assert store.current_version(CLINIC) == 3

    page.set_input_files("#file", str(fixed))
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Check what the file changes"
    named = page.locator("ul.changes > li", has_text="named-a-need")
    assert "Added" in named.locator("h3").inner_text()
    assert "ज़रूरत बताई" in named.locator("td.new").all_inner_texts()
    holding = page.locator("ul.changes > li", has_text="holding-steady")
    assert holding.locator("td.old").first.inner_text() == "Holding steady"
    assert holding.locator("td.new").first.inner_text() == "Holding on"
    assert store.current_version(CLINIC) == 3                                   # the preview changes nothing
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Apply: make version 4'")
    press_enter(page)
    page.wait_for_url(f"{base}{BASE}/history")
    assert "The file is imported: the tags are now version 4." in page.locator("[role=status]").inner_text()
    assert store.current_version(CLINIC) == 4

    page.goto(f"{base}{BASE}/export")
    with page.expect_download() as info:
        page.get_by_text("Download as FHIR").click()
    download = info.value
    assert download.suggested_filename == "clinic-a-tags-v4-fhir.json"
    text = open(download.path(), encoding="utf-8").read()
    assert text == fhir_vocabulary.dumps(fhir_vocabulary.export(store.vocabulary(CLINIC), CLINIC, "fhir"))
    concept = next(c for c in json.loads(text)["entry"][0]["resource"]["concept"] if c["code"] == "named-a-need")
    assert any(d.get("language") == "hi" and d["value"] == "ज़रूरत बताई" for d in concept["designation"])

    page.goto(f"{base}{BASE}/history")
    assert page.locator("ol.versions > li h3").all_inner_texts()[:2] == ["Version 4 current", "Version 3"]
    newest = page.locator("ol.versions > li").first.inner_text()
    assert "Imported the plugin's JSON file: 1 tag added, 1 tag changed." in newest
    tab_to(page, "e.id === 'pick-from'")
    page.select_option("#pick-from", "1")                    # as the arrow keys would
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Compare'")
    press_enter(page)
    assert page.locator("h1").inner_text() == "Version 1 and version 4"
    came_back = page.locator("ul.changes > li", has_text="came-back")
    assert "Retired" in came_back.locator("h3").inner_text()
    assert came_back.locator("td.old").inner_text() == "in use"
    assert came_back.locator("td.new").inner_text() == "retired"
    assert all(url.startswith(base + "/") for url in requested)
    assert real(errors) == []


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_four_pages_at_desktop_and_phone_widths(served, page, tmp_path, artifacts_dir, language):
    base, admin, store = served
    requested, errors = watch(page)
    bad, fixed, _ = files(store, tmp_path)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, admin, language)
    page.goto(f"{base}{BASE}/import?lang={language}")
    page.set_input_files("#file", str(bad))
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("table.problems tbody tr").count() == 2
    assert page.locator("#new-category-advice").count() == 1
    look(page, artifacts_dir, "import-errors", language)
    page.set_input_files("#file", str(fixed))
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("ul.changes > li").count() == 2
    look(page, artifacts_dir, "import-preview", language)
    page.locator(".apply button[type=submit]").click()
    page.wait_for_url(f"{base}{BASE}/history?lang={language}")
    look(page, artifacts_dir, "history", language)
    page.goto(f"{base}{BASE}/diff?from=1&to=4&lang={language}")
    assert page.locator("ul.changes > li").count() == 4
    look(page, artifacts_dir, "diff", language)
    for _ in range(4):                                        # the skip link, then the first controls
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS)
    assert all(url.startswith(base + "/") for url in requested)
    assert real(errors) == []

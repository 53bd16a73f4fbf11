"""The console's tag pages in headless Chromium, served by the service over HTTP on 127.0.0.1.

A practice manager adds "Named a need" with a Hindi label, renames a tag (first leaving its label
empty, which is refused beside the field), retires a tag and restores it, with the keyboard; a note
tagged before the rename still shows its old label in the panel. Then, in English and Hindi at 1280
and 360 px: the tags page, the edit form with an error, the retire confirmation, the form that came
back because someone else changed the tags, and the picker's preview; every control labelled, text
contrast at least WCAG AA, a visible focus, no sideways scrolling, nothing fetched from elsewhere.
Screenshots go to tests/artifacts/console-tag-<page>-<language>-<width>.png.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.test_console_browser import CLINIC, CONTRAST, FOCUS, UNLABELLED, press_enter, served, tab_to, watch  # noqa: F401

TAGS = f"/admin/clinics/{CLINIC}/tags"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def unexpected(errors) -> list[str]:
    """The page's errors, but the answers these pages give on purpose: 422 (a problem beside a field)
    and 409 (the tags changed while a form was open)."""
    return [e for e in errors if not ("Failed to load resource" in e and ("status of 422" in e or "status of 409" in e))]


def sign_in(page, base, admin, language="en"):
    page.goto(f"{base}/admin/?lang={language}")
    page.fill("#token", admin)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/admin/clinics/{CLINIC}/?lang={language}")


def test_add_rename_retire_and_restore_with_the_keyboard(served, page):
    base, admin, store = served
    requested, errors = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/admin/")
    tab_to(page, "e.id === 'token'")
    page.keyboard.insert_text(admin)
    press_enter(page)
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Tags'")
    press_enter(page)
    assert page.url == f"{base}{TAGS}"

    # add "Named a need", with its Hindi label
    tab_to(page, "e.tagName === 'A' && e.textContent.trim() === 'Add a tag'")
    press_enter(page)
    tab_to(page, "e.id === 'label_en'")
    page.keyboard.insert_text("Named a need")
    tab_to(page, "e.id === 'label_hi'")
    page.keyboard.insert_text("ज़रूरत बताई")
    tab_to(page, "e.id === 'category'")
    page.select_option("#category", "relationship")
    tab_to(page, "e.id === 'direction-toward'")
    page.keyboard.press("Space")
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Add the tag'")
    press_enter(page)
    assert "Added the tag “Named a need”." in page.locator("[role=status]").inner_text()
    card = page.locator("#tag-named-a-need")
    assert "ज़रूरत बताई" in card.inner_text() and page.url.endswith("#tag-named-a-need")
    tag = store.vocabulary(CLINIC).resolve("named-a-need")
    assert dict(tag.labels) == {"hi": "ज़रूरत बताई"} and tag.category == "relationship"

    # rename "Feeling more": an empty label is refused beside the field, then the new one is saved
    tab_to(page, "e.getAttribute('aria-label') === 'Edit the tag “Feeling more”'")
    press_enter(page)
    tab_to(page, "e.id === 'label_en'")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    press_enter(page)
    assert page.locator("#label_en-error").inner_text().endswith("Enter the label in English.")
    assert page.locator("#label_en").get_attribute("aria-invalid") == "true"
    assert page.locator("#label_hi").input_value() == "ज़्यादा महसूस करना"       # the rest as it was
    page.locator("#label_en").focus()
    page.keyboard.insert_text("Feelings come closer")
    press_enter(page)
    assert "Saved the tag “Feelings come closer”." in page.locator("[role=status]").inner_text()

    # retire "Setback", after reading what it means; then restore it
    tab_to(page, "e.getAttribute('aria-label') === 'Retire the tag “Setback”'")
    press_enter(page)
    assert "carry this tag; they keep their meaning" in page.locator("p.lead").inner_text()
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Retire this tag'")
    press_enter(page)
    assert "Retired the tag “Setback”." in page.locator("[role=status]").inner_text()
    assert not store.vocabulary(CLINIC).resolve("setback").active
    tab_to(page, "e.getAttribute('aria-label') === 'Restore the tag “Setback”'")
    press_enter(page)
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Restore this tag'")
    press_enter(page)
    assert "Restored the tag “Setback”." in page.locator("[role=status]").inner_text()
    assert store.vocabulary(CLINIC).resolve("setback").active

    # a note tagged before the rename keeps its old label in the panel
    bearer = {"Authorization": f"Bearer {admin}"}
    panel = page.request.get(f"{base}/clinics/{CLINIC}/clients/c1/progress.json", headers=bearer).json()
    before = [m["label"] for m in panel["markers"] if m["code"] == "feeling-more"]
    assert before and set(before) == {"Feeling more"}
    labels = page.request.post(f"{base}/clinics/{CLINIC}/tag-labels", headers=bearer, data={"pairs": [
        {"code": "feeling-more", "version": 2}, {"code": "feeling-more", "version": 4}]}).json()["labels"]
    assert [item["label"] for item in labels] == ["Feeling more", "Feelings come closer"]
    assert all(url.startswith(base + "/") for url in requested)
    assert unexpected(errors) == []


def stale_form(page, base, store, language):
    """The edit form of "Holding steady", sent after someone else changed the tag: it comes back."""
    page.goto(f"{base}{TAGS}/holding-steady/edit?lang={language}")
    page.fill("#label_en", "Steady as we go")
    vocabulary = store.vocabulary(CLINIC)
    tag = vocabulary.resolve("holding-steady")
    changed = vocabulary.edit("holding-steady", description=tag.description + " Still.", direction="mixed")
    store.save_vocabulary(CLINIC, changed.retire("came-back") if changed.resolve("came-back").active else changed,
                          "token:other", "edit holding-steady", NOW)
    with page.expect_navigation():
        page.locator("form.stack button[type=submit]").click()
    assert page.locator("#stale-title").count() == 1
    assert page.locator("#label_en").input_value() == "Steady as we go"


@pytest.mark.parametrize("language", ["en", "hi"])
def test_every_tag_page_at_desktop_and_phone_widths(served, page, artifacts_dir, language):
    base, admin, store = served
    requested, errors = watch(page)
    sign_in(page, base, admin, language)

    def error_page():
        """The edit form of "Stirring up" sent with its English label emptied and too long a Hindi one."""
        page.goto(f"{base}{TAGS}/stirring-up/edit?lang={language}")
        page.fill("#label_en", "")
        page.evaluate("() => document.querySelector('#label_hi').removeAttribute('maxlength')")
        page.fill("#label_hi", "ह" * 81)
        with page.expect_navigation():
            page.locator("form.stack button[type=submit]").click()
        assert page.locator(".error-summary li").count() == 2
        assert page.locator("#label_en-error").count() == page.locator("#label_hi-error").count() == 1
        assert page.locator("#description_hi").input_value() == "मुश्किल बातें ऊपर आ रही हैं; संभलने से पहले हालात और भारी लग सकते हैं।"

    pages = {"list": lambda: page.goto(f"{base}{TAGS}?lang={language}"), "error": error_page,
             "retire": lambda: page.goto(f"{base}{TAGS}/setback/retire?lang={language}"),
             "stale": lambda: stale_form(page, base, store, language),
             "preview": lambda: page.goto(f"{base}/admin/clinics/{CLINIC}/picker?lang={language}&language={language}")}
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        for name, show in pages.items():
            show()
            assert page.locator("html").get_attribute("lang") == language
            assert page.evaluate(UNLABELLED) == [], name
            assert page.evaluate(CONTRAST) == [], (name, width)
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
            page.screenshot(path=str(artifacts_dir / f"console-tag-{name}-{language}-{width}.png"), full_page=True)
            for _ in range(3):
                page.keyboard.press("Tab")
                assert page.evaluate(FOCUS), f"{name}: Tab reached an element that shows no focus"
    assert all(url.startswith(base + "/") for url in requested)
    assert unexpected(errors) == []

"""The admin console in headless Chromium, served by the service over HTTP on 127.0.0.1.

A practice manager signs in with the keyboard alone, makes a viewer token for a therapist, sees
its secret once, revokes it and signs out. Then every page (sign-in, home, tags, tokens) is
checked in English and Hindi at 1280 and 360 px: nothing fetched from elsewhere, every control
labelled, text contrast at least WCAG AA, a visible focus ring, no sideways scrolling. Screenshots
go to tests/artifacts/console-<page>-<language>-<width>.png.
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, tokens
from progress_plugin.web.app import create_app

from tests.test_panel import seed_client

CLINIC = "clinic-a"
NAME = "Lajpat Nagar Family Clinic"

#: Every text element whose contrast with its background is under WCAG AA (4.5:1; 3:1 for large text).
CONTRAST = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  const background = el => { for (; el; el = el.parentElement) { const c = parse(getComputedStyle(el).backgroundColor);
    if (c && c[3] > 0) return c; } return [255, 255, 255, 1]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('.visually-hidden, .skip')) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(el), fg = parse(cs.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x), ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(cs.fontSize), large = size >= 24 || (size >= 18.66 && parseInt(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName} ${ratio.toFixed(2)} ${el.textContent.trim().slice(0, 30)}`);
  }
  return bad;
}"""
#: Every form control without a label (its own <label>, or a button's text).
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map(e => e.outerHTML)"""
FOCUS = """() => { const cs = getComputedStyle(document.activeElement);
  return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2; }"""


@pytest.fixture
def served(tmp_path, now):
    store = Store.open(f"sqlite:///{tmp_path / 'progress.db'}")
    store.ensure_clinic(CLINIC, now, NAME)
    seed_client(Runtime(store, clock=lambda: now), CLINIC, "c1", 12)
    store.save_vocabulary(CLINIC, store.vocabulary(CLINIC).retire("came-back"), "cli:sam", "retire came-back", now)
    _, admin = tokens.create(store, CLINIC, "admin", "Practice manager", now)
    tokens.create(store, CLINIC, "viewer", "Dr Meera Kapoor", now)
    server = make_server("127.0.0.1", 0, create_app(store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", admin, store
    server.shutdown()
    thread.join(5)
    store.close()


def watch(page):
    """The URLs the page requests, and the errors it logs (a CSP violation is one)."""
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return requested, errors


def press_enter(page) -> None:
    """Enter on the focused link or button, and wait for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def tab_to(page, test: str, limit: int = 80):
    """Press Tab until the focused element passes ``test`` (a JS expression on ``e``); fail if never."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return !!({test}); }}"):
            assert page.evaluate(FOCUS), f"no visible focus on {test}"
            return
    raise AssertionError(f"Tab never reached {test}")


def test_a_practice_manager_makes_and_revokes_a_viewer_token_with_the_keyboard(served, page):
    base, admin, store = served
    requested, errors = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/admin/")
    tab_to(page, "e.id === 'token'")
    page.keyboard.insert_text(admin)
    press_enter(page)
    page.wait_for_url(f"{base}/admin/clinics/{CLINIC}/")
    assert page.locator("h1").inner_text() == NAME

    tab_to(page, "e.textContent.trim() === 'Tokens' && e.tagName === 'A'")
    press_enter(page)
    page.wait_for_url(f"{base}/admin/clinics/{CLINIC}/tokens")
    tab_to(page, "e.id === 'name'")
    page.keyboard.insert_text("Dr Asha Rao")
    press_enter(page)
    assert page.locator("h1").inner_text() == "Viewer token made for Dr Asha Rao"
    secret = page.locator("textarea#secret").input_value()
    made = tokens.verify(store, secret)
    assert made is not None and made.role == "viewer"
    assert page.request.get(f"{base}/clinics/{CLINIC}/vocabulary",
                            headers={"Authorization": f"Bearer {secret}"}).status == 200

    tab_to(page, "e.textContent.trim() === 'Back to tokens'")
    press_enter(page)
    page.wait_for_url(f"{base}/admin/clinics/{CLINIC}/tokens")
    assert secret not in page.content()                                      # shown once, never again
    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.includes('the token for Dr Asha Rao')")
    press_enter(page)
    assert "The token for Dr Asha Rao is revoked." in page.locator("[role=status]").inner_text()
    assert tokens.verify(store, secret) is None
    assert page.request.get(f"{base}/clinics/{CLINIC}/vocabulary",
                            headers={"Authorization": f"Bearer {secret}"}).status == 401

    tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Sign out'")
    press_enter(page)
    page.wait_for_url(f"{base}/admin/")
    assert "You have signed out." in page.locator("[role=status]").inner_text()
    page.goto(f"{base}/admin/clinics/{CLINIC}/")
    assert page.url == f"{base}/admin/"                                      # the session has ended
    assert all(url.startswith(base + "/") for url in requested)               # nothing from elsewhere
    assert errors == []


@pytest.mark.parametrize("language", ["en", "hi"])
def test_every_page_at_desktop_and_phone_widths(served, page, artifacts_dir, language):
    base, admin, _ = served
    requested, errors = watch(page)
    page.goto(f"{base}/admin/?lang={language}")
    page.fill("#token", admin)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/admin/clinics/{CLINIC}/?lang={language}")
    pages = {"sign-in": None, "home": "", "tags": "tags", "tokens": "tokens"}
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            if path is None:                                # the sign-in page, in a browser not signed in
                other = page.context.browser.new_page(viewport={"width": width, "height": 900})
                shown = other
                other.goto(f"{base}/admin/?lang={language}")
            else:
                shown = page
                page.goto(f"{base}/admin/clinics/{CLINIC}/{path}?lang={language}")
            assert shown.locator("html").get_attribute("lang") == language
            assert shown.evaluate(UNLABELLED) == [], name
            assert shown.evaluate(CONTRAST) == [], (name, width)
            assert shown.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
            shown.screenshot(path=str(artifacts_dir / f"console-{name}-{language}-{width}.png"), full_page=True)
            for _ in range(3):                               # the skip link, then the first controls
                shown.keyboard.press("Tab")
                assert shown.evaluate(FOCUS), f"{name}: Tab reached an element that shows no focus"
            if shown is not page:
                shown.close()
    assert all(url.startswith(base + "/") for url in requested)
    assert errors == []

"""The tag picker and the admin page in Hindi, drawn by the example notes host in headless Chromium
(asked for with ?lang=, which the host keeps in its links and passes to the hooks as locale). Screenshots at
1280 and 360 px, English and Hindi, go to tests/artifacts/."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from werkzeug.serving import make_server

from examples.notes_host import create_host_app
from progress_plugin.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CLINIC = "clinic-b"


@pytest.fixture(params=["en", "hi"])
def host(request, tmp_path):
    progress = f"sqlite:///{tmp_path / 'progress.db'}"
    store = Store.open(progress)
    try:
        store.ensure_clinic(CLINIC, datetime.now(timezone.utc), language=request.param)
    finally:
        store.close()
    app = create_host_app(str(tmp_path / "notes.db"), progress, clinic_id=CLINIC, language=request.param)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield request.param, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    app.extensions["notes_host"]["pm"].get_plugin("progress").reset()


def shots(page, artifacts_dir, name):
    for width, height in ((1280, 900), (360, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"{name}_{width}.png"), full_page=True)


def test_the_picker_and_the_admin_page_in_the_clinics_language(page, host, artifacts_dir):
    language, url = host
    hindi = language == "hi"
    page.goto(url + f"/?lang={language}")
    page.fill("input[name=name]", "Robin")
    page.click("form button[type=submit]")                      # Add client
    page.click("a[href*='/notes/new'][href*='type=progress-note']")   # New progress note
    picker = page.locator("section[data-picker]")
    assert picker.locator("h2").inner_text() == ("प्रगति के टैग" if hindi else "Progress tags")
    assert page.locator("label[for=tag-step-forward]").inner_text() == ("एक कदम आगे" if hindi else "Step forward")
    assert page.locator("#tag-holding-steady-about").inner_text() == (
        "हालात संभले रहे; टिके रहना भी एक बदलाव है।" if hindi else "Things held; stability is a change too.")
    legends = picker.locator("fieldset.tagcat legend").all_inner_texts()
    assert legends[:2] == (["उतार-चढ़ाव", "एहसास"] if hindi else ["Movement", "Awareness"])
    shots(page, artifacts_dir, f"tag_picker_{language}")

    page.goto(url + f"/admin?lang={language}")
    section = page.locator("section[data-admin-page=progress-vocabulary]")
    assert section.locator("h2").inner_text() == ("प्रगति के टैग" if hindi else "Progress tags")
    row = section.locator("tr", has=page.locator("code", has_text="setback"))
    tag, description = row.locator("td").all_inner_texts()
    assert "English: Setback" in tag and "हिन्दी: एक कदम पीछे" in tag      # both languages, whatever is asked
    assert ("कैटेगरी: उतार-चढ़ाव · दिशा: पीछे की ओर" if hindi else "Category: Movement · Direction: Away") in tag
    assert description.startswith("एक कदम पीछे;" if hindi else "A step back;")
    assert section.locator("th").all_inner_texts() == (["टैग", "विवरण"] if hindi else ["Tag", "Description"])
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360        # nothing runs off the side
    shots(page, artifacts_dir, f"admin_vocabulary_{language}")

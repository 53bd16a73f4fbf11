"""The SMART launch's refusal pages in headless Chromium, served over HTTP on 127.0.0.1: English and
Hindi at 1280 and 360 px, nothing fetched from elsewhere, no console error (a CSP violation is one),
text contrast at least WCAG AA, no sideways scrolling. Screenshots: tests/artifacts/smart-<page>-<lang>-<width>.png."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from progress_plugin.service import settings
from progress_plugin.store import Store
from progress_plugin.web.app import create_app

from tests.test_console_browser import CONTRAST, watch

SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
SHOTS = Path("/work/wt/shots/smartA")


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    config = settings.load({"store": {"url": url}, "smart": {"public_url": "https://app.example", "ehrs": [
        {"id": "ehr", "clinic": "clinic-a", "iss": ["https://ehr.example/fhir"], "client_id": "app"}]}},
        env={"PROGRESS_PLUGIN_SMART_KEY": Fernet.generate_key().decode()})
    store = Store.open(url)
    server = make_server("127.0.0.1", 0, create_app(store, config=config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    store.close()


PAGES = {"state-unknown": ("/smart/callback?code=c&state=s", 400),
         "iss-not-allowed": ("/smart/launch?iss=https://other.example/fhir&launch=l", 403),
         "no-session": ("/smart/app/intake", 401)}


@pytest.mark.parametrize("name", sorted(PAGES))
@pytest.mark.parametrize("language", ["en", "hi"])
def test_refusal_pages_read_well_everywhere(served, page, artifacts_dir, name, language):
    path, status = PAGES[name]
    requested, errors = watch(page)
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        answer = page.goto(served + path + ("&" if "?" in path else "?") + f"lang={language}")
        assert answer.status == status
        assert page.locator("html").get_attribute("lang") == language
        assert page.evaluate(CONTRAST) == []
        assert page.evaluate(SIDEWAYS) is False
        shot = artifacts_dir / f"smart-{name}-{language}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        if SHOTS.parent.is_dir():
            SHOTS.mkdir(exist_ok=True)
            shutil.copy(shot, SHOTS / shot.name)
    assert all(u.startswith(served) or u.startswith("data:") for u in requested), requested
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []   # the page's own status

"""The check-in form's kept scales (progress_plugin.web.checkin.views): another client, new goal
words, a first session and the language are each drawn anew, never another's copy."""
from __future__ import annotations

import html as html_mod
import re

from progress_plugin.service.runtime import Runtime

from tests.test_checkin_web import CLINIC, OTHER_WORDS, link_for, opened, world  # noqa: F401  (fixture)
from tests.test_panel import GOAL_WORDS, seed_client


def scales(http, query: str = "") -> str:
    page = http.get("/checkin/" + query).get_data(as_text=True)
    page = re.sub(r'name="form_token" value="[0-9a-f]+"', 'name="form_token"', page)
    return html_mod.unescape(page[page.index("<form"):])


def signed(app, store, clock, client):
    http = app.test_client()
    _, token = link_for(store, clock, client)
    assert opened(http, token).status_code == 303
    return http


def test_each_client_gets_its_own_goals_and_a_new_intake_is_shown_at_once(world):
    app, store, clock = world
    one, two = signed(app, store, clock, "c1"), signed(app, store, clock, "c2")
    first = scales(one)
    assert scales(one) == first and GOAL_WORDS[0] in first                   # the second one was kept
    assert OTHER_WORDS[0] in scales(two) and GOAL_WORDS[0] not in scales(two)
    seed_client(Runtime(store, clock=clock), CLINIC, "c1", 0, words=("Sing in the choir", *GOAL_WORDS[1:]))
    again = scales(one)
    assert "Sing in the choir" in again and GOAL_WORDS[0] not in again


def test_the_session_check_comes_with_the_first_session_and_each_language_is_kept_apart(world):
    app, store, clock = world
    seed_client(Runtime(store, clock=clock), CLINIC, "c3", 0)                # an intake, no session yet
    http = signed(app, store, clock, "c3")
    before = scales(http)
    assert "About your last session" not in before and GOAL_WORDS[0] in before
    seed_client(Runtime(store, clock=clock), CLINIC, "c3", 1)                # a first session
    assert "About your last session" in scales(http)
    hindi = scales(http, "?lang=hi")
    assert hindi != scales(http) and "Skip" not in hindi and "Skip" in scales(http)

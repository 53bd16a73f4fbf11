"""The SMART tagging form's kept tags and ratings (progress_plugin.web.smart.tags): a saved intake, a
saved tagging, a new vocabulary version, the language and a form with errors are each drawn anew,
and a kept copy is the same as one drawn anew."""
from __future__ import annotations

import html as html_mod
import re

from progress_plugin.core.vocabulary import Tag

from tests.smart_app import CLINIC, form_token, smart  # noqa: F401  (fixture)
from tests.test_smart_pages import send_intake, send_tags


def fields(client, query: str = "") -> str:
    page = client.get("/smart/app/tags" + query).get_data(as_text=True)
    return html_mod.unescape(page[page.index('<section class="field'):page.index("<p><button")])


def test_a_saved_intake_and_a_saved_tagging_are_shown_at_once(smart, medplum):
    client = smart.client()
    empty = fields(client)
    assert fields(client) == empty and "No goals to rate yet" in empty         # the second one was kept
    send_intake(smart, client)
    goals = fields(client)
    assert 'name="rating-g1"' in goals and "No goals to rate yet" not in goals
    assert 'value="step-forward" checked' not in goals
    assert send_tags(smart, client, **{"rating-g1": "6", "rater-g1": "therapist"}).status_code == 200
    tagged = fields(client)
    assert 'value="step-forward" checked' in tagged and 'name="rating-g1" value="6" checked' in tagged
    assert 'name="rater-g1" value="therapist" checked' in tagged
    assert send_tags(smart, client, tags=("setback",)).status_code == 200
    retagged = fields(client)
    assert 'value="setback" checked' in retagged and 'value="step-forward" checked' not in retagged


def test_a_new_vocabulary_version_is_shown_at_once(smart, medplum, now):
    client = smart.client()
    assert "Quiet session" not in fields(client)
    store = smart.store
    store.save_vocabulary(CLINIC, store.vocabulary(CLINIC).add(Tag("quiet", "Quiet session", "", "movement", "none")),
                          "cli:sam", "add quiet", now)
    assert "Quiet session" in fields(client)


def test_each_language_is_kept_apart_and_errors_are_drawn_for_the_form_sent(smart, medplum):
    client = smart.client()
    english, hindi = fields(client), fields(client, "?lang=hi")
    assert english != hindi and fields(client) == english and fields(client, "?lang=hi") == hindi
    token = form_token(client.get("/smart/app/tags").get_data(as_text=True))
    refused = client.post("/smart/app/tags", data={"csrf_token": token, "tag": ["no-such-tag"]})
    assert refused.status_code == 422 and "has-error" in refused.get_data(as_text=True)
    assert "has-error" not in fields(client)


def test_the_kept_fields_are_the_fields_drawn_anew(smart, medplum):
    client = smart.client()
    send_intake(smart, client)
    send_tags(smart, client, **{"rating-g2": "3", "rater-g2": "client"})
    for query in ("", "?lang=hi"):
        kept = (fields(client, query), fields(client, query))
        smart.app.extensions.pop("pp_smart_tag_fields")
        assert kept[0] == kept[1] == fields(client, query)
    assert re.search(r'name="rating-g2" value="3" checked', kept[0])

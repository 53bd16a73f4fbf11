"""The SMART intake form's kept questions (progress_plugin.web.smart.intake): a saved intake, another
patient, the language and a form with errors are each drawn anew, never another's copy."""
from __future__ import annotations

import html as html_mod
import re

from tests.smart_app import form_token, smart  # noqa: F401  (fixture)
from tests.test_smart_pages import intake_form, send_intake


def form(client, query: str = "") -> str:
    page = client.get("/smart/app/intake" + query).get_data(as_text=True)
    page = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', page)   # new on every page
    return html_mod.unescape(page[page.index("<form"):])


def test_a_saved_intake_is_shown_at_once_not_the_kept_empty_form(smart, medplum):
    client = smart.client()
    empty = form(client)
    assert form(client) == empty and "To feel less tired" not in empty       # the second one was kept
    send_intake(smart, client)
    assert "To feel less tired" in form(client)
    send_intake(smart, client, hopes="To sleep through the night")           # saved again, other words
    after = form(client)
    assert "To sleep through the night" in after and "To feel less tired" not in after


def test_another_patient_never_gets_this_ones_kept_form(smart, medplum):
    client = smart.client()
    send_intake(smart, client)
    assert "To feel less tired" in form(client)
    smart.use(patient="someone-else")
    assert "To feel less tired" not in form(client)


def test_each_language_is_kept_apart_and_errors_are_drawn_for_the_form_sent(smart, medplum):
    client = smart.client()
    english, hindi = form(client), form(client, "?lang=hi")
    assert english != hindi and "?lang=hi" in hindi and form(client) == english
    token = form_token(client.get("/smart/app/intake").get_data(as_text=True))
    refused = client.post("/smart/app/intake", data=intake_form(token, **{"goals-0-baseline": "11"}))
    page = html_mod.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and 'class="error-message"' in page
    assert 'class="error-message"' not in form(client)

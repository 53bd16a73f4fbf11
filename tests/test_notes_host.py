"""The example notes host (examples/notes_host), through Flask's test client."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from pluggy import HookimplMarker

from examples.notes_host import create_host_app
from progress_plugin import hookspecs
from progress_plugin.core.intake import definition
from progress_plugin.store import Store

CANARY = "canary-7f3a note text about the client's mother"
HOST_SOURCE = Path(__file__).parent.parent / "examples" / "notes_host"


@pytest.fixture
def plugin_url(tmp_path):
    return f"sqlite:///{tmp_path / 'progress.db'}"


@pytest.fixture
def app(tmp_path, plugin_url):
    app = create_host_app(str(tmp_path / "notes.db"), plugin_url, clinic_id="clinic-x")
    yield app
    app.extensions["notes_host"]["pm"].get_plugin("progress").reset()
    app.extensions["progress_plugin"].store.close()                 # the mounted console's store


@pytest.fixture
def web(app):
    return app.test_client()


@pytest.fixture
def plugin_store(plugin_url):
    store = Store.open(plugin_url)
    yield store
    store.close()


@pytest.fixture
def client_id(web):
    resp = web.post("/clients", data={"name": "Robin"})
    assert resp.status_code == 302
    return resp.location.rsplit("/", 1)[1]


def errors_in(html: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, message in re.findall(r'data-error-for="([^"]+)">([^<]+)<', html):
        out.setdefault(name, []).append(unescape(message))
    return out


INTAKE = {"goals-0-words": "Sleep through most nights", "goals-0-whose": "client", "goals-0-baseline": "3",
          "goals-1-words": "Call my sister", "goals-1-whose": "client", "goals-1-baseline": "2",
          "small_shift": "One good night", "review_cadence": "every-4-sessions", "agreed": "on",
          "agreed_on": "2026-01-05", "goals_reviewed": "on", "private_reflection": "pull to reassure"}


@pytest.fixture
def with_intake(web, client_id):
    assert web.post(f"/clients/{client_id}/intake", data=INTAKE).status_code == 302
    return client_id


def note_form(**tags):
    return {"type": "progress-note", "session_at": "2026-01-12T10:00", "text": CANARY, **tags}


def test_the_plugin_is_found_by_entry_point_not_imported(app):
    pm = app.extensions["notes_host"]["pm"]
    assert [name for name, _ in pm.list_name_plugin()] == ["progress"]
    assert [d.project_name for _, d in pm.list_plugin_distinfo()] == ["progress-plugin"]
    for path in HOST_SOURCE.glob("*.py"):
        assert not re.search(r"progress_plugin(\.| import )plugin\b", path.read_text()), path


def test_the_intake_page_renders_the_plugin_s_field_definitions(web, client_id):
    html = web.get(f"/clients/{client_id}/intake").get_data(as_text=True)
    for field in definition()["fields"]:
        assert unescape(html).count(field["label"]) == 1, field["id"]
    assert html.count("<legend>Goal ") == 3
    assert 'name="goals-2-baseline"' in html and 'name="saying_not_working_other"' in html
    assert "therapist only</span>" in html


def test_an_invalid_intake_shows_the_messages_next_to_the_fields(web, client_id, plugin_store):
    resp = web.post(f"/clients/{client_id}/intake",
                    data={**INTAKE, "goals-1-baseline": "12", "agreed_on": ""})
    assert resp.status_code == 422
    assert errors_in(resp.get_data(as_text=True)) == {
        "goals-1-baseline": ["Ratings are 0-10; got 12."],
        "agreed_on": ["Missing data for required field."]}
    resp = web.post(f"/clients/{client_id}/intake", data={**INTAKE, "review_cadence": "at-review"})
    assert errors_in(resp.get_data(as_text=True)) == {
        "review_date": ["A review date is needed when looking again 'at the planned review'."]}
    # a blank goal row is skipped, and an error on the goal after it still lands on its own row
    skipped = {k: v for k, v in INTAKE.items() if not k.startswith("goals-1-")}
    skipped.update({"goals-2-words": "Walk daily", "goals-2-whose": "client", "goals-2-baseline": "-1"})
    resp = web.post(f"/clients/{client_id}/intake", data=skipped)
    assert errors_in(resp.get_data(as_text=True)) == {"goals-2-baseline": ["Ratings are 0-10; got -1."]}
    assert plugin_store.load_state("clinic-x", client_id).intake is None


def test_a_saved_intake_is_recorded_and_shown_again(web, with_intake, plugin_store):
    intake = plugin_store.load_state("clinic-x", with_intake).intake
    assert [g.words for g in intake.goals] == ["Sleep through most nights", "Call my sister"]
    assert intake.answers["small_shift"] == "One good night"
    html = web.get(f"/clients/{with_intake}/intake").get_data(as_text=True)
    assert re.search(r'<textarea name="goals-1-words" id="goals-1-words" dir="auto"[^>]*>Call my sister</textarea>',
                     html)
    assert 'name="agreed" id="agreed" checked' in html


def test_the_intake_form_follows_the_conversation(web, client_id):
    html = unescape(web.get(f"/clients/{client_id}/intake").get_data(as_text=True))
    order = [html.index(f'data-field="{name}"') for name in ("hopes", "better_looks_like", "small_shift", "goals",
                                                              "holding_steady_counts", "agreed", "goals_reviewed")]
    assert order == sorted(order)
    assert "What do you hope to get from coming here?" in html and "(version 2.0.0)" in html


def test_an_intake_saved_without_agreement_is_a_draft_and_the_panel_says_so(web, client_id, plugin_store):
    unagreed = {k: v for k, v in INTAKE.items() if k != "agreed"}
    resp = web.post(f"/clients/{client_id}/intake", data={**unagreed, "agreed_on": "2026-01-08"},
                    follow_redirects=True)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Intake saved as a draft: not yet agreed." in html
    assert "not yet agreed" in html.split('data-panel="')[1]
    assert "agreed 8 January 2026" not in html
    assert plugin_store.load_state("clinic-x", client_id).intake.status == "draft"
    resp = web.post(f"/clients/{client_id}/intake", data={**INTAKE, "agreed_on": "2026-01-08"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Intake saved." in html and "agreed 8 January 2026" in html


def test_the_note_form_has_one_rating_row_per_goal_and_tags_by_category(web, with_intake):
    html = web.get(f"/clients/{with_intake}/notes/new").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    rows = re.findall(r'<div class="goalrow" data-goal="([^"]+)">', html)
    assert rows == ["g1", "g2"]
    g1 = html.split('data-goal="g1"')[1].split('data-goal="g2"')[0]
    assert '<label class="goalwords" for="rating-g1">Goal 1: <bdi>Sleep through most nights</bdi></label>' in g1
    assert re.findall(r'<option value="(\d*)"', g1) == [""] + [str(v) for v in range(11)]
    assert re.findall(r'<option value="([a-z]+)"', g1) == ["client", "therapist"]     # no carer for a client's goal
    assert re.findall(r'<fieldset class="tagcat" data-category="[^"]+">\s*<legend>([^<]+)<', html) == [
        "Movement", "Awareness", "Action", "Relationship", "Therapist"]
    assert '<label for="tag-let-go-of-fixing">Let go of fixing <span class="badge private">therapist only</span>' in html
    assert "<select name=\"tags-" not in html
    assert re.search(r'name="session_at" id="session_at" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', html)


def test_a_carer_s_goal_offers_the_carer_as_rater(web, client_id):
    intake = {**INTAKE, "goals-1-whose": "carer"}
    assert web.post(f"/clients/{client_id}/intake", data=intake).status_code == 302
    html = web.get(f"/clients/{client_id}/notes/new").get_data(as_text=True)
    g2 = html.split('data-goal="g2"')[1].split("</fieldset>")[0]
    assert re.findall(r'<option value="([a-z]+)"', g2) == ["client", "therapist", "carer"]


def test_a_note_with_two_ratings_and_no_tags_is_recorded(web, app, with_intake, plugin_store):
    resp = web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{
        "rating-g1": "6", "rater-g1": "client", "rating-g2": "4", "rater-g2": "therapist"}))
    assert resp.status_code == 302
    (note,) = app.extensions["notes_host"]["db"].notes(with_intake)
    assert note["tags"] == [] and [(r["goal"], r["value"]) for r in note["ratings"]] == [("g1", 6), ("g2", 4)]
    recorded = plugin_store.load_state("clinic-x", with_intake).notes[note["id"]]
    assert sorted((r.goal_id, r.value, r.rater) for r in recorded.ratings) == [
        ("g1", 6, "client"), ("g2", 4, "therapist")]
    # signing re-sends the stored ratings, so they stay
    assert web.post(f"/clients/{with_intake}/notes/{note['id']}/sign").status_code == 302
    signed = plugin_store.load_state("clinic-x", with_intake).notes[note["id"]]
    assert signed.signed is True and len(signed.ratings) == 2


def test_a_note_with_failing_fields_is_rejected_with_messages_at_the_fields_and_on_top(
        web, app, with_intake, plugin_store):
    resp = web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{
        "tag-made-up-tag": "on", "tag-setback": "on", "rating-g1": "12", "rating-g2": "3"}))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert errors_in(html) == {"rating-g1": ["Ratings are 0-10; got 12."]}
    summary = unescape(html.split('class="error-summary"')[1].split("</div>")[0])
    assert '<a href="#rating-g1">Rating for goal 1: Ratings are 0-10; got 12.</a>' in summary
    assert "ratings." not in summary and "made-up-tag" not in summary
    assert app.extensions["notes_host"]["db"].notes(with_intake) == []
    assert plugin_store.load_state("clinic-x", with_intake).notes == {}
    assert CANARY in unescape(html)   # the therapist's text is kept in the form
    assert 'id="tag-setback" aria-describedby="tag-setback-about" checked' in html
    # the carer, posted for a client's goal, is named at the rater of that goal
    resp = web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{"rating-g2": "3", "rater-g2": "carer"}))
    html = unescape(resp.get_data(as_text=True))
    errors = errors_in(html)
    assert list(errors) == ["rater-g2"] and errors["rater-g2"][0].startswith("Only a carer's goal is rated by the carer;")
    assert '<a href="#rater-g2">Who rated goal 2: Only a carer' in html and "rated_by" not in html
    # a missing session date is named by its label
    resp = web.post(f"/clients/{with_intake}/notes/new", data={**note_form(), "session_at": ""})
    html = unescape(resp.get_data(as_text=True))
    assert errors_in(html) == {"session_at": ["Give the session's date and time."]}
    assert '<a href="#session_at">Session date and time: Give the session' in html


def test_save_sign_and_delete_keep_host_and_plugin_in_step(web, app, with_intake, plugin_store, plugin_url):
    db = app.extensions["notes_host"]["db"]
    resp = web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{
        "tag-step-forward": "on", "rating-g1": "6", "tag-let-go-of-fixing": "on"}))
    assert resp.status_code == 302
    (note,) = db.notes(with_intake)
    assert note["text"] == CANARY and [t["code"] for t in note["tags"]] == ["step-forward", "let-go-of-fixing"]
    recorded = plugin_store.load_state("clinic-x", with_intake).notes[note["id"]]
    assert recorded.codes() == ("let-go-of-fixing", "step-forward")
    assert [(r.goal_id, r.value) for r in recorded.ratings] == [("g1", 6)]

    page = web.get(f"/clients/{with_intake}").get_data(as_text=True)
    assert '<section class="pp-panel"' in page and "Step forward" in page

    assert web.post(f"/clients/{with_intake}/notes/{note['id']}/sign").status_code == 302
    assert db.note(note["id"])["signed"] is True
    assert plugin_store.load_state("clinic-x", with_intake).notes[note["id"]].signed is True

    web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{"tag-setback": "on"}))
    other = next(n for n in db.notes(with_intake) if n["id"] != note["id"])
    assert web.post(f"/clients/{with_intake}/notes/{other['id']}/delete").status_code == 302
    assert db.note(other["id"]) is None
    assert set(plugin_store.load_state("clinic-x", with_intake).notes) == {note["id"]}

    # the note text lives only in the host's database
    engine = sa.create_engine(plugin_url)
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                assert "canary-7f3a" not in str(tuple(row)), table
    engine.dispose()


def test_a_psychotherapy_note_gets_no_picker_and_nothing_is_recorded(web, app, with_intake, plugin_store):
    html = web.get(f"/clients/{with_intake}/notes/new?type=psychotherapy-note").get_data(as_text=True)
    assert "data-picker" not in html and "No progress tags on this kind of note." in html
    resp = web.post(f"/clients/{with_intake}/notes/new", data={**note_form(), "type": "psychotherapy-note"},
                    follow_redirects=True)
    assert "Progress tags are not recorded for psychotherapy notes." in resp.get_data(as_text=True)
    (note,) = app.extensions["notes_host"]["db"].notes(with_intake)
    assert note["note_type"] == "psychotherapy-note"
    assert plugin_store.load_state("clinic-x", with_intake).notes == {}
    assert [r["action"] for r in plugin_store.audit_rows("clinic-x")].count("note.refuse") == 1


def test_the_admin_page_comes_from_the_plugin(web):
    html = web.get("/admin").get_data(as_text=True)
    assert 'data-admin-page="progress-vocabulary"' in html
    assert "<code>let-go-of-fixing</code>" in html


def test_the_admin_page_links_to_the_console_mounted_behind_the_hosts_login(web, plugin_store):
    """The host mounts the console with the function admin_pages names; its one user is the admin."""
    html = web.get("/admin?lang=hi").get_data(as_text=True)
    link = unescape(re.search(r'<p class="console-link"><a href="([^"]+)">([^<]+)</a>', html).group(1))
    assert link == "/progress-admin/clinics/clinic-x/?lang=hi"
    home = web.get(link).get_data(as_text=True)
    assert '<html lang="hi"' in home and "उदाहरण वाले थेरेपिस्ट" in home and 'href="/admin"' in home
    doc = web.get("/progress-admin/clinics/clinic-x/export/json").get_json(force=True)
    doc["tags"][0]["label"] = "Moved toward"
    page = web.get("/progress-admin/clinics/clinic-x/import").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    preview = web.post("/progress-admin/clinics/clinic-x/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(json.dumps(doc).encode()), "tags.json")}).get_data(as_text=True)
    fields = {name: unescape(re.search(rf'name="{name}" value="([^"]*)"', preview).group(1))
              for name in ("csrf_token", "content", "version")}
    r = web.post("/progress-admin/clinics/clinic-x/import/apply", data=fields, content_type="multipart/form-data")
    assert r.status_code == 303 and plugin_store.current_version("clinic-x") == 2
    assert plugin_store.audit_rows("clinic-x")[-1]["actor"] == "host:therapist-1"
    assert "Moved toward" in web.get("/admin").get_data(as_text=True)          # the hook's page reads it too


def test_a_persons_words_on_the_host_pages_are_bidi_isolated(web):
    """A name, goal words and note text holding U+202E sit inside <bdi>, so they cannot reorder the page."""
    name = "Robin \u202eniboR"
    client_id = web.post("/clients", data={"name": name}).location.rsplit("/", 1)[1]
    goal = "Sleep \u202ethrough"
    assert web.post(f"/clients/{client_id}/intake", data={**INTAKE, "goals-0-words": goal}).status_code == 302
    text = "Said \u202ethat it helped"
    assert web.post(f"/clients/{client_id}/notes/new", data={**note_form(), "text": text}).status_code == 302
    pages = {"clients": web.get("/").get_data(as_text=True),
             "client": web.get(f"/clients/{client_id}").get_data(as_text=True),
             "note": web.get(f"/clients/{client_id}/notes/new").get_data(as_text=True)}
    assert f"<bdi>{name}</bdi>" in pages["clients"] and f"<h1><bdi>{name}</bdi></h1>" in pages["client"]
    assert f"<title>\u2068{name}\u2069" in pages["client"]
    assert f"<td><bdi>{text}</bdi></td>" in pages["client"]
    assert f"Goal 1: <bdi>{goal}</bdi>" in pages["note"]
    for page in pages.values():
        # <bdi> here, U+2068...U+2069 in the plugin's SVG and tooltips; form controls are isolated by nature
        outside = re.sub(r"<bdi[^>]*>.*?</bdi>|\u2068.*?\u2069|<textarea[^>]*>.*?</textarea>", "", page, flags=re.S)
        assert "\u202e" not in outside


def test_old_notes_keep_the_labels_they_were_written_with(web, app, with_intake, plugin_store):
    """After a rename and a retire, the notes table shows each tag as it was when the note was written,
    through the tag_labels hook, and agrees with the panel's markers; never a raw code."""
    assert web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{
        "tag-feeling-more": "on", "tag-step-forward": "on"})).status_code == 302
    (note,) = app.extensions["notes_host"]["db"].notes(with_intake)
    assert note["vocabulary_version"] == 1
    v1 = plugin_store.vocabulary("clinic-x")
    v2 = plugin_store.save_vocabulary("clinic-x", v1.edit("step-forward", label="Moved toward"), "admin", "edit", v1_now())
    plugin_store.save_vocabulary("clinic-x", v2.retire("feeling-more"), "admin", "retire", v1_now())

    page = web.get(f"/clients/{with_intake}").get_data(as_text=True)
    table = page.split('<table id="notes">')[1].split("</table>")[0]
    assert re.findall(r'<span class="tagname"[^>]*>(.*?)</span>', table) == ["Step forward", "Feeling more"]   # in vocabulary order
    assert "feeling-more" not in table and "step-forward" not in table and "Moved toward" not in table
    # the panel (its tooltips and table) names the same tags the same way
    panel_html = page.split('<section class="panel"')[1]
    assert "Step forward (toward)" in panel_html and "Feeling more (mixed)" in panel_html
    assert "Moved toward" not in panel_html

    # signing after the retire keeps the version the note was saved with
    web.post(f"/clients/{with_intake}/notes/{note['id']}/sign")
    assert app.extensions["notes_host"]["db"].note(note["id"])["vocabulary_version"] == 1


def test_a_tag_renamed_then_retired_shows_the_label_of_the_notes_version(web, app, with_intake, plugin_store):
    v1 = plugin_store.vocabulary("clinic-x")
    plugin_store.save_vocabulary("clinic-x", v1.edit("setback", label="Step back"), "admin", "edit", v1_now())
    assert web.post(f"/clients/{with_intake}/notes/new", data=note_form(**{"tag-setback": "on"})).status_code == 302
    (note,) = app.extensions["notes_host"]["db"].notes(with_intake)
    assert note["vocabulary_version"] == 2
    plugin_store.save_vocabulary("clinic-x", plugin_store.vocabulary("clinic-x").retire("setback"), "admin", "retire",
                                 v1_now())
    page = web.get(f"/clients/{with_intake}").get_data(as_text=True)
    table = page.split('<table id="notes">')[1].split("</table>")[0]
    (shown,) = re.findall(r'<span class="tagname"[^>]*>(.*?)</span>', table)
    assert shown == "Step back"                     # retired only in version 3; the note was written at 2
    # a host asking at the latest version sees it retired
    (at3,) = app.extensions["notes_host"]["pm"].hook.tag_labels(locale=None, 
        clinic_id="clinic-x", pairs=[{"code": "setback", "version": 3}])["labels"]
    assert at3["status"] == "retired" and at3["label"] == "Step back"


def v1_now():
    from datetime import datetime, timezone
    return datetime(2026, 1, 20, tzinfo=timezone.utc)


def test_a_first_intake_offers_no_choice_between_fixing_and_replacing_a_goal(web, client_id):
    html = web.get(f"/clients/{client_id}/intake").get_data(as_text=True)
    assert "-change" not in html and 'name="goals-0-id"' not in html


@pytest.mark.parametrize("change", ["edit", "replaces"])
def test_editing_a_goal_s_words_fixes_the_wording_or_replaces_the_goal_as_chosen(web, with_intake, plugin_store,
                                                                                 change):
    html = web.get(f"/clients/{with_intake}/intake").get_data(as_text=True)
    for row in (0, 1):      # each saved goal: the choice, labelled, "fix the wording" by default
        assert re.search(rf'<label><input type="radio" name="goals-{row}-change" value="edit" checked> '
                         r'Fix the wording \(same goal\)</label>', html)
        assert re.search(rf'<label><input type="radio" name="goals-{row}-change" value="replaces"> '
                         r'This is a new goal that replaces it', html)
    assert 'name="goals-2-change"' not in html
    edited = {**INTAKE, "goals-0-id": "g1", "goals-1-id": "g2", "goals-0-change": change, "goals-1-change": "edit",
              "goals-0-words": "Sleep six hours on work nights"}
    html = web.post(f"/clients/{with_intake}/intake", data=edited, follow_redirects=True).get_data(as_text=True)
    goals = {g.words: g for g in plugin_store.load_state("clinic-x", with_intake).intake.goals}
    panel = html.split('data-panel="')[1]
    if change == "edit":
        assert sorted(goals) == ["Call my sister", "Sleep six hours on work nights"]
        assert goals["Sleep six hours on work nights"].id == "g1"
        assert "Sleep through most nights" not in panel
    else:
        old, new = goals["Sleep through most nights"], goals["Sleep six hours on work nights"]
        assert (old.id, old.status, old.replaced_by) == ("g1", "replaced", new.id)
        assert (new.status, new.replaces) == ("active", "g1") and new.id != "g1"
        assert goals["Call my sister"].status == "active" and len(goals) == 3
        assert "Sleep through most nights" in panel
    assert "Sleep six hours on work nights" in panel and "Call my sister" in panel
    # the form shown again keeps what the new goal replaces, so saving it unchanged changes nothing
    form = web.get(f"/clients/{with_intake}/intake").get_data(as_text=True)
    assert ('name="goals-0-replaces" value="g1"' in form) is (change == "replaces")


# -- languages: ?lang=, Accept-Language, the clinic's default; the host's own catalog -------------
HOST_CATALOGS = HOST_SOURCE / "translations"
HINDI_GOAL = "रात को चैन से सोना"
LATIN_WORD = re.compile(r"[A-Za-z]+")
#: Latin words a Hindi page may still hold: the language switch names English in English, and
#: CLDR's Hindi times say "am"/"pm".
LATIN_ALLOWED = {"English", "am", "pm"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt", "data-label")


class ShownText(HTMLParser):
    """The words a person sees or hears on a page: text, <title>, and the attributes that are read
    out or shown (aria-label, placeholder, title, alt, data-label). Scripts, styles, the plugin's
    panel and its admin page (the plugin's own tests check their words) are left out."""

    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []
        self.skip = 0               # depth inside <script>, <style> or the panel

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.skip or tag in ("script", "style") or "data-panel" in attrs or "data-admin-page" in attrs:
            if tag not in VOID:
                self.skip += 1
            return
        self.chunks += [attrs[a] for a in SHOWN_ATTRIBUTES if attrs.get(a)]

    def handle_startendtag(self, tag, attrs):
        if not self.skip:
            self.chunks += [v for a, v in attrs if a in SHOWN_ATTRIBUTES and v]

    def handle_endtag(self, tag):
        if self.skip and tag not in VOID:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.chunks.append(data)


def shown_text(html: str) -> list[str]:
    parser = ShownText()
    parser.feed(html)
    return parser.chunks


def readable_strings(found) -> set[str]:
    """Every label, help, title and description in a hook's answer (the plugin's words)."""
    out: set[str] = set()
    if isinstance(found, dict):
        for key, value in found.items():
            if key in ("label", "help", "title", "description") and isinstance(value, str) and value:
                out.add(value)
            else:
                out |= readable_strings(value)
    elif isinstance(found, list):
        for value in found:
            out |= readable_strings(value)
    return out


def host_msgids() -> list[str]:
    with open(HOST_CATALOGS / "notes_host.pot", "rb") as fh:
        return [m.id for m in read_po(fh) if m.id]


def english_left(html: str, removed) -> dict:
    """What is left in English on ``html`` once ``removed`` (the client's words and the plugin's
    own words) is taken out: msgids of the host's catalog found, and any other Latin words."""
    text = "\n".join(shown_text(html))
    for words in sorted(removed, key=len, reverse=True):
        text = text.replace(words, " ")
    found = [m for m in host_msgids()
             if re.search(r"(?<![A-Za-z])" + ".+?".join(re.escape(p) for p in re.split(r"\{\w+\}", m))
                          + r"(?![A-Za-z])", text)]
    return {"msgids": found, "latin": sorted(set(LATIN_WORD.findall(text)) - LATIN_ALLOWED)}


@pytest.fixture
def hindi_client(web):
    resp = web.post("/clients?lang=hi", data={"name": "Robin रवि"})
    assert resp.status_code == 302 and resp.location.endswith("?lang=hi")
    client_id = resp.location.split("?")[0].rsplit("/", 1)[1]
    intake = {**INTAKE, "goals-1-words": HINDI_GOAL}
    assert web.post(f"/clients/{client_id}/intake?lang=hi", data=intake).status_code == 302
    assert web.post(f"/clients/{client_id}/notes/new?lang=hi", data=note_form(**{
        "tag-setback": "on", "tag-let-go-of-fixing": "on", "rating-g1": "4"})).status_code == 302
    return client_id


def test_with_lang_hi_no_english_of_the_host_s_catalog_is_left_on_its_pages(web, app, hindi_client):
    hook = app.extensions["notes_host"]["pm"].hook
    plugin_words = set()
    plugin_words |= readable_strings(hook.intake_sections(locale="hi", clinic_id="clinic-x", client_id=hindi_client,
                                                          audience="therapist"))
    plugin_words |= readable_strings(hook.note_fields(locale="hi", clinic_id="clinic-x", client_id=hindi_client,
                                                      note_type="progress-note"))
    (note,) = app.extensions["notes_host"]["db"].notes(hindi_client)
    plugin_words |= readable_strings(hook.tag_labels(locale="hi", clinic_id="clinic-x", pairs=[
        {"code": t["code"], "version": note["vocabulary_version"]} for t in note["tags"]]))
    client_words = {"Robin रवि", INTAKE["goals-0-words"], HINDI_GOAL, INTAKE["small_shift"],
                    INTAKE["private_reflection"], CANARY[:80]}
    pages = {"intake": f"/clients/{hindi_client}/intake?lang=hi", "note": f"/clients/{hindi_client}/notes/new?lang=hi",
             "panel": f"/clients/{hindi_client}?lang=hi", "clients": "/?lang=hi", "admin": "/admin?lang=hi"}
    for name, url in pages.items():
        html = web.get(url).get_data(as_text=True)
        assert '<html lang="hi" dir="ltr">' in html, name
        left = english_left(html, plugin_words | client_words | {CANARY[:77] + "..."})
        assert left == {"msgids": [], "latin": []}, (name, left)
    # the check itself finds English: the same page in English is full of the host's msgids
    english = english_left(web.get(pages["note"].replace("lang=hi", "lang=en")).get_data(as_text=True),
                           plugin_words | client_words)
    assert {"Save note", "Session date and time", "rated by"} <= set(english["msgids"])
    assert "Save" in english["latin"]


def test_the_client_s_own_words_are_shown_as_written_with_dir_auto(web, hindi_client):
    note = web.get(f"/clients/{hindi_client}/notes/new?lang=hi").get_data(as_text=True)
    assert f"लक्ष्य 2: <bdi>{HINDI_GOAL}</bdi>" in note               # <bdi> isolates, with dir auto
    intake = web.get(f"/clients/{hindi_client}/intake?lang=hi").get_data(as_text=True)
    assert re.search(rf'<textarea name="goals-1-words" id="goals-1-words" dir="auto"[^>]*>{HINDI_GOAL}</textarea>',
                     intake)
    for tag in re.findall(r"<(?:textarea|input)\b[^>]*>", intake):
        if 'type="' not in tag or 'type="text"' in tag:
            assert 'dir="auto"' in tag, tag


def test_the_language_is_asked_then_accepted_then_the_clinic_s(tmp_path, plugin_url):
    app = create_host_app(str(tmp_path / "notes.db"), plugin_url, clinic_id="clinic-h", language="hi")
    try:
        web = app.test_client()
        lang_of = lambda resp: re.search(r'<html lang="(\w+)"', resp.get_data(as_text=True)).group(1)  # noqa: E731
        assert lang_of(web.get("/")) == "hi"                                         # the clinic's default
        assert lang_of(web.get("/", headers={"Accept-Language": "fr, de"})) == "hi"  # none the host speaks
        resp = web.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,hi;q=0.5"})
        assert lang_of(resp) == "en" and resp.headers["Content-Language"] == "en"
        assert "Accept-Language" in resp.headers["Vary"]
        resp = web.get("/?lang=hi", headers={"Accept-Language": "en"})               # ?lang= wins
        assert lang_of(resp) == "hi" and "क्लाइंट जोड़ें" in resp.get_data(as_text=True)
        assert lang_of(web.get("/?lang=hi-IN", headers={"Accept-Language": "en"})) == "hi"
        assert lang_of(web.get("/?lang=xx", headers={"Accept-Language": "en"})) == "en"
    finally:
        app.extensions["notes_host"]["pm"].get_plugin("progress").reset()


def test_accept_language_alone_gives_hindi_pages_and_hindi_from_the_hooks(web, with_intake):
    seen = spy_on_locales(web.application)
    resp = web.get(f"/clients/{with_intake}/notes/new", headers={"Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"})
    html = resp.get_data(as_text=True)
    assert '<html lang="hi"' in html and "नोट सेव करें" in html and "अंक नहीं दिए" in html
    assert seen and set(seen.values()) == {"hi"}


class LocaleSpy:
    """A plugin that answers nothing and notes the ``locale`` each hook was called with."""

    def __init__(self):
        self.seen: dict[str, str] = {}
        for name in ("intake_sections", "validate_intake", "intake_submitted", "note_fields", "validate_note",
                     "note_saved", "note_signed", "note_deleted", "chart_panels", "admin_pages", "tag_labels"):
            setattr(self, name, self._impl(name))

    def _impl(self, name):
        def impl(locale):
            self.seen[name] = locale
        impl.__name__ = name
        return HookimplMarker(hookspecs.PROJECT)(impl)


def spy_on_locales(app) -> dict[str, str]:
    spy = LocaleSpy()
    app.extensions["notes_host"]["pm"].register(spy, name="locale-spy")
    return spy.seen


def test_every_hook_the_host_calls_is_asked_in_the_page_s_language(web, app, client_id):
    seen = spy_on_locales(app)
    assert web.post(f"/clients/{client_id}/intake?lang=hi", data=INTAKE).status_code == 302
    web.get(f"/clients/{client_id}/intake?lang=hi")
    web.post(f"/clients/{client_id}/notes/new?lang=hi", data=note_form(**{"tag-setback": "on"}))
    (note,) = app.extensions["notes_host"]["db"].notes(client_id)
    web.post(f"/clients/{client_id}/notes/{note['id']}/sign?lang=hi")
    web.get(f"/clients/{client_id}?lang=hi")
    web.post(f"/clients/{client_id}/notes/{note['id']}/delete?lang=hi")
    web.get("/admin?lang=hi")
    assert seen == {name: "hi" for name in ("intake_sections", "validate_intake", "intake_submitted", "note_fields",
                                            "validate_note", "note_saved", "note_signed", "note_deleted",
                                            "chart_panels", "admin_pages", "tag_labels")}
    web.get("/admin?lang=en")
    assert seen["admin_pages"] == "en"


def test_lang_is_kept_in_every_link_form_and_redirect_and_the_switch_names_both_languages(web, with_intake):
    resp = web.post(f"/clients/{with_intake}/notes/new?lang=hi", data=note_form(**{"tag-setback": "on"}))
    assert resp.status_code == 302 and resp.location == f"/clients/{with_intake}?lang=hi"
    html = web.get(resp.location).get_data(as_text=True)
    assert '<p class="flash" role="status">नोट सेव हो गया।</p>' in html
    links = re.findall(r'(?:href|action)="(/[^"]*)"', html)
    ours = [u for u in links if not u.startswith("/static/")]
    assert ours and all("lang=hi" in u for u in ours if "lang=en" not in u), ours
    switch = re.search(r'<nav class="langs" aria-label="भाषा">(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+"( aria-current="true")?>([^<]+)</a>', switch) == [
        (f"/clients/{with_intake}?lang=en", "en", "", "English"),
        (f"/clients/{with_intake}?lang=hi", "hi", ' aria-current="true"', "हिन्दी")]
    # the note form keeps its own query (the note type) when switching language
    note = web.get(f"/clients/{with_intake}/notes/new?type=psychotherapy-note&lang=hi").get_data(as_text=True)
    assert unescape(f'href="/clients/{with_intake}/notes/new?type=psychotherapy-note&amp;lang=en"') in unescape(note)


# -- the intake's rules, as its Questionnaire carries them ----------------------------------
def test_the_intake_form_carries_the_questionnaire_s_rules(web, client_id):
    resp = web.get(f"/clients/{client_id}/intake")
    html = resp.get_data(as_text=True)
    for row in range(3):
        assert re.search(rf'<input type="number" name="goals-{row}-baseline" [^>]*min="0" max="10"', html)
        assert re.search(rf'<input type="number" name="goals-{row}-rank" [^>]*min="1" max="3"', html)
    assert html.count('<fieldset class="goal" ') == 3 and 'data-max-goals="3"' in html
    assert re.search(r'<textarea name="goals-0-words" [^>]*required', html)
    assert not re.search(r'<textarea name="goals-1-words" [^>]*required', html)          # goal 2 is optional
    assert 'data-field="review_date" data-shown-when="review_cadence" data-shown-value="at-review"' in html
    # help texts are hints tied to their control
    for field in definition()["fields"]:
        if field["type"] != "goals" and field["help"]:
            assert f'<p class="help" id="{field["id"]}-help">' in html
            assert re.search(rf'id="{field["id"]}"[^>]*aria-describedby="{field["id"]}-help"', html), field["id"]
    # the rules' script is a file of the host's own, and the page allows no inline script
    assert '<script src="/static/intake.js" defer></script>' in html and "<script>" not in html
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy
    assert web.get("/static/intake.js").status_code == 200


def test_the_panel_s_inline_script_is_allowed_by_its_hash_and_no_other(web, with_intake):
    resp = web.get(f"/clients/{with_intake}")
    html = resp.get_data(as_text=True)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert scripts
    policy = resp.headers["Content-Security-Policy"]
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert policy.split("script-src ")[1].split(";")[0].count("'sha256-") == len(set(scripts))


def test_a_crafted_fourth_goal_is_refused_next_to_the_goals(web, client_id, plugin_store):
    crafted = {**INTAKE, "goals-2-words": "Walk daily", "goals-2-whose": "client", "goals-2-baseline": "5",
               "goals-3-words": "A fourth goal", "goals-3-whose": "client", "goals-3-baseline": "4"}
    resp = web.post(f"/clients/{client_id}/intake", data=crafted)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert errors_in(html) == {"goals": ["Between 1 and 3 goals; goal 1 is required."]}
    goals = html.split('data-field="goals"')[1]
    assert goals.index('data-error-for="goals"') < goals.index('data-goal-row="0"')   # under the goals' legend
    assert re.search(r'<fieldset class="field goals" data-field="goals" [^>]*aria-describedby="goals-help goals-error"'
                     r' aria-invalid="true"', html)
    assert plugin_store.load_state("clinic-x", client_id).intake is None


def test_a_baseline_of_eleven_is_refused_next_to_it(web, client_id, plugin_store):
    resp = web.post(f"/clients/{client_id}/intake?lang=hi", data={**INTAKE, "goals-0-baseline": "11"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert list(errors_in(html)) == ["goals-0-baseline"]
    assert re.search(r'name="goals-0-baseline" [^>]*aria-describedby="goals-0-baseline-help goals-0-baseline-error"'
                     r' aria-invalid="true"', html)
    assert "कुछ जवाब एक बार फिर देख लें।" in html
    assert plugin_store.load_state("clinic-x", client_id).intake is None


def test_a_review_date_counts_only_when_looking_again_at_the_planned_review(web, client_id, plugin_store):
    resp = web.post(f"/clients/{client_id}/intake", data={**INTAKE, "review_date": "2026-03-01"})
    assert resp.status_code == 302                  # cadence "every 4 sessions": the date is not asked
    assert plugin_store.load_state("clinic-x", client_id).intake.review_date is None
    resp = web.post(f"/clients/{client_id}/intake",
                    data={**INTAKE, "review_cadence": "at-review", "review_date": "2026-03-01"})
    assert resp.status_code == 302
    assert str(plugin_store.load_state("clinic-x", client_id).intake.review_date) == "2026-03-01"


def test_words_for_another_way_count_only_when_that_way_is_chosen(web, client_id, plugin_store):
    said = {**INTAKE, "saying_not_working": "write-it-down", "saying_not_working_other": "A text to my sister"}
    assert web.post(f"/clients/{client_id}/intake", data=said).status_code == 302
    assert "saying_not_working_other" not in plugin_store.load_state("clinic-x", client_id).intake.answers
    assert web.post(f"/clients/{client_id}/intake", data={**said, "saying_not_working": "other"}).status_code == 302
    answers = plugin_store.load_state("clinic-x", client_id).intake.answers
    assert answers["saying_not_working_other"] == "A text to my sister"
    html = web.get(f"/clients/{client_id}/intake").get_data(as_text=True)
    assert re.search(r'<label class="other" for="saying_not_working_other" data-shown-when="saying_not_working" '
                     r'data-shown-value="other">', html)


def plugin_msgids() -> list[str]:
    """The plugin's catalog strings that Hindi says differently (a code such as 'FHIR' is the same)."""
    from progress_plugin import lang
    words = lang.words("hi")
    with open(lang.CATALOGS / "messages.pot", "rb") as fh:
        ids = [m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id]
    return [m for m in ids if re.search(r"[A-Za-z]{2}", re.sub(r"\{\w+\}", "", m)) and words.gettext(m) != m]


def test_with_lang_hi_the_plugins_own_words_on_the_intake_note_and_panel_pages_are_hindi(web, hindi_client):
    """Only the client's own words stay as written: every label, help text, option, tag, heading and
    sentence the plugin gives the host's intake, note and client pages is Hindi."""
    client_words = {"Robin रवि", INTAKE["goals-0-words"], HINDI_GOAL, INTAKE["small_shift"],
                    INTAKE["private_reflection"], CANARY[:80], CANARY[:77] + "..."} | {v for k, v in INTAKE.items() if k in ("hopes", "better_looks_like", "if_stirred_up", "therapist_view")}
    ids = plugin_msgids()
    pages = {"intake": f"/clients/{hindi_client}/intake?lang=hi", "note": f"/clients/{hindi_client}/notes/new?lang=hi",
             "panel": f"/clients/{hindi_client}?lang=hi"}
    for name, url in pages.items():
        text = "\n".join(shown_text(web.get(url).get_data(as_text=True)))
        for words in sorted(client_words, key=len, reverse=True):
            text = text.replace(words, " ")
        found = [m for m in ids
                 if re.search(r"(?<![A-Za-z])" + ".+?".join(re.escape(p) for p in re.split(r"\{\w+\}", m))
                              + r"(?![A-Za-z])", text)]
        assert found == [] and sorted(set(LATIN_WORD.findall(text)) - LATIN_ALLOWED) == [], (name, found)
    # the check finds English where there is English: the same intake page asked for in English
    text = "\n".join(shown_text(web.get(pages["intake"].replace("lang=hi", "lang=en")).get_data(as_text=True)))
    assert "What do you hope to get from coming here?" in text and "What do you hope to get from coming here?" in ids


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_check_in_link_button_shows_the_link_and_its_qr_code(web, with_intake, plugin_store, language):
    page = web.get(f"/clients/{with_intake}?lang={language}").get_data(as_text=True)
    action = f'action="/clients/{with_intake}/checkin-link?lang={language}"'
    assert f'<form class="inline" method="post" {action}>' in page and "<svg" not in page.split("<section")[0]
    resp = web.post(f"/clients/{with_intake}/checkin-link?lang={language}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert f'<html lang="{language}"' in html
    url = re.search(r'<a class="checkin-url" href="([^"]+)">', html).group(1)
    assert re.fullmatch(r"http://localhost/c/[A-Za-z0-9_-]{20,}", url)
    qr = html.split('<div class="qr-code">')[1].split("</div>")[0]
    assert qr.lstrip().startswith('<svg viewBox="') and 'class="qr"' in qr and "<script" not in qr
    heading = {"en": "Check-in link", "hi": "चेक-इन लिंक"}[language]
    assert f'<h2 id="checkin-link-heading">{heading}</h2>' in html
    with plugin_store.engine.connect() as c:            # one link for this client, its token never stored
        rows = c.execute(sa.text("SELECT client_id FROM checkin_links")).all()
    assert rows == [(with_intake,)]
    assert url.rsplit("/", 1)[1] not in json.dumps([list(r) for r in rows])
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "img-src 'self' data:" in csp   # the svg is markup, not a script


def test_no_check_in_link_before_the_plugin_knows_the_client(web, client_id, plugin_store):
    resp = web.post(f"/clients/{client_id}/checkin-link", follow_redirects=True)
    assert "No check-in link yet: save the intake first." in resp.get_data(as_text=True)
    with plugin_store.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM checkin_links")).scalar() == 0

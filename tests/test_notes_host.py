"""The example notes host (examples/notes_host), through Flask's test client."""
from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa

from examples.notes_host import create_host_app
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
    assert 'name="goals-1-words" id="goals-1-words">Call my sister</textarea>' in html
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
    assert "agreed 8 Jan 2026" not in html
    assert plugin_store.load_state("clinic-x", client_id).intake.status == "draft"
    resp = web.post(f"/clients/{client_id}/intake", data={**INTAKE, "agreed_on": "2026-01-08"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Intake saved." in html and "agreed 8 Jan 2026" in html


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
        outside = re.sub(r"<bdi>.*?</bdi>|\u2068.*?\u2069|<textarea[^>]*>.*?</textarea>", "", page, flags=re.S)
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

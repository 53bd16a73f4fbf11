"""The console's tag pages: the list by category with each language's label, adding and editing a tag
through the API's schemas, the category typo (console, API, command line, import), retiring and
restoring with what it means, two admins at once, the picker's preview, viewers and form tokens."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from progress_plugin import schemas
from progress_plugin.core.vocabulary import Tag, default
from progress_plugin.service.runtime import Runtime

from tests.test_console import A, app, clock, creds, form_token, signed_in  # noqa: F401  (fixtures)
from tests.test_vocab_cli import cli  # noqa: F401  (fixture)

TAGS = f"/admin/clinics/{A}/tags"
NEW = f"{TAGS}/new"
PICKER = f"/admin/clinics/{A}/picker"
API = f"/clinics/{A}/vocabulary"


class Form(HTMLParser):
    """The fields a browser would send from the form whose action starts with ``action``."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.fields = action, False, {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action", "").startswith(self.action)
        elif not self.inside:
            return
        elif tag == "input" and a.get("type") in ("radio", "checkbox"):
            if "checked" in a:
                self.fields[a["name"]] = a.get("value", "on")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_of(html: str, action: str) -> dict:
    parser = Form(action)
    parser.feed(html)
    return parser.fields


def text_of(html: str) -> str:
    """The page's words, without tags, entities undone and spaces collapsed."""
    from html import unescape
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def add_form(client, **values) -> dict:
    page = client.get(NEW).get_data(as_text=True)
    return {**form_of(page, NEW), **values}


def current(app):
    return app.extensions["progress_plugin"].store.vocabulary(A)


def tag_notes(store, now, counts: dict) -> None:
    """Notes of client c1 carrying the given codes: ``{code: how many notes}``."""
    runtime, n = Runtime(store, clock=lambda: now), 0
    for code, times in counts.items():
        for _ in range(times):
            n += 1
            at = f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00"
            runtime.dispatch(schemas.load(schemas.note_schema, {
                "clinic_id": A, "client_id": "c1", "note_id": f"n{n}", "session_at": at, "author": "t1", "at": at,
                "signed": True, "tags": [{"code": code, "goals": [], "ratings": []}]}))


# -- the list --------------------------------------------------------------------------------
def test_the_tags_page_groups_tags_with_every_language_and_flags_what_is_missing(app, creds, sqlite_store, now):
    tag_notes(sqlite_store, now, {"setback": 3, "repair": 1})
    new = current(app).add(Tag("quiet", "Quiet session", "", "movement", "none"))
    sqlite_store.save_vocabulary(A, new, "cli:sam", "add quiet", now)
    client = signed_in(app, creds)
    html = client.get(TAGS).get_data(as_text=True)
    words = text_of(html)
    assert re.findall(r'<h2 id="cat-\d+">([^<]+)</h2>', html) == ["Movement", "Awareness", "Action", "Relationship",
                                                                    "Therapist"]
    card = html[html.index('id="tag-setback"'):html.index('id="tag-came-back"')]
    assert 'class="dir dir-away"' in card and '<span lang="hi" dir="auto">एक कदम पीछे</span>' in card
    assert "3 notes carry it" in text_of(card) and "1 note carries it" in text_of(html[html.index('id="tag-repair"'):])
    quiet = text_of(html[html.index('id="tag-quiet"'):html.index('id="tag-noticing-more"')])
    assert "हिन्दी: No label yet shows “Quiet session”" in quiet           # said in words, not only a colour
    assert "1 tag in use has no label in हिन्दी yet." in words
    assert f'href="{TAGS}/setback/edit"' in card and f'href="{TAGS}/setback/retire"' in card
    assert "Role strain (stays open until a repair)" in text_of(html[html.index('id="tag-strain-noticed"'):])
    assert f'href="{NEW}"' in html and f'href="{PICKER}"' in html


# -- add and edit ----------------------------------------------------------------------------
def test_an_admin_adds_a_tag_with_a_hindi_label(app, creds, sqlite_store):
    client = signed_in(app, creds)
    page = client.get(NEW).get_data(as_text=True)
    assert '<select id="category" name="category"' in page and '<input type="radio" id="direction-toward"' in page
    assert 'id="label_hi" name="label_hi"' in page and 'lang="hi"' in page and '<label for="label_hi">' in page
    assert "Label in English (the clinic's default language)" in page         # the clinic speaks English
    assert 'name="version" value="1"' in page and 'novalidate' in page
    r = client.post(NEW, data=add_form(client, label_en="Named a need", label_hi="ज़रूरत बताई",
                                       description_en="Said what they need.", category="relationship",
                                       direction="toward"))
    assert r.status_code == 303 and r.headers["Location"] == f"{TAGS}#tag-named-a-need"
    tag = current(app).resolve("named-a-need")                             # the code made from the English label
    assert (tag.label, dict(tag.labels), tag.category, tag.direction, tag.role) == (
        "Named a need", {"hi": "ज़रूरत बताई"}, "relationship", "toward", None)
    assert current(app).version == 2
    listing = client.get(TAGS).get_data(as_text=True)
    assert "Added the tag “Named a need”. The vocabulary is now at version 2." in listing
    assert '<span lang="hi" dir="auto">ज़रूरत बताई</span>' in listing
    (row,) = [r for r in sqlite_store.history(A) if r["version"] == 2]
    assert row["by"] == f"token:{creds['admin'][0]}" and row["change"] == "add named-a-need"


def test_the_clinics_default_language_is_marked_on_the_form(app, creds, sqlite_store, now):
    sqlite_store.ensure_clinic(A, now, language="hi")
    client = signed_in(app, creds)
    page = client.get(NEW + "?lang=en").get_data(as_text=True)
    assert "Label in हिन्दी (the clinic's default language)" in page
    assert "Label in English (the clinic" not in page


def test_an_edit_sends_only_what_changed(app, creds, sqlite_store):
    client = signed_in(app, creds)
    page = client.get(f"{TAGS}/step-forward/edit").get_data(as_text=True)
    fields = form_of(page, f"{TAGS}/step-forward/edit")
    assert fields["label_en"] == "Step forward" and fields["label_hi"] == "एक कदम आगे" and fields["direction"] == "toward"
    assert fields["category"] == "movement" and fields["role"] == "none" and fields["version"] == "1"
    assert 'name="code"' not in page                                       # codes never change
    r = client.post(f"{TAGS}/step-forward/edit", data={**fields, "label_en": "A step ahead", "label_hi": ""})
    assert r.status_code == 303
    changes = sqlite_store.vocabulary(A, 1).diff(current(app))
    assert changes["edited"] == [{"code": "step-forward", "fields": {"label": ["Step forward", "A step ahead"],
                                                                     "labels.hi": ["एक कदम आगे", None]}}]
    assert "Saved the tag “A step ahead”." in client.get(TAGS).get_data(as_text=True)
    r = client.post(f"{TAGS}/step-forward/edit", data={**fields, "version": "2", "label_en": "A step ahead",
                                                         "label_hi": ""})
    assert r.status_code == 422 and "Nothing was changed." in r.get_data(as_text=True)


def test_a_field_error_sits_beside_its_field_and_the_form_keeps_what_was_typed(app, creds):
    client = signed_in(app, creds)
    data = add_form(client, code="step-back", label_en="Setback", label_hi="नया लेबल",
                    description_en="Typed with care.", category="movement", direction="away", role="strain")
    r = client.post(NEW, data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    error = re.search(r'<p class="error" id="label_en-error">(.*?)</p>', html, re.S).group(1)
    assert "Label &#39;Setback&#39; is already used in category &#39;movement&#39; by tag &#39;setback&#39;" in error
    assert re.search(r'<input id="label_en"[^>]*aria-describedby="label_en-hint label_en-error" aria-invalid="true"', html)
    assert '<a href="#label_en">' in html                                      # the summary links to it
    kept = form_of(html, NEW)
    assert (kept["label_en"], kept["label_hi"], kept["description_en"], kept["category"], kept["direction"],
            kept["role"], kept["code"]) == ("Setback", "नया लेबल", "Typed with care.", "movement", "away", "strain",
                                            "step-back")
    r = client.post(NEW, data={**data, "direction": "", "label_en": "Fine label", "code": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and re.search(r'<p class="error" id="direction-error">.*Choose a direction\.</p>', html)
    assert '<a href="#direction-toward">' in html and 'aria-describedby="direction-hint direction-error"' in html
    assert form_of(html, NEW)["label_hi"] == "नया लेबल"
    assert current(app).version == 1


@pytest.mark.parametrize("field,value,problem", [
    ("label_hi", "x" * 81, "label_hi"), ("code", "has space", "code"), ("direction", "sideways", "direction"),
    ("role", "boss", "role"), ("category", "", "category")])
def test_each_field_is_checked_by_the_apis_schema(app, creds, field, value, problem):
    client = signed_in(app, creds)
    data = add_form(client, label_en="Fine label", category="action", direction="toward")
    r = client.post(NEW, data={**data, field: value})
    assert r.status_code == 422 and f'id="{problem}-error"' in r.get_data(as_text=True)
    assert current(app).version == 1


# -- the category typo -------------------------------------------------------------------------
SUGGESTION = "Unknown category 'relationships'. Did you mean 'relationship'?"


def test_a_category_typo_is_refused_in_the_console_with_the_closest_one(app, creds):
    client = signed_in(app, creds)
    r = client.post(NEW, data=add_form(client, label_en="Named a need", category="relationships", direction="toward"))
    error = re.search(r'<p class="error" id="category-error">(.*?)</p>', r.get_data(as_text=True), re.S).group(1)
    assert r.status_code == 422 and SUGGESTION.replace("'", "&#39;") in error
    fields = form_of(client.get(f"{TAGS}/repair/edit").get_data(as_text=True), f"{TAGS}/repair/edit")
    r = client.post(f"{TAGS}/repair/edit", data={**fields, "category": "relationships"})
    assert r.status_code == 422 and 'id="category-error"' in r.get_data(as_text=True)
    assert current(app).version == 1


def test_a_new_category_is_made_in_the_console_only_when_asked_for(app, creds):
    client = signed_in(app, creds)
    r = client.post(NEW, data=add_form(client, label_en="Family came", category="_new", new_category="",
                                       direction="none"))
    assert r.status_code == 422 and "Name the new category." in r.get_data(as_text=True)
    r = client.post(NEW, data=add_form(client, label_en="Family came", category="_new", new_category="Family work",
                                       direction="none"))
    assert r.status_code == 303 and current(app).resolve("family-came").category == "family-work"
    page = client.get(NEW).get_data(as_text=True)
    assert '<option value="family-work">Family work</option>' in page     # now a category like the others


def test_a_category_typo_is_refused_by_the_api_and_allowed_with_new_category(app, creds):
    client = app.test_client()
    auth = {"Authorization": f"Bearer {creds['admin'][1]}"}
    tag = {"code": "named-a-need", "label": "Named a need", "category": "relationships", "direction": "toward"}
    r = client.post(f"{API}/tags", json=tag, headers={**auth, "If-Match": '"1"'})
    assert r.status_code == 422 and r.json["json"]["category"][0] == SUGGESTION
    r = client.post(f"{API}/tags?lang=hi", json=tag, headers={**auth, "If-Match": '"1"'})
    assert r.status_code == 422 and "relationship" in r.json["json"]["category"][0]
    assert r.json["json"]["category"][0] != SUGGESTION                      # said in Hindi
    r = client.patch(f"{API}/tags/repair", json={"category": "relationships"}, headers={**auth, "If-Match": '"1"'})
    assert r.status_code == 422 and r.json["json"]["category"][0] == SUGGESTION
    r = client.post(f"{API}/tags", json={**tag, "new_category": True}, headers={**auth, "If-Match": '"1"'})
    assert r.status_code == 201 and r.json["tag"]["category"] == "relationships"
    r = client.patch(f"{API}/tags/repair", json={"category": "repairs", "new_category": True},
                     headers={**auth, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json["tag"]["category"] == "repairs"


def test_a_category_typo_in_an_import_is_refused_at_its_path(app, creds):
    client = app.test_client()
    auth = {"Authorization": f"Bearer {creds['admin'][1]}", "If-Match": '"1"'}
    doc = {"format": "progress-plugin/vocabulary", "tags": [
        {**t.as_dict(), "category": "movment" if t.code == "setback" else t.category} for t in default().tags]}
    r = client.post(f"{API}/import", json=doc, headers=auth)
    problems = r.json["json"]["tags"]["3"]["category"]
    assert r.status_code == 422 and problems[0].endswith("Unknown category 'movment'. Did you mean 'movement'?")
    assert problems[0].startswith("line ")
    r = client.post(f"{API}/import?new_category=true", json=doc, headers=auth)
    assert r.status_code == 200 and current(app).resolve("setback").category == "movment"


def test_a_category_typo_is_refused_by_the_command_line_and_allowed_with_new_category(cli, tmp_path):
    c = ["--clinic", "clinic-a"]
    cli("clinics", "add", "clinic-a")
    r = cli("vocab", "add", "named-a-need", "--label", "Named a need", "--category", "relationships",
            "--direction", "toward", *c, ok=False)
    assert r.exit_code == 2 and f"error: category: {SUGGESTION}" in r.output and "--new-category" in r.output
    r = cli("vocab", "edit", "repair", "--category", "relationships", *c, ok=False)
    assert r.exit_code == 2 and SUGGESTION in r.output
    assert "version 2" in cli("vocab", "add", "named-a-need", "--label", "Named a need", "--category",
                              "relationships", "--new-category", "--direction", "toward", *c).output
    cli("vocab", "edit", "repair", "--category", "relationships", *c)       # a category the vocabulary has now
    doc = tmp_path / "tags.json"
    exported = json.loads(cli("vocab", "export", *c).output)
    exported["tags"][0]["category"] = "grief"
    doc.write_text(json.dumps(exported), encoding="utf-8")
    r = cli("vocab", "import", str(doc), *c, ok=False)
    assert r.exit_code == 2 and "tags.0.category" in r.output and "Unknown category 'grief'" in r.output
    assert "imported" in cli("vocab", "import", str(doc), "--new-category", *c).output


# -- retire and restore ------------------------------------------------------------------------
@pytest.mark.parametrize("code,expected,hindi", [
    ("setback", "12 notes carry this tag; they keep their meaning. Once retired, it can no longer be applied",
     "12 नोट"),
    ("came-back", "1 note carries this tag; it keeps its meaning. Once retired, it can no longer be applied",
     "1 नोट"),
    ("repair", "No note carries this tag yet. Once retired, it can no longer be applied", None)])
def test_retiring_first_says_what_it_means_with_the_right_plural(app, creds, sqlite_store, now, code, expected,
                                                                  hindi):
    tag_notes(sqlite_store, now, {"setback": 12, "came-back": 1})
    client = signed_in(app, creds)
    page = client.get(f"{TAGS}/{code}/retire")
    assert page.status_code == 200 and expected in text_of(page.get_data(as_text=True))
    assert 'name="version" value="1"' in page.get_data(as_text=True) and current(app).resolve(code).active
    if hindi:
        said = text_of(client.get(f"{TAGS}/{code}/retire?lang=hi").get_data(as_text=True))
        assert hindi in said and "carry" not in said


def test_retire_then_restore(app, creds, sqlite_store, now):
    tag_notes(sqlite_store, now, {"setback": 2})
    client = signed_in(app, creds)
    fields = form_of(client.get(f"{TAGS}/setback/retire").get_data(as_text=True), f"{TAGS}/setback/retire")
    r = client.post(f"{TAGS}/setback/retire", data=fields)
    assert r.status_code == 303 and r.headers["Location"] == f"{TAGS}#tag-setback"
    assert not current(app).resolve("setback").active
    listing = client.get(TAGS).get_data(as_text=True)
    assert "Retired the tag “Setback”. Notes that carry it keep it" in listing
    assert f'href="{TAGS}/setback/restore"' in listing and f'href="{TAGS}/setback/retire"' not in listing
    assert "Setback" not in text_of(client.get(PICKER).get_data(as_text=True))
    again = client.post(f"{TAGS}/setback/retire", data={**fields, "version": "2"})
    assert again.status_code == 409 and "This tag is already retired" in again.get_data(as_text=True)
    page = client.get(f"{TAGS}/setback/restore").get_data(as_text=True)
    assert "2 notes carry this tag. Once restored, it can be applied again." in text_of(page)
    r = client.post(f"{TAGS}/setback/restore", data=form_of(page, f"{TAGS}/setback/restore"))
    assert r.status_code == 303 and current(app).resolve("setback").active and current(app).version == 3
    assert "Restored the tag “Setback”. It can be applied again." in client.get(TAGS).get_data(as_text=True)


# -- who may do what ---------------------------------------------------------------------------
WRITES = [(NEW, {"label_en": "x", "category": "action", "direction": "none"}),
          (f"{TAGS}/setback/edit", {"label_en": "y"}), (f"{TAGS}/setback/retire", {}),
          (f"{TAGS}/came-back/restore", {})]


def test_a_viewer_sees_no_write_controls_and_gets_403_on_every_write(app, creds):
    client = signed_in(app, creds, "viewer")
    html = client.get(TAGS).get_data(as_text=True)
    assert html.count("<form") == 1 and f'href="{NEW}"' not in html and "/edit" not in html and "/retire" not in html
    assert client.get(PICKER).status_code == 200                      # a viewer may look at the picker
    token = form_token(client, TAGS)
    for url in (NEW, f"{TAGS}/setback/edit", f"{TAGS}/setback/retire", f"{TAGS}/came-back/restore"):
        assert client.get(url).status_code == 403, url
    for url, data in WRITES:
        assert client.post(url, data={**data, "version": "1", "csrf_token": token}).status_code == 403, url
    assert current(app).version == 1


def test_forms_without_a_valid_form_token_are_refused(app, creds):
    client = signed_in(app, creds)
    for url, data in WRITES:
        for extra in ({}, {"csrf_token": "IjEyMyI.abc.def"}):
            r = client.post(url, data={**data, "version": "1", **extra})
            assert r.status_code == 400 and "This form had expired" in r.get_data(as_text=True), url
    assert current(app).version == 1


def test_another_clinics_admin_gets_404_on_every_tag_page(app, creds):
    client = signed_in(app, creds, "b-admin")
    token = form_token(client, "/admin/clinics/clinic-b/tags")
    for url in (TAGS, NEW, f"{TAGS}/setback/edit", f"{TAGS}/setback/retire", PICKER):
        assert client.get(url).status_code == 404, url
    for url, data in WRITES:
        assert client.post(url, data={**data, "version": "1", "csrf_token": token}).status_code == 404, url
    assert current(app).version == 1


# -- two admins at once ------------------------------------------------------------------------
def test_a_stale_edit_loses_nothing_and_is_applied_again_with_one_button(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    url = f"{TAGS}/step-forward/edit"
    mine = {**form_of(client.get(url).get_data(as_text=True), url), "label_en": "A step ahead",
            "description_hi": "मेरा विवरण"}
    v = sqlite_store.vocabulary(A)                                         # meanwhile, someone else:
    v = sqlite_store.save_vocabulary(A, v.edit("step-forward", description="Moved toward a hope.", direction="mixed"),
                                     "cli:sam", "edit step-forward", now)
    sqlite_store.save_vocabulary(A, v.retire("setback"), "cli:sam", "retire setback", now)
    r = client.post(url, data=mine)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and current(app).version == 3                 # nothing saved
    said = text_of(html)
    assert "The tags changed while this page was open" in said and "opened on version 1" in said
    assert "Retired the tag “Setback”." in said
    assert ("Changed the description of “Step forward”: “Something moved toward what the client hopes for.” became "
            "“Moved toward a hope.”.") in said
    assert "Changed the direction of “Step forward”: “step toward” became “mixed”." in said
    shown = form_of(html, url)
    assert (shown["label_en"], shown["description_hi"]) == ("A step ahead", "मेरा विवरण")     # mine, kept
    assert (shown["description_en"], shown["direction"]) == ("Moved toward a hope.", "mixed")   # theirs, kept
    assert shown["version"] == "3" and "Apply my changes to version 3" in said
    r = client.post(url, data=shown)                                       # the one button
    assert r.status_code == 303
    tag = current(app).resolve("step-forward")
    assert (tag.label, tag.description, tag.direction, dict(tag.descriptions)["hi"]) == (
        "A step ahead", "Moved toward a hope.", "mixed", "मेरा विवरण")
    assert not current(app).resolve("setback").active and current(app).version == 4


def test_a_field_both_admins_changed_shows_theirs_beside_mine(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    url = f"{TAGS}/setback/edit"
    mine = {**form_of(client.get(url).get_data(as_text=True), url), "label_en": "A step back"}
    sqlite_store.save_vocabulary(A, sqlite_store.vocabulary(A).edit("setback", label="Step back"), "cli:sam",
                                 "edit setback", now)
    html = client.post(url, data=mine).get_data(as_text=True)
    assert re.search(r'<p class="conflict" id="label_en-conflict">Someone else changed this too: it is now '
                     r'“Step back”', html)
    assert 'aria-describedby="label_en-hint label_en-conflict"' in html
    assert form_of(html, url)["label_en"] == "A step back"


def test_a_stale_add_and_a_stale_retire_are_shown_again(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    data = add_form(client, label_en="Named a need", label_hi="ज़रूरत बताई", category="relationship",
                    direction="toward")
    retire = form_of(client.get(f"{TAGS}/setback/retire").get_data(as_text=True), f"{TAGS}/setback/retire")
    sqlite_store.save_vocabulary(A, sqlite_store.vocabulary(A).retire("came-back"), "cli:sam", "retire", now)
    r = client.post(NEW, data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "Retired the tag “Came back after a tough session”." in html
    kept = form_of(html, NEW)
    assert (kept["label_hi"], kept["category"], kept["direction"], kept["version"]) == (
        "ज़रूरत बताई", "relationship", "toward", "2")
    assert client.post(NEW, data=kept).status_code == 303 and current(app).resolve("named-a-need").active
    r = client.post(f"{TAGS}/setback/retire", data=retire)
    assert r.status_code == 409 and 'name="version" value="3"' in r.get_data(as_text=True)
    assert current(app).resolve("setback").active


def test_a_form_with_no_version_is_refused(app, creds):
    client = signed_in(app, creds)
    data = add_form(client, label_en="Named a need", category="relationship", direction="toward")
    for version in ("", "x", "0", "99999999999"):
        assert client.post(NEW, data={**data, "version": version}).status_code == 400
    assert client.post(NEW, data={**data, "version": "7"}).status_code == 404      # no such version
    assert current(app).version == 1


# -- the preview -------------------------------------------------------------------------------
def test_the_preview_shows_the_picker_as_a_therapist_sees_it(app, creds, sqlite_store, now):
    v = sqlite_store.vocabulary(A).retire("came-back")
    v = sqlite_store.save_vocabulary(A, v, "cli:sam", "retire came-back", now)
    quiet = Tag("quiet", "Quiet session", "", "action", "steady")
    sqlite_store.save_vocabulary(A, v.add(quiet), "cli:sam", "add quiet", now)
    client = signed_in(app, creds, "viewer")
    html = client.get(PICKER + "?language=hi").get_data(as_text=True)
    section = html[html.index('<section class="picker" lang="hi"'):]
    assert re.findall(r"<legend>([^<]+)</legend>", section) == ["उतार-चढ़ाव", "एहसास", "कदम उठाना", "रिश्ता", "थेरेपिस्ट"]
    labels = re.findall(r'<label for="pick-([^"]+)">', section)
    assert labels == [t.code for tags in current(app).by_category().values() for t in tags]
    assert "came-back" not in labels and labels.index("quiet") == labels.index("tried-something-new") + 1
    assert '<span dir="auto">एक कदम आगे</span>' in section
    assert '<span dir="auto">Quiet session</span>' in section              # no Hindi label: the base one
    strain = section[section.index('for="pick-strain-noticed"'):section.index('id="pick-repair"')]
    assert "सिर्फ़ थेरेपिस्ट के लिए" in strain or 'class="badge"' in strain
    assert "1 retired tag is not offered." in text_of(html)
    english = client.get(PICKER).get_data(as_text=True)
    assert '<section class="picker" lang="en"' in english and "Step forward" in english
    assert '<option value="hi" lang="hi" selected>' in html


# -- old notes keep their meaning ----------------------------------------------------------------
def test_a_note_tagged_before_a_rename_keeps_its_old_label_in_the_panel(app, creds, sqlite_store, now):
    tag_notes(sqlite_store, now, {"step-forward": 1})
    client = signed_in(app, creds)
    url = f"{TAGS}/step-forward/edit"
    fields = form_of(client.get(url).get_data(as_text=True), url)
    assert client.post(url, data={**fields, "label_en": "A step ahead"}).status_code == 303
    bearer = {"Authorization": f"Bearer {creds['viewer'][1]}"}
    panel = app.test_client().get(f"/clinics/{A}/clients/c1/progress.json", headers=bearer)
    assert [m["label"] for m in panel.json["markers"]] == ["Step forward"]
    labels = app.test_client().post(f"/clinics/{A}/tag-labels", headers=bearer, json={"pairs": [
        {"code": "step-forward", "version": 1}, {"code": "step-forward", "version": 2}]})
    assert [item["label"] for item in labels.json["labels"]] == ["Step forward", "A step ahead"]

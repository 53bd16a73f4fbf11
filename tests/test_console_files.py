"""The console's history, diff, import and export pages: versions with who and when, two versions side
by side, an import checked in full (every problem with its line and path, nothing changed), previewed,
then applied; a stale preview; exports that match `vocab export`; viewers and form tokens."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from progress_plugin.cli.main import main
from progress_plugin.core.vocabulary import Tag
from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.store import tokens

from tests.test_console import Clock, form_token, make_app, sign_in

A = "clinic-a"
BASE = f"/admin/clinics/{A}"
LONG = "x" * 81


@pytest.fixture
def clock(now):
    return Clock(now)


@pytest.fixture
def app(sqlite_store, clock):
    return make_app(sqlite_store, clock)


@pytest.fixture
def creds(sqlite_store, now):
    sqlite_store.ensure_clinic(A, now)
    return {name: tokens.create(sqlite_store, A, role, label, now)
            for name, role, label in [("admin", "admin", "Practice manager"), ("viewer", "viewer", "Dr Meera Kapoor")]}


def browser(app, creds, who="admin"):
    client = app.test_client()
    assert sign_in(client, creds[who][1]).status_code == 303
    return client


class Page(HTMLParser):
    """The text of a page's parts the tests read: each compared tag (heading and rows of its table) and
    each row of the problems table."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[dict] = []
        self.problems: list[list[str]] = []
        self._in, self._cell, self._row, self._heading = None, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") in ("sides", "problems"):
            self._in = attrs["class"]
        elif tag == "h3" and self._in is None:
            self._heading = []
        elif tag == "tr" and self._in:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "h3" and self._heading is not None:
            self.tags.append({"heading": " ".join("".join(self._heading).split()), "rows": []})
            self._heading = None
        elif tag in ("th", "td") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._in == "sides" and self._row[0] != "Field":
                self.tags[-1]["rows"].append(tuple(self._row))
            elif self._in == "problems" and self._row[0] != "Line":
                self.problems.append(self._row)
            self._row = None
        elif tag == "table":
            self._in = None

    def handle_data(self, data):
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)

    def tag(self, code: str) -> dict:
        return next(t for t in self.tags if f" {code}" in t["heading"])


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def exported(store, fmt="json") -> dict:
    return fhir_vocabulary.export(store.vocabulary(A), A, fmt)


def bad_json_file(store) -> str:
    doc = exported(store)
    doc["tags"][0]["direction"] = "sideways"
    doc["tags"][2]["label"] = LONG
    return fhir_vocabulary.dumps(doc)


def fixed_json_file(store) -> str:
    doc = exported(store)
    doc["tags"][0]["label"] = "Moved toward"
    doc["tags"] = [t for t in doc["tags"] if t["code"] != "setback"]
    doc["tags"].append({"code": "named-a-need", "label": "Named a need", "description": "Said what they need.",
                        "category": "relationship", "direction": "toward", "audience": "all", "status": "active",
                        "labels": {"hi": "ज़रूरत बताई"}})
    return fhir_vocabulary.dumps(doc)


def upload(client, text: str, name="tags.json", token=None, url=f"{BASE}/import", **fields):
    data = {"file": (io.BytesIO(text.encode("utf-8") if isinstance(text, str) else text), name), **fields}
    if token is not False:
        data["csrf_token"] = token or form_token(client, f"{BASE}/import")
    return client.post(url, data=data, content_type="multipart/form-data")


def hidden(html: str, name: str) -> str:
    return unescape(re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html).group(1))


def apply(client, preview_html: str):
    return client.post(f"{BASE}/import/apply", content_type="multipart/form-data",
                       data={name: hidden(preview_html, name) for name in ("csrf_token", "content", "version")})


def history_of(store):
    return [(r["version"], r["by"], r["change"]) for r in store.history(A)]


# -- history and diff --------------------------------------------------------------------------
@pytest.fixture
def versions(sqlite_store, creds, now, clock):
    """Version 2, made by sam on the command line: a rename with a new Hindi label. The clock then moves on
    a day, three hours and five minutes."""
    v1 = sqlite_store.vocabulary(A)
    sqlite_store.save_vocabulary(A, v1.edit("step-forward", label="Moved toward", labels={"hi": "आगे बढ़े"}),
                                 "cli:sam", "edit step-forward label,labels", now)
    clock.now = now + timedelta(days=1, hours=3, minutes=5)
    return sqlite_store


def test_history_lists_every_version_newest_first_with_who_when_and_what(app, creds, versions, clock, now):
    client = browser(app, creds)
    r = upload(client, fixed_json_file(versions))
    assert apply(client, r.get_data(as_text=True)).status_code == 303
    v3 = versions.vocabulary(A)
    versions.save_vocabulary(A, v3.restore("setback"), "cli:sam", "restore setback", now)
    html = client.get(f"{BASE}/history").get_data(as_text=True)
    found = re.findall(r"<h3>Version (\d+)", html)
    assert found == ["4", "3", "2", "1"]                                        # newest first
    items = html.split('<ol class="versions">')[1].split("</li>")
    assert "Restored the tag “Setback”." in items[0] and "sam, on the command line" in items[0]
    assert "3 March 2026, 15:05 UTC" in items[1] and "Practice manager" in items[1]      # the token by its name
    assert "Imported the plugin's JSON file: 1 tag added, 1 tag retired." in unescape(items[1])
    assert "Changed the tag “Moved toward”: label, labels in other languages." in unescape(items[2])
    assert "2 March 2026, 12:00 UTC" in items[2]
    assert "The default tags, as the plugin comes with them." in items[3] and "the plugin itself" in items[3]
    assert "<code>edit step-forward label,labels</code>" in items[2]                  # as recorded, too
    assert f'href="{BASE}/diff?from=3&amp;to=4"' in items[0] and "diff?from=0" not in html
    assert '<select id="pick-from" name="from">' in html and '<label for="pick-from">' in html


def test_the_diff_of_two_versions_shows_each_changed_field_side_by_side(app, creds, versions):
    client = browser(app, creds)
    assert apply(client, upload(client, fixed_json_file(versions)).get_data(as_text=True)).status_code == 303
    r = client.get(f"{BASE}/diff?from=1&to=3")
    assert r.status_code == 200
    page = Page(r.get_data(as_text=True))
    step = page.tag("step-forward")
    assert step["heading"] == "Moved toward step-forward Changed"
    assert ("Label", "Step forward", "Moved toward") in step["rows"]
    assert ("Label in हिन्दी", "एक कदम आगे", "आगे बढ़े") in step["rows"]                       # per-language labels
    assert page.tag("setback")["heading"].endswith("Retired")                                  # said in words
    assert page.tag("setback")["rows"] == [("Status", "in use", "retired")]
    added = page.tag("named-a-need")
    assert added["heading"] == "Named a need named-a-need Added"
    assert ("Label", "(none)", "Named a need") in added["rows"]
    assert ("Label in हिन्दी", "(none)", "ज़रूरत बताई") in added["rows"]
    assert ("Category", "(none)", "Relationship") in added["rows"]
    html = r.get_data(as_text=True)
    assert '<th scope="col">Version 1</th><th scope="col">Version 3</th>' in html
    assert 'data-side="Version 1"' in html                                   # each value names its version at 360 px
    assert '<option value="1" selected>' in html and '<option value="3" selected>' in html
    backwards = Page(client.get(f"{BASE}/diff?from=3&to=1").get_data(as_text=True))
    assert backwards.tag("setback")["heading"].endswith("Restored")
    assert ("Label", "Moved toward", "Step forward") in backwards.tag("step-forward")["rows"]


def test_a_diff_with_a_version_that_does_not_exist_says_so_next_to_the_select(app, creds, versions):
    client = browser(app, creds)
    r = client.get(f"{BASE}/diff?from=9&to=2")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="pick-from-error"' in html and "There is no vocabulary version 9." in html
    assert client.get(f"{BASE}/diff?from=zero").status_code == 422


def test_history_and_diff_speak_hindi(app, creds, versions):
    client = browser(app, creds)
    history = client.get(f"{BASE}/history?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in history and "History of the tags" not in history
    assert '<input type="hidden" name="lang" value="hi">' in history        # the GET form keeps the language
    diff = client.get(f"{BASE}/diff?from=1&to=2&lang=hi").get_data(as_text=True)
    assert "Label in" not in diff and "Version 1" not in diff
    assert f'href="{BASE}/diff?from=1&amp;to=2&amp;lang=en"' in diff        # the switch keeps the versions


# -- import ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "fhir"])
def test_a_file_with_two_errors_lists_both_with_line_and_path_and_changes_nothing(app, creds, sqlite_store, fmt):
    client = browser(app, creds)
    if fmt == "json":
        text = bad_json_file(sqlite_store)
        expected = [(str(line_of(text, '"sideways"')), "tags.0.direction", "Must be one of:"),
                    (str(line_of(text, LONG)), "tags.2.label", "Length must be between 1 and 80.")]
    else:
        doc = exported(sqlite_store, "fhir")
        concepts = doc["entry"][0]["resource"]["concept"]
        concepts[0]["display"] = LONG
        next(p for p in concepts[3]["property"] if p["code"] == "direction")["valueCode"] = "sideways"
        text = fhir_vocabulary.dumps(doc)
        expected = [(str(line_of(text, LONG)), "entry.0.resource.concept.0.display",
                     "Length must be between 1 and 80."),
                    (str(line_of(text, '"sideways"')), "entry.0.resource.concept.3.property.", "Must be one of:")]
    before, audit = history_of(sqlite_store), len(sqlite_store.audit_rows(A))
    r = upload(client, text)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "The file has 2 problems. Nothing was changed." in html
    problems = sorted(Page(html).problems, key=lambda p: int(p[0]))
    assert len(problems) == 2
    expected.sort(key=lambda e: int(e[0]))
    for (line, path, text_), (want_line, want_path, want_text) in zip(problems, expected):
        assert line == want_line and path.startswith(want_path) and text_.startswith(want_text), (line, path, text_)
    assert history_of(sqlite_store) == before and len(sqlite_store.audit_rows(A)) == audit
    assert 'name="content"' not in html                                      # nothing to apply


def test_not_json_and_no_file_are_said_and_change_nothing(app, creds, sqlite_store):
    client = browser(app, creds)
    r = upload(client, '{"format": "progress-plugin/vocabulary",\n  "tags": [,]}')
    assert r.status_code == 422 and Page(r.get_data(as_text=True)).problems[0][0] == "2"
    r = client.post(f"{BASE}/import", data={"csrf_token": form_token(client, f"{BASE}/import")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "Choose a vocabulary file to import." in r.get_data(as_text=True)
    assert sqlite_store.current_version(A) == 1


def test_the_fixed_file_is_previewed_then_applied_as_one_new_version(app, creds, sqlite_store):
    client = browser(app, creds)
    assert upload(client, bad_json_file(sqlite_store)).status_code == 422
    r = upload(client, fixed_json_file(sqlite_store))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and sqlite_store.current_version(A) == 1             # a preview changes nothing
    assert ["1 tag added", "1 tag changed", "1 tag retired", "15 tags stay as they are"] == re.findall(
        r"<li>([^<]+)</li>", html.split('<ul class="counts">')[1].split("</ul>")[0])
    page = Page(html)
    assert ("Label", "Step forward", "Moved toward") in page.tag("step-forward")["rows"]
    assert page.tag("setback")["rows"] == [("Status", "in use", "retired")]
    assert "Added" in page.tag("named-a-need")["heading"]
    assert '<th scope="col">Now (version 1)</th><th scope="col">After the import</th>' in html
    assert hidden(html, "version") == "1"
    assert json.loads(hidden(html, "content")) == json.loads(fixed_json_file(sqlite_store))
    r = apply(client, html)
    assert r.status_code == 303 and r.headers["Location"] == f"{BASE}/history"
    assert sqlite_store.current_version(A) == 2
    vocabulary = sqlite_store.vocabulary(A)
    assert vocabulary.resolve("named-a-need").label_in("hi") == "ज़रूरत बताई"
    assert vocabulary.resolve("setback").status == "retired"
    row = sqlite_store.audit_rows(A)[-1]
    assert (row["actor"], row["action"], row["old_version"], row["new_version"]) == (
        f"token:{creds['admin'][0]}", "vocabulary.import", 1, 2)
    assert row["subject"] == "import json added=1 retired=1 edited=1"
    assert "The file is imported: the tags are now version 2." in client.get(f"{BASE}/history").get_data(as_text=True)
    again = apply(client, html)                        # the same form sent twice: the version has moved on
    assert again.status_code == 409 and sqlite_store.current_version(A) == 2
    assert "there is nothing to apply" in again.get_data(as_text=True)


def test_a_stale_preview_is_detected_shown_anew_and_nothing_is_lost(app, creds, sqlite_store, now):
    client = browser(app, creds)
    preview = upload(client, fixed_json_file(sqlite_store)).get_data(as_text=True)
    v1 = sqlite_store.vocabulary(A)
    sqlite_store.save_vocabulary(A, v1.edit("holding-steady", description="Held on."), "cli:sam",
                                 "edit holding-steady description", now)          # someone else, meanwhile
    r = apply(client, preview)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and sqlite_store.current_version(A) == 2           # nothing applied
    assert "The tags changed while you were looking: sam, on the command line made version 2" in html
    assert hidden(html, "version") == "2" and hidden(html, "content") == hidden(preview, "content")   # nothing lost
    page = Page(html)
    assert ("Description", "Held on.", "Things held; stability is a change too.") in page.tag("holding-steady")["rows"]
    assert apply(client, html).status_code == 303                                   # applied on the new version
    assert sqlite_store.current_version(A) == 3
    assert sqlite_store.vocabulary(A).resolve("holding-steady").description == "Things held; stability is a change too."


def test_a_stale_preview_whose_file_no_longer_fits_lists_the_problems(app, creds, sqlite_store, now):
    client = browser(app, creds)
    preview = upload(client, fixed_json_file(sqlite_store)).get_data(as_text=True)
    v1 = sqlite_store.vocabulary(A)
    taken = Tag("other-need", "Named a need", "", "relationship", "toward")
    sqlite_store.save_vocabulary(A, v1.add(taken), "cli:sam", "add other-need", now)   # the file's label, meanwhile
    r = apply(client, preview)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "The tags changed after you checked this file" in html
    (problem,) = Page(html).problems
    assert problem[1].startswith("tags.") and "belongs to tag 'other-need'" in problem[2]
    assert sqlite_store.current_version(A) == 2


def file_with_a_new_category(store) -> str:
    doc = exported(store)
    doc["tags"].append({"code": "family-talk", "label": "Talked as a family", "description": "", "category": "family",
                        "direction": "toward", "audience": "all", "status": "active"})
    return fhir_vocabulary.dumps(doc)


def test_a_new_category_is_refused_unless_the_box_is_ticked_as_the_cli_and_api_need_their_flag(app, creds,
                                                                                                sqlite_store):
    client = browser(app, creds)
    form = client.get(f"{BASE}/import").get_data(as_text=True)
    box = re.search(r'<input id="new_categories"[^>]*>', form).group(0)
    assert 'type="checkbox"' in box and "checked" not in box                    # off unless ticked
    assert '<label for="new_categories">This file may add new categories</label>' in form
    text = file_with_a_new_category(sqlite_store)

    r = upload(client, text)                                                     # not ticked: a likely typo
    html = unescape(r.get_data(as_text=True))
    assert r.status_code == 422 and "The file has 1 problem. Nothing was changed." in html
    assert Page(html).problems == [[str(line_of(text, '"category": "family"')), "tags.17.category",
                                    "Unknown category 'family'. The categories are: movement, awareness, action, "
                                    "relationship, therapist."]]
    advice = re.search(r'<p class="notice-plain" id="new-category-advice">(.*?)</p>', html, re.S).group(1)
    assert "tick “This file may add new categories” below and check the file again" in advice
    assert '<a href="#new_categories">' in advice
    assert "--new-category" not in html                       # the command line's advice is not the console's
    assert sqlite_store.current_version(A) == 1

    r = upload(client, text, new_categories="yes")                               # ticked: previewed
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "It starts a new category: family." in html
    assert hidden(html, "new_categories") == "true" and sqlite_store.current_version(A) == 1
    fields = {name: hidden(html, name) for name in ("csrf_token", "content", "version")}
    r = client.post(f"{BASE}/import/apply", content_type="multipart/form-data", data=fields)
    assert r.status_code == 422 and sqlite_store.current_version(A) == 1        # without it, checked again: refused
    assert 'checked' not in re.search(r'<input id="new_categories"[^>]*>', r.get_data(as_text=True)).group(0)
    r = client.post(f"{BASE}/import/apply", content_type="multipart/form-data",
                    data={**fields, "new_categories": hidden(html, "new_categories")})
    assert r.status_code == 303 and sqlite_store.current_version(A) == 2
    assert sqlite_store.vocabulary(A).resolve("family-talk").category == "family"


def test_the_box_stays_ticked_on_a_file_with_other_problems(app, creds, sqlite_store):
    client = browser(app, creds)
    text = file_with_a_new_category(sqlite_store).replace('"toward"', '"sideways"', 1)
    r = upload(client, text, new_categories="yes")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and [p[1] for p in Page(html).problems] == ["tags.0.direction"]
    assert "checked" in re.search(r'<input id="new_categories"[^>]*>', html).group(0)
    assert 'id="new-category-advice"' not in html


def test_a_file_that_matches_the_current_tags_has_nothing_to_apply(app, creds, sqlite_store):
    client = browser(app, creds)
    html = upload(client, fhir_vocabulary.dumps(exported(sqlite_store, "fhir"))).get_data(as_text=True)
    assert "It matches the current tags (version 1): there is nothing to apply." in html
    assert 'name="content"' not in html


def test_an_upload_over_the_limit_is_refused_unread(app, creds, sqlite_store, monkeypatch):
    client = browser(app, creds)
    token = form_token(client, f"{BASE}/import")
    monkeypatch.setattr(fhir_vocabulary, "MAX_FILE_BYTES", 4096)
    r = upload(client, fixed_json_file(sqlite_store), token=token)            # about 9 kB: over the file limit
    assert r.status_code == 413 and "This file is too large" in r.get_data(as_text=True)
    r = upload(client, "x" * 20_000, token=token)                              # over the request limit
    assert r.status_code == 413 and "This file is too large" in r.get_data(as_text=True)
    assert sqlite_store.current_version(A) == 1


def test_a_file_larger_than_the_services_other_requests_is_taken(app, creds, sqlite_store):
    client = browser(app, creds)
    text = fixed_json_file(sqlite_store) + " " * (2 << 20)          # the same JSON, 2 MB larger
    assert len(text) > app.config["MAX_CONTENT_LENGTH"]              # what the service takes elsewhere
    r = upload(client, text)
    assert r.status_code == 200 and "Apply: make version 2" in r.get_data(as_text=True)
    assert apply(client, r.get_data(as_text=True)).status_code == 303 and sqlite_store.current_version(A) == 2


# -- export ------------------------------------------------------------------------------------
def cli_export(url: str, fmt: str) -> str:
    result = CliRunner().invoke(main, ["--store", url, "vocab", "export", "--clinic", A, "--format", fmt],
                                catch_exceptions=False)
    assert result.exit_code == 0
    return result.output


@pytest.mark.parametrize("who", ["admin", "viewer"])
def test_exports_are_the_files_vocab_export_writes(app, creds, sqlite_store, sqlite_url, now, who, monkeypatch):
    monkeypatch.delenv("PROGRESS_PLUGIN_CONFIG", raising=False)
    v1 = sqlite_store.vocabulary(A)
    sqlite_store.save_vocabulary(A, v1.edit("setback", labels={"hi": "थोड़ा पीछे"}), "cli:sam", "edit setback labels", now)
    client = browser(app, creds, who)
    page = client.get(f"{BASE}/export").get_data(as_text=True)
    assert f'href="{BASE}/export/json"' in page and f'href="{BASE}/export/fhir"' in page
    for fmt, name, mimetype in [("json", "clinic-a-tags-v2.json", "application/json"),
                                ("fhir", "clinic-a-tags-v2-fhir.json", "application/fhir+json")]:
        r = client.get(f"{BASE}/export/{fmt}")
        assert r.status_code == 200 and r.mimetype == mimetype
        assert r.headers["Content-Disposition"] == f"attachment; filename={name}"
        assert r.get_data(as_text=True) == cli_export(sqlite_url, fmt)           # byte for byte
    bundle = client.get(f"{BASE}/export/fhir").get_json(force=True)
    concept = next(c for c in bundle["entry"][0]["resource"]["concept"] if c["code"] == "setback")
    assert {"language": "hi", "value": "थोड़ा पीछे"}.items() <= next(
        d for d in concept["designation"] if d.get("language") == "hi" and d["value"] == "थोड़ा पीछे").items()
    assert client.get(f"{BASE}/export/xml").status_code == 404


# -- who may -----------------------------------------------------------------------------------
def test_a_viewer_reads_history_and_exports_but_cannot_import(app, creds, sqlite_store):
    admin = browser(app, creds)
    preview = upload(admin, fixed_json_file(sqlite_store)).get_data(as_text=True)
    viewer = browser(app, creds, "viewer")
    for url in ("history", "diff?from=1&to=1", "export", "export/json", "export/fhir"):
        assert viewer.get(f"{BASE}/{url}").status_code == 200, url
    nav = viewer.get(f"{BASE}/history").get_data(as_text=True)
    assert f"{BASE}/import" not in nav and f"{BASE}/export" in nav
    token = form_token(viewer, f"{BASE}/history")
    assert viewer.get(f"{BASE}/import").status_code == 403
    assert upload(viewer, fixed_json_file(sqlite_store), token=token).status_code == 403
    r = viewer.post(f"{BASE}/import/apply", data={"csrf_token": token, "content": hidden(preview, "content"),
                                                 "version": "1"}, content_type="multipart/form-data")
    assert r.status_code == 403 and sqlite_store.current_version(A) == 1


@pytest.mark.parametrize("sent", [None, "other-browser"])
def test_import_forms_without_a_valid_form_token_are_refused(app, creds, sqlite_store, sent):
    client = browser(app, creds)
    preview = upload(client, fixed_json_file(sqlite_store)).get_data(as_text=True)
    token = False if sent is None else form_token(app.test_client())
    r = upload(client, fixed_json_file(sqlite_store), token=token)
    assert r.status_code == 400 and "This form had expired" in r.get_data(as_text=True)
    data = {"content": hidden(preview, "content"), "version": "1", **({"csrf_token": token} if token else {})}
    r = client.post(f"{BASE}/import/apply", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and sqlite_store.current_version(A) == 1


def test_an_apply_form_that_was_tampered_with_is_checked_again(app, creds, sqlite_store):
    client = browser(app, creds)
    preview = upload(client, fixed_json_file(sqlite_store)).get_data(as_text=True)
    bad = hidden(preview, "content").replace('"toward"', '"sideways"', 1)
    r = client.post(f"{BASE}/import/apply", content_type="multipart/form-data",
                    data={"csrf_token": hidden(preview, "csrf_token"), "content": bad, "version": "1"})
    assert r.status_code == 422 and "Must be one of:" in r.get_data(as_text=True)
    r = client.post(f"{BASE}/import/apply", content_type="multipart/form-data",
                    data={"csrf_token": hidden(preview, "csrf_token"), "content": bad, "version": "x"})
    assert r.status_code == 400 and sqlite_store.current_version(A) == 1

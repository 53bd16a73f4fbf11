"""The tag list's kept main block (``progress_plugin.web.console.tags``): drawn again whenever
anything it shows changes (a vocabulary version, a note's tags, the reader's role, the language,
the clinic's language), never served to another reader or app."""
from __future__ import annotations

from progress_plugin.core.vocabulary import Tag

from tests.test_console import A, app, clock, creds, signed_in  # noqa: F401  (fixtures)
from tests.test_console_tags import TAGS, current, tag_notes, text_of


def card(client, code: str, query: str = "") -> str:
    """The words of tag ``code``'s card on the list."""
    html = client.get(TAGS + query).get_data(as_text=True)
    start = html.index(f'id="tag-{code}"')
    return text_of(html[start:html.index("</li>\n  \n", start)])


def main_of(client, query: str = "") -> str:
    html = client.get(TAGS + query).get_data(as_text=True)
    return html[html.index("<main"):]


def test_a_vocabulary_change_is_shown_at_once(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    before = main_of(client)
    assert main_of(client) == before and "Quiet session" not in before      # the second one was kept
    new = current(app).add(Tag("quiet", "Quiet session", "", "movement", "none"))
    sqlite_store.save_vocabulary(A, new, "cli:sam", "add quiet", now)        # as another process writes it
    assert "Quiet session" in card(client, "quiet") and "Vocabulary version 2." in text_of(main_of(client))
    sqlite_store.save_vocabulary(A, new.edit("quiet", label="Calm session"), "cli:sam", "edit quiet", now)
    assert "Calm session" in card(client, "quiet") and "Quiet session" not in main_of(client)


def test_a_note_tagged_changes_the_count_at_once(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    assert "0 notes carry it" in card(client, "setback")
    tag_notes(sqlite_store, now, {"setback": 2})
    assert "2 notes carry it" in card(client, "setback")


def test_a_viewer_never_gets_an_admins_kept_list_nor_the_other_way(app, creds):
    admin, viewer = signed_in(app, creds), signed_in(app, creds, "viewer")
    assert "/setback/edit" in main_of(admin)
    assert "/setback/edit" not in main_of(viewer)
    assert "/setback/edit" in main_of(admin)


def test_each_language_and_the_clinics_language_are_kept_apart(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    new = current(app).add(Tag("quiet", "Quiet session", "", "movement", "none"))   # no Hindi label
    sqlite_store.save_vocabulary(A, new, "cli:sam", "add quiet", now)
    english, hindi = main_of(client), main_of(client, "?lang=hi")
    assert "?lang=hi" in hindi and "?lang=hi" not in english and english != hindi
    assert main_of(client) == english and main_of(client, "?lang=hi") == hindi
    assert "sees the label in English instead" in text_of(main_of(client, "?lang=en"))   # kept as asked in English
    sqlite_store.ensure_clinic(A, now, language="hi")                        # the clinic's default language
    assert "sees the label in हिन्दी instead" in text_of(main_of(client, "?lang=en"))

"""The catalogs (progress_plugin.lang): complete, in step with the code, and saying numbers and
dates the way each language does; choosing the language; marked sentences said in a language."""
from __future__ import annotations

import io
import pickle
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po
from babel.support import Translations

from progress_plugin import lang
from progress_plugin.core.words import ENGLISH, Msg, N_, msg
from progress_plugin.lang import check

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_catalogs_match_the_code_and_each_other():
    run = subprocess.run(["bash", "scripts/translations", "check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_every_shipped_language_has_a_catalog_and_a_glossary_sits_beside_them():
    for code in lang.LANGUAGES:
        assert (lang.CATALOGS / code / "LC_MESSAGES" / "messages.po").is_file()
        assert (lang.CATALOGS / code / "LC_MESSAGES" / "messages.mo").is_file()
    glossary = (lang.CATALOGS / "GLOSSARY.md").read_text()
    for word in ("progress", "goal", "setback", "stirring up", "holding steady", "review"):
        assert f"| {word}" in glossary


# -- the check, on catalogs made for the test --------------------------------------------------
def _catalogs(tmp_path: Path, hi: dict, ids=None, compile_=True) -> tuple[Path, Path]:
    """A template of ``ids`` (default: hi's keys) and en/hi catalogs; returns (catalogs, fresh pot)."""
    ids = list(ids if ids is not None else hi)
    root = tmp_path / "catalogs"
    pot = Catalog()
    for key in ids:
        pot.add(key)
    root.mkdir()
    with open(root / "messages.pot", "wb") as fh:
        write_po(fh, pot)
    for code, strings in (("en", {}), ("hi", hi)):
        catalog = Catalog(locale=code)
        for key in ids:
            if key in strings or code == "en":
                catalog.add(key, strings.get(key, ""))
        folder = root / code / "LC_MESSAGES"
        folder.mkdir(parents=True)
        with open(folder / "messages.po", "wb") as fh:
            write_po(fh, catalog)
        if compile_:
            with open(folder / "messages.mo", "wb") as fh:
                write_mo(fh, catalog)
    fresh = tmp_path / "fresh.pot"
    shutil.copy(root / "messages.pot", fresh)
    return root, fresh


def test_a_complete_catalog_has_no_problems(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Goal {rank}": "लक्ष्य {rank}", "Setback": "एक कदम पीछे"})
    assert check.problems(fresh, root) == []


def test_a_missing_or_empty_translation_is_named(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Setback": ""}, ids=["Setback", "Repair"])
    found = check.problems(fresh, root)
    assert "hi/messages.po: 'Setback' is not translated" in found
    assert "hi/messages.po: missing 'Repair'" in found


def test_a_placeholder_that_differs_is_named(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Goal {rank}": "लक्ष्य {number}"})
    assert check.problems(fresh, root) == [
        "hi/messages.po: 'Goal {rank}' has placeholders ['{number}'], the English has ['{rank}']"]


def test_a_string_the_code_marks_but_the_template_lacks_is_named(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Setback": "एक कदम पीछे"})
    template = Catalog()
    for key in ("Setback", "Repair"):
        template.add(key)
    with open(fresh, "wb") as fh:
        write_po(fh, template)
    assert check.problems(fresh, root) == ["messages.pot: missing 'Repair'; run scripts/translations"]


def test_a_stale_compiled_catalog_is_named(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Setback": "एक कदम पीछे"}, compile_=False)
    assert "hi/messages.mo is not compiled from hi/messages.po; run scripts/translations" in check.problems(fresh, root)


# -- choosing a language -------------------------------------------------------------------------
@pytest.mark.parametrize("tag, code", [("hi", "hi"), ("hi-IN", "hi"), ("HI_in", "hi"), ("en-GB", "en"),
                                       ("fr", None), ("", None), (None, None), (" hi ", "hi")])
def test_a_language_tag_maps_to_a_catalog_or_none(tag, code):
    assert lang.supported(tag) == code


def test_the_asked_language_wins_then_the_accepted_ones_then_the_clinic_then_english():
    assert lang.choose("hi", ["en"], "en") == "hi"
    assert lang.choose(None, ["fr", "hi-IN", "en"], "en") == "hi"
    assert lang.choose("fr", ["de"], "hi") == "hi"
    assert lang.choose(None, (), None) == "en"


def test_an_unknown_language_gets_english_words():
    assert lang.words("fr").code == "en"
    assert lang.words(None).code == "en"


# -- numbers and dates ---------------------------------------------------------------------------
def test_hindi_numbers_use_indian_grouping_and_dates_hindi_month_names():
    hi = lang.words("hi")
    assert hi.number(1234567.5) == "12,34,567.5"
    assert hi.date(date(2026, 12, 2)) == "2 दिसंबर 2026"
    assert hi.direction == "ltr"
    en = lang.words("en")
    assert en.number(1234567) == "12,34,567"
    assert en.date(date(2026, 12, 2)) == "2 December 2026"


def test_small_numbers_kept_once_are_written_as_babel_writes_them():
    from babel.numbers import format_decimal
    for code in ("en", "hi"):
        words = lang.words(code)
        for n in (0, 7, 10, 999, 1000, 1001, 123456, -3):
            assert words.number(n) == words.number(n) == format_decimal(n, locale=words.locale)
        assert words.number(2.5) == format_decimal(2.5, locale=words.locale)
    assert lang.words("en").number(1000) == "1,000"


# -- marked sentences ----------------------------------------------------------------------------
def _hindi(strings: dict) -> lang.CatalogWords:
    catalog = Catalog(locale="hi")
    for key, value in strings.items():
        catalog.add(key, value)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return lang.CatalogWords("hi", Translations(buffer))


def test_a_marked_sentence_is_english_text_that_another_language_can_say():
    sentence = msg(N_("Unknown tag code '{code}' in vocabulary version {version}."), code="x", version=2)
    assert sentence == "Unknown tag code 'x' in vocabulary version 2."
    assert isinstance(sentence, str)
    hi = _hindi({"Unknown tag code '{code}' in vocabulary version {version}.":
                 "टैग की सूची के संस्करण {version} में '{code}' नाम का कोई टैग नहीं है।"})
    assert hi.say(sentence) == "टैग की सूची के संस्करण 2 में 'x' नाम का कोई टैग नहीं है।"
    assert ENGLISH.say(sentence) == sentence


def test_say_translates_a_message_tree_and_keeps_its_keys():
    hi = _hindi({"Missing data for required field.": "यह भरना ज़रूरी है।"})
    tree = {"goals": {0: {"words": ["Missing data for required field."]}}, "count": 3}
    assert hi.say(tree) == {"goals": {0: {"words": ["यह भरना ज़रूरी है।"]}}, "count": 3}


def test_a_marked_sentence_survives_pickling_with_its_template():
    sentence = msg(N_("Goal {rank}"), rank=1)
    again = pickle.loads(pickle.dumps(sentence))
    assert isinstance(again, Msg) and again.template == "Goal {rank}" and again == "Goal 1"


def test_plural_forms_follow_the_catalog():
    catalog = Catalog(locale="hi")
    catalog.add(("{n} session", "{n} sessions"), ("{n} सेशन", "{n} सेशन"))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    hi = lang.CatalogWords("hi", Translations(buffer))
    assert hi.plural(N_("{n} session"), N_("{n} sessions"), 3) == "3 सेशन"
    assert ENGLISH.plural("{n} session", "{n} sessions", 1) == "1 session"
    assert ENGLISH.plural("{n} session", "{n} sessions", 1200) == "1,200 sessions"


def test_the_check_reads_another_domain_as_the_example_host_s_catalog(tmp_path):
    root, fresh = _catalogs(tmp_path, {"Save note": "नोट सेव करें", "Sign": ""})
    for path in sorted(root.rglob("messages.*")):
        path.rename(path.with_name("notes_host" + path.suffix))
    assert check.problems(fresh, root, domain="notes_host") == ["hi/notes_host.po: 'Sign' is not translated"]
    host = ROOT / "examples" / "notes_host" / "translations"
    for code in lang.LANGUAGES:        # the host speaks every language the plugin does
        assert (host / code / "LC_MESSAGES" / "notes_host.mo").is_file()
def test_a_marked_sentence_among_a_sentences_values_is_said_too_and_plain_text_never():
    hi = _hindi({"{goal} is already rated by {rater} on this note.": "{goal} को इस नोट पर {rater} पहले ही अंक दे चुके हैं।",
                 "Goal {rank}": "लक्ष्य {rank}", "the client": "क्लाइंट"})
    sentence = msg("{goal} is already rated by {rater} on this note.", goal=msg("Goal {rank}", rank=1),
                   rater="the client")
    assert sentence == "Goal 1 is already rated by the client on this note."
    assert hi.say(sentence) == "लक्ष्य 1 को इस नोट पर the client पहले ही अंक दे चुके हैं।"   # a plain str stays as given
    said = msg("{goal} is already rated by {rater} on this note.", goal="Goal 1", rater=msg("the client"))
    assert hi.say(said) == "Goal 1 को इस नोट पर क्लाइंट पहले ही अंक दे चुके हैं।"

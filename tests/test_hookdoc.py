"""hooks/REFERENCE.md: every hook has an entry with the code's signature, and the file is current."""
from __future__ import annotations

import types
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner

from progress_plugin import hookspecs
from progress_plugin.hosts import reference as hookdoc
from progress_plugin.cli.main import main
from progress_plugin.hosts.manager import make_manager

REFERENCE = Path(__file__).parent.parent / "hooks" / "REFERENCE.md"
PM = make_manager(load_entrypoints=False)
HOOK_NAMES = sorted(n for n in dir(PM.hook) if not n.startswith("_"))


@pytest.fixture(scope="module")
def reference_text():
    return REFERENCE.read_text(encoding="utf-8")


def headings(text: str) -> set[str]:
    return {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_has_an_entry_with_the_code_signature(name, reference_text):
    argnames = getattr(PM.hook, name).spec.argnames
    assert f"{name}({', '.join(argnames)})" in headings(reference_text), \
        f"hooks/REFERENCE.md lacks '## {name}({', '.join(argnames)})'; run: progress-plugin hooks reference"


def test_the_reference_has_no_entry_for_a_hook_that_is_gone(reference_text):
    documented = {h.split("(")[0] for h in headings(reference_text)}
    assert documented == set(HOOK_NAMES)


def test_the_reference_file_is_current(reference_text):
    assert reference_text == hookdoc.generate(), "stale: run progress-plugin hooks reference"


def fake_spec(doc: str, *, firstresult=False):
    marker = pluggy.HookspecMarker(hookspecs.PROJECT)
    module = types.ModuleType("fake_spec")

    def note_saved(note, extra):
        pass
    note_saved.__doc__ = doc
    module.note_saved = marker(firstresult=firstresult)(note_saved)
    return module


def test_problems_names_each_gap():
    module = fake_spec(":param note: The note.\n:param nope: Not an argument.", firstresult=True)
    assert sorted(hookdoc.problems(module)) == sorted([
        "note_saved: no ':param extra:'",
        "note_saved: ':param nope:' names no argument",
        "note_saved: no ':return:'",
        "note_saved: firstresult, but the docstring does not say it stops at first non-None result",
    ])


def test_a_changed_signature_changes_the_generated_heading():
    module = fake_spec("Stops at first non-None result.\n\n:param note: N.\n:param extra: E.\n:return: R.",
                       firstresult=True)
    assert hookdoc.problems(module) == []
    text = hookdoc.generate(module)
    assert "## note_saved(note, extra)" in text
    assert "*firstresult: stops at the first non-None result.*" in text
    assert "- `extra`: E." in text


def test_parse_joins_continuation_lines():
    description, params, returns, raises = hookdoc.parse(
        "Intro.\n\nMore.\n\n:param a: first\n    and second.\n:return: ``x``\n:raises ValidationError: bad")
    assert description == "Intro.\n\nMore."
    assert params == {"a": "first and second."}
    assert returns == "``x``" and raises == {"ValidationError": "bad"}
    assert hookdoc.md(returns) == "`x`"


def test_cli_check_and_write(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["hooks", "reference", "--check", "--out", str(REFERENCE)])
    assert ok.exit_code == 0, ok.output
    stale = tmp_path / "REFERENCE.md"
    stale.write_text(REFERENCE.read_text().replace("## note_saved(note, locale)", "## note_saved(note, text)"))
    bad = runner.invoke(main, ["hooks", "reference", "--check", "--out", str(stale)])
    assert bad.exit_code == 1 and "out of date" in bad.output
    wrote = runner.invoke(main, ["hooks", "reference", "--out", str(stale)])
    assert wrote.exit_code == 0 and stale.read_text() == hookdoc.generate()

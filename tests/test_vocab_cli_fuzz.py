"""Hypothesis fuzz of ``progress-plugin vocab``: hostile import files (tests/fuzz.py) and hostile
option values end with a clear message and exit status 0, 1 or 2: never a traceback. After
anything accepted, ``vocab list`` and ``vocab export`` still work."""
import os

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
from progress_plugin.cli.main import main
from progress_plugin.core.vocabulary import default

from tests.fuzz import INTEGERS, TEXT, bodies, check_answer, fuzz_settings

FILES = [fhir_vocabulary.export(default(), "clinic-a", "json"),
         fhir_vocabulary.export(default(), "clinic-a", "fhir")]


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-fuzz")
    store = f"sqlite:///{folder / 'p.db'}"
    runner = CliRunner()
    saved = {k: os.environ.pop(k) for k in ("PROGRESS_PLUGIN_CLINIC", "PROGRESS_PLUGIN_CONFIG",
                                            "PROGRESS_PLUGIN_STORE", "PROGRESS_PLUGIN_HOST_URL") if k in os.environ}

    def run(boundary, *args):
        result = runner.invoke(main, ["--store", store, *args])
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        check_answer(boundary, 500 if crashed else result.exit_code, result.output + (result.stderr or ""), "exit")
        assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
        if result.exit_code == 0 and args[:2] != ("vocab", "list"):
            for after in (["vocab", "list", "--clinic", "clinic-a"], ["vocab", "export", "--clinic", "clinic-a"]):
                shown = runner.invoke(main, ["--store", store, *after])
                assert shown.exit_code == 0 and shown.exception is None, shown.output
        return result

    assert runner.invoke(main, ["--store", store, "clinics", "add", "clinic-a"]).exit_code == 0   # a change makes none
    yield run, folder
    os.environ.update(saved)


@fuzz_settings(120)
@given(data=st.data(), template=st.sampled_from(FILES), check=st.booleans())
def test_import_files(cli, fuzz_counts, data, template, check):
    run, folder = cli
    body = data.draw(bodies(template, 256 * 1024))
    path = folder / "vocabulary.json"
    path.write_bytes(body)
    run("cli: vocab import FILE", "vocab", "import", str(path), "--clinic", "clinic-a", *(["--check"] if check else []))


OPTION = st.one_of(TEXT, INTEGERS.map(str), st.sampled_from(["9" * 30, "\ud800", "a\x00", "\u202eflip"]))


@fuzz_settings(120)
@given(command=st.sampled_from(["add", "edit", "list", "show", "diff"]), code=OPTION, label=OPTION,
       clinic=st.one_of(st.just("clinic-a"), OPTION), version=OPTION,
       language=st.one_of(st.sampled_from(["hi", "en"]), OPTION), texts=st.booleans())
def test_options(cli, fuzz_counts, command, code, label, clinic, version, language, texts):
    run, _ = cli
    in_language = ["--label-in", language, label, "--description-in", language, code] if texts else []
    if command == "add":
        args = ["add", code, "--label", label, "--category", "movement", "--direction", "toward", *in_language]
    elif command == "edit":
        args = ["edit", "step-forward", "--label", label, "--description", code, *in_language]
    elif command == "list":
        args = ["list", "--version", version, *(["--lang", language] if texts else [])]
    elif command == "show":
        args = ["show", code, "--version", version, *(["--lang", language] if texts else [])]
    else:
        args = ["diff", version, code]
    run("cli: vocab options", "vocab", *args, "--clinic", clinic)

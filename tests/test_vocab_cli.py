"""``progress-plugin vocab`` and ``progress-plugin tokens``: the whole cycle on a real store file."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin.web import admin
from progress_plugin.web.app import create_app
from progress_plugin.cli.main import main
from progress_plugin.store import Store
from progress_plugin.core.vocabulary import default


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROGRESS_PLUGIN_CLINIC", raising=False)
    monkeypatch.delenv("PROGRESS_PLUGIN_CONFIG", raising=False)
    monkeypatch.delenv("PROGRESS_PLUGIN_STORE", raising=False)
    runner = CliRunner()

    def run(*args, store="main.db", ok=True):
        result = runner.invoke(main, ["--store", f"sqlite:///{tmp_path / store}", *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run


def stored(tmp_path, name="main.db") -> Store:
    return Store.open(f"sqlite:///{tmp_path / name}")


def test_whole_cycle_through_the_cli(cli, tmp_path):
    c = ["--clinic", "clinic-a", "--actor", "pat"]
    cli("clinics", "add", "clinic-a")
    assert "add named-a-need: version 2" in cli("vocab", "add", "named-a-need", "--label", "Named a need",
                                                "--category", "relationship", "--direction", "toward", *c).output
    cli("vocab", "edit", "named-a-need", "--label", "Named what they need", "--direction", "mixed", *c)
    cli("vocab", "retire", "setback", *c)
    cli("vocab", "restore", "setback", *c)
    cli("vocab", "retire", "came-back", *c)

    listing = cli("vocab", "list", "--clinic", "clinic-a").output
    assert "vocabulary version 6" in listing and "Named what they need" in listing
    assert "RETIRED" in next(line for line in listing.splitlines() if line.startswith("came-back"))
    shown = json.loads(cli("vocab", "show", "named-a-need", "--clinic", "clinic-a", "--version", "2").output)
    assert shown["label"] == "Named a need" and shown["version"] == 2

    history = cli("vocab", "history", "--clinic", "clinic-a", "--json").output
    assert [(h["version"], h["by"], h["change"]) for h in json.loads(history)] == [
        (1, "system", "default vocabulary"), (2, "pat", "add named-a-need"),
        (3, "pat", "edit named-a-need label,direction"), (4, "pat", "retire setback"),
        (5, "pat", "restore setback"), (6, "pat", "retire came-back")]
    plain = cli("vocab", "history", "--clinic", "clinic-a").output.splitlines()
    assert len(plain) == 6 and "pat" in plain[1] and "add named-a-need" in plain[1]

    diff = cli("vocab", "diff", "2", "6", "--clinic", "clinic-a").output
    assert "retired  came-back" in diff
    assert "edited   named-a-need label: 'Named a need' -> 'Named what they need'" in diff
    assert json.loads(cli("vocab", "diff", "1", "6", "--clinic", "clinic-a", "--json").output)["added"] == [
        "named-a-need"]

    out_json, out_fhir = tmp_path / "v.json", tmp_path / "v.fhir.json"
    cli("vocab", "export", "--clinic", "clinic-a", "--format", "json", "--out", str(out_json))
    cli("vocab", "export", "--clinic", "clinic-a", "--format", "fhir", "--out", str(out_fhir))
    assert json.loads(cli("vocab", "export", "--clinic", "clinic-a").output) == json.loads(out_json.read_text())
    get_fhir_model_class("Bundle").model_validate(json.loads(out_fhir.read_text()))

    s = stored(tmp_path)
    try:
        source = s.vocabulary("clinic-a")
        rows = [r for r in s.audit_rows("clinic-a") if r["action"].startswith("vocabulary.")]
        assert [(r["actor"], r["old_version"], r["new_version"]) for r in rows] == [
            ("pat", 1, 2), ("pat", 2, 3), ("pat", 3, 4), ("pat", 4, 5), ("pat", 5, 6)]
    finally:
        s.close()

    # import into fresh stores; the second import of the same file makes no version
    for fmt, path in [("json", out_json), ("fhir", out_fhir)]:
        fresh = f"fresh-{fmt}.db"
        cli("clinics", "add", "moved", store=fresh)
        out = cli("vocab", "import", str(path), "--clinic", "moved", "--actor", "ops", store=fresh).output
        assert "version 2" in out
        assert "no change" in cli("vocab", "import", str(path), "--clinic", "moved", store=fresh).output
        s = stored(tmp_path, fresh)
        try:
            assert source.same_tags(s.vocabulary("moved").tags)
            assert [h["version"] for h in s.history("moved")] == [1, 2]
            assert s.history("moved")[1]["by"] == "ops"
        finally:
            s.close()
        diff = cli("vocab", "diff", "1", "2", "--clinic", "moved", store=fresh).output
        assert "added    named-a-need" in diff and "retired  came-back" in diff


def test_an_import_with_problems_prints_them_all_and_changes_nothing(cli, tmp_path):
    doc = {"format": "progress-plugin/vocabulary", "tags": [t.as_dict() for t in default().tags]}
    doc["tags"][0]["code"] = "no spaces please"
    doc["tags"][2]["label"] = ""
    doc["tags"][4]["direction"] = "upward"
    doc["tags"][6]["code"] = doc["tags"][5]["code"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, indent=2))
    lines = path.read_text().splitlines()
    cli("clinics", "add", "clinic-a")
    result = cli("vocab", "import", str(path), "--clinic", "clinic-a", ok=False)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert {e.split(":")[1].strip() for e in errors} == {"tags.0.code", "tags.2.label", "tags.4.direction",
                                                         "tags.6.code"}
    dupe = doc["tags"][6]["code"]
    expected = {"tags.0.code": '"code": "no spaces please"', "tags.2.label": '"label": ""',
                "tags.4.direction": '"direction": "upward"', "tags.6.code": f'"code": "{dupe}"'}
    for e in errors:                                       # each line number points at the offending value
        where, line = e.split(":")[1].strip(), int(e.split("line ")[1].split(":")[0])
        assert expected[where] in lines[line - 1], e
    assert int(next(e for e in errors if "tags.6.code" in e).split("line ")[1].split(":")[0]) > \
        next(i for i, text in enumerate(lines, 1) if f'"code": "{dupe}"' in text)      # the second one
    s = stored(tmp_path)
    try:
        assert [h["version"] for h in s.history("clinic-a")] == [1]          # nothing changed
    finally:
        s.close()
    checked = cli("vocab", "import", str(path), "--clinic", "clinic-a", "--check", ok=False)
    assert checked.exit_code == 2 and checked.output == result.output


def test_check_only_and_the_example_file(cli, tmp_path):
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "examples" / "vocabulary.json"
    cli("clinics", "add", "clinic-a")
    out = cli("vocab", "import", str(example), "--clinic", "clinic-a", "--check").output
    assert out.startswith("ok: ") and "nothing changed" in out
    s = stored(tmp_path)
    try:
        assert [h["version"] for h in s.history("clinic-a")] == [1]
    finally:
        s.close()
    assert "version 2" in cli("vocab", "import", str(example), "--clinic", "clinic-a").output


def test_bad_edits_print_every_problem(cli):
    r = cli("vocab", "add", "bad code", "--label", "", "--category", "Movement", "--direction", "toward",
            "--clinic", "clinic-a", ok=False)
    assert r.exit_code == 2
    assert {"error: code:", "error: label:", "error: category:"} <= {" ".join(x.split()[:2]) for x in
                                                                      r.output.splitlines()}
    r = cli("vocab", "list", "--clinic", "clinic-a", ok=False)
    assert r.exit_code == 1 and "no clinic 'clinic-a'" in r.output      # the failed add created nothing
    r = cli("vocab", "retire", "setback", "--clinic", "clinic-a", ok=False)     # nor does a change
    assert r.exit_code == 1 and "progress-plugin clinics add clinic-a" in r.output
    cli("clinics", "add", "clinic-a")
    r = cli("vocab", "add", "sf", "--label", "STEP FORWARD", "--category", "movement", "--direction", "toward",
            "--clinic", "clinic-a", ok=False)
    assert "already used in category 'movement' by tag 'step-forward'" in r.output
    cli("vocab", "retire", "setback", "--clinic", "clinic-a")
    r = cli("vocab", "retire", "no-such-code", "--clinic", "clinic-a", ok=False)
    assert r.exit_code == 1 and "unknown tag code 'no-such-code'" in r.output
    r = cli("vocab", "retire", "setback", "--clinic", "clinic-a", ok=False)
    assert r.exit_code == 2 and "already retired" in r.output
    r = cli("vocab", "list", "--clinic", "nowhere", ok=False)
    assert r.exit_code == 1 and "no clinic 'nowhere'" in r.output


def test_roles_through_the_cli_add_edit_keep_on_rename_and_clear(cli, tmp_path):
    c = ["--clinic", "clinic-a"]
    cli("clinics", "add", "clinic-a")
    cli("vocab", "add", "looked-again", "--label", "We looked again", "--category", "relationship",
        "--direction", "none", "--role", "review", *c)
    cli("vocab", "edit", "looked-again", "--label", "Looked at progress again", *c)         # a rename keeps it
    cli("vocab", "edit", "progress-redefined", "--role", "none", *c)
    cli("vocab", "edit", "moment-of-connection", "--role", "repair", *c)
    assert "role: review" in next(line for line in cli("vocab", "list", *c).output.splitlines()
                                  if line.startswith("looked-again"))
    s = stored(tmp_path)
    try:
        now, v3 = s.vocabulary("clinic-a"), s.vocabulary("clinic-a", 3)
    finally:
        s.close()
    assert {t.code: t.role for t in now.tags if t.role} == {
        "looked-again": "review", "strain-noticed": "strain", "repair": "repair", "moment-of-connection": "repair"}
    assert now.resolve("looked-again").label == "Looked at progress again"
    assert v3.resolve("progress-redefined").role == "review"
    assert "edit progress-redefined role" in cli("vocab", "history", *c).output
    r = cli("vocab", "edit", "setback", "--role", "closure", *c, ok=False)
    assert r.exit_code == 2 and "--role" in r.output and "closure" in r.output
    r = cli("vocab", "add", "x", "--label", "X", "--category", "action", "--direction", "toward",
            "--role", "REVIEW", *c, ok=False)
    assert r.exit_code == 2 and "--role" in r.output


HINDI_LABEL, HINDI_DESCRIPTION = "ज़रूरत बताई", "क्लाइंट ने अपनी ज़रूरत खुलकर कही।"


def test_a_vocabulary_with_hindi_labels_round_trips_cli_api_json_and_fhir(cli, tmp_path):
    c = ["--clinic", "clinic-a"]
    cli("clinics", "add", "clinic-a")
    cli("vocab", "add", "named-a-need", "--label", "Named a need", "--description", "Said what they need.",
        "--category", "relationship", "--direction", "toward", "--label-in", "hi", HINDI_LABEL,
        "--description-in", "hi", HINDI_DESCRIPTION, *c)
    token = cli("tokens", "create", "--clinic", "clinic-a", "--role", "viewer", "--name", "check").stdout.strip()
    s = stored(tmp_path)
    try:                                                    # the admin API reads it back
        client = create_app(s, blueprints=[admin.blueprint]).test_client()
        auth = {"Authorization": f"Bearer {token}"}
        tag = client.get("/clinics/clinic-a/vocabulary/tags/named-a-need", headers=auth).json["tag"]
        assert tag["labels"] == {"hi": HINDI_LABEL} and tag["descriptions"] == {"hi": HINDI_DESCRIPTION}
        from_api = client.get("/clinics/clinic-a/vocabulary/export?format=fhir", headers=auth).json
    finally:
        s.close()

    out_json, out_fhir = tmp_path / "v.json", tmp_path / "v.fhir.json"
    cli("vocab", "export", "--format", "json", "--out", str(out_json), *c)
    cli("vocab", "export", "--format", "fhir", "--out", str(out_fhir), *c)
    (mine,) = [t for t in json.loads(out_json.read_text(encoding="utf-8"))["tags"] if t["code"] == "named-a-need"]
    assert mine["labels"] == {"hi": HINDI_LABEL} and mine["descriptions"] == {"hi": HINDI_DESCRIPTION}
    bundle = json.loads(out_fhir.read_text(encoding="utf-8"))
    assert bundle == from_api
    get_fhir_model_class("Bundle").model_validate(bundle)
    cs, vs = (e["resource"] for e in bundle["entry"])
    (concept,) = [x for x in cs["concept"] if x["code"] == "named-a-need"]
    assert {(d["language"], d["use"]["code"], d["value"]) for d in concept["designation"]} == {
        ("hi", "display", HINDI_LABEL), ("hi", "900000000000550004", HINDI_DESCRIPTION)}
    (listed,) = [x for x in vs["compose"]["include"][0]["concept"] if x["code"] == "named-a-need"]
    assert listed["designation"] == [{"language": "hi", "use": {
        "system": "http://terminology.hl7.org/CodeSystem/designation-usage", "code": "display", "display": "Display"},
        "value": HINDI_LABEL}]

    for name, path in (("from-json.db", out_json), ("from-fhir.db", out_fhir)):
        cli("clinics", "add", "moved", store=name)
        cli("vocab", "import", str(path), "--clinic", "moved", store=name)
        s = stored(tmp_path, name)
        try:
            moved = s.vocabulary("moved").resolve("named-a-need")
            original = stored(tmp_path)
            try:
                assert original.vocabulary("clinic-a").same_tags(s.vocabulary("moved").tags)
            finally:
                original.close()
        finally:
            s.close()
        assert moved.label_in("hi") == HINDI_LABEL and moved.description_in("hi") == HINDI_DESCRIPTION
        assert moved.labels == (("hi", HINDI_LABEL),) and moved.label == "Named a need"
        shown = cli("vocab", "list", "--clinic", "moved", "--lang", "hi", store=name).output
        assert HINDI_LABEL in shown and "एक कदम पीछे" in shown


def test_texts_per_language_through_the_cli_show_list_edit_and_remove(cli, tmp_path):
    c = ["--clinic", "clinic-a"]
    cli("clinics", "add", "clinic-a")
    cli("vocab", "add", "named-a-need", "--label", "Named a need", "--category", "relationship",
        "--direction", "toward", "--label-in", "hi", HINDI_LABEL, *c)
    shown = json.loads(cli("vocab", "show", "named-a-need", "--lang", "hi", *c).output)
    assert shown["labels"] == {"hi": HINDI_LABEL} and shown["shown"] == {"lang": "hi", "label": HINDI_LABEL,
                                                                        "description": ""}
    assert "shown" not in json.loads(cli("vocab", "show", "named-a-need", *c).output)
    line = next(x for x in cli("vocab", "list", "--lang", "hi", *c).output.splitlines() if x.startswith("step-forward"))
    assert "एक कदम आगे" in line
    line = next(x for x in cli("vocab", "list", *c).output.splitlines() if x.startswith("step-forward"))
    assert "Step forward" in line

    cli("vocab", "edit", "named-a-need", "--label-in", "hi", "अपनी ज़रूरत बताई", "--description-in", "hi", "कहा।", *c)
    diff = cli("vocab", "diff", "2", "3", *c).output
    assert f"edited   named-a-need labels.hi: '{HINDI_LABEL}' -> 'अपनी ज़रूरत बताई'" in diff
    assert "edited   named-a-need descriptions.hi: None -> 'कहा।'" in diff
    cli("vocab", "edit", "named-a-need", "--label-in", "hi", "", *c)                  # empty: removes it
    s = stored(tmp_path)
    try:
        tag = s.vocabulary("clinic-a").resolve("named-a-need")
        assert tag.labels == () and tag.descriptions == (("hi", "कहा।"),)
        assert s.vocabulary("clinic-a", 3).resolve("named-a-need").label_in("hi") == "अपनी ज़रूरत बताई"
    finally:
        s.close()

    r = cli("vocab", "add", "x", "--label", "X", "--category", "action", "--direction", "toward",
            "--label-in", "xx", "Hello", *c, ok=False)
    assert r.exit_code == 2 and "--label-in" in r.output and "'xx'" in r.output
    r = cli("vocab", "add", "x", "--label", "X", "--category", "action", "--direction", "toward",
            "--label-in", "hi", "ल" * 81, *c, ok=False)
    assert r.exit_code == 2 and "error: labels.hi: Length must be between 1 and 80." in r.output
    r = cli("vocab", "add", "x", "--label", "X", "--category", "action", "--direction", "toward",
            "--label-in", "hi", "एक", "--label-in", "hi", "दो", *c, ok=False)
    assert r.exit_code == 2 and "hi is given twice" in r.output
    r = cli("vocab", "edit", "step-forward", "--label-in", "hi", "मन में हलचल", *c, ok=False)
    assert r.exit_code == 2 and "error: labels.hi: Label 'मन में हलचल' in 'hi' is already used" in r.output


def test_the_clinic_comes_from_the_flag_the_environment_or_a_single_configured_clinic(cli, tmp_path, monkeypatch):
    r = cli("vocab", "list", ok=False)
    assert r.exit_code == 2 and "Say which clinic" in r.output
    cli("clinics", "add", "only-one")
    cli("vocab", "retire", "setback", "--clinic", "only-one")
    monkeypatch.setenv("PROGRESS_PLUGIN_CLINIC", "only-one")
    assert "vocabulary version 2" in cli("vocab", "list").output
    monkeypatch.delenv("PROGRESS_PLUGIN_CLINIC")
    (tmp_path / "progress-plugin.toml").write_text('[[clinics]]\nid = "only-one"\nscheme = "standard-webhooks"\n')
    assert "clinic only-one" in cli("vocab", "list").output
    (tmp_path / "progress-plugin.toml").write_text(
        '[[clinics]]\nid = "one"\nscheme = "x-signature"\n[[clinics]]\nid = "two"\nscheme = "x-signature"\n')
    r = cli("vocab", "list", ok=False)
    assert r.exit_code == 2 and "one, two" in r.output


def test_tokens_create_list_revoke_and_the_token_works_on_the_api(cli, tmp_path):
    cli("clinics", "add", "clinic-a")
    result = cli("tokens", "create", "--clinic", "clinic-a", "--role", "admin", "--name", "front desk",
                 "--actor", "ops")
    token = result.stdout.strip()
    assert token.startswith("pp_") and "shown only now" in result.stderr
    token_id = token.split("_")[1]
    listed = cli("tokens", "list", "--clinic", "clinic-a").output
    assert token_id in listed and "front desk" in listed and token.split("_", 2)[2] not in listed
    assert "refused=0" in listed and "refused token attempts: none" in listed

    s = stored(tmp_path)
    try:
        client = create_app(s, blueprints=[admin.blueprint]).test_client()
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/clinics/clinic-a/vocabulary", headers=auth).status_code == 200
        assert cli("tokens", "revoke", token_id, "--actor", "ops").output.strip() == f"revoked {token_id}"
        assert client.get("/clinics/clinic-a/vocabulary", headers=auth).status_code == 401
        actions = [(r["actor"], r["action"]) for r in s.audit_rows("clinic-a") if r["action"].startswith("token.")]
        assert actions == [("ops", "token.create"), ("ops", "token.revoke")]
    finally:
        s.close()
    assert "revoked" in cli("tokens", "list").output
    s = stored(tmp_path)
    try:
        client = create_app(s, blueprints=[admin.blueprint]).test_client()
        for _ in range(2):                                    # the revoked token, twice
            assert client.get("/clinics/clinic-a/vocabulary", headers=auth).status_code == 401
    finally:
        s.close()
    listed = cli("tokens", "list").output
    assert f"{token_id}  clinic-a" in listed and "refused=3" in listed      # the first 401 above, then two
    assert "refused token attempts: clinic-a=3" in listed
    r = cli("tokens", "create", "--clinic", "clinic-a", "--role", "owner", "--name", "x", ok=False)
    assert r.exit_code == 2
    r = cli("tokens", "revoke", "0" * 16, ok=False)
    assert r.exit_code == 1 and "no token" in r.output


def _commands(group: click.Group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path", [p for p in _commands(main) if p[0] in ("vocab", "tokens")],
                         ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    command = main
    for name in path:
        command = command.get_command(click.Context(command), name)
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"


def test_with_a_host_configured_cli_changes_are_queued_for_it(cli, tmp_path, monkeypatch):
    import sqlalchemy as sa

    from progress_plugin.store import tables as t
    cli("clinics", "add", "clinic-a")
    cli("vocab", "retire", "setback", "--clinic", "clinic-a")              # no host: nothing queued
    monkeypatch.setenv("PROGRESS_PLUGIN_HOST_URL", "http://127.0.0.1:9/fhir")
    cli("vocab", "restore", "setback", "--clinic", "clinic-a")
    s = stored(tmp_path)
    try:
        with s.engine.connect() as c:
            keys = sorted(r[0] for r in c.execute(sa.select(t.outbox.c.key)))
    finally:
        s.close()
    assert keys == ["vocabulary/clinic-a/3/codesystem", "vocabulary/clinic-a/3/valueset"]


def test_every_cli_change_is_told_to_the_core_through_the_runtime(cli, tmp_path, dispatched):
    c = ["--clinic", "clinic-a", "--actor", "pat"]
    cli("clinics", "add", "clinic-a")
    cli("vocab", "add", "named-a-need", "--label", "Named a need", "--category", "relationship",
        "--direction", "toward", *c)
    cli("vocab", "edit", "named-a-need", "--label", "Named what they need", *c)
    cli("vocab", "retire", "setback", *c)
    cli("vocab", "restore", "setback", *c)
    cli("vocab", "export", "--clinic", "clinic-a", "--out", str(tmp_path / "v.json"))
    cli("vocab", "retire", "came-back", *c)
    cli("vocab", "import", str(tmp_path / "v.json"), *c)                 # back to version 5's tags: version 7
    cli("vocab", "import", str(tmp_path / "v.json"), *c)                 # the same again: no change, no event
    assert [(type(e).__name__, e.clinic_id, e.vocabulary.version, e.actor, who) for e, who in dispatched] == [
        ("VocabularyChanged", "clinic-a", version, "pat", "pat") for version in (2, 3, 4, 5, 6, 7)]


# -- hostile input: each of these printed a traceback before --------------------------------------
def test_an_import_file_nested_ten_thousand_deep_is_a_clear_error(cli, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "progress-plugin/vocabulary", "tags": ' + "[" * 10_000 + "]" * 10_000 + "}")
    cli("clinics", "add", "clinic-a")
    result = cli("vocab", "import", str(path), "--clinic", "clinic-a", ok=False)
    assert result.exit_code == 2                     # catch_exceptions=False: a traceback would have raised
    assert "error: _schema: JSON nested more than 64 levels deep." in result.output


def test_an_import_file_with_a_5000_digit_integer_names_its_line_and_field(cli, tmp_path):
    text = json.dumps({"format": "progress-plugin/vocabulary", "version": "@",
                       "tags": [t.as_dict() for t in default().tags]}, indent=2)
    path = tmp_path / "big.json"
    path.write_text(text.replace('"@"', "9" * 5000))
    cli("clinics", "add", "clinic-a")
    result = cli("vocab", "import", str(path), "--clinic", "clinic-a", ok=False)
    assert result.exit_code == 2
    assert "error: version: line 3: Number out of range" in result.output


def test_an_oversized_or_unreadable_file_is_a_clear_error(cli, tmp_path):
    from progress_plugin.fhir import vocabulary_files as fhir_vocabulary
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(fhir_vocabulary.MAX_FILE_BYTES + 1)
    result = cli("vocab", "import", str(path), "--clinic", "clinic-a", ok=False)
    assert result.exit_code == 1 and "larger than 5 MB" in result.output


@pytest.mark.parametrize("args,where", [
    (["add", "named", "--label", "Named\ud800", "--category", "movement", "--direction", "toward"], "label"),
    (["add", "nam\x00ed", "--label", "Named", "--category", "movement", "--direction", "toward"], "CODE"),
    (["edit", "setback", "--description", "\udcff"], "description"),
    (["list", "--version", "9" * 30], "--version"),
    (["diff", "1", "9" * 30], "V2"),
    (["list", "--clinic", "clinic\udcff"], "--clinic"),
])
def test_bad_text_and_huge_numbers_in_options_are_clear_errors(cli, tmp_path, args, where):
    result = cli("vocab", *args, *([] if "--clinic" in args else ["--clinic", "clinic-a"]), ok=False)
    assert result.exit_code == 2
    assert where in result.output and "Traceback" not in result.output


def test_a_label_stored_with_a_lone_surrogate_before_they_were_refused_still_lists_and_exports(cli, tmp_path, now):
    s = stored(tmp_path)
    try:
        s.ensure_clinic("clinic-a", now)
        s.save_vocabulary("clinic-a", s.vocabulary("clinic-a").edit("setback", label="Set\ud800back"), "old", "x",
                          now)
    finally:
        s.close()
    assert "Set\\ud800back" in cli("vocab", "list", "--clinic", "clinic-a").output
    assert json.loads(cli("vocab", "show", "setback", "--clinic", "clinic-a").output)["label"] == "Set\ud800back"
    out = tmp_path / "export.json"
    cli("vocab", "export", "--clinic", "clinic-a", "--out", str(out))
    assert json.loads(out.read_text(encoding="utf-8"))["tags"][3]["label"] == "Set\ud800back"
    result = cli("vocab", "import", str(out), "--clinic", "clinic-a", ok=False)     # and it cannot come back in
    assert result.exit_code == 2 and "error: tags.3.label: line" in result.output and "lone surrogate" in result.output

import pytest

from progress_plugin import errors
from progress_plugin.core.vocabulary import DEFAULT_TAGS, Tag, Vocabulary, check_tags, default


def test_default_vocabulary_has_the_17_tags_as_version_1():
    vocab = default()
    assert vocab.version == 1 and len(vocab.tags) == 17
    by_cat = {c: [t.code for t in tags] for c, tags in vocab.by_category().items()}
    assert list(by_cat) == ["movement", "awareness", "action", "relationship", "therapist"]
    assert len(by_cat["movement"]) == 5 and len(by_cat["relationship"]) == 4
    assert vocab.resolve("setback").direction == "away"
    assert vocab.resolve("holding-steady").direction == "steady"
    assert vocab.resolve("stirring-up").direction == "mixed"
    assert vocab.resolve("let-go-of-fixing").therapist_only


def test_client_audience_hides_therapist_only_tags():
    assert "therapist" not in default().by_category(audience="client")


def test_edit_yields_a_new_version_and_keeps_the_old_one():
    v1 = default()
    v2 = v1.edit("setback", label="Step back")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.resolve("setback").label == "Setback"
    assert v2.resolve("setback").label == "Step back"


def test_codes_are_immutable():
    with pytest.raises(errors.ValidationError) as info:
        default().edit("setback", code="set-back")
    assert "immutable" in info.value.paths()["code"][0]


def test_retired_code_resolves_but_cannot_be_applied():
    v2 = default().retire("setback")
    assert v2.resolve("setback").status == "retired"
    tag, reason = v2.applicable("setback")
    assert tag is None and "setback" in reason and "retired" in reason
    v3 = v2.restore("setback")
    assert v3.applicable("setback")[0] is not None


def test_unknown_code_is_named():
    tag, reason = default().applicable("nope")
    assert tag is None and "'nope'" in reason
    with pytest.raises(errors.NotFound):
        default().resolve("nope")


def test_add_rejects_an_existing_code_even_when_retired():
    v2 = default().retire("setback")
    with pytest.raises(errors.ValidationError):
        v2.add(Tag("setback", "Again", "", "movement", "away"))


def test_rules_on_codes_labels_and_duplicates():
    ok = Tag("a.b_c-1", "L" * 80, "", "movement", "toward")
    assert check_tags([ok]) == {}
    bad = [Tag("", "x", "", "movement", "toward"), Tag("a" * 65, "y", "", "movement", "toward"),
           Tag("has space", "z", "", "movement", "toward"), Tag("ok2", "L" * 81, "", "movement", "toward"),
           Tag("ok3", "", "", "movement", "toward")]
    problems = check_tags(bad)
    assert set(problems) == {0, 1, 2, 3, 4}
    assert "code" in problems[0] and "code" in problems[1] and "code" in problems[2]
    assert "label" in problems[3] and "label" in problems[4]
    dupes = check_tags([ok, Tag("a.b_c-1", "Other", "", "action", "none"), Tag("q", ok.label.lower(), "", "movement", "away")])
    assert "code" in dupes[1] and "label" in dupes[2]


def test_duplicates_name_the_first_one_by_its_position():
    a, a2 = Tag("a", "Alpha", "", "movement", "toward"), Tag("a", "Other", "", "movement", "toward")
    b = Tag("b", "ALPHA", "", "movement", "away")
    assert check_tags([a, a2, b]) == {1: {"code": ["Duplicate code 'a' (also at 0)."]},
                                      2: {"label": ["Duplicate label 'ALPHA' in category 'movement' (also at 0)."]}}
    assert check_tags([a, a2], positions=[3, 7]) == {1: {"code": ["Duplicate code 'a' (also at 3)."]}}


def test_vocabulary_refuses_invalid_tags():
    with pytest.raises(errors.ValidationError):
        Vocabulary(1, (DEFAULT_TAGS[0], DEFAULT_TAGS[0]))


def test_diff_between_versions():
    v1 = default()
    v4 = v1.edit("setback", label="Step back").retire("repair").add(Tag("new-one", "New", "", "action", "toward"))
    d = v1.diff(v4)
    assert d["added"] == ["new-one"] and d["retired"] == ["repair"] and d["removed"] == []
    assert d["edited"] == [{"code": "setback", "fields": {"label": ["Setback", "Step back"]}}]


def test_replace_all_keeps_missing_codes_as_retired():
    v2 = default().replace_all([DEFAULT_TAGS[0]])
    assert v2.resolve("setback").status == "retired"
    assert v2.resolve("step-forward").status == "active"
    assert len(v2.tags) == 17


def test_the_defaults_carry_roles_and_strain_is_mixed_and_therapist_only():
    roles = {t.code: t.role for t in default().tags if t.role}
    assert roles == {"progress-redefined": "review", "strain-noticed": "strain", "repair": "repair"}
    strain = default().resolve("strain-noticed")
    assert strain.direction == "mixed" and strain.therapist_only


def test_a_role_survives_a_rename_changes_only_when_asked_and_is_versioned():
    v1 = default()
    v2 = v1.edit("repair", label="Mended")
    assert v2.resolve("repair").role == "repair" and v2.resolve("repair").label == "Mended"
    v3 = v2.edit("moment-of-connection", role="repair")
    v4 = v3.edit("repair", role=None)
    assert v3.resolve("moment-of-connection").role == "repair" and v2.resolve("moment-of-connection").role is None
    assert v4.resolve("repair").role is None and v3.resolve("repair").role == "repair"
    assert v3.diff(v4)["edited"] == [{"code": "repair", "fields": {"role": ["repair", None]}}]


def test_a_role_must_be_one_of_the_three_or_none():
    problems = check_tags([Tag("a", "A", "", "action", "toward", role="closure"), Tag("b", "B", "", "action", "toward")])
    assert problems == {0: {"role": ["Must be one of: review, strain, repair, or none."]}}
    with pytest.raises(errors.ValidationError):
        default().edit("setback", role="strain-ish")


def test_a_version_stored_before_roles_gets_the_default_roles_by_code_only():
    stored = [{k: v for k, v in t.as_dict().items() if k != "role"} for t in DEFAULT_TAGS]
    stored.append({"code": "our-review", "label": "Our review", "description": "", "category": "relationship",
                   "direction": "none", "audience": "all", "status": "active"})
    old = Vocabulary(1, tuple(Tag.from_stored(d) for d in stored))
    assert {t.code: t.role for t in old.tags if t.role} == {
        "progress-redefined": "review", "strain-noticed": "strain", "repair": "repair"}
    # a version stored with roles is taken as it is, a role of none included
    now = Tag.from_stored({**default().resolve("repair").as_dict(), "role": None})
    assert now.role is None

"""A host's view: a PluginManager with the host spec, the plugin loaded by its entry point, every hook driven."""
from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from progress_plugin import hookspecs
from progress_plugin.core.words import Words
from progress_plugin.errors import ValidationError
from progress_plugin.hosts.manager import make_manager

CLINIC, CLIENT = "clinic-a", "c1"
SECTION = "defining-progress-together"
PLAIN = (dict, list, str, int, float, bool, type(None))


def assert_plain(value, path="result"):
    """Only plain data crosses the hook boundary: no core objects, no dates."""
    assert isinstance(value, PLAIN), f"{path} is a {type(value).__name__}"
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, (str, int)), f"{path} has a {type(k).__name__} key"
            assert_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_plain(v, f"{path}[{i}]")


@pytest.fixture
def pm(store, now):
    pm = make_manager()                       # loads the plugin through the entry point group
    plugin = pm.get_plugin("progress")
    plugin.setup(store=store, clock=lambda: now)
    yield pm
    plugin.reset()


@pytest.fixture
def hook(pm):
    """``hook.name(**kwargs)``: the host's call, with every result checked to be plain data."""
    class Caller:
        def __getattr__(self, name):
            def call(**kwargs):
                result = getattr(pm.hook, name)(**kwargs)
                assert_plain(result)
                return result
            return call
    return Caller()


def submit_intake(hook, intake_payload, **overrides):
    return hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                 answers=intake_payload(**overrides), author="t1", at="2026-01-05T09:00:00+00:00")


def test_a_host_drives_intake_notes_and_panel_through_the_entry_point(pm, hook, store, intake_payload, note_payload):
    # the plugin came from the installed distribution's entry point, not from an import here
    (ep,) = [e for e in entry_points(group=hookspecs.ENTRY_POINT_GROUP) if e.name == "progress"]
    assert pm.get_plugin("progress").__name__ == ep.value
    pm.check_pending()

    # intake: the section to render, validation, submission, the stored answers coming back
    (section,) = hook.intake_sections(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    assert section["id"] == SECTION and section["values"] is None
    assert [f["id"] for f in section["fields"]][:4] == ["hopes", "better_looks_like", "small_shift", "goals"]
    assert next(f for f in section["fields"] if f["id"] == "private_reflection")["therapist_only"] is True
    assert hook.validate_intake(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                answers=intake_payload()) == {}
    bad = intake_payload(goals=[{"words": "Sleep", "whose": "client", "baseline": 11}])
    assert hook.validate_intake(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION, answers=bad) == {
        "goals": {0: {"baseline": ["Ratings are 0-10; got 11."]}}}
    recorded = submit_intake(hook, intake_payload)
    assert recorded == {"status": "recorded", "agreed": True, "intake_id": "intake-2026-01-05", "goals": [
        {"id": "g1", "rank": 1, "words": "Sleep through most nights", "baseline": 3},
        {"id": "g2", "rank": 2, "words": "Say no to my boss once", "baseline": 2}]}
    draft = hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id="c-draft", section_id=SECTION,
                                  answers=intake_payload(goals_reviewed=False), author="t1", at="2026-01-05T10:00:00Z")
    assert draft["status"] == "recorded" and draft["agreed"] is False
    (section,) = hook.intake_sections(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    assert [g["words"] for g in section["values"]["goals"]] == ["Sleep through most nights", "Say no to my boss once"]
    assert section["values"]["agreed_on"] == "2026-01-05"
    assert section["values"]["private_reflection"] == "I want to rescue"

    # the tag picker: active tags grouped by category, therapist-only flagged, the client's goals
    (fields,) = hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type="progress-note")
    assert fields["type"] == "tag-picker" and fields["vocabulary_version"] == 1
    assert [c["id"] for c in fields["categories"]] == ["movement", "awareness", "action", "relationship", "therapist"]
    flagged = {t["code"] for c in fields["categories"] for t in c["tags"] if t["therapist_only"]}
    assert flagged == {"let-go-of-fixing", "strain-noticed"}
    assert [g["id"] for g in fields["goals"]] == ["g1", "g2"]

    # a valid note
    good = note_payload(tags=[{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]},
                              {"code": "moment-of-connection"}], note_id="n-good")
    assert hook.validate_note(locale=None, note=good) == [{}]
    (saved,) = hook.note_saved(locale=None, note=good)
    assert saved == {"status": "saved", "note_id": "n-good",
                     "tags": [{"code": "step-forward", "vocabulary_version": 1, "goals": ["g1"]},
                              {"code": "moment-of-connection", "vocabulary_version": 1, "goals": []}],
                     "ratings": [{"goal": "g1", "value": 5, "rated_by": "client", "level": None}],
                     "review_due": None}

    # an invalid note: an unknown tag, and a rating of a goal the tag does not link
    invalid = note_payload(tags=[{"code": "no-such-tag"},
                                 {"code": "setback", "goals": [], "ratings": [{"goal": "g2", "value": 3}]}],
                           note_id="n-bad")
    expected = {"tags": {
        0: {"code": ["Unknown tag code 'no-such-tag' in vocabulary version 1."]},
        1: {"ratings": {0: {"goal": ["Rating for goal 2 needs the tag to link that goal."]}}}}}
    assert hook.validate_note(locale=None, note=invalid) == [expected]
    assert hook.note_saved(locale=None, note=invalid) == [{"status": "rejected", "note_id": "n-bad", "errors": expected}]
    # a rating that names no goal at all is caught by the schema, at the field
    no_goal = note_payload(tags=[{"code": "setback", "goals": ["g2"], "ratings": [{"value": 3}]}], note_id="n-bad2")
    assert hook.validate_note(locale=None, note=no_goal) == [{"tags": {0: {"ratings": {0: {
        "goal": ["A rating needs a goal link: say which goal it rates."]}}}}}]
    assert "n-bad" not in store.load_state(CLINIC, CLIENT).notes

    # a signed note; its tags cannot change afterwards
    signed = note_payload(tags=[{"code": "holding-steady", "goals": ["g2"], "ratings": [{"goal": "g2", "value": 4}]}],
                          note_id="n-signed")
    (result,) = hook.note_signed(locale=None, note=signed)
    assert result["status"] == "signed" and result["tags"][0]["code"] == "holding-steady"
    assert store.load_state(CLINIC, CLIENT).notes["n-signed"].signed is True
    (again,) = hook.note_saved(locale=None, note=signed)
    assert again["status"] == "rejected" and "addendum" in again["errors"]["note"][0]

    # a deleted note
    assert hook.note_deleted(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_id="n-good",
                             at="2026-01-20T10:00:00+00:00") == [{"status": "deleted", "note_id": "n-good"}]
    assert hook.note_deleted(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_id="n-good",
                             at="2026-01-20T10:00:00+00:00") == [{"status": "not-recorded", "note_id": "n-good"}]
    assert set(store.load_state(CLINIC, CLIENT).notes) == {"n-signed"}

    # the progress panel
    (panel,) = hook.chart_panels(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    assert panel["id"] == "progress" and panel["title"] == "Progress"
    assert panel["html"].startswith('<section class="pp-panel"') and "<html" not in panel["html"]
    assert "Sleep through most nights" in panel["html"]
    data = panel["data"]
    assert [g["words"] for g in data["goals"]] == ["Sleep through most nights", "Say no to my boss once"]
    assert [s["note_id"] for s in data["sessions"]] == ["n-signed"]        # the deleted note is gone
    assert [(m["note_id"], m["code"]) for m in data["markers"]] == [("n-signed", "holding-steady")]
    g2 = data["goals"][1]
    assert [p["value"] for p in g2["client"]] == [2, 4]                     # baseline, then the signed re-rating
    pm.check_pending()


def test_a_protected_note_is_refused_without_reading_its_tags(hook, store, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    note = note_payload(note_type="psychotherapy-note", note_id="n-pt", tags=[{"code": 42, "junk": True}])
    assert hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type="psychotherapy-note") == []
    assert hook.validate_note(locale=None, note=note) == [{}]
    (result,) = hook.note_saved(locale=None, note=note)
    assert result["status"] == "refused" and result["note_id"] == "n-pt"
    assert "n-pt" not in store.load_state(CLINIC, CLIENT).notes
    refusals = [r for r in store.audit_rows(CLINIC) if r["action"] == "note.refuse"]
    assert len(refusals) == 1 and refusals[0]["outcome"] == "refused-protected"
    assert "n-pt" in refusals[0]["subject"] and "psychotherapy-note" in refusals[0]["subject"]


@pytest.mark.parametrize("note_type", ["Psychotherapy Note", "psychotherapy_note", "psychotherapy", "sud-counseling"])
def test_every_spelling_of_a_protected_type_is_refused(hook, store, intake_payload, note_payload, note_type):
    submit_intake(hook, intake_payload)
    note = note_payload([{"code": "setback"}], note_type=note_type, note_id="n-pt")
    assert hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type=note_type) == []
    (result,) = hook.note_signed(locale=None, note=note)
    assert (result["status"], result["reason_code"]) == ("refused", "refused-protected")
    assert "n-pt" not in store.load_state(CLINIC, CLIENT).notes
    (refusal,) = [r for r in store.audit_rows(CLINIC) if r["action"] == "note.refuse"]
    assert refusal["outcome"] == "refused-protected"


def test_a_clinic_list_of_readable_types_refuses_other_types_unread(pm, hook, store, now, intake_payload,
                                                                   note_payload):
    pm.get_plugin("progress").setup(store=store, clock=lambda: now,
                                    readable_note_types={CLINIC: ["Progress Note"]})
    submit_intake(hook, intake_payload)
    assert hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type="Therapy session") == []
    assert hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type="progress_note")
    other = note_payload(note_type="Therapy session", note_id="n-other", tags=[{"code": 42, "junk": True}])
    assert hook.validate_note(locale=None, note=other) == [{}]
    (result,) = hook.note_saved(locale=None, note=other)
    assert (result["status"], result["reason_code"]) == ("refused", "refused-not-readable")
    (untyped,) = hook.note_saved(locale=None, note=note_payload([{"code": "setback"}], note_id="n-untyped"))
    assert untyped["reason_code"] == "refused-not-readable"
    (listed,) = hook.note_saved(locale=None, note=note_payload([{"code": "setback"}], note_type="Progress-Notes", note_id="n-ok"))
    assert listed["status"] == "saved"
    assert set(store.load_state(CLINIC, CLIENT).notes) == {"n-ok"}
    refusals = [r for r in store.audit_rows(CLINIC) if r["action"] == "note.refuse"]
    assert [r["outcome"] for r in refusals] == ["refused-not-readable"] * 2


def test_malformed_notes_come_back_as_field_errors(hook, note_payload):
    note = note_payload(tags=[{"code": "step-forward"}])
    del note["clinic_id"]
    (result,) = hook.note_saved(locale=None, note={**note, "text": "never sent"})
    assert result["status"] == "rejected"
    assert result["errors"] == {"clinic_id": ["Missing data for required field."], "text": ["Unknown field."]}
    (deleted,) = hook.note_deleted(locale=None, clinic_id=CLINIC, client_id="", note_id="n1", at="yesterday")
    assert deleted["status"] == "rejected" and set(deleted["errors"]) == {"client_id", "at"}


def test_a_signed_key_does_not_sign_a_saved_note(hook, store, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    (result,) = hook.note_saved(locale=None, note=note_payload(tags=[{"code": "setback"}], note_id="n1", signed=True))
    assert result["status"] == "saved"
    assert store.load_state(CLINIC, CLIENT).notes["n1"].signed is False


def test_a_due_review_is_reported_with_the_save(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload, review_cadence="every-session")
    (result,) = hook.note_saved(locale=None, note=note_payload(tags=[{"code": "setback"}], note_id="n1"))
    assert result["review_due"] == {"last_reviewed": "2026-01-05T00:00:00+00:00", "cadence": "every-session"}


def test_intake_hooks_answer_only_for_their_own_section(hook, intake_payload):
    assert hook.validate_intake(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id="other", answers={}) is None
    assert hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id="other", answers={},
                                 author="t1", at="2026-01-05T09:00:00+00:00") is None


def test_a_rejected_intake_lists_answer_errors_at_the_top(hook, intake_payload):
    result = hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                   answers=intake_payload(review_cadence="weekly"), author="", at="2026-01-05")
    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"review_cadence", "author"}


def test_client_audience_hides_therapist_only_fields_and_answers(hook, intake_payload):
    submit_intake(hook, intake_payload)
    (section,) = hook.intake_sections(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="client")
    assert "private_reflection" not in [f["id"] for f in section["fields"]]
    assert "private_reflection" not in section["values"]
    assert section["values"]["better_looks_like"] == "Waking up less tired"


def test_a_redefinition_through_the_hooks_and_the_form_values_sent_back_keep_it(hook, intake_payload):
    submit_intake(hook, intake_payload)
    first, _ = intake_payload()["goals"]
    redefined = {"id": "g2b", "replaces": "g2", "words": "Speak up at work", "whose": "client", "baseline": 4, "rank": 2}
    result = submit_intake(hook, intake_payload, goals=[first, redefined])
    assert [g["id"] for g in result["goals"]] == ["g1", "g2b"]
    bad = submit_intake(hook, intake_payload, goals=[first, {**redefined, "replaces": "g1"}])
    assert bad["status"] == "rejected" and "replaces" in str(bad["errors"])      # the field is named
    (section,) = hook.intake_sections(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    goals = section["values"]["goals"]
    assert [(g["id"], g.get("replaces")) for g in goals] == [("g1", None), ("g2b", "g2")]   # the old one has ended
    again = hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                  answers={**section["values"], "agreed": True, "goals_reviewed": True},
                                  author="t1", at="2026-01-06T09:00:00+00:00")
    assert again["status"] == "recorded" and [g["id"] for g in again["goals"]] == ["g1", "g2b"]


def test_request_hooks_raise_on_malformed_host_input(pm):
    with pytest.raises(ValidationError) as exc:
        pm.hook.chart_panels(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="everyone")
    assert "audience" in exc.value.messages
    with pytest.raises(ValidationError):
        pm.hook.admin_pages(locale=None, clinic_id="")


def test_admin_page_lists_the_vocabulary(hook):
    (page,) = hook.admin_pages(locale=None, clinic_id=CLINIC)
    assert page["data"]["vocabulary_version"] == 1
    codes = [t["code"] for t in page["data"]["tags"]]
    assert len(codes) == 17 and "let-go-of-fixing" in codes
    assert '<span lang="en" dir="auto">Came back after a tough session</span>' in page["html"]
    assert '<span lang="hi" dir="auto">मुश्किल सेशन के बाद फिर आए</span>' in page["html"]
    assert "Category: Movement · Direction: Toward · Audience: Everyone · Status: Active" in page["html"]
    came_back = next(t for t in page["data"]["tags"] if t["code"] == "came-back")
    assert came_back["label"] == "Came back after a tough session" and came_back["labels"] == {"hi": "मुश्किल सेशन के बाद फिर आए"}


def test_the_configure_hook_opens_the_store_it_names(sqlite_url, tmp_path, intake_payload):
    pm = make_manager()
    plugin = pm.get_plugin("progress")
    try:
        pm.hook.configure(config={"progress_plugin": {"store_url": sqlite_url}, "another_plugin": {"x": 1}})
        submit_intake(pm.hook, intake_payload)
        from progress_plugin.store import Store
        other = Store.open(sqlite_url)
        assert other.load_state(CLINIC, CLIENT).intake.goals[0].words == "Sleep through most nights"
        other.close()
        with pytest.raises(ValidationError) as exc:
            pm.hook.configure(config={"progress_plugin": {"store_url": 5}})
        assert "store_url" in exc.value.messages
    finally:
        plugin.reset()


# -- hostile host input: each of these raised, stored what cannot be shown, or echoed it, before ----
def test_a_lone_surrogate_or_nul_in_a_note_is_rejected_naming_the_field_and_nothing_is_stored(hook, store,
                                                                                            note_payload):
    for field, value in [("client_id", "c\ud800"), ("author", "t\x00"), ("note_type", "\udfff")]:
        (result,) = hook.note_saved(locale=None, note=note_payload(tags=[{"code": "setback"}], **{field: value}))
        assert result["status"] == "rejected" and field in result["errors"], result
    (panel,) = hook.chart_panels(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    panel["html"].encode("utf-8")
    assert store.load_state(CLINIC, CLIENT).notes == {}


def test_a_5000_digit_baseline_is_rejected_naming_it(hook, intake_payload, note_payload):
    goals = [{"words": "Sleep", "whose": "client", "baseline": 10 ** 5000}]
    result = hook.intake_submitted(locale=None, clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                   answers=intake_payload(goals=goals), author="t1", at="2026-01-05T09:00:00+00:00")
    assert result["status"] == "rejected"
    assert result["errors"]["goals"][0]["baseline"][0].startswith("Number out of range")


def test_a_rejection_echoes_the_note_id_only_when_it_is_plain_text(hook):
    (deleted,) = hook.note_deleted(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_id="n\ud800", at="2026-01-05")
    assert deleted["status"] == "rejected" and deleted["note_id"] is None and "note_id" in deleted["errors"]
    (deleted,) = hook.note_deleted(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_id=[[[1]]], at="2026-01-05")
    assert deleted["note_id"] is None


# -- tag_labels: what a tag meant at the version a note recorded --------------------------
def _rename_then_retire(store, now, clinic=CLINIC):
    """Version 2 renames feeling-more; version 3 retires it."""
    store.ensure_clinic(clinic, now)
    v1 = store.vocabulary(clinic)
    v2 = store.save_vocabulary(clinic, v1.edit("feeling-more", label="Feelings closer"), "admin", "edit feeling-more", now)
    store.save_vocabulary(clinic, v2.retire("feeling-more"), "admin", "retire feeling-more", now)


def test_tag_labels_resolves_each_pair_at_its_own_version(hook, store, now):
    _rename_then_retire(store, now)
    pairs = [{"code": "feeling-more", "version": 1}, {"code": "feeling-more", "version": 2},
             {"code": "feeling-more", "version": 3}, {"code": "let-go-of-fixing", "version": 1},
             {"code": "feeling-more", "version": 1}]
    labels = hook.tag_labels(locale=None, clinic_id=CLINIC, pairs=pairs)["labels"]
    assert [(x["code"], x["version"], x["label"], x["status"]) for x in labels] == [
        ("feeling-more", 1, "Feeling more", "active"), ("feeling-more", 2, "Feelings closer", "active"),
        ("feeling-more", 3, "Feelings closer", "retired"), ("let-go-of-fixing", 1, "Let go of fixing", "active"),
        ("feeling-more", 1, "Feeling more", "active")]
    first = labels[0]
    assert first == {"code": "feeling-more", "version": 1, "found": True, "label": "Feeling more",
                     "description": "Feelings are more available, including painful ones.", "category": "awareness",
                     "direction": "mixed", "audience": "all", "therapist_only": False, "status": "active", "role": None,
                     "labels": {"hi": "ज़्यादा महसूस करना"},
                     "descriptions": {"hi": "भावनाएँ ज़्यादा महसूस हो रही हैं, दर्द देने वाली भी।"}}
    assert labels[3]["audience"] == "therapist" and labels[3]["therapist_only"] is True


def test_tag_labels_reports_an_unknown_code_or_version_in_its_own_entry(hook, store, now):
    labels = hook.tag_labels(locale=None, clinic_id=CLINIC, pairs=[
        {"code": "no-such-tag", "version": 1}, {"code": "setback", "version": 9}, {"code": "setback", "version": 1}])["labels"]
    assert labels[0] == {"code": "no-such-tag", "version": 1, "found": False,
                         "problem": "Unknown tag code 'no-such-tag' in vocabulary version 1."}
    assert labels[1] == {"code": "setback", "version": 9, "found": False,
                         "problem": "There is no vocabulary version 9."}
    assert labels[2]["found"] is True and labels[2]["label"] == "Setback"
    assert hook.tag_labels(locale=None, clinic_id=CLINIC, pairs=[]) == {"labels": []}


def test_tag_labels_reads_only_the_given_clinics_vocabulary(hook, store, now):
    _rename_then_retire(store, now, clinic="clinic-b")
    (mine,) = hook.tag_labels(locale=None, clinic_id=CLINIC, pairs=[{"code": "feeling-more", "version": 2}])["labels"]
    assert mine["found"] is False            # clinic-a has only version 1; clinic-b's version 2 is not shown
    (theirs,) = hook.tag_labels(locale=None, clinic_id="clinic-b", pairs=[{"code": "feeling-more", "version": 2}])["labels"]
    assert theirs["label"] == "Feelings closer"


@pytest.mark.parametrize("clinic_id, pairs, expected", [
    (CLINIC, [{"code": "setback"}], {"pairs": {0: {"version": ["Missing data for required field."]}}}),
    (CLINIC, [{"code": "setback", "version": "1"}], {"pairs": {0: {"version": ["Not a valid integer."]}}}),
    (CLINIC, [{"code": "setback", "version": 0}], {"pairs": {0: {"version": ["A version is between 1 and 2147483647."]}}}),
    (CLINIC, [{"code": "set back", "version": 1}], {"pairs": {0: {"code": ["Not a tag code: set back."]}}}),
    (CLINIC, [{"code": "setback", "version": 1, "label": "x"}], {"pairs": {0: {"label": ["Unknown field."]}}}),
    (CLINIC, "setback@1", {"pairs": ["Not a valid list."]}),
    (CLINIC, [{"code": "setback", "version": 1}] * 501, {"pairs": ["At most 500 pairs per request."]}),
    ("", [], {"clinic_id": ["Length must be between 1 and 128."]}),
])
def test_tag_labels_rejects_malformed_input_naming_the_field(pm, clinic_id, pairs, expected):
    with pytest.raises(ValidationError) as caught:
        pm.hook.tag_labels(locale=None, clinic_id=clinic_id, pairs=pairs)
    assert caught.value.messages == expected


def test_a_note_with_two_goal_ratings_and_no_tags_is_accepted(hook, store, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    note = note_payload(ratings=[{"goal": "g1", "value": 6}, {"goal": "g2", "value": 4, "rated_by": "therapist"}])
    assert hook.validate_note(locale=None, note=note) == [{}]
    (saved,) = hook.note_saved(locale=None, note=note)
    assert saved["tags"] == [] and saved["ratings"] == [
        {"goal": "g1", "value": 6, "rated_by": "client", "level": None},
        {"goal": "g2", "value": 4, "rated_by": "therapist", "level": None}]
    (panel,) = hook.chart_panels(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    assert "6" in panel["html"]
    stored = store.load_state(CLINIC, CLIENT).notes[note["note_id"]]
    assert stored.tags == () and {(r.goal_id, r.value, r.rater) for r in stored.ratings} == {
        ("g1", 6, "client"), ("g2", 4, "therapist")}


def test_only_a_carers_goal_is_rated_by_the_carer(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload, goals=[
        {"words": "Sleep through most nights", "whose": "client", "baseline": 3, "rank": 1},
        {"words": "Mealtimes without a fight", "whose": "carer", "baseline": 2, "rank": 2}])
    carer_rates_g2 = note_payload(ratings=[{"goal": "g2", "value": 5, "rated_by": "carer"}])
    assert hook.validate_note(locale=None, note=carer_rates_g2) == [{}]
    (saved,) = hook.note_saved(locale=None, note=carer_rates_g2)
    assert saved["ratings"] == [{"goal": "g2", "value": 5, "rated_by": "carer", "level": None}]
    assert hook.validate_note(locale=None, note=note_payload(ratings=[{"goal": "g1", "value": 5, "rated_by": "carer"}])) == [
        {"ratings": {0: {"rated_by": ["Only a carer's goal is rated by the carer; goal 1 is the client's."]}}}]


def test_the_deprecated_shape_still_works_and_counts_against_the_new_one(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    old = note_payload(tags=[{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}])
    (saved,) = hook.note_saved(locale=None, note=old)
    assert saved["ratings"] == [{"goal": "g1", "value": 5, "rated_by": "client", "level": None}]
    both = note_payload(tags=[{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}],
                        ratings=[{"goal": "g1", "value": 6}, {"goal": "g9", "value": 1}])
    assert hook.validate_note(locale=None, note=both) == [{"ratings": {
        0: {"goal": ["Goal 1 is already rated by the client on this note."]},
        1: {"goal": ["Goal 'g9' is not one of this client's goals."]}}}]


def test_a_self_rating_is_not_yet_accepted_on_a_note(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    (errors,) = hook.validate_note(locale=None, note=note_payload(ratings=[{"goal": "g1", "value": 5, "source": "self"}]))
    assert errors == {"ratings": {0: {"source": ["Must be one of: session."]}}}


# -- the locale argument ----------------------------------------------------------------------
def test_a_malformed_locale_is_an_error_naming_it(pm):
    with pytest.raises(ValidationError) as err:
        pm.hook.admin_pages(clinic_id="clinic-a", locale="not a language!")
    assert list(err.value.messages) == ["locale"]


def test_a_locale_the_catalogs_lack_falls_back_without_error(pm):
    [page] = pm.hook.admin_pages(clinic_id="clinic-a", locale="fr-CA")
    assert page["id"] == "progress-vocabulary"


def test_chart_panels_says_the_panel_in_the_locale_asked_else_the_clinics_language(hook, store, now, intake_payload):
    submit_intake(hook, intake_payload)

    def panel(locale):
        (shown,) = hook.chart_panels(locale=locale, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
        assert "Sleep through most nights" in shown["html"]                 # the client's words, as written
        return shown

    english, hindi = panel(None), panel("hi-IN")
    assert english["title"] == "Progress" and 'lang="en"' in english["html"] and "Therapist view" in english["html"]
    assert hindi["title"] == "प्रगति" and hindi["html"].startswith('<section class="pp-panel" lang="hi" dir="ltr"')
    assert "थेरेपिस्ट के लिए" in hindi["html"] and "Therapist view" not in hindi["html"]
    assert hindi["data"]["goals"] == english["data"]["goals"]                # the data stays the same
    store.ensure_clinic(CLINIC, now, language="hi")
    assert panel(None)["title"] == "प्रगति" and panel("en")["title"] == "Progress"


def test_chart_panels_draws_once_per_state_and_language(hook, intake_payload, note_payload, monkeypatch):
    from progress_plugin.hosts import plugin
    from progress_plugin.service.panel_cache import PanelCache
    from progress_plugin.view import panel
    monkeypatch.setattr(plugin, "panels", PanelCache())
    drawn, draw = [], panel.render_html
    monkeypatch.setattr(panel, "render_html", lambda *a, **k: drawn.append(1) or draw(*a, **k))
    submit_intake(hook, intake_payload)

    def shown(locale=None):
        (out,) = hook.chart_panels(locale=locale, clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
        return out

    first, again = shown(), shown()
    assert first == again and len(drawn) == 1                          # the second: the kept copy, same data
    assert shown("hi")["html"] != first["html"] and len(drawn) == 2     # another language is its own panel
    hook.note_saved(locale=None, note=note_payload(tags=[{"code": "setback"}], note_id="n-new", signed=True))
    changed = shown()
    assert len(drawn) == 3 and changed["html"] != first["html"] and [s["note_id"] for s in changed["data"]["sessions"]]


# -- languages: the tag picker, tag_labels and the admin page ------------------------------------
def _picker_labels(fields) -> dict:
    return {t["code"]: (t["label"], t["description"]) for c in fields["categories"] for t in c["tags"]}


def _add_tag(store, now, clinic=CLINIC, **texts):
    """Version 2 adds 'named-a-need' (relationship), with the given per-language texts."""
    from progress_plugin.core.vocabulary import Tag
    store.ensure_clinic(clinic, now)
    v1 = store.vocabulary(clinic)
    tag = Tag("named-a-need", "Named a need", "Said what they need.", "relationship", "toward", **texts)
    store.save_vocabulary(clinic, v1.add(tag), "admin", "add named-a-need", now)


def test_the_picker_in_hindi_has_hindi_labels_and_falls_back_to_the_base_text_for_a_tag_without(hook, store, now):
    _add_tag(store, now)
    (fields,) = hook.note_fields(locale="hi", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    assert fields["language"] == "hi" and fields["title"] == "प्रगति के टैग"
    labels = _picker_labels(fields)
    assert labels["step-forward"] == ("एक कदम आगे", "जिसकी क्लाइंट को उम्मीद है, उस तरफ़ कुछ बढ़ा।")
    assert labels["holding-steady"][0] == "संभले रहना" and labels["stirring-up"][0] == "मन में हलचल"
    assert labels["setback"][0] == "एक कदम पीछे" and labels["repair"][0] == "रिश्ते में सुधार"
    assert labels["named-a-need"] == ("Named a need", "Said what they need.")        # no Hindi: the base text
    categories = {c["id"]: c["label"] for c in fields["categories"]}
    assert categories == {"movement": "उतार-चढ़ाव", "awareness": "एहसास", "action": "कदम उठाना",
                          "relationship": "रिश्ता", "therapist": "थेरेपिस्ट"}
    step = next(t for c in fields["categories"] for t in c["tags"] if t["code"] == "step-forward")
    assert step["direction"] == "toward" and step["direction_label"] == "आगे की ओर"
    # the same hook in English (and a region tag reads as its language)
    (english,) = hook.note_fields(locale="en-IN", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    assert english["title"] == "Progress tags" and _picker_labels(english)["step-forward"][0] == "Step forward"
    assert english["categories"][0]["label"] == "Movement"


def test_without_a_locale_the_picker_speaks_the_clinics_default_language(hook, store, now):
    store.ensure_clinic(CLINIC, now, language="hi")
    (fields,) = hook.note_fields(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    assert fields["language"] == "hi" and _picker_labels(fields)["setback"][0] == "एक कदम पीछे"
    (english,) = hook.note_fields(locale="en", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    assert _picker_labels(english)["setback"][0] == "Setback"       # English asked: the base text, not Hindi


def test_a_language_the_tag_lacks_falls_back_to_the_clinics_default_language(hook, store, now, monkeypatch):
    # Tamil, as if the catalogs carried it: a tag without Tamil shows the clinic's language (Hindi),
    # then the base text for a tag without Hindi either
    from progress_plugin import lang
    monkeypatch.setattr(lang, "LANGUAGES", (*lang.LANGUAGES, "ta"))
    _add_tag(store, now, labels={"ta": "தேவையைச் சொன்னார்"})
    store.ensure_clinic(CLINIC, now, language="hi")
    (fields,) = hook.note_fields(locale="ta", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    labels = _picker_labels(fields)
    assert labels["named-a-need"][0] == "தேவையைச் சொன்னார்"
    assert labels["setback"][0] == "एक कदम पीछे"
    (pair,) = hook.tag_labels(locale="ta", clinic_id=CLINIC, pairs=[{"code": "setback", "version": 1}])["labels"]
    assert pair["label"] == "एक कदम पीछे"
    store.ensure_clinic(CLINIC, now, language="en")
    (fields,) = hook.note_fields(locale="ta", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    assert _picker_labels(fields)["setback"][0] == "Setback"


def test_tag_labels_answer_in_the_asked_language_at_each_version_with_every_language_kept(hook, store, now):
    _rename_then_retire(store, now)
    labels = hook.tag_labels(locale="hi", clinic_id=CLINIC, pairs=[
        {"code": "feeling-more", "version": 1}, {"code": "nope", "version": 1}, {"code": "setback", "version": 9}])["labels"]
    assert labels[0]["label"] == "ज़्यादा महसूस करना" and labels[0]["labels"] == {"hi": "ज़्यादा महसूस करना"}
    assert labels[0]["description"] == "भावनाएँ ज़्यादा महसूस हो रही हैं, दर्द देने वाली भी।"
    assert labels[1]["problem"] == "टैग की सूची के वर्ज़न 1 में टैग कोड 'nope' नहीं है।"
    assert labels[2]["problem"] == "टैग की सूची का वर्ज़न 9 नहीं है।"


def test_a_version_stored_before_tags_had_languages_loads_and_falls_back_to_its_base_texts(hook, store, now):
    from progress_plugin.store import tables
    _add_tag(store, now, labels={"hi": "ज़रूरत बताई"})
    old = [{k: v for k, v in t.as_dict().items() if k not in ("labels", "descriptions")}
           for t in store.vocabulary(CLINIC).tags]
    with store.begin() as c:                   # version 2 as it was stored before: no labels/descriptions keys
        c.execute(tables.vocabulary_versions.update().where(tables.vocabulary_versions.c.clinic_id == CLINIC,
                                                            tables.vocabulary_versions.c.version == 2).values(tags=old))
    (fields,) = hook.note_fields(locale="hi", clinic_id=CLINIC, client_id=CLIENT, note_type=None)
    labels = _picker_labels(fields)
    assert labels["named-a-need"][0] == "Named a need" and labels["step-forward"][0] == "Step forward"
    (page,) = hook.admin_pages(locale="hi", clinic_id=CLINIC)
    assert all(t["labels"] == {} for t in page["data"]["tags"])


def test_the_admin_page_in_hindi(hook, store, now):
    (page,) = hook.admin_pages(locale="hi", clinic_id=CLINIC)
    assert page["title"] == "प्रगति के टैग" and page["language"] == "hi"
    html = page["html"]
    assert "<th>टैग</th><th>विवरण</th>" in html and '<span lang="hi">हिन्दी:</span>' in html
    assert "टैग की सूची का वर्ज़न 1।" in html and "किसके लिए: सिर्फ़ थेरेपिस्ट के लिए" in html
    assert "कैटेगरी: उतार-चढ़ाव · दिशा: पीछे की ओर" in html          # setback: category and direction
    assert "भूमिका: रिश्ते में सुधार" in html                            # repair's role
    assert "Category" not in html and "Vocabulary version" not in html
# -- what a person reads, in the locale's words ------------------------------------------------
def test_a_bad_note_gets_its_field_errors_in_hindi_with_the_field_names_kept(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    note = note_payload(ratings=[{"goal": "g1", "value": 11}], colour="red")
    del note["author"]
    expected = {"author": ["यह भरना ज़रूरी है।"], "colour": ["यह फ़ील्ड यहाँ नहीं होता; इसे हटा दें।"],
                "ratings": {0: {"value": ["अंक 0 से 10 तक होते हैं; यहाँ 11 है।"]}}}
    assert hook.validate_note(locale="hi", note=note) == [expected]
    (saved,) = hook.note_saved(locale="hi-IN", note=note)
    assert saved["status"] == "rejected" and saved["errors"] == expected
    (english,) = hook.validate_note(locale=None, note=note)
    assert english["author"] == ["Missing data for required field."] and english.keys() == expected.keys()


def test_the_cores_reasons_for_rejecting_a_note_are_said_in_hindi_goal_names_too(hook, intake_payload, note_payload):
    submit_intake(hook, intake_payload)
    note = note_payload(tags=[{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}],
                        ratings=[{"goal": "g1", "value": 6}, {"goal": "g9", "value": 1},
                                 {"goal": "g2", "value": 3, "rated_by": "carer"}])
    assert hook.validate_note(locale="hi", note=note) == [{"ratings": {
        0: {"goal": ["लक्ष्य 1 को इस नोट पर क्लाइंट पहले ही अंक दे चुके हैं।"]},
        1: {"goal": ["लक्ष्य 'g9' इस क्लाइंट के लक्ष्यों में नहीं है।"]},
        2: {"rated_by": ["देखभाल करने वाले सिर्फ़ अपने लक्ष्य पर अंक देते हैं; लक्ष्य 2 क्लाइंट का है।"]}}}]
    (signed,) = hook.note_signed(locale=None, note=note_payload(tags=[{"code": "setback"}], note_id="n-s"))
    assert signed["status"] == "signed"
    (again,) = hook.note_saved(locale="hi", note=note_payload(tags=[{"code": "step-forward"}], note_id="n-s"))
    assert again == {"status": "rejected", "note_id": "n-s", "errors": {
        "note": ["यह नोट साइन हो चुका है; इसके प्रगति के टैग अब सिर्फ़ addendum से बदल सकते हैं।"]}}


def test_a_refused_notes_reason_is_said_in_hindi_and_its_code_stays(hook, note_payload):
    note = note_payload([{"code": "setback"}], note_type="psychotherapy-note", note_id="n-pt")
    (result,) = hook.note_signed(locale="hi", note=note)
    assert result == {"status": "refused", "note_id": "n-pt", "reason_code": "refused-protected",
                      "reason": "साइकोथेरेपी नोट और SUD काउंसलिंग नोट पढ़े नहीं जाते; इन पर प्रगति के टैग दर्ज नहीं होते।"}
    (english,) = hook.note_saved(locale="en", note=note)
    assert english["reason"].startswith("Psychotherapy notes and SUD counselling notes are not read")


def test_without_a_locale_the_clinics_default_language_is_used(hook, store, now, note_payload):
    store.ensure_clinic(CLINIC, now, language="hi")
    (deleted,) = hook.note_deleted(locale=None, clinic_id=CLINIC, client_id=CLIENT, note_id="n1", at="yesterday")
    assert deleted == {"status": "rejected", "note_id": "n1", "errors": {"at": ["सही तारीख़ और समय दें (ISO 8601)।"]}}
    (english,) = hook.note_deleted(locale="en", clinic_id=CLINIC, client_id=CLIENT, note_id="n1", at="yesterday")
    assert english["errors"] == {"at": ["Not a valid datetime."]}
    note = note_payload(ratings=[{"goal": "g1", "value": 11}])
    assert hook.validate_note(locale=None, note=note) == [{"ratings": {0: {"value": ["अंक 0 से 10 तक होते हैं; यहाँ 11 है।"]}}}]
    stranger = dict(note, clinic_id="\ud800")          # no clinic can have this id: English, and no error
    (errors,) = hook.validate_note(locale=None, note=stranger)
    assert errors["ratings"] == {0: {"value": ["Ratings are 0-10; got 11."]}} and "clinic_id" in errors


def test_a_note_hook_with_a_malformed_locale_is_an_error_naming_it(pm, note_payload):
    for call in (lambda: pm.hook.validate_note(note=note_payload(), locale="not a language!"),
                 lambda: pm.hook.note_saved(note=note_payload(), locale=["hi"]),
                 lambda: pm.hook.note_deleted(clinic_id=CLINIC, client_id=CLIENT, note_id="n1", at=None, locale=7)):
        with pytest.raises(ValidationError) as err:
            call()
        assert list(err.value.messages) == ["locale"]
def test_the_intake_section_comes_in_the_asked_language_and_the_clients_words_as_written(hook, intake_payload):
    goals = [{"words": "रात को पूरी नींद सोना", "whose": "client", "baseline": 3, "rank": 1},
             {"words": "Say no to my boss once", "whose": "client", "baseline": 2, "rank": 2}]
    recorded = submit_intake(hook, intake_payload, goals=goals, better_looks_like="सुबह थकान कम हो")
    assert [g["words"] for g in recorded["goals"]] == ["रात को पूरी नींद सोना", "Say no to my boss once"]
    (hindi,) = hook.intake_sections(locale="hi-IN", clinic_id=CLINIC, client_id=CLIENT, audience="client")
    (english,) = hook.intake_sections(locale=None, clinic_id=CLINIC, client_id=CLIENT, audience="client")
    assert hindi["title"] == "मिलकर तय करें कि प्रगति क्या है" and english["title"] == "Defining progress together"
    assert hindi["fields"][0]["label"] == "यहाँ आने से आपको क्या मिलने की उम्मीद है?"
    cadence = next(f for f in hindi["fields"] if f["id"] == "review_cadence")
    assert [(o["code"], o["label"]) for o in cadence["options"]][0] == ("every-session", "हर सेशन में")
    assert [f["id"] for f in hindi["fields"]] == [f["id"] for f in english["fields"]]
    assert hindi["values"] == english["values"]                          # the client's words untouched
    assert [g["words"] for g in hindi["values"]["goals"]] == ["रात को पूरी नींद सोना", "Say no to my boss once"]
    assert hindi["values"]["better_looks_like"] == "सुबह थकान कम हो"


class Marked(Words):
    """A language that says every marked string inside «…», to see which words went through it."""
    code = "xx"

    def gettext(self, message):
        return "«" + message + "»"


def test_intake_errors_are_said_in_the_asked_language(hook, intake_payload, monkeypatch):
    from progress_plugin import lang
    asked = []
    monkeypatch.setattr(lang, "words", lambda code=None: asked.append(code) or Marked())
    bad = intake_payload(goals=[{"words": "Sleep", "whose": "client", "baseline": 11}])
    problems = hook.validate_intake(locale="hi", clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION, answers=bad)
    assert problems == {"goals": {0: {"baseline": ["«Ratings are 0-10; got 11.»"]}}}
    result = hook.intake_submitted(locale="hi", clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                   answers=bad, author="t1", at="2026-01-05T09:00:00+00:00")
    assert result == {"status": "rejected", "errors": {"goals": {0: {"baseline": ["«Ratings are 0-10; got 11.»"]}}}}
    (section,) = hook.intake_sections(locale="hi", clinic_id=CLINIC, client_id=CLIENT, audience="therapist")
    assert section["title"] == "«Defining progress together»"
    assert asked == ["hi", "hi", "hi"]


def test_a_malformed_locale_is_a_field_error_of_the_intake_hooks(pm, intake_payload):
    problems = pm.hook.validate_intake(locale="not a language!", clinic_id=CLINIC, client_id=CLIENT,
                                       section_id=SECTION, answers=intake_payload())
    assert list(problems) == ["locale"]
    result = pm.hook.intake_submitted(locale=["hi"], clinic_id=CLINIC, client_id=CLIENT, section_id=SECTION,
                                      answers=intake_payload(), author="t1", at="2026-01-05T09:00:00+00:00")
    assert result["status"] == "rejected" and list(result["errors"]) == ["locale"]
    both = pm.hook.validate_intake(locale=7, clinic_id={"not": "an id"}, client_id=CLIENT, section_id=SECTION,
                                   answers=intake_payload())
    assert {"locale", "clinic_id"} <= set(both)
    with pytest.raises(ValidationError) as err:
        pm.hook.intake_sections(locale="not a language!", clinic_id=CLINIC, client_id=CLIENT, audience="client")
    assert list(err.value.messages) == ["locale"]

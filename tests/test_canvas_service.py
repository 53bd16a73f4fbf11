"""``POST /canvas/<clinic>``: what the Canvas plugin forwards, verified, run through the core, answered."""
import json
import logging
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progress_plugin.web import canvas
from progress_plugin.web import canvas_questionnaires
from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app
from progress_plugin.web.signatures import sign_hex
from progress_plugin.store import Store

CANVAS_SECRET = "canvas-signing-secret-0123456789abcdef"
PATIENT, NOTE_1 = "5350cd20de8a470aa570a852859ac87e", "b9a8c1b5-0f21-4d43-9a55-0c9d9f0d2a11"
NOTE_2 = "0d6e7a34-9a1f-4b45-8a55-33e0f0ad8b22"
GOAL_WORDS = "Sleep through most nights"
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)
INTAKE_ANSWERS = {
    "pp-intake.g1.words": GOAL_WORDS, "pp-intake.g1.whose": "client", "pp-intake.g1.baseline": "3",
    "pp-intake.g2.words": "Say no to my boss once", "pp-intake.g2.whose": "client", "pp-intake.g2.baseline": "2",
    "pp-intake.better_looks_like": "Waking up less tired", "pp-intake.review_cadence": "every-4-sessions",
    "pp-intake.agreed": "yes", "pp-intake.goals_reviewed": "yes",
}


@pytest.fixture
def config(sqlite_url):
    from progress_plugin.service.settings import load
    return load({"store": {"url": sqlite_url},
                          "clinics": [{"id": "clinic-c", "scheme": "x-signature", "secrets": [CANVAS_SECRET]},
                                      {"id": "clinic-w", "scheme": "standard-webhooks",
                                       "secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="]}]}, env={})


@pytest.fixture
def app(app_factory, config):
    return app_factory(config=config)


def encode(payload: dict) -> bytes:
    """The bytes the plugin signs and sends (hooks/canvas/forward.py encodes the same way)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def event(kind: str, **fields) -> dict:
    payload = {"version": 1, "event": kind, "event_id": fields.pop("event_id", "evt-1"),
               "sent_at": int(time.time()), "patient_id": PATIENT}
    payload.update(fields)
    return payload


def note_facts(note_id=NOTE_1, **extra) -> dict:
    return {"note_id": note_id, "author": "staff-1", "session_at": "2026-01-12T10:00:00+00:00",
            "note_type": {"system": "http://snomed.info/sct", "code": "448337001", "name": "Therapy session"}, **extra}


def post(client, payload, secret=CANVAS_SECRET, clinic="clinic-c", headers=None, body=None):
    body = encode(payload) if body is None else body
    sent = {"Content-Type": "application/json", "X-Signature": sign_hex(secret, body)}
    sent.update(headers or {})
    return client.post(f"/canvas/{clinic}", data=body, headers=sent)


def intake(client, answers=INTAKE_ANSWERS, **facts):
    return post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", event_id="cmd-intake", answers=answers,
                              **note_facts(**facts)))


def session(client, answers, note_id=NOTE_1):
    return post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", event_id=f"cmd-{note_id}", answers=answers,
                              **note_facts(note_id)))


def lock(client, note_id=NOTE_1, state="LKD", **facts):
    return post(client, event("NOTE_STATE_CHANGE_EVENT_UPDATED", state=state, **note_facts(note_id, **facts)))


def of_type(response, kind):
    return [e for e in response.json["effects"] if e["type"] == kind]


def card(response, key):
    (found,) = [e for e in of_type(response, "protocol_card") if e["key"] == key]
    return found


def tags_value(response):
    (meta,) = of_type(response, "note_metadata")
    assert meta["key"] == canvas.TAGS_KEY
    return meta["note_id"], json.loads(meta["value"])


def rows(app, table):
    store = app.extensions["progress_plugin"].store
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(table))]


# -- the course of one client -------------------------------------------------------------
def test_intake_then_tags_then_lock_answer_the_effects_canvas_applies(client, app):
    r = intake(client)
    assert (r.status_code, r.json["status"], r.json["event"]) == (200, "ok", "IntakeSubmitted")
    assert card(r, canvas.INTAKE_CARD)["status"] == "satisfied"
    assert "every 4 sessions" in card(r, canvas.INTAKE_CARD)["narrative"]
    assert card(r, canvas.REVIEW_CARD)["status"] == "satisfied"
    state = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT)
    assert [(g.id, g.words, g.baseline) for g in state.intake.goals] == [("g1", GOAL_WORDS, 3),
                                                                       ("g2", "Say no to my boss once", 2)]
    assert state.intake.agreed_on.isoformat() == "2026-01-12"         # the note's date of service

    r = session(client, {"pp-session.tags": ["holding-steady"], "pp-session.g1.tag": "step-forward",
                         "pp-session.g1.rating": "5"})
    assert (r.status_code, r.json["event"]) == (200, "NoteSaved")
    note_id, value = tags_value(r)
    assert note_id == NOTE_1 and value["signed"] is False
    assert sorted(value["codes"]) == ["holding-steady", "step-forward"]
    record = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes[NOTE_1]
    assert [(x.goal_id, x.value, x.rater) for x in record.ratings] == [("g1", 5, "client")]

    r = lock(client)
    assert (r.status_code, r.json["event"]) == (200, "NoteSigned")
    note_id, value = tags_value(r)
    assert (note_id, value["signed"], sorted(value["codes"])) == (NOTE_1, True, ["holding-steady", "step-forward"])
    record = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes[NOTE_1]
    assert record.signed and [(x.goal_id, x.value) for x in record.ratings] == [("g1", 5)]   # kept on signing

    again = lock(client, state="SGN")
    assert again.status_code == 200 and of_type(again, "note_metadata") == []    # nothing changes

    assert rows(app, t.outbox) == []                  # Canvas applies these itself: no outbox rows


def test_a_note_locked_without_tags_is_recorded_as_a_session_without_tags(client, app):
    intake(client)
    r = lock(client, NOTE_2)
    note_id, value = tags_value(r)
    assert (note_id, value["codes"], value["signed"]) == (NOTE_2, [], True)


def test_review_due_becomes_a_protocol_card(client):
    intake(client, dict(INTAKE_ANSWERS, **{"pp-intake.review_cadence": "every-session"}))
    r = session(client, {"pp-session.tags": ["setback"]})
    review = card(r, canvas.REVIEW_CARD)
    assert review["status"] == "due" and review["patient_id"] == PATIENT
    assert "every session" in review["narrative"]
    r = session(client, {"pp-session.tags": ["progress-redefined"]}, NOTE_2)       # looked at it together
    assert card(r, canvas.REVIEW_CARD)["status"] == "satisfied"


def test_goal_events_check_the_review_without_recording_anything(client, app):
    goal = event("UPDATE_GOAL_COMMAND__POST_COMMIT", event_id="cmd-goal",
                 goal={"achievement_status": "improving", "priority": "high-priority"})
    r = post(client, goal)
    assert (r.status_code, r.json["effects"]) == (200, [])                         # no intake yet
    intake(client, dict(INTAKE_ANSWERS, **{"pp-intake.review_cadence": "every-session"}))
    session(client, {"pp-session.tags": ["setback"]})
    before = rows(app, t.notes)
    r = post(client, dict(goal, event="GOAL_COMMAND__POST_COMMIT"))
    assert card(r, canvas.REVIEW_CARD)["status"] == "due"
    assert rows(app, t.notes) == before


def test_the_panel_opens_as_a_modal_with_the_self_contained_html(client):
    intake(client)
    r = post(client, event("APPLICATION__ON_OPEN", note_id=NOTE_1))
    (modal,) = of_type(r, "modal")
    assert r.json["event"] == "PanelRequested"
    assert modal["html"].startswith("<!doctype html>") and GOAL_WORDS in modal["html"]
    assert "<script src" not in modal["html"] and "<link" not in modal["html"]          # fetches nothing
    assert of_type(r, "protocol_card") == []


def test_the_panel_modal_is_drawn_once_per_state_of_the_client(client, monkeypatch):
    from progress_plugin.service.panel_cache import PanelCache
    from progress_plugin.view import panel
    monkeypatch.setattr(canvas, "panels", PanelCache())
    drawn, draw = [], panel.render_html
    monkeypatch.setattr(panel, "render_html", lambda *a, **k: drawn.append(1) or draw(*a, **k))
    intake(client)
    first, again = (of_type(post(client, event("APPLICATION__ON_OPEN", event_id=f"open-{i}", note_id=NOTE_1)),
                            "modal")[0]["html"] for i in (1, 2))
    assert first == again and len(drawn) == 1                    # the second open: the kept copy
    session(client, {"pp-session.tags": ["setback"]})            # a write to the client's state
    changed = of_type(post(client, event("APPLICATION__ON_OPEN", event_id="open-3", note_id=NOTE_1)), "modal")[0]
    assert len(drawn) == 2 and changed["html"] != first and "Setback" in changed["html"]


def test_the_panel_for_a_client_with_nothing_recorded_yet_still_opens(client, app):
    r = post(client, event("APPLICATION__ON_OPEN", patient_id="someone-new"))
    (modal,) = of_type(r, "modal")
    assert r.status_code == 200 and modal["html"].startswith("<!doctype html>")
    assert rows(app, t.notes) == []


def test_a_deleted_note_is_dropped(client, app):
    intake(client)
    session(client, {"pp-session.tags": ["setback"]})
    r = lock(client, state="DLT")
    assert (r.status_code, r.json["event"], r.json["effects"]) == (200, "NoteDeleted", [])
    assert NOTE_1 not in app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes


@pytest.mark.parametrize("state", ["NEW", "ULK", "PSH", "CVD"])
def test_other_note_states_are_ignored(client, app, state):
    r = lock(client, state=state)
    assert (r.status_code, r.json["status"], r.json["effects"]) == (200, "ignored", [])
    assert rows(app, t.notes) == []


@pytest.mark.parametrize("name", ["Psychotherapy Note", "psychotherapy_note", "psychotherapy", "sud-counseling"])
def test_every_spelling_of_a_protected_type_is_refused(client, app, name):
    intake(client)
    kind = {"system": "http://snomed.info/sct", "code": "", "name": name}
    r = post(client, event("NOTE_STATE_CHANGE_EVENT_UPDATED", state="LKD", **note_facts(NOTE_2, note_type=kind)))
    assert (r.status_code, r.json["status"], r.json["effects"]) == (200, "refused", [])
    assert NOTE_2 not in app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes


def test_a_type_the_clinic_does_not_list_is_refused(config, sqlite_url):
    import dataclasses
    clinic = dataclasses.replace(config.clinics["clinic-c"], readable_note_types=frozenset({"448337001"}))
    listed = create_app(Store.open(config.store_url),
                        config=dataclasses.replace(config, clinics={**config.clinics, "clinic-c": clinic}))
    http = listed.test_client()
    intake(http)
    other = {"system": "http://snomed.info/sct", "code": "371531000", "name": "Report of clinical encounter"}
    r = post(http, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", event_id="cmd-x", answers={"pp-session.tags": ["setback"]},
                         **note_facts(NOTE_2, note_type=other)))
    assert (r.status_code, r.json["status"]) == (200, "refused")
    r = post(http, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", event_id="cmd-y", answers={"pp-session.tags": ["setback"]},
                         **note_facts(NOTE_1)))                                    # 448337001: listed
    assert r.json["status"] == "ok"
    assert set(listed.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes) == {NOTE_1}
    outcomes = [a["outcome"] for a in listed.extensions["progress_plugin"].store.audit_rows("clinic-c")
                if a["action"] == "note.refuse"]
    assert outcomes == ["refused-not-readable"]


def test_a_psychotherapy_note_is_refused_without_being_recorded(client, app):
    intake(client)
    kind = {"system": "http://loinc.org", "code": "34746-8", "name": "Psychotherapy note"}
    r = post(client, event("NOTE_STATE_CHANGE_EVENT_UPDATED", state="LKD", **note_facts(NOTE_2, note_type=kind)))
    assert (r.status_code, r.json["status"], r.json["effects"]) == (200, "refused", [])
    assert NOTE_2 not in app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes
    assert any(a["action"] == "note.refuse" for a in app.extensions["progress_plugin"].store.audit_rows("clinic-c"))


# -- problems the therapist needs to hear about -------------------------------------------
def test_unknown_tag_is_rejected_with_a_card_saying_why(client, app):
    intake(client)
    r = session(client, {"pp-session.tags": ["no-such-tag"]})
    assert (r.status_code, r.json["status"]) == (200, "rejected")
    rejected = card(r, canvas.TAGS_CARD)
    assert rejected["status"] == "due" and "no-such-tag" in rejected["narrative"]
    assert of_type(r, "note_metadata") == [] and rows(app, t.notes) == []
    fixed = session(client, {"pp-session.tags": ["setback"]})
    assert card(fixed, canvas.TAGS_CARD)["status"] == "satisfied"


def test_goal_ratings_without_tags_are_recorded(client, app):
    intake(client)
    r = session(client, {"pp-session.g1.rating": "6", "pp-session.g2.rating": "4"})
    assert r.json["status"] != "rejected" and card(r, canvas.TAGS_CARD)["status"] == "satisfied"
    for signed in (False, True):                 # signing the note keeps its ratings
        if signed:
            lock(client)
        (note,) = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes.values()
        assert note.signed is signed and note.tags == ()
        assert sorted((x.goal_id, x.value, x.rater) for x in note.ratings) == [("g1", 6, "client"), ("g2", 4, "client")]


def test_problems_name_the_goal_as_the_questionnaire_does(client):
    answers = {k: v for k, v in INTAKE_ANSWERS.items() if not k.startswith("pp-intake.g1.")}
    answers.pop("pp-intake.g2.whose")
    r = intake(client, answers)
    assert "goal 2 whose: Missing data for required field." in card(r, canvas.INTAKE_CARD)["narrative"]


def test_an_incomplete_intake_is_rejected_with_a_card(client, app):
    answers = {k: v for k, v in INTAKE_ANSWERS.items() if k not in ("pp-intake.g1.whose", "pp-intake.agreed")}
    r = intake(client, answers)
    assert (r.status_code, r.json["status"]) == (200, "rejected")
    narrative = card(r, canvas.INTAKE_CARD)["narrative"]
    assert "goal 1 whose" in narrative and "agreed" in narrative
    assert app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).intake is None


def test_tags_on_a_signed_note_need_an_addendum(client):
    intake(client)
    session(client, {"pp-session.tags": ["setback"]})
    lock(client)
    r = session(client, {"pp-session.tags": ["step-forward"]})
    assert r.json["status"] == "rejected" and "addendum" in card(r, canvas.TAGS_CARD)["narrative"]


def test_cards_and_their_problems_are_in_the_clinics_language(client, app):
    app.extensions["progress_plugin"].store.ensure_clinic("clinic-c", app.extensions["progress_plugin"].clock(),
                                                          language="hi")
    answers = {k: v for k, v in INTAKE_ANSWERS.items() if not k.startswith("pp-intake.g1.")}
    answers.pop("pp-intake.g2.whose")
    r = intake(client, answers)
    assert r.json["status"] == "rejected" and r.headers["Content-Language"] == "hi"
    problem = card(r, canvas.INTAKE_CARD)
    assert problem["title"] == "मिलकर तय करें कि प्रगति क्या है"
    assert problem["narrative"] == "दर्ज नहीं हुआ: goal 2 whose: यह भरना ज़रूरी है।"      # the questionnaire's names kept
    recorded = intake(client)
    assert card(recorded, canvas.INTAKE_CARD)["narrative"].startswith("12 जनवरी 2026 को मिलकर तय किया; ")
    tagged = session(client, {"pp-session.tags": ["setback"]})
    assert card(tagged, canvas.TAGS_CARD) == {
        "type": "protocol_card", "patient_id": PATIENT, "key": canvas.TAGS_CARD, "title": "प्रगति के टैग",
        "narrative": "12 जनवरी 2026 के सेशन के लिए दर्ज हो गया।", "status": "satisfied"}
    lock(client)
    again = session(client, {"pp-session.tags": ["step-forward"]})
    assert card(again, canvas.TAGS_CARD)["narrative"] == (
        "दर्ज नहीं हुआ: note: यह नोट साइन हो चुका है; इसके प्रगति के टैग अब सिर्फ़ addendum से बदल सकते हैं।")
    bad = post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers={"pp-intake.nope": "x"}, **note_facts()))
    assert bad.status_code == 422 and bad.json == {"json": {"answers": {
        "pp-intake.nope": ["यह इस प्लगइन के फ़ॉर्म का सवाल नहीं है।"]}}}


# -- verification: 4xx for anything wrong, never 5xx ---------------------------------------
def test_wrong_secret_is_401(client, app):
    r = post(client, event("APPLICATION__ON_OPEN"), secret="another-secret-another-secret-0000")
    assert r.status_code == 401 and rows(app, t.notes) == []


def test_missing_signature_is_401(client):
    body = encode(event("APPLICATION__ON_OPEN"))
    r = client.post("/canvas/clinic-c", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_a_tampered_body_is_401(client):
    body = encode(event("APPLICATION__ON_OPEN"))
    signature = sign_hex(CANVAS_SECRET, body)
    r = client.post("/canvas/clinic-c", data=body.replace(PATIENT.encode(), b"someone-else"),
                    headers={"Content-Type": "application/json", "X-Signature": signature})
    assert r.status_code == 401


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_an_old_or_future_request_is_401(client, skew):
    r = post(client, event("APPLICATION__ON_OPEN", sent_at=int(time.time()) + skew))
    assert r.status_code == 401


def test_unknown_clinic_and_a_clinic_on_another_scheme_are_404(client):
    assert post(client, event("APPLICATION__ON_OPEN"), clinic="nowhere").status_code == 404
    assert post(client, event("APPLICATION__ON_OPEN"), clinic="clinic-w").status_code == 404


def test_order_of_checks(client, config):
    big = b"{" + b" " * (config.max_body_bytes + 10) + b"}"
    assert post(client, {}, body=big).status_code == 413
    assert post(client, {}, body=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert post(client, {}, body=b"not json").status_code == 400
    assert post(client, {}, body=b"[1]").status_code == 400
    assert post(client, {}, body=b"\xff\xfe").status_code == 400


@pytest.mark.parametrize("change", [
    {"note_text": "The client said ..."},                                       # no field for note text
    {"version": 2},
    {"event": "PATIENT_CREATED"},
    {"sent_at": "now"},
    {"patient_id": ""},
    {"answers": {"pp-intake.g1.words": GOAL_WORDS, "pp-session.tags": ["setback"]}},   # two questionnaires
    {"answers": {"question-9": "25"}},                                          # not our question
    {"answers": {"pp-session.tags": "setback"}, "note_id": None},
    {"answers": {"pp-session.tags": [1, 2]}},
    {"answers": {"pp-session.tags": "setback"}},                               # MULT: a list
    {"answers": {"pp-session.g1.rating": ["5"]}},                              # SING: one code
    {"answers": {"pp-intake.g1.words": ""}},
    {"answers": {"pp-intake.g1.words": "x" * 4001}},
    {"goal": {"achievement_status": "great"}},
    {"note_type": {"code": 5}},
])
def test_malformed_events_are_422(client, change):
    payload = event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers={"pp-session.tags": ["setback"]}, **note_facts())
    payload.update(change)
    r = post(client, payload)
    assert r.status_code == 422, r.json


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(sorted(canvas.CanvasEventSchema().fields) + ["extra"]), JSON, max_size=8))
def test_signed_garbage_is_never_a_5xx(client, fields):
    payload = event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers={"pp-session.tags": ["setback"]}, **note_facts())
    payload.update(fields)
    assert post(client, payload).status_code < 500


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(sorted(canvas.ANSWER_TYPES)),
                       st.one_of(st.text(min_size=1, max_size=20), st.lists(st.text(min_size=1, max_size=8),
                                                                            max_size=3)), min_size=1, max_size=6))
def test_any_answers_to_our_questions_are_never_a_5xx(client, answers):
    for kind in ("intake", "session"):
        mine = {k: v for k, v in answers.items() if k.startswith(f"pp-{kind}.")}
        if mine:
            r = post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers=mine, **note_facts()))
            assert r.status_code in (200, 422), r.json
            assert r.status_code == 422 or r.json["status"] in ("ok", "rejected")


@pytest.mark.parametrize("answers", [
    {"pp-session.g1.rating": "eleven", "pp-session.g1.tag": "setback"},
    {"pp-session.g1.rating": "11", "pp-session.g1.tag": "setback"},
    {"pp-intake.g1.words": "Sleep", "pp-intake.g1.whose": "client", "pp-intake.g1.baseline": "-1"},
    {"pp-intake.review_date": "next spring", "pp-intake.review_cadence": "at-review"},
    dict(INTAKE_ANSWERS, **{"pp-intake.agreed": "maybe"}),
])
def test_odd_answers_are_rejected_not_crashed(client, answers):
    intake(client)
    r = post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers=answers, **note_facts(NOTE_2)))
    assert (r.status_code, r.json["status"]) == (200, "rejected")


def test_no_client_words_reach_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    intake(client)
    session(client, {"pp-session.tags": ["setback"], "pp-session.g1.tag": "step-forward",
                     "pp-session.g1.rating": "6"})
    lock(client)
    post(client, event("APPLICATION__ON_OPEN", note_id=NOTE_1))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "canvas event ok" in text
    assert GOAL_WORDS not in text and "Waking up less tired" not in text and "boss" not in text


# -- the questionnaires shipped in the plugin ---------------------------------------------
def test_the_shipped_questionnaires_are_generated_from_the_intake_and_the_vocabulary():
    folder = Path(__file__).resolve().parent.parent / "hooks" / "canvas" / "questionnaires"
    generated = canvas_questionnaires.questionnaires()
    for name, document in generated.items():
        text = (folder / name).read_text(encoding="utf-8")
        assert text == canvas_questionnaires.to_yaml(document), \
            f"{name} is stale: run python -m progress_plugin.web.canvas_questionnaires"
        assert yaml.safe_load(text) == document
    manifest = json.loads((folder.parent / "CANVAS_MANIFEST.json").read_text())
    assert sorted(q["template"] for q in manifest["components"]["questionnaires"]) == \
        sorted(f"questionnaires/{name}" for name in generated)


def test_each_language_has_both_questionnaires_with_their_own_names_and_codes():
    generated = canvas_questionnaires.questionnaires()
    assert sorted(generated) == ["defining_progress_together.yml", "defining_progress_together_hi.yml",
                                 "progress_this_session.yml", "progress_this_session_hi.yml"]
    assert len({d["name"] for d in generated.values()}) == len({d["code"] for d in generated.values()}) == 4
    english, hindi = generated["defining_progress_together.yml"], generated["defining_progress_together_hi.yml"]
    assert (english["code"], hindi["code"]) == ("pp-intake", "pp-intake-hi")
    assert english["name"] == "Defining progress together" and hindi["name"].endswith(" · हिन्दी")
    for en_name, hi_name in (("defining_progress_together.yml", "defining_progress_together_hi.yml"),
                             ("progress_this_session.yml", "progress_this_session_hi.yml")):
        en, hi = generated[en_name]["questions"], generated[hi_name]["questions"]
        # each Hindi question is an English one under another code; its answers have the same codes
        assert [canvas_questionnaires.canonical(q["code"]) for q in hi] == [q["code"] for q in en]
        assert [[r["code"] for r in q["responses"]] for q in hi if q["responses_type"] != "TXT"] == \
            [[r["code"] for r in q["responses"]] for q in en if q["responses_type"] != "TXT"]
        for q in hi:
            for condition in q.get("enabled_conditions", ()):
                assert condition["question_code"].startswith(generated[hi_name]["code"] + ".")


def test_the_hindi_questionnaires_speak_hindi_in_what_they_write_themselves():
    hindi = canvas_questionnaires.questionnaires()["progress_this_session_hi.yml"]
    assert hindi["name"] == "इस सेशन में प्रगति · हिन्दी"
    assert hindi["questions"][0]["content"] == "इस सेशन के प्रगति टैग"
    assert hindi["questions"][2]["content"] == "लक्ष्य 1: आज क्लाइंट के अंक, 0 से 10"
    intake = canvas_questionnaires.questionnaires()["defining_progress_together_hi.yml"]["questions"]
    agreed = next(q for q in intake if q["code"] == "pp-intake-hi.agreed")
    assert [(r["code"], r["name"]) for r in agreed["responses"]] == [("yes", "हाँ"), ("no", "नहीं")]
    assert next(q for q in intake if q["code"] == "pp-intake-hi.g2.words")["content"].startswith("लक्ष्य 2 (ज़रूरी नहीं): ")


def test_answers_to_the_hindi_questionnaires_are_read_as_the_english_ones(client, app):
    hindi = {code.replace("pp-intake.", "pp-intake-hi."): value for code, value in INTAKE_ANSWERS.items()}
    hindi["pp-intake-hi.g2.words"] = "बॉस को एक बार मना करना"
    r = intake(client, hindi)
    assert (r.status_code, r.json["status"], r.json["event"]) == (200, "ok", "IntakeSubmitted")
    state = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT)
    assert [(g.id, g.words, g.baseline) for g in state.intake.goals] == [("g1", GOAL_WORDS, 3),
                                                                       ("g2", "बॉस को एक बार मना करना", 2)]
    assert state.intake.review_cadence == "every-4-sessions" and state.intake.agreed is True
    r = session(client, {"pp-session-hi.tags": ["holding-steady"], "pp-session-hi.g1.tag": "step-forward",
                         "pp-session-hi.g1.rating": "6"})
    assert (r.status_code, r.json["status"]) == (200, "ok")
    note = app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).notes[NOTE_1]
    assert note.codes() == ("holding-steady", "step-forward")
    assert [(x.goal_id, x.value) for x in note.ratings] == [("g1", 6)]


def test_a_rejected_hindi_intake_gets_the_intake_card(client):
    r = intake(client, {"pp-intake-hi.g1.words": GOAL_WORDS, "pp-intake-hi.review_cadence": "every-4-sessions"})
    assert (r.status_code, r.json["status"]) == (200, "rejected")
    assert card(r, canvas.INTAKE_CARD)["status"] == "due"


@pytest.mark.parametrize("answers", [
    {"pp-intake.g1.words": GOAL_WORDS, "pp-intake-hi.g1.whose": "client"},         # two languages' questionnaires
    {"pp-intake-xx.g1.words": GOAL_WORDS},                                       # a language not shipped
])
def test_answers_from_two_questionnaires_or_an_unknown_one_are_422(client, answers):
    r = post(client, event("QUESTIONNAIRE_COMMAND__POST_COMMIT", answers=answers, **note_facts()))
    assert r.status_code == 422, r.json


def test_every_intake_field_but_the_private_reflection_is_asked():
    from progress_plugin.core.intake import FIELDS
    codes = {q["code"] for q in canvas_questionnaires.intake_questions()}
    assert "pp-intake.private_reflection" not in codes
    for field in FIELDS:
        if field.id not in canvas_questionnaires.NOT_ASKED:
            assert f"pp-intake.{field.id}" in codes


# -- hostile input: each of these answered 5xx, or was accepted, before the shared JSON reader --------
def test_json_nested_ten_thousand_deep_is_400_not_500(client):
    body = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
    r = post(client, {}, body=body)
    assert r.status_code == 400 and r.json["message"] == "JSON nested more than 64 levels deep."


@pytest.mark.parametrize("code,value", [("pp-intake.better_looks_like", "Waking up\ud800"),
                                        ("pp-intake.g1.words", "Sleep\x00")])
def test_lone_surrogates_and_nul_in_answers_are_422_naming_the_question(client, app, code, value):
    r = intake(client, {**INTAKE_ANSWERS, code: value})
    assert r.status_code == 422, r.json
    assert "answers" in r.json["json"]
    assert app.extensions["progress_plugin"].runtime.state("clinic-c", PATIENT).intake is None


def test_a_huge_sent_at_is_422_naming_it(client):
    body = encode(event("APPLICATION__ON_OPEN", sent_at="@")).replace(b'"@"', b"9" * 5000)
    r = post(client, {}, body=body)
    assert r.status_code == 422 and r.json["json"]["sent_at"][0].startswith("Number out of range")

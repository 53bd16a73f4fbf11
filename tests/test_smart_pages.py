"""The SMART app's pages (progress_plugin.web.smart.pages) against the Medplum test host as the EHR,
with a FHIRClient to it as the launch's client and a real SQLite store file (tests/smart_app.py).

The intake, the note's tags and ratings, and the panel: what reaches the EHR (QuestionnaireResponse,
Goals, Observations, ``meta.tag`` on the note, never the note back whole) and what the store keeps.
"""
from __future__ import annotations

import html as html_mod

import sqlalchemy as sa

from progress_plugin.store import tables as t

from tests.smart_app import (CLINIC, NOTE_TEXT, form_token, read, search, smart)  # noqa: F401  (fixture)

GOAL_1, GOAL_2 = "Sleep through most nights", "Say no to my boss once"


def intake_form(token: str, **overrides) -> dict:
    data = {"csrf_token": token, "hopes": "To feel less tired", "better_looks_like": "Waking up rested",
            "goals-0-words": GOAL_1, "goals-0-whose": "client", "goals-0-baseline": "3", "goals-0-rank": "1",
            "goals-1-words": GOAL_2, "goals-1-whose": "client", "goals-1-baseline": "2", "goals-1-rank": "2",
            "review_cadence": "every-4-sessions", "agreed": "on", "agreed_on": "2026-03-02",
            "goals_reviewed": "on", "private_reflection": "A pull to rescue"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def send_intake(smart, client=None, **overrides):
    client = client or smart.client()
    token = form_token(client.get("/smart/app/intake").get_data(as_text=True))
    return client, client.post("/smart/app/intake", data=intake_form(token, **overrides))


def of_patient(smart, kind: str) -> list[dict]:
    return search(smart.base, f"{kind}?subject=Patient/{smart.launch.patient}")


def rows(smart, **where) -> list[dict]:
    with smart.store.engine.connect() as c:
        q = sa.select(t.outbox)
        for k, v in where.items():
            q = q.where(t.outbox.c[k] == v)
        return [dict(r._mapping) for r in c.execute(q.order_by(t.outbox.c.id))]


def writes(medplum) -> list[str]:
    """The EHR requests that changed something (not reads)."""
    return [e["pattern"] for e in medplum.stats()["log"] if e["method"] in ("POST", "PUT", "PATCH", "DELETE")]


# -- the intake ------------------------------------------------------------------------------------
def test_an_intake_reaches_the_ehr_as_a_questionnaire_response_and_goals_and_the_store_keeps_it(smart, medplum):
    client, answer = send_intake(smart)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Saved as agreed." in page and "Your notes system has it too." in page

    (qr,) = of_patient(smart, "QuestionnaireResponse")
    assert qr["status"] == "completed" and qr["author"]["identifier"]["value"] == "Practitioner/dr-meera"
    assert "A pull to rescue" not in str(qr)                      # the private reflection never leaves
    goals = sorted(g["description"]["text"] for g in of_patient(smart, "Goal"))
    assert goals == sorted([GOAL_1, GOAL_2])
    baselines = sorted(o["valueInteger"] for o in of_patient(smart, "Observation"))
    assert baselines == [2, 3]

    state = smart.app.extensions["progress_plugin"].runtime.state(CLINIC, smart.launch.patient)
    assert [(g.words, g.baseline) for g in state.intake.goals] == [(GOAL_1, 3), (GOAL_2, 2)]
    assert state.intake.answers["private_reflection"] == "A pull to rescue" and state.intake.is_agreed
    assert {r["status"] for r in rows(smart)} == {"done"} and {r["target"] for r in rows(smart)} == {"smart:ehr1"}

    medplum.reset()                                               # the same form again: written once
    again = client.post("/smart/app/intake", data=intake_form(form_token(page)))
    assert again.status_code == 200 and writes(medplum) == []
    assert len(of_patient(smart, "QuestionnaireResponse")) == 1 and len(of_patient(smart, "Goal")) == 2


def test_the_form_shows_the_saved_intake_and_scales_are_radios_not_free_numbers(smart):
    client, _ = send_intake(smart)
    page = client.get("/smart/app/intake").get_data(as_text=True)
    assert GOAL_1 in page and 'name="goals-0-id" value="g1"' in page
    assert 'type="number"' not in page
    assert page.count('name="goals-0-baseline"') == 11              # 0..10, one radio each
    assert 'id="goals-0-baseline-3" name="goals-0-baseline" value="3" checked' in page
    assert 'class="field conditional when-review_cadence-at-review"' in page   # the date only for "at review"


def test_validation_errors_name_each_field_and_nothing_typed_is_lost(smart, medplum):
    client = smart.client()
    token = form_token(client.get("/smart/app/intake").get_data(as_text=True))
    medplum.reset()
    answer = client.post("/smart/app/intake", data=intake_form(
        token, **{"goals-0-baseline": None, "goals-1-words": "Walk to the market",
                  "goals-1-baseline": "12", "hopes": "Typed with care"}))
    page = html_mod.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422 and 'class="error-summary"' in page
    summary = page[page.index("error-summary"):page.index("</div>", page.index("error-summary"))]
    assert 'href="#goals-0-baseline-0">Goal 1: Where are things now, from 0 to 10?' in summary
    assert 'href="#goals-1-baseline-0">Goal 2: Where are things now, from 0 to 10?' in summary
    assert 'id="goals-0-baseline-error"' in page and 'class="scale has-error" id="goals-0-baseline"' in page
    assert "Typed with care" in page and "Walk to the market" in page and GOAL_1 in page   # kept
    assert "<title>Error:" in page
    assert writes(medplum) == [] and rows(smart) == []
    dated = client.post("/smart/app/intake", data=intake_form(token, review_cadence="at-review"))
    page = html_mod.unescape(dated.get_data(as_text=True))
    assert dated.status_code == 422
    assert 'href="#review_date">When shall we next look at it together?: A review date is needed' in page
    assert 'id="review_cadence-at-review" name="review_cadence" value="at-review" checked' in page


def test_a_form_without_its_token_is_refused_and_writes_nothing(smart, medplum):
    client = smart.client()
    client.get("/smart/app/intake")
    medplum.reset()
    answer = client.post("/smart/app/intake", data={k: v for k, v in intake_form("x").items() if k != "csrf_token"})
    assert answer.status_code == 400 and "This form had expired" in answer.get_data(as_text=True)
    forged = client.post("/smart/app/intake", data=intake_form("not-the-token"))
    assert forged.status_code == 400
    assert writes(medplum) == [] and rows(smart) == []
    assert smart.app.extensions["progress_plugin"].runtime.state(CLINIC, smart.launch.patient).intake is None


# -- tags and ratings ---------------------------------------------------------------------------------
def send_tags(smart, client, tags=("step-forward", "stirring-up"), **fields):
    page = client.get("/smart/app/tags").get_data(as_text=True)
    data = {"csrf_token": form_token(page), "tag": list(tags), **fields}
    return client.post("/smart/app/tags", data=data)


def test_tags_and_ratings_reach_the_note_meta_and_observations_never_the_note_back(smart, medplum):
    client, _ = send_intake(smart)
    note_id = smart.launch.note.split("/")[1]
    before = read(smart.base, f"DocumentReference/{note_id}")
    medplum.reset()
    answer = send_tags(smart, client, **{"rating-g1": "6", "rater-g1": "client", "rating-g2": "4",
                                         "rater-g2": "therapist"})
    assert answer.status_code == 200 and "Saved on this session" in answer.get_data(as_text=True)

    after = read(smart.base, f"DocumentReference/{note_id}")
    codes = {tag["code"] for tag in after["meta"]["tag"]}
    assert codes == {"step-forward", "stirring-up"}
    assert after["content"] == before["content"] and after["type"] == before["type"]
    note_writes = [p for p in writes(medplum) if p.startswith(("PUT DocumentReference", "PATCH DocumentReference",
                                                               "POST DocumentReference"))]
    assert "PUT DocumentReference/:id" not in note_writes and "PATCH DocumentReference/:id" in note_writes
    ratings = [o for o in of_patient(smart, "Observation") if o.get("derivedFrom")]
    assert sorted((o["valueInteger"], o["derivedFrom"][0]["reference"]) for o in ratings) == [
        (4, f"DocumentReference/{note_id}"), (6, f"DocumentReference/{note_id}")]

    state = smart.app.extensions["progress_plugin"].runtime.state(CLINIC, smart.launch.patient)
    record = state.notes[note_id]
    assert set(record.codes()) == {"step-forward", "stirring-up"} and record.author == "Practitioner/dr-meera"
    assert sorted((r.goal_id, r.value, r.rater) for r in record.ratings) == [("g1", 6, "client"),
                                                                          ("g2", 4, "therapist")]
    page = client.get("/smart/app/tags").get_data(as_text=True)   # the form shows what the note has
    assert 'value="step-forward" checked' in page and 'id="rating-g1-6" name="rating-g1" value="6" checked' in page

    panel = client.get("/smart/app/panel").get_data(as_text=True)
    assert GOAL_1 in panel and "Step forward" in panel and "Stirring up" in panel


def test_the_panel_is_drawn_once_per_state_and_again_after_a_write(smart, medplum, monkeypatch):
    from progress_plugin.web.smart import home
    drawn = []
    real = home.panel.render_html
    monkeypatch.setattr(home.panel, "render_html", lambda *a, **k: drawn.append(1) or real(*a, **k))
    client, _ = send_intake(smart)
    first = client.get("/smart/app/panel").get_data(as_text=True)
    again = client.get("/smart/app/panel").get_data(as_text=True)
    assert GOAL_1 in first and again == first and len(drawn) == 1
    assert send_tags(smart, client, **{"rating-g1": "6", "rater-g1": "client"}).status_code == 200
    after = client.get("/smart/app/panel").get_data(as_text=True)
    assert "Step forward" in after and "Step forward" not in first and len(drawn) == 2


def test_a_tag_or_rating_the_rules_refuse_is_named_and_nothing_is_written(smart, medplum):
    client, _ = send_intake(smart)
    medplum.reset()
    answer = send_tags(smart, client, tags=("step-forward", "no-such-tag"))
    page = html_mod.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422 and 'href="#tags">Progress tags: Unknown tag' in page
    assert 'value="step-forward" checked' in page                 # what was ticked stays ticked
    answer = send_tags(smart, client, **{"rating-g1": "11", "rater-g2": "carer", "rating-g2": "5"})
    page = html_mod.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422 and 'href="#rating-g1-0">Rating for goal 1: Ratings are 0-10' in page
    assert 'id="rating-g2-5" name="rating-g2" value="5" checked' in page
    assert writes(medplum) == [] and rows(smart, kind="tags") == []


def test_a_protected_note_is_refused_unread(smart, medplum):
    from tests.smart_app import PSYCHOTHERAPY, note
    secret = note(smart.base, smart.launch.patient, kind=PSYCHOTHERAPY)
    smart.use(fhir_context=(f"DocumentReference/{secret['id']}",))
    client = smart.client()
    page = client.get("/smart/app/tags").get_data(as_text=True)
    assert "This note is not tagged here" in page and 'name="tag"' not in page and NOTE_TEXT not in page
    token = form_token(client.get("/smart/app/intake").get_data(as_text=True))
    medplum.reset()
    answer = client.post("/smart/app/tags", data={"csrf_token": token, "tag": ["step-forward"]})
    assert answer.status_code == 403 and writes(medplum) == []
    assert "tag" not in read(smart.base, f"DocumentReference/{secret['id']}").get("meta", {})
    state = smart.app.extensions["progress_plugin"].runtime.state(CLINIC, smart.launch.patient)
    assert secret["id"] not in state.notes


def test_a_note_of_another_patient_is_refused(smart, medplum):
    from tests.smart_app import create, note
    other = create(smart.base, {"resourceType": "Patient", "name": [{"text": "Someone else"}]})["id"]
    theirs = note(smart.base, other)
    smart.use(fhir_context=(f"DocumentReference/{theirs['id']}",))
    page = smart.client().get("/smart/app/tags").get_data(as_text=True)
    assert "This note is not this patient" in html_mod.unescape(page) and 'name="tag"' not in page


def test_an_encounter_without_a_note_in_the_launch_uses_its_note_and_neither_says_what_to_do(smart):
    smart.use(fhir_context=())
    page = smart.client().get("/smart/app/tags").get_data(as_text=True)
    assert 'name="tag"' in page                                    # the encounter's one note
    smart.use(encounter=None)
    page = smart.client().get("/smart/app/tags").get_data(as_text=True)
    assert "Open this app from a session note" in page and 'name="tag"' not in page


# -- what every page carries --------------------------------------------------------------------------
def test_every_page_lets_only_the_configured_ehr_frame_it(smart):
    client = smart.client()
    for path in ("/smart/app/", "/smart/app/intake", "/smart/app/tags", "/smart/app/panel"):
        answer = client.get(path)
        policy = answer.headers["Content-Security-Policy"]
        assert answer.status_code == 200, path
        assert "frame-ancestors https://ehr.example.org;" in policy and "default-src 'none'" in policy
        assert "X-Frame-Options" not in answer.headers and answer.headers["Cache-Control"] == "no-store"
        assert ("script-src" in policy) == (path == "/smart/app/panel")


def test_without_frame_ancestors_only_the_app_itself_may_frame_it_and_an_embedded_app_partitions_its_cookie(
        tmp_path, medplum):
    from tests.smart_app import build
    built = build(f"sqlite:///{tmp_path / 'other.db'}", medplum, frame_ancestors=(), embedded=True)
    try:
        answer = built.client().get("/smart/app/intake")
        assert "frame-ancestors 'self';" in answer.headers["Content-Security-Policy"]
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("pp_smart_form=") and "Path=/smart/app/" in cookie and "HttpOnly" in cookie
        assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie
    finally:
        built.store.close()


def test_pages_take_the_patient_from_the_launch_only(smart):
    rules = [r for r in smart.app.url_map.iter_rules() if r.endpoint.startswith("smart_app.")]
    assert rules and all(not r.arguments for r in rules if r.endpoint != "smart_app.static")
    client = smart.client()
    page = client.get("/smart/app/intake?patient=someone-else&client_id=x").get_data(as_text=True)
    _, answer = send_intake(smart, client, patient="zz-other-patient", client_id="zz-other-patient")
    assert answer.status_code == 200
    with smart.store.engine.connect() as c:
        clients = {r[0] for r in c.execute(sa.select(t.goals.c.client_id))}
    assert clients == {smart.launch.patient} and "zz-other-patient" not in page


def test_a_request_without_a_launch_gets_a_page_saying_to_open_the_app_from_the_chart(smart):
    smart.launch = None
    answer = smart.client().get("/smart/app/intake")
    assert answer.status_code == 401 and "Open this app from the chart" in answer.get_data(as_text=True)


def test_pages_speak_hindi_when_asked_and_keep_the_clients_words(smart):
    client, _ = send_intake(smart)
    page = client.get("/smart/app/intake?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in page and GOAL_1 in page
    assert "What do you hope to get from coming here?" not in page
    assert 'href="/smart/app/tags?lang=hi"' in page
    home = client.get("/smart/app/", headers={"Accept-Language": "hi"}).get_data(as_text=True)
    assert '<html lang="hi"' in home


def test_a_note_the_ehr_will_not_let_us_read_says_so_and_a_refused_token_goes_up(smart, medplum):
    from progress_plugin.errors import HostAuthError

    @smart.app.errorhandler(HostAuthError)
    def _ended(exc):                       # the launch side's handler ends the session here
        return f"ended {exc.status_code}", 401

    client = smart.client()
    medplum.fault(status=403, method="GET", path="DocumentReference")
    page = client.get("/smart/app/tags").get_data(as_text=True)
    assert "This note could not be read" in page and 'name="tag"' not in page
    medplum.fault(status=401, method="GET", path="DocumentReference")
    assert client.get("/smart/app/tags").get_data(as_text=True) == "ended 401"


def test_a_refused_form_reads_no_outbox_and_a_refused_tag_reads_the_state_once(smart, monkeypatch):
    from progress_plugin.service import smart_writes
    client, _ = send_intake(smart)
    token = form_token(client.get("/smart/app/tags").get_data(as_text=True))
    runtime = smart.app.extensions["progress_plugin"].runtime
    listed, states, state = [], [], runtime.state
    monkeypatch.setattr(smart_writes, "unsent", lambda *a, **k: listed.append(1) or [])
    monkeypatch.setattr(runtime, "state", lambda *a, **k: states.append(1) or state(*a, **k))
    answer = client.post("/smart/app/intake", data={"hopes": "x"})
    assert answer.status_code == 400 and listed == [] and states == []
    answer = client.post("/smart/app/tags", data={"csrf_token": token, "tag": ["no-such-tag"]})
    assert answer.status_code == 422 and len(listed) == 1 and len(states) == 1

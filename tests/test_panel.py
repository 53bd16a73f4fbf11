"""The progress panel: its JSON agrees with the core's computation, the client view leaves out
what is therapist-only, and the HTML is self-contained. Property tests run random histories."""
from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from progress_plugin import schemas
from progress_plugin.view import panel
from progress_plugin.errors import ValidationError
from progress_plugin.core.events import IntakeSubmitted
from progress_plugin.core.intake import Goal, Intake
from progress_plugin.core.words import ENGLISH
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.progress import compute
from progress_plugin.core.vocabulary import Tag, Vocabulary, default

START = datetime(2025, 6, 2, 10, 0, tzinfo=timezone.utc)
PRIVATE = "CANARY-PRIVATE-REFLECTION-7d1"
GOAL_WORDS = ("Get through a work meeting without my chest going tight",
              "Talk to my sister again, even briefly",
              "Sleep through most nights")
THERAPIST_ONLY_LABEL = "Let go of fixing"


# -- histories built directly from the core's records (fast) --------------------------------
def vocabularies():
    """Version 1 is the default; version 2 retires 'setback' and adds a therapist-only tag."""
    v1 = default()
    v2 = Vocabulary(2, tuple(replace(t, status="retired") if t.code == "setback" else t for t in v1.tags) + (
        Tag("felt-stuck", "Felt stuck (therapist)", "The therapist felt stuck.", "therapist", "away", "therapist"),))
    return {1: v1, 2: v2}


def make_intake(goals: int = 3, words=GOAL_WORDS, cadence: str = "every-4-sessions") -> Intake:
    return Intake("intake-1", tuple(Goal(f"g{i}", words[i - 1], "client", 2 + i, i) for i in range(1, goals + 1)),
                  cadence, True, START.date(), True,
                  {"better_looks_like": "Mornings without dread", "small_shift": "One sentence in a meeting",
                   "holding_steady_counts": "yes", "private_reflection": PRIVATE})


def make_notes(n: int, *, seed: int = 0, goals: int = 3, tag_rate: float = 0.8, client_rate: float = 0.5,
               therapist_rate: float = 0.3, missing_rate: float = 0.1, unknown_rate: float = 0.05):
    """``n`` notes, a week apart, with random tags (any code of either version, some unknown) and ratings."""
    rnd = random.Random(seed)
    vocabs = vocabularies()
    codes = {v: [t.code for t in vocab.tags] for v, vocab in vocabs.items()}
    notes = []
    for i in range(1, n + 1):
        at = START + timedelta(days=7 * i, hours=rnd.randint(0, 8))
        version = 1 if i < n / 2 else 2
        tags = []
        while rnd.random() < tag_rate and len(tags) < 4:
            code = "no-such-tag" if rnd.random() < unknown_rate else rnd.choice(codes[version])
            if code not in [t.code for t in tags]:
                tags.append(AppliedTag(code, version))
        ratings = []
        for g in range(1, goals + 1):
            for rater, rate in (("client", client_rate), ("therapist", therapist_rate)):
                if rnd.random() < rate:
                    value = None if rnd.random() < missing_rate else rnd.randint(0, 10)
                    ratings.append(Rating(f"g{g}", value, rater, None if value is not None else 0, f"n{i}", at))
        notes.append(NoteProgress(f"n{i}", "c1", at, "t1", tuple(tags), tuple(ratings)))
    rnd.shuffle(notes)            # compute() orders them; the panel must not rely on input order
    return notes


def progress_of(intake, notes, now=None):
    return compute("c1", intake, notes, vocabularies(), now or START + timedelta(days=7 * (len(notes) + 1)))


# -- histories through the real path (store, schemas, runtime): used by the HTTP, browser and CLI tests
def seed_client(runtime, clinic: str = "clinic-a", client: str = "c1", notes: int = 40, *, seed: int = 7,
                words=GOAL_WORDS, private: str = PRIVATE) -> list[str]:
    """Intake with three goals, then ``notes`` signed weekly notes with tags and ratings. Returns the note ids."""
    rnd = random.Random(seed)
    intake = schemas.load(schemas.intake_schema, {
        "goals": [{"words": w, "whose": "client", "baseline": b, "rank": i}
                  for i, (w, b) in enumerate(zip(words, (2, 3, 4)), start=1)],
        "better_looks_like": "Mornings without dread", "small_shift": "One sentence in a meeting",
        "holding_steady_counts": "yes", "review_cadence": "every-4-sessions", "agreed": True,
        "agreed_on": START.date().isoformat(), "goals_reviewed": True, "private_reflection": private})
    runtime.dispatch(IntakeSubmitted(clinic, START, client, intake, "t1"))
    codes = [t.code for t in default().tags if t.code != "let-go-of-fixing"]
    level = {"g1": 2, "g2": 3, "g3": 4}
    ids = []
    for i in range(1, notes + 1):
        at = START + timedelta(days=7 * i)
        tags = [{"code": c, "goals": [], "ratings": []} for c in rnd.sample(codes, rnd.randint(1, 2))]
        if i % 5 == 0:
            tags.append({"code": "let-go-of-fixing", "goals": [], "ratings": []})
        g = f"g{1 + i % 3}"
        level[g] = max(0, min(10, level[g] + rnd.choice([-1, 0, 1, 1])))
        tags[0]["goals"] = [g]
        tags[0]["ratings"] = [{"goal": g, "value": level[g]}]
        if i % 4 == 0:
            tags[0]["ratings"].append({"goal": g, "value": max(0, level[g] - 1), "rated_by": "therapist"})
        note_id = f"{client}-n{i}"
        runtime.dispatch(schemas.load(schemas.note_schema, {
            "clinic_id": clinic, "client_id": client, "note_id": note_id, "session_at": at.isoformat(),
            "author": "t1", "at": at.isoformat(), "signed": True, "tags": tags}))
        ids.append(note_id)
    return ids


# -- what the JSON must say, from compute() --------------------------------------------------
def expected(progress, intake, audience):
    """The panel's data, written out independently from the Progress object."""
    iso = (lambda d: None if d is None else d.isoformat())
    pts = (lambda ps: [{"session": p.session, "at": iso(p.at), "value": p.value, "level": p.level,
                        "note_id": p.note_id, "source": p.source} for p in ps])
    return {
        "goals": [{"goal_id": g.goal_id, "rank": g.rank, "words": g.words, "baseline": g.baseline,
                   "status": g.change.status, "delta": g.change.delta, "first": g.change.first,
                   "last": g.change.last, "ratings": g.change.ratings, "attained_level": g.attained_level,
                   "client": pts(g.client), "therapist": pts(g.therapist), "replaces": g.replaces,
                   "replaced_by": g.replaced_by, "redefined_at": g.redefined_at} for g in progress.goals],
        "sessions": [{"session": i, "note_id": n, "at": iso(at)} for i, (n, at) in enumerate(progress.sessions, 1)],
        "markers": [(m.note_id, m.session, m.code, m.label, m.direction, m.category, m.retired)
                    for m in progress.markers if audience == "therapist" or not m.therapist_only],
        "prompts": [(p.kind, p.message, p.goal_id, p.note_id) for p in progress.prompts] if audience == "therapist" else [],
    }


def check_agrees(progress, intake, audience):
    data = panel.panel_data(progress, intake, audience)
    assert json.loads(json.dumps(data)) == data                 # JSON-ready as is
    want = expected(progress, intake, audience)
    assert data["goals"] == want["goals"]
    assert data["sessions"] == want["sessions"]
    assert [(m["note_id"], m["session"], m["code"], m["label"], m["direction"], m["category"], m["retired"])
            for m in data["markers"]] == want["markers"]
    assert [(p["kind"], p["message"], p["goal_id"], p["note_id"]) for p in data["prompts"]] == want["prompts"]
    assert (data["review"] is None) == (progress.review is None)
    if progress.review is not None:
        assert data["review"]["due"] == progress.review.due
        assert data["review"]["next_due"] == progress.review.next_due
    assert not any("gas" in key or "total" in key or "score" in key for key in data)   # never one summed score
    return data


# -- examples -----------------------------------------------------------------------------------
def test_json_agrees_with_compute_for_a_forty_note_course():
    intake, notes = make_intake(), make_notes(40, seed=3)
    progress = progress_of(intake, notes)
    data = check_agrees(progress, intake, "therapist")
    assert len(data["goals"]) == 3 and len(data["sessions"]) == 40
    assert data["goals"][0]["client"][0] == {"session": 0, "at": "2025-06-02T00:00:00+00:00", "value": 3, "level": None,
                                             "note_id": None, "source": "session"}
    assert {m["code"] for m in data["markers"]} >= {"let-go-of-fixing"}
    assert data["answers"]["private_reflection"] == PRIVATE


def test_client_view_leaves_out_therapist_only_tags_reflection_and_prompts_but_keeps_therapist_ratings():
    intake, notes = make_intake(), make_notes(60, seed=5)
    progress = progress_of(intake, notes)
    therapist_only = {m.code for m in progress.markers if m.therapist_only}
    assert therapist_only == {"let-go-of-fixing", "strain-noticed", "felt-stuck"}   # the history has both kinds
    assert progress.prompts                                           # and something to prompt about

    mine = panel.panel_data(progress, intake, "therapist")
    shared = check_agrees(progress, intake, "client")
    assert {m["code"] for m in mine["markers"]} >= therapist_only
    assert not {m["code"] for m in shared["markers"]} & therapist_only
    assert len(shared["markers"]) == sum(1 for m in progress.markers if not m.therapist_only)
    assert shared["prompts"] == [] and "private_reflection" not in shared["answers"]
    assert shared["answers"]["better_looks_like"] == "Mornings without dread"
    assert [g["therapist"] for g in shared["goals"]] == [g["therapist"] for g in mine["goals"]]
    assert any(g["therapist"] for g in shared["goals"])

    for render in (panel.render_html, panel.render_svg):
        therapist_text, client_text = render(progress, intake, "therapist"), render(progress, intake, "client")
        for secret in (THERAPIST_ONLY_LABEL, "Felt stuck (therapist)", PRIVATE if render is panel.render_html else None):
            if secret:
                assert secret in therapist_text
                assert secret not in client_text
        assert "therapist&#x27;s rating" in client_text or "therapist's rating" in client_text


def test_unknown_audience_is_a_validation_error():
    with pytest.raises(ValidationError) as err:
        panel.panel_data(progress_of(make_intake(), []), make_intake(), "family")
    assert "view" in err.value.messages


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_accessible_and_escapes_client_words():
    words = ('<script>alert("x")</script> & "quotes"', "Talk to my sister", "Sleep")
    intake, notes = make_intake(words=words), make_notes(25, seed=9)
    progress = progress_of(intake, notes)
    html = panel.render_html(progress, intake, "therapist")
    parser = Collector()
    parser.feed(html)
    names = [t for t, _ in parser.tags]
    fetching = [(t, a) for t, a in parser.tags
                if {"src", "href", "xlink:href", "srcset", "data", "action"} & set(a) or t in ("link", "iframe", "img")]
    assert fetching == []
    assert "url(" not in html and "@import" not in html
    assert names.count("script") == 1 and panel.TOOLTIP_JS in html           # only our inline script
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    svg = next(a for t, a in parser.tags if t == "svg" and a.get("role") == "img")
    title_id, desc_id = svg["aria-labelledby"].split()
    assert f'id="{title_id}"' in html and f'id="{desc_id}"' in html
    assert "table" in names and names.count("th") >= 5                       # the data table under the chart
    assert 'class="pp-legend"' in html


def test_status_prompts_and_review_are_shown_in_words():
    intake = make_intake(goals=2)
    notes = [NoteProgress(f"n{i}", "c1", START + timedelta(days=7 * i), "t1",
                          (AppliedTag("strain-noticed", 1),) if i == 2 else (AppliedTag("step-forward", 1),),
                          (Rating("g1", v, "client", None, f"n{i}", START + timedelta(days=7 * i)),
                           Rating("g2", 1, "client", None, f"n{i}", START + timedelta(days=7 * i))))
             for i, v in enumerate([5, 7, 9, 9, 9], start=1)]
    progress = progress_of(intake, notes)
    assert [g.change.status for g in progress.goals] == ["reliable improvement", "reliable deterioration"]
    html = panel.render_html(progress, intake, "therapist")
    assert "reliable improvement (+6)" in html and "reliable deterioration (-3)" in html
    for prompt in progress.prompts:
        assert prompt.message.replace("'", "&#x27;") in html
    assert {p.kind for p in progress.prompts} >= {"review-due", "reliable-deterioration", "strain-without-repair"}
    assert "Looking at progress together: due now." in html


def _runs(points) -> list[int]:
    """The lengths of the runs of ratings in consecutive sessions (an unrated session ends a run)."""
    runs: list[int] = []
    previous = None
    for p in points:
        if previous is not None and p.session == previous + 1:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = p.session
    return runs


def test_chart_draws_one_line_per_run_of_rated_sessions_and_no_other_line():
    intake, notes = make_intake(), make_notes(30, seed=11, missing_rate=0)
    progress = progress_of(intake, notes)
    svg = panel.render_svg(progress, intake, "therapist")
    root = ET.fromstring(svg)
    lines = [sub for el in root.iter() if el.tag.endswith("path") and "line" in (el.get("class") or "").split()
             for sub in el.get("d").split("M")[1:]]               # each run of rated sessions: a subpath
    series = ([[p for p in g.client if p.value is not None] for g in progress.goals]
              + [[p for p in g.therapist if p.value is not None and p.session > 0] for g in progress.goals])
    runs = [n for s in series for n in _runs(s) if n >= 2]
    assert len(lines) == len(runs) > len(progress.goals)       # seed 11 leaves unrated sessions: several runs
    vertices = sorted(1 + len(sub.split("L", 1)[1].split()) // 2 for sub in lines)
    assert vertices == sorted(runs)                             # each line goes through its run's points only
    markers = [el for el in root.iter() if el.get("data-direction")]
    assert markers and {el.tag.rsplit("}", 1)[-1] for el in markers} <= {"path"}


def test_empty_and_intake_only_histories_render():
    for intake, notes in ((None, []), (make_intake(), []), (None, make_notes(5, seed=1))):
        progress = progress_of(intake, notes)
        data = check_agrees(progress, intake, "therapist")
        for render in (panel.render_html, panel.render_svg):
            assert "<svg" in render(progress, intake, "client")
        assert len(data["sessions"]) == len(notes)


# -- properties -----------------------------------------------------------------------------------
rates = st.floats(min_value=0, max_value=1, allow_nan=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.one_of(st.integers(0, 20), st.integers(0, 500)), seed=st.integers(0, 2 ** 16), goals=st.integers(0, 3),
       tag_rate=rates, client_rate=rates, therapist_rate=rates, missing_rate=rates,
       audience=st.sampled_from(panel.AUDIENCES))
@example(n=500, seed=1, goals=3, tag_rate=0.9, client_rate=1.0, therapist_rate=1.0, missing_rate=0.1,
         audience="client")
@example(n=0, seed=0, goals=0, tag_rate=0, client_rate=0, therapist_rate=0, missing_rate=0, audience="therapist")
def test_any_history_renders_and_its_json_agrees_with_compute(n, seed, goals, tag_rate, client_rate,
                                                             therapist_rate, missing_rate, audience):
    event(f"notes: {'0' if n == 0 else '1-50' if n <= 50 else '51-200' if n <= 200 else '201-500'}")
    intake = make_intake(goals) if goals else None
    notes = make_notes(n, seed=seed, goals=max(goals, 1), tag_rate=min(tag_rate, 0.9), client_rate=client_rate,
                       therapist_rate=therapist_rate, missing_rate=missing_rate)
    if intake is None:
        notes = [replace(note, ratings=()) for note in notes]
    progress = progress_of(intake, notes)
    data = check_agrees(progress, intake, audience)
    html = panel.render_html(progress, intake, audience)
    svg = panel.render_svg(progress, intake, audience)
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert html.count("<svg") >= 1 and "</html>" in html
    if audience == "client":
        assert THERAPIST_ONLY_LABEL not in html and "Felt stuck" not in svg and PRIVATE not in html
    shown = {el.get("data-direction") for el in root.iter() if el.get("data-direction")}
    assert shown == {m["direction"] for m in data["markers"]}


tag_codes = st.sampled_from([t.code for t in vocabularies()[2].tags] + ["no-such-tag"])
note_st = st.tuples(st.lists(tag_codes, max_size=4, unique=True),
                    st.lists(st.tuples(st.sampled_from(["g1", "g2", "g3", "g9"]), st.sampled_from(["client", "therapist"]),
                                       st.one_of(st.none(), st.integers(0, 10))), max_size=4),
                    st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(raw=st.lists(note_st, max_size=15), goals=st.integers(1, 3), audience=st.sampled_from(panel.AUDIENCES))
def test_any_small_history_of_any_shape_renders(raw, goals, audience):
    notes = []
    for i, (codes, ratings, same_day) in enumerate(raw, start=1):
        at = START + timedelta(days=i - same_day)           # several notes may share a day
        notes.append(NoteProgress(f"n{i}", "c1", at, "t1", tuple(AppliedTag(c, 2) for c in codes),
                                  tuple(Rating(g, v, r, None if v is not None else 1, f"n{i}", at)
                                        for g, r, v in ratings)))
    intake = make_intake(goals)
    progress = progress_of(intake, notes)
    check_agrees(progress, intake, audience)
    ET.fromstring(panel.render_svg(progress, intake, audience))
    assert "<svg" in panel.render_html(progress, intake, audience)


def test_a_persons_words_are_isolated_so_an_override_cannot_reorder_the_page():
    """U+202E (right-to-left override) in goal words and answers sits inside <bdi dir="auto">, balanced."""
    evil = "Sleep \u202eevil\u202c more \u202e\u2069 after"         # an override, left open, and a stray closer
    intake = make_intake(goals=1, words=(evil,))
    intake = replace(intake, answers={**intake.answers, "better_looks_like": f"Calm \u202e{evil}"})
    notes = [NoteProgress("n1", "c1", START + timedelta(days=7), "t1", (AppliedTag("setback", 1, ("g1",)),),
                          (Rating("g1", 4, "client", None, "n1", START + timedelta(days=7)),), True)]
    html = panel.render_html(progress_of(intake, notes), intake, "therapist")
    outside = re.sub(r'<bdi dir="auto">.*?</bdi>', "", html, flags=re.S)
    outside = re.sub(r'title="[^"]*"', "", outside)                   # attributes are isolated with FSI/PDI
    outside = re.sub(r"<svg.*?</svg>", "", outside, flags=re.S)       # SVG text: tests/test_chart.py
    assert "\u202e" not in outside
    isolated = re.findall(r'<bdi dir="auto">(.*?)</bdi>', html, flags=re.S)
    assert "Sleep \u202eevil\u202c more \u202e after\u202c" in isolated                  # the goal card
    assert any(b.startswith("Calm \u202e") for b in isolated)                             # the answer
    assert any(b.startswith("Sleep \u202eevil") and b.endswith("\u202c") for b in isolated[1:])  # the legend
    for inside in isolated:
        assert inside.count("\u202e") == inside.count("\u202c") and "\u2069" not in inside
    assert f"<q>{isolated[0]}" not in html and f'<q><bdi dir="auto">{isolated[0]}</bdi></q>' in html


def test_a_draft_intake_says_not_yet_agreed_and_shows_no_agreed_date(intake_payload):
    # saved with "agreed" unticked: the panel used to say "agreed 8 Jan 2026"
    draft = schemas.load(schemas.intake_schema, intake_payload(agreed=False, agreed_on="2026-01-08"))
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    progress = compute("c1", draft, [], vocabularies(), now)
    assert progress.review is None
    assert [p.kind for p in progress.prompts] == ["not-yet-agreed"]
    assert "not yet agreed" in progress.prompts[0].message
    data = panel.panel_data(progress, draft)
    assert data["agreed_on"] is None and data["intake"]["status"] == "draft" and data["review"] is None
    for audience in ("therapist", "client"):
        html = panel.render_html(progress, draft, audience)
        assert "not yet agreed" in html
        assert "agreed 8 January 2026" not in html and "What we agreed progress" not in html
    html = panel.render_html(progress, draft)
    assert "not yet agreed" in html.split("<h2>")[1]      # the prompt, under "Worth talking about"
    agreed = replace(draft, agreed=True)
    html = panel.render_html(compute("c1", agreed, [], vocabularies(), now), agreed)
    assert "agreed 8 January 2026" in html and "not yet agreed" not in html


def test_an_intake_of_the_earlier_version_shows_its_answers_in_the_current_order(runtime, intake_payload):
    old = schemas.load(schemas.intake_schema, intake_payload(
        definition_version="1.0.0", small_shift="One good night", holding_steady_counts="yes"))
    runtime.dispatch(IntakeSubmitted("clinic-a", START, "c-old", old, "t1"))
    state = runtime.state("clinic-a", "c-old")
    assert state.intake.definition_version == "1.0.0"
    assert state.intake.answers["small_shift"] == "One good night" and "hopes" not in state.intake.answers
    progress = compute("c-old", state.intake, [], vocabularies(), START)
    data = panel.panel_data(progress, state.intake)
    assert data["intake"]["not_asked"] == ["hopes"]
    html = panel.render_html(progress, state.intake)
    agreed = html[html.index("What we agreed progress"):]
    assert agreed.index("Waking up less tired") < agreed.index("One good night") < agreed.index("Yes")
    assert "earlier version of this section (1.0.0), which did not ask" in agreed
    assert "What do you hope to get from coming here?" in agreed
    current = schemas.load(schemas.intake_schema, intake_payload(hopes="To sleep again"))
    assert "earlier version" not in panel.render_html(compute("c1", current, [], vocabularies(), START), current)


# -- languages -------------------------------------------------------------------------------------
HINDI_WORDS = ("Get through a work meeting without my chest going tight", "दीदी से फिर से बात करना",
               "Sleep through most nights", "रात को बिना डरे सोना")


def redefined_course(n: int = 14, cadence: str = "every-4-sessions", seed: int = 5):
    """A realistic course: goal 2 in Devanagari, redefined at session 5 (goal 4, in Devanagari too,
    replaces it and has no rating since), a retired tag and a therapist-only one (vocabulary
    version 2), strain without repair, prompts."""
    intake = make_intake(words=HINDI_WORDS, cadence=cadence)
    g1, g2, g3 = intake.goals
    redefined_on = START + timedelta(days=7 * 6, hours=1)
    goals = (g1, replace(g2, status="replaced", replaced_by="g4"), g3,
             Goal("g4", HINDI_WORDS[3], "client", 2, 2, replaces="g2", since=redefined_on))
    intake = replace(intake, goals=goals, answers={**intake.answers, "better_looks_like": "सुबह बिना घबराहट के"})
    notes = make_notes(n, seed=seed, goals=3)
    strain = NoteProgress(f"n{n + 1}", "c1", START + timedelta(days=7 * (n + 1)), "t1",
                          (AppliedTag("strain-noticed", 2), AppliedTag("setback", 2)),
                          (Rating("g1", 2, "client", 1, f"n{n + 1}", START + timedelta(days=7 * (n + 1))),))
    return intake, notes + [strain]


def catalog():
    """(English, Hindi) of every entry of the committed catalogs, plural forms as one entry each."""
    from babel.messages.pofile import read_po
    from progress_plugin.lang import CATALOGS
    with open(CATALOGS / "hi" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        hindi = read_po(fh, locale="hi")
    with open(CATALOGS / "messages.pot", "rb") as fh:
        ids = [m.id for m in read_po(fh) if m.id]
    out = []
    for key in ids:
        english = [key] if isinstance(key, str) else list(key)
        said = hindi.get(key if isinstance(key, str) else key[0]).string
        out += zip(english, [said] * len(english) if isinstance(said, str) else list(said))
    return out


def english_left(text: str) -> list[str]:
    """The catalogs' English found in ``text``: each literal run of 2+ letters of a template whose
    Hindi is not the same, bounded so that "on" is not found inside "only"."""
    found = []
    for english, hindi in catalog():
        if english == hindi:
            continue
        for part in re.split(r"\{[A-Za-z_]+\}", english):
            part = part.strip(" ,.:;·")
            if len(re.findall(r"[A-Za-z]", part)) >= 2 and re.search(rf"(?<![A-Za-z]){re.escape(part)}(?![A-Za-z])", text):
                found.append(part)
    return sorted(set(found))


def visible(markup: str, *removed: str) -> str:
    """The text a person reads or hears on a page or SVG (text, title, aria-label and alt
    attributes), without the client's own words (isolated in <bdi> or between U+2068 and U+2069,
    as every place that shows them marks them) and without ``removed`` (tag labels...)."""
    import html as html_mod
    markup = re.sub(r"<(style|script)\b.*?</\1>", " ", markup, flags=re.S)
    markup = re.sub(r"<bdi\b[^>]*>.*?</bdi>", " ", markup, flags=re.S)
    markup = re.sub("\u2068[^\u2069]*\u2069", " ", markup)
    said = re.findall(r'\s(?:title|aria-label|alt)="([^"]*)"', markup)
    text = html_mod.unescape(" ".join([re.sub(r"<[^>]+>", " ", markup), *said]))
    for words in sorted(removed, key=len, reverse=True):
        text = text.replace(words, " ")
    return text


def not_catalogued() -> list[str]:
    """Intake questions and options the catalogs do not carry yet: the panel says them as the intake
    defines them (translated where the intake's own strings are marked)."""
    from progress_plugin.core.intake import FIELDS
    ids = {english for english, _ in catalog()}
    texts = [f.label for f in FIELDS] + [o.label for f in FIELDS for o in (f.options or ())]
    return [t for t in texts if t not in ids]


def hindi_panels():
    """The panel in Hindi for several courses: (name, HTML or SVG, the words that are not ours)."""
    from progress_plugin import lang
    hi = lang.words("hi")
    intake, notes = redefined_course()
    monthly, _ = redefined_course(cadence="monthly")
    draft = replace(make_intake(goals=1, words=HINDI_WORDS[1:]), agreed=False, definition_version="1.0.0")
    long_intake, long_notes = make_intake(words=HINDI_WORDS), make_notes(70, seed=4)
    cases = [("therapist", intake, notes, "therapist"), ("client", intake, notes, "client"),
             ("monthly", monthly, notes[:3], "therapist"), ("draft", draft, [], "therapist"),
             ("empty", None, [], "therapist"), ("long", long_intake, long_notes, "therapist")]
    out = []
    for name, i, ns, audience in cases:
        progress = progress_of(i, ns)
        theirs = [*HINDI_WORDS, *(str(v) for v in (i.answers.values() if i else ())),
                  *{m.label for m in progress.markers}, *not_catalogued()]
        out.append((name, panel.render_html(progress, i, audience, words=hi), theirs))
        out.append((name + ".svg", panel.render_svg(progress, i, audience, words=hi), theirs))
    return out


def test_the_hindi_panel_has_no_english_left_from_the_catalogs():
    panels = hindi_panels()
    said = {name: visible(markup, *theirs) for name, markup, theirs in panels}
    assert {name: english_left(text) for name, text in said.items()} == {name: [] for name in said}
    intake, notes = redefined_course()                               # the check finds English where it is
    english = panel.render_html(progress_of(intake, notes), intake)
    assert len(english_left(visible(english, *HINDI_WORDS))) > 40
    # and the Hindi is there: headings, the reliable-change wording, prompts, the chart's words
    page = said["therapist"]
    for hindi in ("प्रगति", "थेरेपिस्ट के लिए", "लक्ष्य 1", "भरोसेमंद सुधार", "भरोसेमंद गिरावट",
                  "शुरुआत से अब तक क्लाइंट का अंक कम से कम तय किए गए फ़र्क़ जितना", "इन पर बात करना अच्छा रहेगा",
                  "प्रगति का मतलब दोबारा साथ में देखने का समय", "रिश्ते में खिंचाव", "समय के साथ अंक और टैग",
                  "सेशन 5 में नए सिरे से तय हुआ: ये शब्द और इनके अंक यहीं तक हैं", "(हटाया गया टैग)",
                  "चार्ट का डेटा, टेबल में", "हमने मिलकर तय किया कि प्रगति कैसी दिखेगी", "निजी विचार"):
        assert hindi in page, hindi
    assert "क्लाइंट के साथ देखने के लिए" in said["client"] and "निजी विचार" not in said["client"]
    assert "प्रगति का चार्ट: 4 लक्ष्य के 0 से 10 तक के अंक, 15 सेशन में" in said["therapist.svg"]
    assert "टैग: एक कदम आगे" in said["therapist.svg"]                       # the standalone chart's own legend
    assert "अभी तय नहीं हुआ" in said["draft"] and "ड्राफ़्ट" in said["draft"]
    assert "पुराने रूप (1.0.0) से भरा गया था" in said["draft"]
    assert "अभी कोई लक्ष्य तय नहीं हुआ है।" in said["empty"] and "अभी कोई अंक या टैग नहीं" in said["empty"]
    assert re.search(r"सेशन \d+–\d+ · ", said["long"])                         # tags grouped into spans


def test_the_hindi_panel_keeps_the_clients_words_as_written_and_says_its_language():
    from progress_plugin import lang
    intake, notes = redefined_course()
    html = panel.render_html(progress_of(intake, notes), intake, words=lang.words("hi"))
    assert html.startswith('<!doctype html><html lang="hi" dir="ltr">')
    assert '<section class="pp-panel" lang="hi" dir="ltr"' in html
    fragment = panel.render_html(progress_of(intake, notes), intake, document=False, words=lang.words("hi"))
    assert fragment.startswith('<section class="pp-panel" lang="hi" dir="ltr"')
    for words in HINDI_WORDS:                                        # never translated, each marked dir="auto"
        assert f'<q><bdi dir="auto">{words}</bdi></q>' in html
    assert '<bdi dir="auto">सुबह बिना घबराहट के</bdi>' in html
    assert "लक्ष्य 2, \u201c\u2068रात को बिना डरे सोना\u2069\u201d, पर पिछले 3 सेशन में" in html   # a prompt: isolated
    svg = panel.render_svg(progress_of(intake, notes), intake, words=lang.words("hi"))
    assert ET.fromstring(svg).get("{http://www.w3.org/XML/1998/namespace}lang") == "hi"


def test_hindi_dates_and_numbers():
    from progress_plugin import lang
    hi = lang.words("hi")
    intake, notes = redefined_course(cadence="monthly")
    progress = progress_of(intake, notes[:2], now=START + timedelta(days=20))
    html = panel.render_html(progress, intake, words=hi)
    assert "2 जून 2025 को मिलकर तय किया" in html                      # the agreed day, Hindi month
    assert '<th>1<td>9 जून 2025<td>' in html                          # the table's first session
    assert "प्रगति को दोबारा साथ में देखने का अगला समय: 2 जुलाई 2025 को।" in html   # the next review
    data = panel.panel_data(progress, intake, words=hi)
    assert data["review"]["next_due"] == "2025-07-02 को"              # the JSON keeps ISO dates and raw numbers
    assert data["sessions"][0]["at"].startswith("2025-06-09") and data["goals"][0]["baseline"] == 3
    assert hi.number(1234567) == "12,34,567"                          # what words.number gives the page


def test_the_json_says_its_prompts_in_the_language_asked():
    from progress_plugin import lang
    intake, notes = redefined_course()
    progress = progress_of(intake, notes)
    english, hindi = (panel.panel_data(progress, intake, words=w)["prompts"] for w in (ENGLISH, lang.words("hi")))
    assert [p["message"] for p in english] == [p.message for p in progress.prompts]     # English as before
    assert [p["kind"] for p in hindi] == [p["kind"] for p in english] == ["review-due", "sudden-drop",
                                                                          "no-recent-rating", "strain-without-repair"]
    for p in hindi:
        assert english_left(visible(p["message"], *HINDI_WORDS)) == [] and "सेशन" in p["message"]
    assert "(तय हुआ था: हर 4 सेशन पर;" in hindi[0]["message"]             # the cadence said in Hindi too


class Digits(ENGLISH.__class__):
    """English words that write every number in Devanagari digits and every day as «day-month»:
    whatever the panel shows in plain digits did not go through ``words``."""

    code = "xx"

    def number(self, value):
        return "".join("०१२३४५६७८९"[int(c)] if c.isdigit() else c for c in str(value))

    def date(self, value):
        return f"«{self.number(value.day)}-{self.number(value.month)}»"


def test_every_number_and_date_on_the_panel_goes_through_words():
    words = Digits()
    intake, notes = redefined_course(cadence="monthly")
    for audience in panel.AUDIENCES:
        progress = progress_of(intake, notes)
        for markup in (panel.render_html(progress, intake, audience, words=words),
                       panel.render_svg(progress, intake, audience, words=words)):
            text = visible(markup, *HINDI_WORDS, *(str(v) for v in intake.answers.values()))
            text = re.sub(r"/10\b|\b0 to 10\b|\b0-10\b", " ", text)   # the scale, written in the templates
            assert re.findall(r".{0,30}[0-9].{0,10}", text) == []
            assert "«२-६»" in text and "+" in text


def test_every_string_the_panel_marks_is_in_the_catalogs():
    """pybabel does not look inside an f-string's braces: a string marked there would never be
    translated. Every N_(), msg() and words.plural() string of the panel's modules is in the catalogs."""
    import ast
    from pathlib import Path
    from progress_plugin.core import progress as core_progress
    from progress_plugin.view import chart, chart_text
    ids = {english for english, _ in catalog()}
    marked = set()
    from progress_plugin.core import checkin, checkin_progress
    from progress_plugin.view import checkins
    for module in (panel, chart, chart_text, core_progress, checkin, checkin_progress, checkins):
        for node in ast.walk(ast.parse(Path(module.__file__).read_text(encoding="utf-8"))):
            name = getattr(node, "func", None)
            name = getattr(name, "id", None) or getattr(name, "attr", None)
            if isinstance(node, ast.Call) and name in ("N_", "msg", "plural"):
                marked |= {a.value for a in node.args[:2 if name == "plural" else 1]
                           if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    assert len(marked) > 80
    assert sorted(marked - ids) == []


# -- the client's view, written to the client ---------------------------------------------------
def test_the_client_view_speaks_to_the_client_in_plain_words():
    intake = replace(make_intake(), goals=(Goal("g1", GOAL_WORDS[0], "client", 3, 1),
                                           Goal("g2", GOAL_WORDS[1], "carer", 4, 2)))
    progress = progress_of(intake, make_notes(12, seed=3, goals=2))
    mine = panel.render_html(progress, intake, "client")
    theirs = panel.render_html(progress, intake, "therapist")
    svg = panel.render_svg(progress, intake, "client")
    for text in (mine, svg):
        lowered = text.lower()
        for third_person in ("agreed margin", "client's", "client&#x27;s", "latest client rating", "the client"):
            assert third_person not in lowered
    assert "your latest rating is" in mine and "A goal of someone close to you" in mine
    assert mine.count("we call it a real change") == 1                 # the margin, explained once
    assert "agreed margin" in theirs and "A carer&#x27;s or family member&#x27;s goal" in theirs
    assert "(your rating)" in svg or "your rating" in svg
    data = panel.panel_data(progress, intake, "client")
    assert set(data) == set(panel.panel_data(progress, intake, "therapist"))     # the JSON keeps its keys


def test_strain_markers_are_hidden_from_the_client_by_default_and_shown_on_opt_in():
    v1 = default()
    open_strain = {1: replace(v1, tags=tuple(replace(t, audience="all") if t.role == "strain" else t for t in v1.tags))}
    intake = make_intake(1)
    notes = [NoteProgress("n1", "c1", START + timedelta(days=7), "t1", (AppliedTag("strain-noticed", 1),
                                                                        AppliedTag("setback", 1)), ())]
    progress = compute("c1", intake, notes, open_strain, START + timedelta(days=14))
    hidden = panel.panel_data(progress, intake, "client")
    shown = panel.panel_data(progress, intake, "client", show_strain=True)
    assert [m["code"] for m in hidden["markers"]] == ["setback"]
    assert sorted(m["code"] for m in shown["markers"]) == ["setback", "strain-noticed"]
    assert "Strain noticed" not in panel.render_html(progress, intake, "client")
    assert "Strain noticed" in panel.render_html(progress, intake, "client", show_strain=True)
    assert "Strain noticed" in panel.render_html(progress, intake, "therapist")

"""The client's check-ins on the therapist's panel: self-ratings on the goal's line marked as the
client's own, the session check as a series of its own, in English and Hindi."""
from __future__ import annotations

from datetime import timedelta

from progress_plugin import lang
from progress_plugin.core.checkin import Checkin, SessionCheck
from progress_plugin.core.notes import Rating
from progress_plugin.core.progress import compute
from progress_plugin.view import panel

from tests.test_panel import HINDI_WORDS, START, english_left, redefined_course, vocabularies, visible

CHECKS = [(5, (8, 8, 7, 8), False), (6, (9, 8, 8, 9), False), (7, (8, 9, None, 8), False), (4, (5, 6, 3, 4), True)]


def checkins():
    out = []
    for i, (g1, check, revisit) in enumerate(CHECKS):
        at = START + timedelta(days=7 * (2 * i + 1) + 3)
        cid = f"checkin:{i}"
        out.append(Checkin(cid, at, (Rating("g1", g1, "client", None, cid, at, "self"),), SessionCheck(*check),
                           revisit))
    return out


def course():
    intake, notes = redefined_course(n=8)
    return intake, compute("c1", intake, notes, vocabularies(), START + timedelta(days=80), checkins=checkins())


def test_json_marks_self_ratings_and_keeps_the_session_check_apart():
    intake, progress = course()
    data = panel.panel_data(progress, intake)
    own = [p for p in data["goals"][0]["client"] if p["source"] == "self"]
    assert [(p["session"], p["value"], p["note_id"]) for p in own] == [
        (1, 5, "checkin:0"), (3, 6, "checkin:1"), (5, 7, "checkin:2"), (7, 4, "checkin:3")]
    assert all(p["source"] == "session" for g in data["goals"] for p in g["therapist"])
    assert [(c["session"], c["heard"], c["fits"], c["overall"], c["revisit"]) for c in data["checks"]] == [
        (1, 8, 7, 8, False), (3, 9, 8, 9, False), (5, 8, None, 8, False), (7, 5, 3, 4, True)]
    # never added to the goals: no goal point carries a session-check value it did not have
    assert sorted(p["value"] for p in own) == [4, 5, 6, 7]
    assert {p["kind"] for p in data["prompts"]} >= {"session-check-low", "revisit-asked"}
    assert data["review"]["due"] and data["review"]["asked"] == progress.checks[-1].at.isoformat()


def test_html_shows_the_legend_entry_the_squares_and_the_series():
    intake, progress = course()
    html = panel.render_html(progress, intake)
    assert '<li class="pp-legend-self"' in html and "The client&#x27;s own check-in" in html
    assert html.count("the client's own check-in after session") == 4          # one tooltip per self rating
    assert "<h2>The client&#x27;s session checks</h2>" in html
    rows = html.split('<table class="pp-checks-table"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 5 and "<td>yes</td>" in rows and '<td>–</td>' in rows
    assert '<svg class="pp-checks-chart"' in html
    assert "Check-in after session 1" in html                          # its row in the data table
    client = panel.render_html(progress, intake, "client")
    assert "pp-checks-table" not in client                             # the therapist's view only


def test_no_checkins_no_series_and_no_legend_entry():
    intake, notes = redefined_course(n=8)
    html = panel.render_html(compute("c1", intake, notes, vocabularies(), START + timedelta(days=80)), intake)
    assert 'class="pp-checks' not in html and 'class="pp-legend-self"' not in html


def test_the_hindi_panel_with_checkins_has_no_english_left():
    intake, progress = course()
    hi = lang.words("hi")
    theirs = [*HINDI_WORDS, *(str(v) for v in intake.answers.values()), *{m.label for m in progress.markers}]
    for markup in (panel.render_html(progress, intake, words=hi), panel.render_svg(progress, intake, words=hi)):
        assert english_left(visible(markup, *theirs)) == []
    html = panel.render_html(progress, intake, words=hi)
    for said in ("क्लाइंट का अपना चेक-इन", "सेशन पर क्लाइंट की राय", "बात सुनी गई", "कुल मिलाकर",
                 "प्रगति को दोबारा देखना चाहते हैं", "सेशन 7 के बाद", "आम तौर पर"):
        assert said in html, said

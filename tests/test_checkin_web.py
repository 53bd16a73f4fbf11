"""The client's check-in over HTTP: links, the session cookie, the form, sending it once, and every refusal."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from progress_plugin.core.events import CheckinSubmitted
from progress_plugin.service import settings
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, checkins, tokens
from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app

from tests.test_panel import GOAL_WORDS, seed_client

CLINIC = "clinic-a"
OTHER_WORDS = ("Walk to the market alone", "Call my sister on Sundays", "Cook one meal a week")


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def world(sqlite_url, now):
    """A store with clients c1 and c2 (three goals and three sessions each), an app on it, and a clock."""
    clock = Clock(now)
    config = settings.load({"store": {"url": sqlite_url},
                            "checkin": {"open_limit": "5 per minute", "form_limit": "20 per minute"}}, env={})
    store = Store.open(sqlite_url)
    runtime = Runtime(store, clock=clock)
    seed_client(runtime, CLINIC, "c1", 3)
    seed_client(runtime, CLINIC, "c2", 3, words=OTHER_WORDS)
    app = create_app(store, config=config, clock=clock)
    yield app, store, clock
    store.close()


def link_for(store, clock, client="c1", days=7):
    return checkins.create_link(store, CLINIC, client, clock(), timedelta(days=days), "t1")


def opened(http, token):
    """Open the link; returns the answer (a 303 to /checkin/ when it works)."""
    return http.get(f"/c/{token}")


def form_token(page: str) -> str:
    return re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)


def checkins_sent(dispatched):
    return [event for event, _ in dispatched if isinstance(event, CheckinSubmitted)]


def test_a_link_is_stored_only_as_a_digest_and_its_session_too(world):
    app, store, clock = world
    link, token = link_for(store, clock)
    http = app.test_client()
    response = opened(http, token)
    cookie = http.get_cookie("pp_checkin", path="/checkin/").value
    with store.engine.connect() as c:
        rows = [tuple(map(str, r)) for r in c.execute(sa.select(t.checkin_links))]
        sessions = [tuple(map(str, r)) for r in c.execute(sa.select(t.checkin_sessions))]
        audit = [tuple(map(str, r)) for r in c.execute(sa.select(t.audit_log))]
    assert response.status_code == 303
    assert rows[0][1] == hashlib.sha256(token.encode()).hexdigest()
    assert sessions[0][0] == hashlib.sha256(cookie.encode()).hexdigest()
    everything = repr(rows + sessions + audit)
    assert token not in everything and cookie not in everything
    assert len(token) == 43


def test_opening_a_link_sets_a_short_lax_httponly_cookie_and_lands_on_a_clean_url(world):
    app, store, clock = world
    _, token = link_for(store, clock)
    response = app.test_client().get(f"/c/{token}", base_url="https://progress.example.org")
    assert response.status_code == 303
    assert response.headers["Location"] == "/checkin/"
    cookie = response.headers["Set-Cookie"]
    for flag in ("pp_checkin=", "HttpOnly", "SameSite=Lax", "Secure", "Path=/checkin/", "Max-Age=7200"):
        assert flag in cookie
    assert token not in cookie
    plain = app.test_client().get(f"/c/{link_for(store, clock)[1]}")
    assert "Secure" not in plain.headers["Set-Cookie"]


def test_the_cookie_never_outlives_the_link(world):
    app, store, clock = world
    _, token = checkins.create_link(store, CLINIC, "c1", clock(), timedelta(minutes=30), "t1")
    assert "Max-Age=1800" in opened(app.test_client(), token).headers["Set-Cookie"]


def test_the_form_shows_the_goals_in_the_clients_words_and_the_session_check_without_free_text(world):
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    response = http.get("/checkin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for words in GOAL_WORDS:
        assert f'<span class="goal" dir="auto">{words}</span>' in page
    assert not any(words in page for words in OTHER_WORDS)
    assert "Did you feel heard and understood?" in page and "Overall, how was the session for you?" in page
    assert page.count('type="radio"') == (3 + 4) * 12           # 0-10 and a skip, per goal and per item
    assert page.count('value="" checked') == 7                  # every scale starts skipped
    assert "like us to look at what progress means next time." in page
    assert "<textarea" not in page and 'type="text"' not in page
    assert "script" not in response.headers["Content-Security-Policy"].replace("default-src", "")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_check_in_is_sent_once_per_day_and_the_second_says_received(world, dispatched):
    app, store, clock = world
    link, token = link_for(store, clock)
    http = app.test_client()
    opened(http, token)
    sent = {"form_token": form_token(http.get("/checkin/").get_data(as_text=True)),
            "goal-g1": "6", "goal-g2": "", "goal-g3": "4", "check-heard": "9", "check-mattered": "8",
            "check-fits": "", "check-overall": "7", "revisit": "true"}
    first = http.post("/checkin/", data=sent)
    assert first.status_code == 303 and first.headers["Location"] == "/checkin/thanks?sent=new"
    assert "Your check-in was received" in http.get(first.headers["Location"]).get_data(as_text=True)
    second = http.post("/checkin/", data={**sent, "goal-g1": "2"})
    assert second.headers["Location"] == "/checkin/thanks?sent=again"
    assert "We already have your check-in" in http.get(second.headers["Location"]).get_data(as_text=True)
    (event,) = checkins_sent(dispatched)
    assert (event.clinic_id, event.client_id) == (CLINIC, "c1")
    checkin = event.checkin
    assert checkin.checkin_id == f"checkin:{link.link_id}:{clock():%Y-%m-%d}"
    assert [(r.goal_id, r.value, r.rater, r.source, r.note_id) for r in checkin.ratings] == [
        ("g1", 6, "client", "self", checkin.checkin_id), ("g3", 4, "client", "self", checkin.checkin_id)]
    assert checkin.session_check.values() == {"heard": 9, "mattered": 8, "fits": None, "overall": 7}
    assert checkin.revisit is True
    clock.now += timedelta(days=1)                         # a new day (the session has ended: open it again)
    assert http.post("/checkin/", data=sent).status_code == 403
    opened(http, token)
    http.post("/checkin/", data={**sent, "form_token": form_token(http.get("/checkin/").get_data(as_text=True))})
    assert len(checkins_sent(dispatched)) == 2


def test_all_skipped_sends_no_session_check(world, dispatched):
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    http.post("/checkin/", data={"form_token": form_token(http.get("/checkin/").get_data(as_text=True))})
    (event,) = checkins_sent(dispatched)
    assert event.checkin.ratings == () and event.checkin.session_check is None and event.checkin.revisit is False


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_an_ended_link_is_refused_with_a_clear_page_and_nothing_stored(world, dispatched, how):
    app, store, clock = world
    link, token = link_for(store, clock, days=1)
    if how == "expired":
        clock.now += timedelta(days=1, seconds=1)
    else:
        checkins.revoke_link(store, link.link_id, clock())
    response = opened(app.test_client(), token)
    assert response.status_code == 410
    assert "This link has ended" in response.get_data(as_text=True)
    assert "pp_checkin=;" in response.headers["Set-Cookie"]
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.checkin_sessions)).scalar() == 0
    assert checkins_sent(dispatched) == []


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_a_session_ends_with_its_link_and_its_form_is_refused(world, dispatched, how):
    app, store, clock = world
    link, token = link_for(store, clock, days=1)
    http = app.test_client()
    opened(http, token)
    sent = {"form_token": form_token(http.get("/checkin/").get_data(as_text=True)), "goal-g1": "5"}
    if how == "expired":
        clock.now += timedelta(days=1)
    else:
        checkins.revoke_link(store, link.link_id, clock())
    response = http.post("/checkin/", data=sent)
    assert response.status_code == 403
    assert "Please open your link again" in response.get_data(as_text=True)
    assert http.get("/checkin/progress").status_code == 403
    assert checkins_sent(dispatched) == []


def test_a_forged_token_is_refused(world):
    app, store, clock = world
    link_for(store, clock)
    for forged in ("A" * 43, "not-a-token", "c1", "%00" * 3):
        response = opened(app.test_client(), forged)
        assert response.status_code == 404
        assert "This link does not work" in response.get_data(as_text=True)
        assert forged not in response.get_data(as_text=True)


def test_a_cookie_opens_its_own_client_only(world, dispatched):
    """The pages name no client: a cookie for c1 shows and sends c1's check-in, never c2's."""
    app, store, clock = world
    a, b = app.test_client(), app.test_client()
    opened(a, link_for(store, clock, "c1")[1])
    opened(b, link_for(store, clock, "c2")[1])
    assert OTHER_WORDS[0] not in a.get("/checkin/").get_data(as_text=True)
    progress_a = a.get("/checkin/progress").get_data(as_text=True)
    assert GOAL_WORDS[0] in progress_a and OTHER_WORDS[0] not in progress_a
    token_a = form_token(a.get("/checkin/").get_data(as_text=True))
    a_cookie = a.get_cookie("pp_checkin", path="/checkin/").value
    b.set_cookie("pp_checkin", a_cookie, path="/checkin/")      # c2's browser given c1's cookie: it is c1's
    b.post("/checkin/", data={"form_token": token_a, "goal-g1": "3"})
    assert [(e.client_id) for e in checkins_sent(dispatched)] == ["c1"]
    b.set_cookie("pp_checkin", "x" * 43, path="/checkin/")      # a made-up cookie opens nothing
    assert b.get("/checkin/").status_code == 403


def test_a_form_token_from_another_session_or_none_is_refused(world, dispatched):
    app, store, clock = world
    first, second = app.test_client(), app.test_client()
    _, token = link_for(store, clock)
    opened(first, token)
    old = form_token(first.get("/checkin/").get_data(as_text=True))
    opened(second, token)                                  # the same link, another browser
    for sent in ({"form_token": old, "goal-g1": "5"}, {"goal-g1": "5"}, {"form_token": "", "goal-g1": "5"}):
        response = second.post("/checkin/", data=sent)
        assert response.status_code == 400
        assert "This form had expired" in response.get_data(as_text=True)
    opened(first, token)                                   # the first browser opens it again: a new session
    assert first.post("/checkin/", data={"form_token": old, "goal-g1": "5"}).status_code == 400
    assert checkins_sent(dispatched) == []


@pytest.mark.parametrize("bad", [{"goal-g1": "11"}, {"goal-g1": "-1"}, {"goal-g1": "six"}, {"goal-g9": "3"},
                                 {"comment": "hello"}, {"check-heard": "2.5"}])
def test_a_form_with_values_not_offered_is_refused_and_nothing_sent(world, dispatched, bad):
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    response = http.post("/checkin/", data={"form_token": form_token(http.get("/checkin/").get_data(as_text=True)),
                                            **bad})
    assert response.status_code == 422
    assert "This form could not be read" in response.get_data(as_text=True)
    assert checkins_sent(dispatched) == []


def test_bad_tokens_are_rate_limited(world):
    app, store, clock = world
    http = app.test_client()
    _, token = link_for(store, clock)
    assert [opened(http, "B" * 43).status_code for _ in range(5)] == [404] * 5
    refused = opened(http, "B" * 43)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "Please wait a little" in refused.get_data(as_text=True)
    assert opened(http, token).status_code == 429          # the address waits, whatever it sends


def test_the_progress_page_is_the_client_view_of_the_sessions_client(world):
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    response = http.get("/checkin/progress")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "CANARY-PRIVATE-REFLECTION" not in page          # the client view leaves the reflection out
    assert GOAL_WORDS[1] in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_progress_page_is_drawn_once_per_state_and_again_after_a_check_in(world, monkeypatch):
    from progress_plugin.web.checkin import views
    drawn = []
    real = views.panel.render_html
    monkeypatch.setattr(views.panel, "render_html", lambda *a, **k: drawn.append(k["words"].code) or real(*a, **k))
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    first = http.get("/checkin/progress").get_data(as_text=True)
    assert http.get("/checkin/progress").get_data(as_text=True) == first and drawn == ["en"]
    http.get("/checkin/progress?lang=hi")
    assert drawn == ["en", "hi"]                             # each language drawn once
    sent = {"form_token": form_token(http.get("/checkin/").get_data(as_text=True)), "goal-g1": "6",
            "goal-g2": "", "goal-g3": "4", "check-heard": "9", "check-mattered": "8", "check-fits": "",
            "check-overall": "7", "revisit": "true"}
    assert http.post("/checkin/", data=sent).status_code == 303
    assert http.get("/checkin/progress").get_data(as_text=True) != first and drawn == ["en", "hi", "en"]


def test_the_pages_speak_hindi(world):
    app, store, clock = world
    http = app.test_client()
    response = http.get(f"/c/{link_for(store, clock)[1]}?lang=hi")
    assert response.headers["Location"] == "/checkin/?lang=hi"
    page = http.get("/checkin/?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in page and "Where are things now?" not in page
    assert GOAL_WORDS[0] in page                            # the client's words as written


def test_the_pages_follow_a_change_of_the_clinics_language_at_once(world):
    app, store, clock = world
    http = app.test_client()
    opened(http, link_for(store, clock)[1])
    store.ensure_clinic(CLINIC, clock(), language="hi")     # read with the session: the next page follows
    for path in ("/checkin/", "/checkin/progress"):
        assert '<html lang="hi"' in http.get(path).get_data(as_text=True)
    assert '<html lang="en"' in http.get("/checkin/?lang=en").get_data(as_text=True)
    store.ensure_clinic(CLINIC, clock(), language="en")
    for path in ("/checkin/", "/checkin/progress"):
        assert '<html lang="en"' in http.get(path).get_data(as_text=True)


# -- the HTTP API ------------------------------------------------------------------------------
def test_a_viewer_token_makes_a_link_with_its_qr_code(world):
    app, store, clock = world
    _, viewer = tokens.create(store, CLINIC, "viewer", "Dr Kapoor", clock())
    http = app.test_client()
    auth = {"Authorization": f"Bearer {viewer}"}
    made = http.post(f"/clinics/{CLINIC}/clients/c1/checkin-links", json={"expires": "2d"}, headers=auth)
    body = made.get_json()
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"http://localhost/c/[A-Za-z0-9_-]{43}", body["url"])
    assert body["qr_svg"].startswith("<svg") and "<script" not in body["qr_svg"]
    assert body["expires_at"].startswith((clock() + timedelta(days=2)).date().isoformat())
    assert opened(http, body["url"].rsplit("/", 1)[1]).status_code == 303
    listed = http.get(f"/clinics/{CLINIC}/clients/c1/checkin-links", headers=auth).get_json()["links"]
    assert [(x["link_id"], x["status"]) for x in listed] == [(body["link_id"], "active")]
    revoked = http.post(f"/clinics/{CLINIC}/checkin-links/{body['link_id']}/revoke", headers=auth)
    assert revoked.get_json()["status"] == "revoked"


def test_the_api_refuses_unknown_clients_bad_expiry_and_missing_tokens(world):
    app, store, clock = world
    _, viewer = tokens.create(store, CLINIC, "viewer", "Dr Kapoor", clock())
    http = app.test_client()
    auth = {"Authorization": f"Bearer {viewer}"}
    assert http.post(f"/clinics/{CLINIC}/clients/nobody/checkin-links", headers=auth).status_code == 404
    bad = http.post(f"/clinics/{CLINIC}/clients/c1/checkin-links", json={"expires": "1y"}, headers=auth)
    assert bad.status_code == 422 and "expires" in bad.get_json()["json"]
    assert http.post(f"/clinics/{CLINIC}/clients/c1/checkin-links").status_code == 401
    assert checkins.list_links(store) == []

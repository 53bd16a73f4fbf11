"""Every way a SMART launch is refused, against the EHR stand-in in front of Medplum (tests/smart_ehr.py):
the status, the page's words (English and Hindi), an audit row where the EHR is known, and never a session."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from progress_plugin.store import smart as rows

from tests.smart_setup import EHR_ID, register_app
from tests.test_smart_launch import (Clock, build, callback_path, chart, go_authorize, launch_id,  # noqa: F401
                                     launched, sessions, world)


def started(http, ehr, chart, **launch):
    answer = http.get(f"/smart/launch?iss={ehr.fhir_base}&launch={launch_id(ehr, chart, **launch)}")
    assert answer.status_code == 302
    return answer.headers["Location"]


def approved(http, ehr, chart, **launch) -> str:
    """An EHR launch the EHR approved: the callback path it sends the browser back to (not yet followed)."""
    return callback_path(go_authorize(started(http, ehr, chart, **launch)))


def refused(answer, status: int, words: str):
    assert answer.status_code == status, answer.data
    page = answer.get_data(as_text=True)
    assert words in page, page
    assert "Set-Cookie" not in answer.headers or "pp_smart=;" in answer.headers["Set-Cookie"]
    return page


def audit_outcomes(store):
    return [r["outcome"] for r in store.audit_rows() if r["action"] == "smart.launch"]


def test_an_unknown_state_is_refused(world):
    app, store, ehr, _, chart = world
    http = app.test_client()
    started(http, ehr, chart)
    refused(http.get("/smart/callback?code=abc&state=not-a-state-we-made"), 400, "This sign-in did not start here")
    refused(http.get("/smart/callback?code=abc"), 400, "This sign-in did not start here")
    assert sessions(store) == 0


def test_a_wrong_state_with_a_real_code_is_refused_and_the_code_never_exchanged(world):
    app, store, ehr, _, chart = world
    http = app.test_client()
    back = approved(http, ehr, chart)
    query = parse_qs(urlsplit(back).query)
    refused(http.get("/smart/callback?" + urlencode({"code": query["code"][0], "state": query["state"][0] + "x"})),
            400, "This sign-in did not start here")
    assert ehr.token_requests == [] and sessions(store) == 0


def test_a_replayed_callback_is_refused_and_the_first_session_alone_stands(world):
    app, store, ehr, _, chart = world
    http = app.test_client()
    back = approved(http, ehr, chart)
    assert http.get(back).status_code == 303
    refused(http.get(back), 400, "This sign-in was already used")
    assert sessions(store) == 1 and len(ehr.token_requests) == 1
    assert audit_outcomes(store) == ["ok", "refused:state-used"]


def test_a_code_replayed_under_a_new_state_is_refused_by_the_ehr(world):
    app, store, ehr, _, chart = world
    http = app.test_client()
    first = parse_qs(urlsplit(approved(http, ehr, chart)).query)
    assert http.get("/smart/callback?" + urlencode({k: v[0] for k, v in first.items()})).status_code == 303
    second = parse_qs(urlsplit(approved(http, ehr, chart)).query)
    answer = http.get("/smart/callback?" + urlencode({"code": first["code"][0], "state": second["state"][0]}))
    refused(answer, 400, "Your notes system refused this sign-in")
    assert sessions(store) == 1
    assert audit_outcomes(store)[-1] == "refused:token-refused"
    assert ehr.token_requests[-1]["error"] == "invalid_grant" and ehr.replayed_codes == 1
    # the EHR revokes what the replayed code gave: the first session ends at its next page
    refused(http.get("/smart/app/"), 401, "Your sign-in has ended")
    assert sessions(store) == 0


def test_a_state_too_old_is_refused(world):
    app, store, ehr, clock, chart = world
    http = app.test_client()
    back = approved(http, ehr, chart)
    clock.now += timedelta(minutes=11)
    refused(http.get(back), 400, "This sign-in took too long")
    assert sessions(store) == 0


@pytest.mark.parametrize("iss", ["https://evil.example/fhir", "{base}/", "{base}x", "{base}/other"])
def test_an_iss_not_on_the_allowlist_is_refused_before_anything_is_sent(world, iss):
    app, store, ehr, *_ = world
    iss = iss.format(base=ehr.fhir_base)
    if iss == ehr.fhir_base + "/":                # a trailing slash is the same base
        assert app.test_client().get(f"/smart/launch?iss={iss}&launch=x").status_code == 302
        return
    answer = app.test_client().get("/smart/launch?" + urlencode({"iss": iss, "launch": "x"}))
    refused(answer, 403, "This notes system is not on the app's list")
    assert sessions(store) == 0 and ehr.authorize_requests == []


def test_a_launch_without_iss_or_launch_is_refused(world):
    app, *_ = world
    refused(app.test_client().get("/smart/launch?launch=x"), 400, "This launch could not be read")


def test_standalone_is_refused_when_not_turned_on(sqlite_url, smart_ehr, now):
    register_app(smart_ehr)
    app, store = build(sqlite_url, smart_ehr, Clock(now), standalone=False)
    refused(app.test_client().get(f"/smart/login?ehr={EHR_ID}"), 404, "Signing in here is not turned on")
    refused(app.test_client().get("/smart/login?ehr=unknown"), 404, "Signing in here is not turned on")
    store.close()


def test_a_note_of_another_patient_is_refused(world):
    """The launch is for one patient, its note another's: the EHR will not show the note under that
    patient's token (403, outside the compartment), so nothing opens."""
    app, store, ehr, _, chart = world
    answer = launched(app.test_client(), ehr, chart, document_reference=chart["other_note"])
    refused(answer, 403, "This note is not in this patient's record")
    assert sessions(store) == 0
    assert audit_outcomes(store) == ["refused:wrong-patient"]
    read = [r for r in ehr.requests_for(chart["patient"]) if r["path"] == f"DocumentReference/{chart['other_note']}"]
    assert [r["status"] for r in read] == [403]


def test_a_token_for_another_patient_is_refused(world):
    """The token answer names another patient than the launch's note is for: refused on the note's subject."""
    app, store, ehr, _, chart = world
    ehr.token_overrides = {"patient": chart["other"]}
    answer = launched(app.test_client(), ehr, chart)
    refused(answer, 403, "This note is not in this patient's record")
    assert sessions(store) == 0
    assert audit_outcomes(store) == ["refused:wrong-patient"]
    read = [r for r in ehr.requests_for(chart["patient"]) if r["path"] == f"DocumentReference/{chart['note']}"]
    assert [r["status"] for r in read] == [200]                  # the note was read, and is the other's


def test_an_access_token_the_ehr_does_not_know_is_refused_at_the_note_check(world):
    """The token answer carries an access token the EHR never issued: reading the note is 401."""
    app, store, ehr, _, chart = world
    ehr.token_overrides = {"access_token": "forged-" + "x" * 40}
    refused(launched(app.test_client(), ehr, chart), 502, "This sign-in could not be checked")
    assert sessions(store) == 0
    assert audit_outcomes(store) == ["refused:token-unverified"]
    assert [e["status"] for e in ehr.fhir_log if e["path"] == f"DocumentReference/{chart['note']}"] == [401]


def test_a_token_without_a_patient_is_refused(world):
    app, store, ehr, _, chart = world
    ehr.token_overrides = {"patient": None}
    refused(launched(app.test_client(), ehr, chart), 403, "No patient was chosen")
    assert sessions(store) == 0
    assert audit_outcomes(store) == ["refused:no-patient"]


def test_access_denied_at_the_ehr_is_refused(world):
    app, store, ehr, _, chart = world
    ehr.deny = True
    http = app.test_client()
    back = approved(http, ehr, chart)
    assert "error=access_denied" in back
    refused(http.get(back), 403, "The app was not allowed to open")
    assert sessions(store) == 0 and ehr.token_requests == []
    assert audit_outcomes(store) == ["refused:access-denied"]


def test_an_ended_token_without_a_refresh_token_ends_the_session(world):
    app, store, ehr, clock, chart = world
    ehr.refresh = False
    http = app.test_client()
    assert launched(http, ehr, chart).status_code == 303
    assert http.get("/smart/app/").status_code == 200
    clock.now += timedelta(seconds=ehr.access_seconds + 1)
    ehr.expire_tokens()
    page = refused(http.get("/smart/app/"), 401, "Your sign-in has ended")
    assert "Open the app again from the patient's chart." in page
    assert sessions(store) == 0
    assert [r["grant_type"] for r in ehr.token_requests] == ["authorization_code"]      # nothing to refresh with
    assert refused(http.get("/smart/app/"), 401, "Open the app from the chart again")


def test_a_token_the_ehr_refuses_ends_the_session(world):
    app, store, ehr, _, chart = world
    http = app.test_client()
    launched(http, ehr, chart)
    ehr.revoke_all()
    refused(http.get("/smart/app/"), 401, "Your sign-in has ended")
    assert ehr.fhir_log[-1]["status"] == 401
    assert sessions(store) == 0
    ends = [r for r in store.audit_rows() if r["action"] == "smart.session-end"]
    assert ends and ends[-1]["subject"] == f"patient:{chart['patient']}"


def test_an_app_page_without_a_session_is_refused(world):
    app, store, *_ = world
    http = app.test_client()
    refused(http.get("/smart/app/intake"), 401, "Open the app from the chart again")
    http.set_cookie("pp_smart", "x" * 43, domain="app.example", path="/smart/")
    refused(http.get("/smart/app/intake"), 401, "Open the app from the chart again")


def test_a_refusal_speaks_hindi_when_asked(world):
    app, *_ = world
    answer = app.test_client().get("/smart/callback?code=a&state=b", headers={"Accept-Language": "hi"})
    assert answer.status_code == 400 and answer.headers["Content-Language"] == "hi"
    assert 'lang="hi"' in answer.get_data(as_text=True)


def test_an_unreachable_ehr_is_a_page_not_a_crash(sqlite_url, smart_ehr, now):
    from tests.pg import free_port
    dead = f"http://127.0.0.1:{free_port()}/fhir"
    app, store = build(sqlite_url, smart_ehr, Clock(now), iss=[dead])
    refused(app.test_client().get("/smart/launch?" + urlencode({"iss": dead, "launch": "l1"})), 502,
            "Your notes system could not be reached")
    assert rows.count_sessions(store) == 0
    store.close()

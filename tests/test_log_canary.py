"""Client words planted in payloads, link codes, session cookies and token secrets never appear
in any log line, at any level, from any logger."""
import dataclasses
import logging
import uuid
from datetime import datetime, timezone

import requests

from progress_plugin.web.app import create_app
from progress_plugin.store import Store
from progress_plugin.service.worker import Worker

from tests.test_cds_jwt import keys, keyserver  # noqa: F401  (fixtures: a JWKS server for the CDS calls)

CANARY = "CANARY-7c1e-client-words"


def test_client_words_never_reach_the_logs(service_config, medplum, signed, caplog):
    caplog.set_level(logging.DEBUG)                     # every logger, every level, incl. urllib3
    cfg = dataclasses.replace(service_config, host_url=medplum.base_url)
    store = Store.open(cfg.store_url)
    app = create_app(store, config=cfg)
    http = app.test_client()
    client_id = "p-" + uuid.uuid4().hex[:8]
    doc_id = requests.post(f"{medplum.base_url}/DocumentReference", timeout=5, json={
        "resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "title": CANARY}}]}).json()["id"]
    intake = {"client_id": client_id, "author": "t1", "at": "2026-01-05T10:00:00Z", "intake": {
        "goals": [{"words": f"{CANARY} goal", "whose": "client", "baseline": 2}],
        "better_looks_like": CANARY, "small_shift": CANARY, "if_stirred_up": CANARY, "therapist_view": CANARY,
        "private_reflection": CANARY, "review_cadence": "every-session", "agreed": True,
        "agreed_on": "2026-01-05", "goals_reviewed": True}}
    note = {"client_id": client_id, "note_id": doc_id, "session_at": "2026-01-12T10:00:00Z", "author": "t1",
            "at": "2026-01-12T10:00:00Z",
            "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 5}]}]}
    bad = {**note, "text": CANARY}                       # refused at the schema
    protected = {**note, "note_type": "psychotherapy-note", "text": CANARY}
    for event_type, data in [("intake.submitted", intake), ("note.signed", note), ("note.saved", bad),
                             ("note.signed", protected)]:
        headers, body = signed(event_type, data)
        assert http.post("/webhooks/clinic-a", data=body, headers=headers).status_code in (200, 202, 422)
    worker = Worker(store, cfg)
    while worker.run_once():
        pass
    assert store.load_state("clinic-a", client_id).notes    # the path really ran
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 10
    assert not [line for line in lines if CANARY in line]


def test_link_codes_sessions_and_token_secrets_never_reach_the_logs(sqlite_url, keys, caplog):
    """The card's one-time code (in a URL once), the panel session cookie and API token secrets
    (right or wrong, in a header or pasted into a URL) appear in no log line, werkzeug's
    request lines included. The test's own requests go through http.client, which logs nothing."""
    import http.client
    import json
    import threading

    from werkzeug.serving import make_server

    from progress_plugin.web import cds_link
    from progress_plugin.service import settings
    from progress_plugin.store import tokens
    from progress_plugin.service.runtime import Runtime

    from tests.test_cds import body_for, seed
    from tests.test_cds_jwt import PATH, cds_section, make_token

    caplog.set_level(logging.DEBUG)
    config = settings.load({"store": {"url": sqlite_url}, "cds": cds_section(keys)}, env={})
    store = Store.open(config.store_url)
    seed(Runtime(store))
    server = make_server("127.0.0.1", 0, create_app(store, config=config), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(method, path, headers=None, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        found = (response.status, dict(response.getheaders()), response.read())
        conn.close()
        return found

    try:
        _, _, answer = call("POST", PATH, {"Authorization": f"Bearer {make_token(keys)}",
                                           "Content-Type": "application/json"}, json.dumps(body_for()))
        code = json.loads(answer)["cards"][0]["links"][0]["url"].split("?code=", 1)[1]
        status, headers, _ = call("GET", f"/cds/progress.html?code={code}")
        assert status == 303
        session = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        assert call("GET", "/cds/progress.html", {"Cookie": f"{cds_link.COOKIE}={session}"})[0] == 200
        assert call("GET", f"/cds/progress.html?code={code}")[0] == 410
        _, token = tokens.create(store, "clinic-a", "viewer", "canary", datetime.now(timezone.utc))
        wrong = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
        path = "/clinics/clinic-a/clients/c1/progress.json"
        assert call("GET", path, {"Authorization": f"Bearer {wrong}"})[0] == 401
        assert call("GET", path, {"Authorization": f"Bearer {token}"})[0] == 200
        call("GET", f"{path}?token={token}")                              # a token pasted into a URL
    finally:
        server.shutdown()
        store.close()
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len([line for line in lines if "GET /cds/progress.html" in line]) >= 3     # werkzeug logged them
    secrets = [code, session, token.split("_", 2)[2], wrong.split("_", 2)[2]]
    assert not [line for line in lines for s in secrets if s in line]
    assert any("token refused" in line and wrong.split("_")[1] in line for line in lines)   # named by its id


def test_check_in_tokens_sessions_and_form_tokens_never_reach_the_logs(sqlite_url, now, caplog):
    """A check-in link's token is in its path (/c/<token>): werkzeug's request lines show ``/c/…``.
    Neither the token, nor the session cookie, nor the form token appears in any log line, for a
    link that opens, one that is revoked and one that was made up."""
    import http.client
    import re
    import threading
    from datetime import timedelta
    from urllib.parse import urlencode

    from werkzeug.serving import make_server

    from progress_plugin.service.runtime import Runtime
    from progress_plugin.store import checkins

    from tests.test_panel import seed_client

    caplog.set_level(logging.DEBUG)
    store = Store.open(sqlite_url)
    seed_client(Runtime(store), "clinic-a", "c1", 2)
    live = checkins.create_link(store, "clinic-a", "c1", datetime.now(timezone.utc), timedelta(days=1), "t1")[1]
    ended_link, ended = checkins.create_link(store, "clinic-a", "c1", datetime.now(timezone.utc), timedelta(days=1))
    checkins.revoke_link(store, ended_link.link_id, datetime.now(timezone.utc))
    made_up = "M" * 43
    server = make_server("127.0.0.1", 0, create_app(store), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(method, path, headers=None, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        found = (response.status, dict(response.getheaders()), response.read().decode())
        conn.close()
        return found

    try:
        status, headers, _ = call("GET", f"/c/{live}?lang=hi")
        assert status == 303
        session = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        cookie = {"Cookie": f"pp_checkin={session}"}
        form = re.search(r'name="form_token" value="([0-9a-f]+)"', call("GET", "/checkin/", cookie)[2]).group(1)
        sent = call("POST", "/checkin/", {**cookie, "Content-Type": "application/x-www-form-urlencoded"},
                    urlencode({"form_token": form, "goal-g1": "5"}))
        assert sent[0] == 303
        assert call("GET", f"/c/{ended}")[0] == 410
        assert call("GET", f"/c/{made_up}")[0] == 404
        assert call("GET", f"/%63/{made_up}")[0] == 404              # an escaped path reaches the same page
    finally:
        server.shutdown()
        store.close()
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len([line for line in lines if "GET /c/… " in line]) >= 3      # werkzeug logged them, redacted
    assert any("check-in link refused reason=revoked" in line and ended_link.link_id in line for line in lines)
    assert not [line for line in lines for s in (live, ended, made_up, session, form) if s in line]

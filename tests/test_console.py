"""The admin console at /admin/: signing in with a clinic token, the session cookie, form tokens
(CSRF), the sign-in rate limit, read-only viewers, other clinics, sign-out, revoked tokens, the
pages' headers and languages."""
from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from progress_plugin.service import settings
from progress_plugin.store import console_sessions, tokens
from progress_plugin.store import tables as t
from progress_plugin.web.app import all_blueprints, create_app
from progress_plugin.web.console.pages import CSP

A, B = "clinic-a", "clinic-b"
HOME = f"/admin/clinics/{A}/"
TOKENS = f"/admin/clinics/{A}/tokens"


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(now):
    return Clock(now)


def make_app(store, clock, **console):
    config = settings.load({"console": console}, env={}) if console else None
    return create_app(store, clock=clock, config=config)


@pytest.fixture
def app(sqlite_store, clock):
    return make_app(sqlite_store, clock)


@pytest.fixture
def creds(sqlite_store, now):
    """token id and token of: an admin and a viewer of clinic A, an admin of clinic B."""
    for clinic in (A, B):
        sqlite_store.ensure_clinic(clinic, now)
    return {name: tokens.create(sqlite_store, clinic, role, name, now)
            for name, clinic, role in [("admin", A, "admin"), ("viewer", A, "viewer"), ("b-admin", B, "admin")]}


def form_token(client, url="/admin/") -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def sign_in(client, token, **kwargs):
    return client.post("/admin/sign-in", data={"token": token, "csrf_token": form_token(client)}, **kwargs)


def signed_in(app, creds, who="admin"):
    client = app.test_client()
    r = sign_in(client, creds[who][1])
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def cookie_header(response, name) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))


def session_rows(store):
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(t.console_sessions))]


def token_row(store, token_id):
    return next(r for r in tokens.list_tokens(store) if r["token_id"] == token_id)


# -- the pages and their headers --------------------------------------------------------------
def test_the_sign_in_page_is_public_labelled_and_strictly_headed(app):
    client = app.test_client()
    r = client.get("/admin/")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == CSP
    assert "script-src" not in CSP and "default-src 'none'" in CSP and "frame-ancestors 'none'" in CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert '<label for="token">' in html and 'id="token" name="token" type="password"' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html   # nothing from elsewhere
    css = client.get("/admin/static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and ":focus-visible" in css.get_data(as_text=True)
    assert css.headers["Content-Security-Policy"] == CSP


def test_signing_in_sets_an_opaque_session_cookie_with_the_right_flags(app, creds, sqlite_store, now):
    client = app.test_client()
    r = sign_in(client, creds["admin"][1])
    assert r.status_code == 303 and r.headers["Location"] == HOME
    cookie = cookie_header(r, "pp_console")
    value = cookie.split(";")[0].split("=", 1)[1]
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and flags["samesite"] == "SameSite=Strict" and flags["path"] == "Path=/admin/"
    assert flags["max-age"] == "Max-Age=43200" and "expires" in flags          # 12 hours at most
    assert "secure" not in flags                                               # plain http here
    assert creds["admin"][1] not in cookie and creds["admin"][0] not in cookie  # opaque: not the token
    (row,) = session_rows(sqlite_store)
    assert row["key"] == hashlib.sha256(value.encode()).hexdigest() != value    # only a digest is kept
    assert row["token_id"] == creds["admin"][0] and row["expires_at"].replace(tzinfo=None) == (
        now + timedelta(hours=12)).replace(tzinfo=None)
    assert client.get(HOME).status_code == 200
    assert token_row(sqlite_store, creds["admin"][0])["last_used_at"] == now


@pytest.mark.parametrize("how", ["https request", "https_only"])
def test_cookies_are_secure_over_https_or_when_configured(sqlite_store, clock, creds, how):
    app = make_app(sqlite_store, clock, **({"https_only": True} if how == "https_only" else {}))
    base = "https://localhost" if how == "https request" else "http://localhost"
    client = app.test_client()
    page = client.get("/admin/", base_url=base)
    assert "Secure" in cookie_header(page, "pp_console_form")                   # the form token's cookie too
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/admin/sign-in", data={"token": creds["admin"][1], "csrf_token": token}, base_url=base)
    assert r.status_code == 303                       # no Referer is sent, and none is needed over https
    assert "; Secure" in cookie_header(r, "pp_console")


def test_a_forwarded_proto_header_alone_does_not_make_cookies_secure(app, creds):
    client = app.test_client()
    r = sign_in(client, creds["admin"][1], headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 303 and "Secure" not in cookie_header(r, "pp_console")


def test_every_console_page_needs_the_session(app, creds):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin/")]
    public = {"/admin/", "/admin/static/<path:filename>", "/admin/sign-in", "/admin/sign-out"}
    guarded = [r for r in rules if r.rule not in public]
    assert {r.rule for r in guarded} >= {"/admin/clinics/<clinic>/", "/admin/clinics/<clinic>/tags",
                                         "/admin/clinics/<clinic>/tokens",
                                         "/admin/clinics/<clinic>/tokens/<token_id>/revoke"}
    client = app.test_client()
    token = form_token(client)
    for rule in guarded:
        url = rule.rule.replace("<clinic>", A).replace("<token_id>", creds["viewer"][0]).replace("<code>", "setback")
        assert app.view_functions[rule.endpoint].console_role in ("viewer", "admin")
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            data = {"csrf_token": token, "name": "x"} if method == "POST" else None
            r = client.open(url, method=method, data=data)
            assert r.status_code == 303 and r.headers["Location"] == "/admin/", (method, url)
    assert token_row(app.extensions["progress_plugin"].store, creds["viewer"][0])["revoked_at"] is None
    assert len(tokens.list_tokens(app.extensions["progress_plugin"].store)) == 3     # nothing was made


def test_a_bearer_token_opens_no_console_page(app, creds):
    r = app.test_client().get(HOME, headers={"Authorization": f"Bearer {creds['admin'][1]}"})
    assert r.status_code == 303


# -- CSRF --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sent", [None, "wrong", "other-browser"])
def test_forms_without_a_valid_form_token_are_refused_and_change_nothing(app, creds, sqlite_store, sent):
    client = signed_in(app, creds)
    other = app.test_client()
    token = {None: None, "wrong": "IjEyMyI.abc.def", "other-browser": form_token(other)}[sent]
    extra = {} if token is None else {"csrf_token": token}
    before = tokens.list_tokens(sqlite_store)
    posts = [(TOKENS, {"name": "sneaky"}), (f"{TOKENS}/{creds['viewer'][0]}/revoke", {}), ("/admin/sign-out", {}),
             ("/admin/sign-in", {"token": creds["b-admin"][1]})]
    for url, data in posts:
        r = client.post(url, data={**data, **extra})
        assert r.status_code == 400, url
        assert "This form had expired" in r.get_data(as_text=True) and "pp_" not in r.get_data(as_text=True)
    assert tokens.list_tokens(sqlite_store) == before                         # none made, none revoked
    assert client.get(HOME).status_code == 200                                # still signed in as clinic A


# -- roles and clinics -----------------------------------------------------------------------
def test_a_viewer_reads_the_console_but_cannot_write(app, creds, sqlite_store):
    client = signed_in(app, creds, "viewer")
    home = client.get(HOME).get_data(as_text=True)
    assert "viewer token" in home and TOKENS not in home
    for url in (HOME, f"/admin/clinics/{A}/tags"):
        html = client.get(url).get_data(as_text=True)
        assert html.count("<form") == 1 and 'action="/admin/sign-out"' in html      # only the sign-out form
    assert client.get(TOKENS).status_code == 403
    before = tokens.list_tokens(sqlite_store)
    token = form_token(client, HOME)
    assert client.post(TOKENS, data={"name": "mine", "csrf_token": token}).status_code == 403
    r = client.post(f"{TOKENS}/{creds['viewer'][0]}/revoke", data={"csrf_token": token})
    assert r.status_code == 403
    assert tokens.list_tokens(sqlite_store) == before


def test_another_clinics_token_gets_404_as_the_api_does(app, creds, sqlite_store):
    client = signed_in(app, creds, "b-admin")
    assert client.get(f"/admin/clinics/{B}/").status_code == 200
    across = client.get(HOME)
    missing = client.get("/admin/clinics/no-such-clinic/")
    assert across.status_code == missing.status_code == 404
    assert across.get_data() == missing.get_data() and A not in across.get_data(as_text=True)
    token = form_token(client, f"/admin/clinics/{B}/")
    before = tokens.list_tokens(sqlite_store)
    assert client.post(TOKENS, data={"name": "x", "csrf_token": token}).status_code == 404
    r = client.post(f"/admin/clinics/{B}/tokens/{creds['viewer'][0]}/revoke", data={"csrf_token": token})
    assert r.status_code == 404                                    # clinic A's token, through clinic B's page
    assert tokens.list_tokens(sqlite_store) == before


# -- the rate limit and the log ----------------------------------------------------------------
def test_failed_sign_ins_are_rate_limited_and_logged_without_the_secret(sqlite_store, clock, creds, caplog):
    app = make_app(sqlite_store, clock, sign_in_limit="3 per minute")
    client = app.test_client()
    token_id, token = creds["admin"]
    wrong = f"pp_{token_id}_{'Z' * 43}"
    caplog.set_level(logging.INFO)
    for attempt in (wrong, "not a token at all", wrong):
        r = sign_in(client, attempt)
        assert r.status_code == 401 and "This token does not work" in r.get_data(as_text=True)
        assert 'aria-invalid="true"' in r.get_data(as_text=True)
    r = sign_in(client, token)                                   # even the right token waits now
    assert r.status_code == 429 and "Retry-After" in r.headers and "pp_console=" not in str(r.headers)
    assert session_rows(sqlite_store) == []
    lines = [rec.getMessage() for rec in caplog.records]
    refused = [line for line in lines if "console sign-in refused" in line]
    assert refused[0] == f"console sign-in refused token={token_id} reason=bad-secret"
    assert re.fullmatch(r"console sign-in refused token=h:[0-9a-f]{8} reason=malformed", refused[1])
    assert not any("Z" * 43 in line or token.split("_", 2)[2] in line or "not a token" in line for line in lines)
    assert tokens.failures(sqlite_store, A)[1][token_id] == 2      # counted like the API's refusals


def test_good_sign_ins_do_not_use_up_the_limit(sqlite_store, clock, creds):
    app = make_app(sqlite_store, clock, sign_in_limit="2 per minute")
    for _ in range(4):
        assert sign_in(app.test_client(), creds["admin"][1]).status_code == 303
    assert sign_in(app.test_client(), "").status_code == 422          # an empty form is not a guess


# -- how a session ends ------------------------------------------------------------------------
def test_sign_out_ends_the_session_for_good(app, creds, sqlite_store):
    client = signed_in(app, creds)
    value = client.get_cookie("pp_console", path="/admin/").value
    r = client.post("/admin/sign-out", data={"csrf_token": form_token(client, HOME)})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/"
    assert "Max-Age=0" in cookie_header(r, "pp_console")
    assert "You have signed out." in client.get("/admin/").get_data(as_text=True)
    assert session_rows(sqlite_store) == []
    stolen = app.test_client()                                  # the old cookie value, replayed
    stolen.set_cookie("pp_console", value, path="/admin/")
    assert stolen.get(HOME).status_code == 303
    actions = [r["action"] for r in sqlite_store.audit_rows(A) if r["action"].startswith("console.")]
    assert actions == ["console.sign-in", "console.sign-out"]


def test_revoking_the_token_ends_its_sessions(app, creds, sqlite_store, now):
    viewer = signed_in(app, creds, "viewer")
    assert viewer.get(HOME).status_code == 200
    tokens.revoke(sqlite_store, creds["viewer"][0], now)
    r = viewer.get(HOME)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/"
    assert all(row["token_id"] != creds["viewer"][0] for row in session_rows(sqlite_store))


def test_sessions_end_when_idle_and_at_their_absolute_end(app, creds, clock):
    client = signed_in(app, creds)
    clock.now += timedelta(hours=7, minutes=59)
    assert client.get(HOME).status_code == 200                 # used within the 8 idle hours
    clock.now += timedelta(hours=8, minutes=2)
    assert client.get(HOME).status_code == 303                 # idle too long
    client = signed_in(app, creds)
    for _ in range(11):
        clock.now += timedelta(hours=1)
        assert client.get(HOME).status_code == 200
    clock.now += timedelta(hours=1)
    assert client.get(HOME).status_code == 303                 # 12 hours after signing in, whatever happens


# -- tokens ------------------------------------------------------------------------------------
def test_an_admin_makes_a_viewer_token_sees_it_once_and_revokes_it(app, creds, sqlite_store, caplog):
    caplog.set_level(logging.INFO)
    client = signed_in(app, creds)
    r = client.post(TOKENS, data={"name": "Dr Asha Rao", "csrf_token": form_token(client, TOKENS)})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = re.search(r"(pp_[0-9a-f]{16}_[A-Za-z0-9_-]{43})", r.get_data(as_text=True)).group(1)
    made = tokens.verify(sqlite_store, secret)
    assert made.role == "viewer" and made.clinic_id == A
    listing = client.get(TOKENS).get_data(as_text=True)
    assert "Dr Asha Rao" in listing and made.token_id in listing and secret.split("_", 2)[2] not in listing
    assert not any(secret.split("_", 2)[2] in rec.getMessage() for rec in caplog.records)
    r = client.post(f"{TOKENS}/{made.token_id}/revoke", data={"csrf_token": form_token(client, TOKENS)})
    assert r.status_code == 303 and r.headers["Location"] == TOKENS
    assert "The token for Dr Asha Rao is revoked." in client.get(TOKENS).get_data(as_text=True)
    assert tokens.verify(sqlite_store, secret) is None
    audit = [(r["actor"], r["action"]) for r in sqlite_store.audit_rows(A) if r["action"].startswith("token.")]
    actor = f"token:{creds['admin'][0]}"
    assert audit[-2:] == [(actor, "token.create"), (actor, "token.revoke")]


def test_admin_tokens_and_bad_names_are_refused_with_the_reason_beside_the_field(app, creds, sqlite_store):
    client = signed_in(app, creds)
    token = form_token(client, TOKENS)
    r = client.post(f"{TOKENS}/{creds['admin'][0]}/revoke", data={"csrf_token": token})
    assert r.status_code == 403 and token_row(sqlite_store, creds["admin"][0])["revoked_at"] is None
    before = tokens.list_tokens(sqlite_store)
    for name, why in [("  ", "Enter a name"), ("x" * 201, "at most 200"), ("a\x00b", "control characters")]:
        r = client.post(TOKENS, data={"name": name, "csrf_token": token})
        html = r.get_data(as_text=True)
        assert r.status_code == 422 and why in html
        assert 'id="name-error"' in html and 'aria-invalid="true"' in html and 'href="#name"' in html
    assert tokens.list_tokens(sqlite_store) == before


# -- one key for every process -----------------------------------------------------------------
def test_every_app_on_one_store_shares_the_form_key(sqlite_store, clock, creds):
    first, second = make_app(sqlite_store, clock), make_app(sqlite_store, clock)
    assert first.secret_key == second.secret_key == console_sessions.key(sqlite_store, "console", clock())
    client = first.test_client()
    token = form_token(client)
    worker_two = second.test_client()                              # the same browser, another worker
    worker_two.set_cookie("pp_console_form", client.get_cookie("pp_console_form", path="/admin/").value,
                          path="/admin/")
    r = worker_two.post("/admin/sign-in", data={"token": creds["admin"][1], "csrf_token": token})
    assert r.status_code == 303


# -- languages ---------------------------------------------------------------------------------
def test_pages_speak_hindi_and_links_keep_the_language(app, creds):
    client = app.test_client()
    page = client.get("/admin/?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in page and 'action="/admin/sign-in?lang=hi"' in page
    r = client.post("/admin/sign-in?lang=hi", data={"token": creds["admin"][1],
                                                     "csrf_token": form_token(client, "/admin/?lang=hi")})
    assert r.headers["Location"] == HOME + "?lang=hi"
    home = client.get(HOME + "?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in home and f'href="/admin/clinics/{A}/tags?lang=hi"' in home
    assert "Sign out" not in home and 'hreflang="en"' in home


def test_the_console_speaks_the_signed_in_clinics_language(sqlite_store, clock, creds, now):
    sqlite_store.ensure_clinic(A, now, language="hi")
    client = signed_in(make_app(sqlite_store, clock), creds)
    assert '<html lang="hi"' in client.get(HOME).get_data(as_text=True)
    assert '<html lang="en"' in client.get(HOME + "?lang=en").get_data(as_text=True)
    sqlite_store.ensure_clinic(A, now, language="en")          # changed while signed in: the next page follows
    assert '<html lang="en"' in client.get(HOME).get_data(as_text=True)
    assert '<html lang="en"' in client.get(f"/admin/clinics/{A}/tags").get_data(as_text=True)


def test_the_home_page_says_who_made_the_version_as_the_history_does(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    lead = lambda url=HOME: re.search(r'<p class="lead">(.*?)</p>', client.get(url).get_data(as_text=True)).group(1)  # noqa: E731
    assert lead() == "Vocabulary version 1, made on 2 March 2026 by <bdi>the plugin itself</bdi>."
    assert "system" not in lead()
    assert lead(HOME + "?lang=hi").endswith("को <bdi>ख़ुद प्लगइन</bdi> ने बनाया।")
    sqlite_store.save_vocabulary(A, sqlite_store.vocabulary(A).retire("setback"), "cli:sam", "retire setback", now)
    assert lead().endswith("by <bdi>sam, on the command line</bdi>.")
    sqlite_store.save_vocabulary(A, sqlite_store.vocabulary(A).restore("setback"), f"token:{creds['admin'][0]}",
                                 "restore setback", now)
    assert lead().endswith("by <bdi>admin</bdi>.")                            # the token by its name



def test_the_home_page_leads_to_every_page_the_token_may_use(app, creds):
    cards = lambda who: re.findall(r'<h3><a href="/admin/clinics/clinic-a/([a-z]*)">', signed_in(app, creds, who)  # noqa: E731
                                   .get(HOME).get_data(as_text=True))
    assert cards("admin") == ["tags", "history", "import", "export", "tokens"]
    assert cards("viewer") == ["tags", "history", "export"]


def test_the_console_is_mounted_by_the_service():
    assert any(bp.name == "console" for bp in all_blueprints())


def test_the_rest_of_the_service_runs_none_of_the_consoles_hooks(app, creds):
    def names(scope):
        hooks = [*app.before_request_funcs.get(scope, []), *app.after_request_funcs.get(scope, []),
                 *app.teardown_request_funcs.get(scope, [])]
        return [getattr(f, "__qualname__", None) or f.func.__qualname__ for f in hooks]
    assert not any("Limiter" in name for name in names(None))           # the rate limit hooks the console alone
    assert sum("Limiter" in name for name in names("console")) == 3
    client = signed_in(app, creds)
    r = client.get("/healthz")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers and "Content-Security-Policy" not in r.headers

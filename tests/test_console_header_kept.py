"""The console's kept header (``progress_plugin.web.console.pages``): drawn again whenever anything
it shows changes (who is signed in, their role and clinic, the language, the page marked current,
the asked ``?lang=``), with each session's own sign-out form token, and the same as drawn anew."""
from __future__ import annotations

import re

from progress_plugin.store import tokens

from tests.test_console import (A, B, HOME, TOKENS, app, clock, creds, form_token, make_app,  # noqa: F401
                                signed_in)


def header_of(client, url: str = HOME) -> str:
    html = client.get(url).get_data(as_text=True)
    return html[html.index('<header class="bar">'):html.index("</header>") + 9]


def drawn_anew(app, client, url: str = HOME) -> str:
    """The header with nothing kept."""
    app.extensions.pop("pp_console_headers", None)
    return header_of(client, url)


def untimed(header: str) -> str:
    """The header with its form token's value left out: a token carries the second it was made, so
    two requests a second apart differ there however the header was drawn."""
    found = re.findall(r'name="csrf_token" value="([^"]+)"', header)
    assert len(found) == 1 and found[0]
    return header.replace(found[0], "TOKEN")


def test_the_kept_header_is_the_header_drawn_anew(app, creds):
    for who in ("admin", "viewer", "b-admin"):
        client = signed_in(app, creds, who)
        clinic = B if who == "b-admin" else A
        for url in (f"/admin/clinics/{clinic}/", f"/admin/clinics/{clinic}/tags?lang=hi",
                    f"/admin/clinics/{clinic}/history", f"/admin/clinics/{clinic}/tokens"):
            kept = (header_of(client, url), header_of(client, url))
            assert untimed(kept[0]) == untimed(kept[1]) == untimed(drawn_anew(app, client, url)), (who, url)


def test_each_reader_sees_their_own_name_role_clinic_and_form_token(app, creds, sqlite_store, now):
    admin, viewer, other = signed_in(app, creds), signed_in(app, creds, "viewer"), signed_in(app, creds, "b-admin")
    for _ in range(2):
        assert "<bdi>admin</bdi>" in header_of(admin) and "(admin)" in header_of(admin) and "/tokens" in header_of(admin)
        assert "<bdi>viewer</bdi>" in header_of(viewer) and "(viewer)" in header_of(viewer)
        assert "/tokens" not in header_of(viewer)
        assert f"/admin/clinics/{B}/" in header_of(other, f"/admin/clinics/{B}/") and A not in header_of(other, f"/admin/clinics/{B}/")
    tokens_of = {name: re.search(r'name="csrf_token" value="([^"]+)"', header_of(c)).group(1)
                 for name, c in (("admin", admin), ("viewer", viewer))}
    assert tokens_of["admin"] != tokens_of["viewer"]
    assert tokens_of["admin"] == form_token(admin, HOME) and "\x00" not in header_of(admin)
    another = tokens.create(sqlite_store, A, "admin", "another", now)          # a new name: a new header
    assert "<bdi>another</bdi>" in header_of(signed_in(app, {"x": another}, "x"))


def test_the_language_and_the_current_page_are_followed_at_once(app, creds, sqlite_store, now):
    client = signed_in(app, creds)
    assert 'aria-current="page">Home<' in header_of(client)
    assert 'aria-current="page">Tokens<' in header_of(client, TOKENS)
    assert 'aria-current="page">Home<' not in header_of(client, TOKENS)
    assert "?lang=hi" in header_of(client, HOME + "?lang=hi") and "?lang=hi\"" not in header_of(client).split("langs")[0]
    sqlite_store.ensure_clinic(A, now, language="hi")                       # the clinic's language changes
    assert "Signed in as" not in header_of(client) and "admin" in header_of(client)
    sqlite_store.ensure_clinic(A, now, language="en")
    assert "Signed in as" in header_of(client)


def test_a_hosts_app_draws_its_header_anew(sqlite_store, now):
    from tests.test_console_host import SAM, host_app
    sqlite_store.ensure_clinic(A, now)
    who = {"now": SAM}
    app = host_app(sqlite_store, who, babel=True)
    client = app.test_client()
    assert "<bdi>Sam Mehta</bdi>" in header_of(client)
    who["now"] = dict(SAM, name="Asha Rao")
    assert "<bdi>Asha Rao</bdi>" in header_of(client) and "pp_console_headers" not in app.extensions

"""web/html.py's ``link``: the URL ``url_for`` gives, the page's ``?lang=`` kept, built once per app,
values, root and host, never another's."""
from __future__ import annotations

from flask import Flask, url_for

from progress_plugin.web.html import link


def make_app() -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/clinics/<clinic>/tags", "tags", lambda clinic: "")
    return app


def test_a_link_is_url_for_with_the_pages_language_for_each_value_root_and_host():
    app = make_app()
    seen = []
    for base, query in (("/", ""), ("/", "?lang=hi"), ("/sub/", ""), ("/sub/", "?lang=hi"), ("/", "")):
        for clinic in ("a", "b"):
            with app.test_request_context("/x" + query, base_url="http://h1" + base):
                got = link("tags", clinic=clinic)
                assert got == url_for("tags", clinic=clinic, **({"lang": "hi"} if query else {}))
                seen.append(got)
    assert seen[:4] == ["/clinics/a/tags", "/clinics/b/tags", "/clinics/a/tags?lang=hi", "/clinics/b/tags?lang=hi"]
    assert seen[4:6] == ["/sub/clinics/a/tags", "/sub/clinics/b/tags"]
    other = Flask("other")                                        # another app's routes: its own links
    other.add_url_rule("/elsewhere/<clinic>", "tags", lambda clinic: "")
    with other.test_request_context("/x"):
        assert link("tags", clinic="a") == "/elsewhere/a"
    with app.test_request_context("/x"):
        assert link("tags", clinic="a", _anchor="top") == "/clinics/a/tags#top"

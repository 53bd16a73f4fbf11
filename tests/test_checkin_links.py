"""Check-in links from the command line and the ``checkin_link`` hook; the store's link functions."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import progress_plugin.hosts.plugin as plugin
from progress_plugin.cli.main import main
from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.hosts.manager import make_manager
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store, checkins
from progress_plugin.store import tables as t

from tests.test_panel import seed_client

TOKEN_URL = r"https://progress\.example\.org/c/([A-Za-z0-9_-]{43})"


@pytest.fixture
def seeded(tmp_path, now, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROGRESS_PLUGIN_STORE", raising=False)
    monkeypatch.delenv("PROGRESS_PLUGIN_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    (tmp_path / "progress-plugin.toml").write_text(
        f'[store]\nurl = "{url}"\n[checkin]\npublic_url = "https://progress.example.org/"\nlink_days = 3\n')
    store = Store.open(url)
    seed_client(Runtime(store, clock=lambda: now), "clinic-a", "c1", 2)
    yield store, tmp_path
    store.close()


def test_the_cli_makes_lists_and_revokes_a_link(seeded):
    store, tmp_path = seeded
    runner = CliRunner()
    made = runner.invoke(main, ["checkin", "link", "--clinic", "clinic-a", "--client", "c1", "--expires", "12h",
                                "--qr", "code.svg"])
    assert made.exit_code == 0, made.output
    token = re.search(TOKEN_URL, made.stdout).group(1)
    (link,) = checkins.list_links(store, "clinic-a", "c1")
    assert link.expires_at - link.created_at == timedelta(hours=12)
    assert (tmp_path / "code.svg").read_text().startswith("<svg")
    with store.engine.connect() as c:
        assert c.execute(sa.select(t.checkin_links.c.key)).scalar() == hashlib.sha256(token.encode()).hexdigest()
    listed = runner.invoke(main, ["checkin", "list", "--clinic", "clinic-a"])
    assert link.link_id in listed.output and "active" in listed.output and token not in listed.output
    assert runner.invoke(main, ["checkin", "revoke", link.link_id]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["checkin", "list"]).output
    default = runner.invoke(main, ["checkin", "link", "--clinic", "clinic-a", "--client", "c1"])
    assert "expires" in default.stderr
    newest = checkins.list_links(store, "clinic-a", "c1")[-1]
    assert newest.expires_at - newest.created_at == timedelta(days=3)      # [checkin] link_days


def test_the_cli_refuses_an_unknown_client_and_a_bad_span(seeded):
    store, _ = seeded
    runner = CliRunner()
    unknown = runner.invoke(main, ["checkin", "link", "--clinic", "clinic-a", "--client", "nobody"])
    bad = runner.invoke(main, ["checkin", "link", "--clinic", "clinic-a", "--client", "c1", "--expires", "forever"])
    assert unknown.exit_code != 0 and bad.exit_code != 0 and "expires" in bad.output
    assert checkins.list_links(store) == []


def test_the_hook_makes_a_link_with_a_qr_code(seeded, now):
    store, _ = seeded
    plugin.setup(store=store, clock=lambda: now)
    try:
        pm = make_manager(load_entrypoints=False, plugins=[plugin])
        made = pm.hook.checkin_link(clinic_id="clinic-a", client_id="c1", expires="2d", locale=None)
        assert re.fullmatch(TOKEN_URL, made["url"]) and made["qr_svg"].startswith("<svg")
        assert made["expires_at"].startswith((now + timedelta(days=2)).date().isoformat())
        with pytest.raises(ValidationError) as bad:
            pm.hook.checkin_link(clinic_id="clinic-a", client_id="c1", expires="2w", locale="hi")
        assert "expires" in bad.value.messages
        with pytest.raises(NotFound):
            pm.hook.checkin_link(clinic_id="clinic-a", client_id="nobody", expires=None, locale=None)
        assert len(checkins.list_links(store)) == 1
    finally:
        plugin.reset()


def test_a_link_opens_a_session_until_it_is_revoked_or_expires(sqlite_store, now):
    link, token = checkins.create_link(sqlite_store, "clinic-a", "c1", now, timedelta(days=1), "t1")
    session_id, found, reason = checkins.open_session(sqlite_store, token, now, timedelta(hours=2))
    assert reason == "ok" and found.link_id == link.link_id
    assert checkins.find_session(sqlite_store, session_id, now).client_id == "c1"
    assert checkins.find_session(sqlite_store, session_id, now).language is None      # English
    sqlite_store.ensure_clinic("clinic-a", now, language="hi")
    assert checkins.find_session(sqlite_store, session_id, now).language == "hi"      # read with the session
    assert checkins.find_session(sqlite_store, session_id, now + timedelta(hours=2)) is None
    assert checkins.find_session(sqlite_store, token, now) is None              # the token is not a session
    assert checkins.open_session(sqlite_store, token, now + timedelta(days=1), timedelta(hours=2))[2] == "expired"
    checkins.revoke_link(sqlite_store, link.link_id, now)
    assert checkins.find_session(sqlite_store, session_id, now) is None
    assert checkins.find_link(sqlite_store, token, now)[1] == "revoked"
    assert checkins.find_link(sqlite_store, "x" * 43, now) == (None, "unknown")
    assert checkins.find_link(sqlite_store, "short", now) == (None, "malformed")
    with pytest.raises(NotFound):
        checkins.revoke_link(sqlite_store, link.link_id, now, clinic_id="clinic-b")

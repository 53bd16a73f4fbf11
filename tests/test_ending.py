"""An ending in their words: what each version holds (setbacks shown, therapist-only tags only in
the record, the client's words as written, their session checks), and the command, the hook and
the HTTP API that give it as printable HTML and a PDF in English and Hindi."""
from __future__ import annotations

import shutil
import stat
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from progress_plugin import lang
from progress_plugin.cli.main import main
from progress_plugin.core.checkin import SessionCheck
from progress_plugin.core.intake import Goal, Intake
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating
from progress_plugin.core.progress import compute
from progress_plugin.core.vocabulary import default
from progress_plugin.errors import ValidationError
from progress_plugin.service import ending as service
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store
from progress_plugin.store import tables as t
from progress_plugin.store import tokens
from progress_plugin.view import ending

from tests.test_panel import PRIVATE, seed_client

START = datetime(2025, 6, 2, 10, 0, tzinfo=timezone.utc)
HINDI_GOAL = "घबराहट के बिना मीटिंग में बोल पाना"
MINE = "Sleep through most nights, <b>really</b>"


def _vocabularies():
    """The default tags, with 'strain-noticed' shown to all (a clinic may make it so)."""
    v = default()
    return {v.version: replace(v, tags=tuple(replace(x, audience="all") if x.code == "strain-noticed" else x
                                             for x in v.tags))}


def _history():
    intake = Intake("i1", (Goal("g1", MINE, "client", 2, 1), Goal("g2", HINDI_GOAL, "carer", 4, 2)),
                    "every-4-sessions", True, START.date(), True,
                    {"better_looks_like": "Mornings without dread", "private_reflection": PRIVATE})
    tags = [("step-forward",), ("setback", "strain-noticed"), ("let-go-of-fixing", "step-forward"), ("repair",)]
    notes = []
    for i, codes in enumerate(tags, start=1):
        at = START + timedelta(days=7 * i)
        notes.append(NoteProgress(f"n{i}", "c1", at, "t1", tuple(AppliedTag(c, 1) for c in codes),
                                  (Rating("g1", 2 + 2 * i, "client", None, f"n{i}", at),
                                   Rating("g2", 3, "therapist", None, f"n{i}", at))))
    progress = compute("c1", intake, notes, _vocabularies(), START + timedelta(days=40))
    return progress, intake


CHECKS = [(START + timedelta(days=8), SessionCheck(heard=9, mattered=7, fits=None, overall=8))]


def test_setbacks_are_shown_and_therapist_only_tags_only_in_the_record():
    progress, intake = _history()
    mine = ending.render_html(progress, intake, "client", checks=CHECKS)
    record = ending.render_html(progress, intake, "record", checks=CHECKS)
    for page in (mine, record):
        assert "Setback (away)" in page and "Step forward (toward)" in page
        assert PRIVATE not in page                                     # the private reflection never
        assert "Mornings without dread" in page
    assert "Let go of fixing" in record and "(therapist only)" in record and "Let go of fixing" not in mine
    assert "Client c1" in record and "Client c1" not in mine
    assert "The therapist&#x27;s last rating: 3/10" in record and "last rating: 3/10" not in mine


def test_strain_tags_are_hidden_from_the_client_unless_the_clinic_opts_in():
    progress, intake = _history()
    assert "Strain noticed" not in ending.render_html(progress, intake, "client")
    assert "Strain noticed" in ending.render_html(progress, intake, "client", show_strain=True)
    assert "Strain noticed" in ending.render_html(progress, intake, "record")


def test_the_clients_words_are_shown_as_written_and_the_goals_start_and_end():
    progress, intake = _history()
    page = ending.render_html(progress, intake, "client", words=lang.words("hi"))
    assert f'<bdi dir="auto">{HINDI_GOAL}</bdi>' in page
    assert '<bdi dir="auto">Sleep through most nights, &lt;b&gt;really&lt;/b&gt;</bdi>' in page
    assert "<b>really" not in page
    english = ending.render_html(progress, intake, "client")
    assert "Started at 2/10 on 2 June 2025. Ended at 10/10 on 30 June 2025." in english
    assert "Moved up by 3 or more: a real change (+8)" in english
    assert "A goal of someone close to you" in english                 # the carer's goal is theirs
    assert "agreed margin" not in english and "client&#x27;s" not in english
    assert '<html lang="hi" dir="ltr">' in page and "2 जून 2025" in page


def test_session_checks_are_a_small_table_when_stored_and_said_to_be_absent_otherwise():
    progress, intake = _history()
    page = ending.render_html(progress, intake, "client", checks=CHECKS)
    assert "<table>" in page and "Felt heard" in page
    row = page.split("10 June 2025</td>")[1].split("</tr>")[0]
    assert row == '<td class="num">9</td><td class="num">7</td><td class="num"></td><td class="num">8</td>'
    none = ending.render_html(progress, intake, "client")
    assert "<table>" not in none and "No session checks were recorded." in none


def test_the_page_is_self_contained_and_made_for_print():
    progress, intake = _history()
    page = ending.render_html(progress, intake, "record")
    assert "@page{size:A4" in page and "break-inside:avoid" in page
    assert "Lohit Devanagari" in page and "<script" not in page
    for fetch in ("http://", "https://", "src=", "@import", "url("):
        assert fetch not in page


def test_an_unknown_audience_is_refused():
    progress, intake = _history()
    with pytest.raises(ValidationError) as err:
        ending.render_html(progress, intake, "therapist")
    assert "audience" in err.value.messages


def test_the_store_gives_the_session_checks_and_none_is_fine(sqlite_store, now):
    rt = Runtime(sqlite_store, clock=lambda: now)
    seed_client(rt, "clinic-a", "c1", 3)
    assert service.session_checks(sqlite_store, "clinic-a", "c1") == []
    assert "No session checks were recorded." in service.html(rt, "clinic-a", "c1")
    with sqlite_store.begin() as conn:
        conn.execute(t.session_checks.insert(), [
            {"clinic_id": "clinic-a", "client_id": "c1", "checkin_id": "checkin:a", "at": START + timedelta(days=9),
             "heard": 6, "mattered": 5, "fits": 4, "overall": 3, "revisit": False},
            {"clinic_id": "clinic-a", "client_id": "c1", "checkin_id": "checkin:b", "at": START + timedelta(days=10),
             "heard": None, "mattered": None, "fits": None, "overall": None, "revisit": True},
            {"clinic_id": "clinic-a", "client_id": "other", "checkin_id": "checkin:c", "at": START,
             "heard": 1, "mattered": 1, "fits": 1, "overall": 1, "revisit": False}])
    checks = service.session_checks(sqlite_store, "clinic-a", "c1")
    assert [c.values() for _, c in checks] == [{"heard": 6, "mattered": 5, "fits": 4, "overall": 3}]
    page = service.html(rt, "clinic-a", "c1", "record")
    assert '<td class="num">6</td><td class="num">5</td><td class="num">4</td><td class="num">3</td>' in page
    hindi = service.html(rt, "clinic-a", "c1", "client", lang.words("hi"))
    assert "एक कदम" in hindi                                           # tag labels in the language


def test_strain_opt_in_is_read_from_the_clinics_table():
    raw = {"clinics": [{"id": "a", "client_view_shows_strain": True}, {"id": "b"}]}
    assert service.shows_strain(raw, "a") and not service.shows_strain(raw, "b")
    assert not service.shows_strain({}, "a")


# -- the command, with the PDF read back and looked at as pictures ----------------------------
needs_pdf = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


@pytest.fixture
def db(tmp_path, now, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("PROGRESS_PLUGIN_STORE", "PROGRESS_PLUGIN_CONFIG", "PROGRESS_PLUGIN_CLINIC"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    store = Store.open(url)
    seed_client(Runtime(store, clock=lambda: now), "clinic-a", "c1", 14)
    store.close()
    return url


@needs_pdf
# pdftotext gives back shaped Devanagari with some vowel signs moved (ि, reph), so the words looked
# for in the PDF's text are ones it returns whole; the HTML is checked for the full titles.
@pytest.mark.parametrize("code,audience,expect,absent", [
    ("en", "client", ["Looking back on our work together", "Setback", "Mornings without dread"], ["Let go of fixing"]),
    ("en", "record", ["Ending summary for the record", "Let go of fixing", "therapist only"], []),
    ("hi", "client", ["सेशन", "कहाँ से शुरू हुआ", "आपकी", "Mornings without dread"], ["Let go of fixing"]),
    ("hi", "record", ["सेशन", "कहाँ से शुरू हुआ", "क्लाइंट c1"], []),
])
def test_the_command_writes_html_and_pdf_in_both_languages(db, tmp_path, artifacts_dir, code, audience, expect, absent):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["--store", db, "ending", "--clinic", "clinic-a", "--client", "c1",
                                  "--lang", code, "--audience", audience, "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / f"ending-c1-{audience}-{code}.html").read_text(encoding="utf-8")
    pdf = out / f"ending-c1-{audience}-{code}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    for made in (pdf, out / f"ending-c1-{audience}-{code}.html"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600              # the client's words: owner only
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    squeezed = " ".join(text.split())
    for word in expect:
        assert word in squeezed and word in page
    for word in absent:
        assert word not in squeezed and word not in page
    title = {"en": "", "hi": "हमारे साथ के काम पर एक नज़र" if audience == "client" else "रिकॉर्ड के लिए आख़िरी सारांश"}
    assert title[code] in page and ("Prepared on" in page) == (code == "en")
    assert PRIVATE not in squeezed
    if shutil.which("pdftoppm"):
        for old in artifacts_dir.glob(f"ending-{code}-{audience}-*.png"):
            old.unlink()
        subprocess.run(["pdftoppm", "-png", "-r", "80", str(pdf), str(artifacts_dir / f"ending-{code}-{audience}")],
                       check=True)


def test_the_command_for_an_unknown_client_fails_clearly(db, tmp_path):
    r = CliRunner().invoke(main, ["--store", db, "ending", "--clinic", "clinic-a", "--client", "nobody",
                                  "--out", str(tmp_path)])
    assert r.exit_code != 0 and "nobody" in r.output
    assert not list(tmp_path.glob("ending-*"))


# -- the hook ----------------------------------------------------------------------------------
@pytest.fixture
def pm(sqlite_store, now):
    from progress_plugin.hosts import plugin
    from progress_plugin.hosts.manager import make_manager
    seed_client(Runtime(sqlite_store, clock=lambda: now), "clinic-a", "c1", 5)
    manager = make_manager()
    plugin.setup(store=sqlite_store, clock=lambda: now)
    yield manager
    plugin.reset()


def test_the_hook_gives_html_and_pdf_in_the_language_asked(pm):
    (got,) = pm.hook.ending_summary(clinic_id="clinic-a", client_id="c1", audience="client", locale="hi")
    assert got["id"] == "ending" and got["language"] == "hi" and got["audience"] == "client"
    assert got["title"] == "हमारे साथ के काम पर एक नज़र" and "Get through a work meeting" in got["html"]
    assert got["pdf"] is None or got["pdf"].startswith(b"%PDF")
    (record,) = pm.hook.ending_summary(clinic_id="clinic-a", client_id="c1", audience="record", locale=None)
    assert "Client c1" in record["html"] and record["language"] == "en"
    with pytest.raises(ValidationError):
        pm.hook.ending_summary(clinic_id="clinic-a", client_id="c1", audience="everyone", locale=None)


# -- the HTTP API --------------------------------------------------------------------------------
@pytest.fixture
def http(sqlite_store, now):
    from progress_plugin.web import panel_routes
    from progress_plugin.web.app import create_app
    seed_client(Runtime(sqlite_store, clock=lambda: now), "clinic-a", "c1", 4)
    app = create_app(sqlite_store, clock=lambda: now, blueprints=[panel_routes.blueprint])
    sqlite_store.ensure_clinic("clinic-b", now)
    made = {name: tokens.create(sqlite_store, clinic, "viewer", name, now)[1]
            for name, clinic in [("a", "clinic-a"), ("b", "clinic-b")]}
    return app.test_client(), made


URL = "/clinics/clinic-a/clients/c1/ending.{fmt}"


def test_the_api_needs_a_token_of_the_clinic(http):
    client, made = http
    assert client.get(URL.format(fmt="html")).status_code == 401
    other = client.get(URL.format(fmt="html"), headers={"Authorization": f"Bearer {made['b']}"})
    assert other.status_code in (403, 404) and "Get through" not in other.get_data(as_text=True)


def test_a_viewer_gets_the_page_and_the_pdf(http):
    client, made = http
    auth = {"Authorization": f"Bearer {made['a']}"}
    r = client.get(URL.format(fmt="html"), headers=auth, query_string={"lang": "hi", "audience": "record"})
    assert r.status_code == 200 and r.mimetype == "text/html" and r.headers["Content-Language"] == "hi"
    assert r.headers["Cache-Control"] == "no-store" and "script-src" not in r.headers["Content-Security-Policy"]
    assert "रिकॉर्ड के लिए आख़िरी सारांश" in r.get_data(as_text=True)
    pdf = client.get(URL.format(fmt="pdf"), headers=auth)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    bad = client.get(URL.format(fmt="html"), headers=auth, query_string={"audience": "therapist"})
    assert bad.status_code == 422 and "audience" in bad.get_data(as_text=True)
    gone = client.get("/clinics/clinic-a/clients/nobody/ending.html", headers=auth)
    assert gone.status_code == 404

"""The whole progress panel over a 500-note history, against the core's computation alone.

- **measured**: ``compute()`` then ``panel.render_html()``: the panel's data, its text (goal
  statuses, prompts, what was agreed), the SVG chart, and the data table.
- **floor**: ``compute()`` alone, on the same notes.

The two alternate in paired rounds (bench/common.py); the figures are medians over rounds.
Targets (``TARGET_MS``, ``SHORT_MS``, ``SIZE_KIB``): the measured median under 20 ms for 500 notes
and under 8 ms for 40, cold (no kept copy), and the 500-note HTML at most 120 KiB, on a 2-core
machine.

The history (the target's): one client with three goals and 500 weekly notes; each note
has 1-3 tags drawn from the default vocabulary (therapist-only included), the client rates
each goal on 60 % of notes and the therapist on 30 %. More are timed for context: every goal
rated by both on every note (the most points a chart can get from 500 notes), a 40-note course,
and the target's history said in Hindi (catalog lookups, Babel's dates and numbers), and the
target's history with the client's own check-in after every session (a self-rating per goal
on the goals' lines, and 500 session checks in their own series).

Run: ``.venv/bin/python bench/bench_panel.py``. The last line is the target's figure.
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import line, paired  # noqa: E402
from progress_plugin import lang  # noqa: E402
from progress_plugin.view import panel  # noqa: E402
from progress_plugin.core.checkin import Checkin, SessionCheck  # noqa: E402
from progress_plugin.core.intake import Goal, Intake  # noqa: E402
from progress_plugin.core.notes import AppliedTag, NoteProgress, Rating  # noqa: E402
from progress_plugin.core.progress import compute  # noqa: E402
from progress_plugin.core.vocabulary import default  # noqa: E402

START = datetime(2016, 1, 4, 9, 0, tzinfo=timezone.utc)
TARGET_MS, SHORT_MS, SIZE_KIB = 20.0, 8.0, 120
WORDS = ("Get through a work meeting without my chest going tight", "Talk to my sister again, even briefly",
         "Sleep through most nights")


def history(n: int, client_rate: float, therapist_rate: float, seed: int = 1):
    rnd = random.Random(seed)
    vocab = default()
    codes = [t.code for t in vocab.tags]
    intake = Intake("intake-1", tuple(Goal(f"g{i}", WORDS[i - 1], "client", 2 + i, i) for i in (1, 2, 3)),
                    "every-4-sessions", True, START.date(), True,
                    {"better_looks_like": "Mornings without dread", "private_reflection": "A pull to fix"})
    level = {"g1": 3, "g2": 4, "g3": 5}
    notes = []
    for i in range(1, n + 1):
        at = START + timedelta(days=7 * i)
        tags = tuple(AppliedTag(c, vocab.version) for c in rnd.sample(codes, rnd.randint(1, 3)))
        ratings = []
        for g in level:
            level[g] = max(0, min(10, level[g] + rnd.choice((-1, 0, 0, 1))))
            if rnd.random() < client_rate:
                ratings.append(Rating(g, level[g], "client", None, f"n{i}", at))
            if rnd.random() < therapist_rate:
                ratings.append(Rating(g, max(0, level[g] - 1), "therapist", None, f"n{i}", at))
        notes.append(NoteProgress(f"n{i}", "c1", at, "t1", tags, tuple(ratings), signed=True))
    return intake, notes, {vocab.version: vocab}, START + timedelta(days=7 * n + 2)


def checkins(notes, seed: int = 2) -> list[Checkin]:
    """A check-in three days after each session: every goal rated, the four items of the session check."""
    rnd = random.Random(seed)
    out = []
    for note in notes:
        at, cid = note.session_at + timedelta(days=3), f"checkin:{note.note_id}"
        out.append(Checkin(cid, at, tuple(Rating(g, rnd.randint(0, 10), "client", None, cid, at, "self")
                                          for g in ("g1", "g2", "g3")),
                           SessionCheck(*(rnd.randint(3, 10) for _ in range(4))), rnd.random() < 0.05))
    return out


def measure(name: str, n: int, client_rate: float, therapist_rate: float, calls: int, rounds: int,
            language: str = "en", with_checkins: bool = False):
    intake, notes, vocabs, now = history(n, client_rate, therapist_rate)
    words = lang.words(language)
    extra = checkins(notes) if with_checkins else []

    def core():
        return compute("c1", intake, notes, vocabs, now, checkins=extra)

    def whole_panel():
        return panel.render_html(compute("c1", intake, notes, vocabs, now, checkins=extra), intake, "therapist",
                                 words=words)

    html = whole_panel()
    assert "<svg" in html and html.count("<tr>") > n
    return paired(name, whole_panel, core, calls=calls, rounds=rounds), len(html)


def warm(n: int, rounds: int = 5, calls: int = 20) -> dict:
    """The panel over HTTP (Flask test client, SQLite store) once drawn: a request with the ETag
    (304) and one without (the kept copy), each against the same request drawn anew (cold)."""
    import tempfile

    from progress_plugin import schemas
    from progress_plugin.core.events import IntakeSubmitted
    from progress_plugin.service.runtime import Runtime
    from progress_plugin.store import Store, tokens
    from progress_plugin.web import panel_routes
    from progress_plugin.web.app import create_app
    intake, notes, _, now = history(n, 0.6, 0.3)
    folder = tempfile.mkdtemp(prefix="bench-panel-")
    store = Store.open(f"sqlite:///{folder}/progress.db")
    runtime = Runtime(store, clock=lambda: now)
    runtime.dispatch(IntakeSubmitted("c", START, "c1", schemas.load(schemas.intake_schema, {
        "goals": [{"words": w, "whose": "client", "baseline": 3, "rank": i} for i, w in enumerate(WORDS, 1)],
        "review_cadence": "every-4-sessions", "agreed": True, "agreed_on": START.date().isoformat(),
        "goals_reviewed": True}), "t1"))
    for note in notes:
        tags = [{"code": t.code, "goals": [], "ratings": []} for t in note.tags]
        tags[0]["goals"] = sorted({r.goal_id for r in note.ratings})      # a rating needs its tag to link the goal
        tags[0]["ratings"] = [{"goal": r.goal_id, "value": r.value, "rated_by": r.rater} for r in note.ratings]
        runtime.dispatch(schemas.load(schemas.note_schema, {
            "clinic_id": "c", "client_id": "c1", "note_id": note.note_id, "session_at": note.session_at.isoformat(),
            "author": "t1", "at": note.session_at.isoformat(), "signed": True, "tags": tags}))
    held = runtime.state("c", "c1")
    assert len(held.notes) == n and sum(len(x.ratings) for x in held.notes.values()) == sum(len(x.ratings) for x in notes)
    app = create_app(store, clock=lambda: now, blueprints=[panel_routes.blueprint])
    token = tokens.create(store, "c", "viewer", "bench", now)[1]
    http = app.test_client()
    url, auth = "/clinics/c/clients/c1/progress.html", {"Authorization": f"Bearer {token}"}
    first = http.get(url, headers=auth)
    etag = first.headers["ETag"]
    assert http.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304

    def not_modified():
        assert http.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304

    def kept():
        assert http.get(url, headers=auth).status_code == 200

    def cold():
        panel_routes.panels.get = lambda key: None             # nothing kept: drawn each time
        try:
            assert http.get(url, headers=auth).status_code == 200
        finally:
            del panel_routes.panels.get
    out = {"304": paired("304", not_modified, cold, calls, rounds), "kept": paired("kept", kept, cold, calls, rounds)}
    store.close()
    return out


def main() -> None:
    target, size = measure("500 notes", 500, 0.6, 0.3, calls=10, rounds=15)
    dense, _ = measure("500 notes, every goal rated by both each time", 500, 1.0, 1.0, calls=6, rounds=5)
    short, _ = measure("40 notes", 40, 0.6, 0.3, calls=60, rounds=9)
    hindi, _ = measure("500 notes, in Hindi", 500, 0.6, 0.3, calls=6, rounds=5, language="hi")
    checked, _ = measure("500 notes, a check-in after each", 500, 0.6, 0.3, calls=6, rounds=5, with_checkins=True)
    hot = {n: warm(n) for n in (40, 500)}

    print("cold: whole panel (compute + HTML with chart) against compute alone; paired rounds, medians")
    for r in (short, dense, hindi, checked, target):
        print(f"  {r.name:<46} panel {r.measured * 1e3:7.2f} ms   compute {r.floor * 1e3:6.2f} ms   "
              f"ratio {r.ratio:5.1f}x")
    print(f"  HTML size for 500 notes: {size / 1024:.0f} KiB")
    print("warm: GET progress.html through the Flask app (SQLite store, token auth), against the same request "
          "drawn anew (cold over HTTP: the state loaded, computed and drawn)")
    for n, results in hot.items():
        for name, r in results.items():
            print(f"  {n:>3} notes, {r.name:<6} {r.measured * 1e3:7.2f} ms   cold over HTTP {r.floor * 1e3:7.2f} ms   "
                  f"ratio {r.ratio:5.3f}x")
    ms, short_ms, kib = target.measured * 1e3, short.measured * 1e3, size / 1024
    checks = [("panel over 500 notes, cold, median (ms)", f"{ms:.1f}", f"< {TARGET_MS:g}", ms < TARGET_MS),
              ("panel over 40 notes, cold, median (ms)", f"{short_ms:.1f}", f"< {SHORT_MS:g}", short_ms < SHORT_MS),
              ("panel HTML for 500 notes (KiB)", f"{kib:.0f}", f"<= {SIZE_KIB}", kib <= SIZE_KIB)]
    for n, limit in ((500, TARGET_MS), (40, SHORT_MS)):
        for name in ("304", "kept"):
            got = hot[n][name].measured * 1e3
            checks.append((f"panel over {n} notes, warm {name}, median (ms)", f"{got:.2f}", f"< {limit:g}",
                           got < limit))
    for check in checks:
        print(line(*check))
    print(f"panel over 500 notes: median {ms:.1f} ms cold ({target.ratio:.1f}x the core computation alone, "
          f"{target.floor * 1e3:.2f} ms), {hot[500]['304'].measured * 1e3:.2f} ms for a 304: "
          f"{'MET' if all(c[3] for c in checks) else 'MISSED'}")


if __name__ == "__main__":
    main()

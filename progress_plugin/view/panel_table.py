"""The panel's table alternative to its chart (pure): every rating and tag, a row per session.

Read from the panel's data (:func:`progress_plugin.view.panel.panel_data`), so it holds what the
chart and the JSON hold. Rows leave out the optional end tags of ``th``, ``td`` and ``tr``, and
each cell's words are said and escaped once per distinct value: a long history repeats them.
"""
from __future__ import annotations

from html import escape

from progress_plugin.core.words import N_, Words
from progress_plugin.view import chart
from progress_plugin.view.checkins import after
from progress_plugin.view.wording import day, number


def table(data: dict, words: Words) -> str:
    """The chart's data as a table: a row per session (and per check-in), a column per goal, the tags."""
    goals = data["goals"]
    goal = N_("Goal {rank}")
    head = "".join(f'<th scope="col">{escape(words(goal, rank=number(words, g["rank"])))}</th>' for g in goals)
    # every cell's text is escaped once per distinct value as it is made (escaping a joined list is
    # joining the escaped items: the separators need none), each row's day once per distinct day
    rows: dict[float, dict] = {0: {"at": (data["intake"] or {}).get("on"), "cells": {}, "tags": []}}
    for s in data["sessions"]:
        rows[s["session"]] = {"at": s["at"], "cells": {}, "tags": []}
    by_therapist = words.gettext(N_("{value} (therapist)")).format       # each template looked up once
    said: dict[tuple, str] = {}
    for g in goals:
        goal_id = g["goal_id"]
        for rater in ("client", "therapist"):
            for p in g[rater]:
                value = p["value"]
                if value is None:
                    continue
                x = p["session"] + 0.5 if p.get("source") == "self" else p["session"]     # chart.x_of(p)
                row = rows.get(x)
                if row is None:
                    row = rows[x] = {"at": p["at"], "cells": {}, "tags": []}
                text = said.get((rater, value))
                if text is None:
                    shown = number(words, value)
                    text = said[(rater, value)] = escape(by_therapist(value=shown) if rater == "therapist" else shown)
                cells = row["cells"].get(goal_id)
                if cells is None:
                    row["cells"][goal_id] = [text]
                else:
                    cells.append(text)
    tagged = words.gettext(N_("{tag} ({direction})")).format
    directions = {d: words(w) for d, w in chart.DIRECTION_WORDS.items()}
    for m in data["markers"]:
        key = (m["label"], m["direction"])
        text = said.get(key)
        if text is None:
            text = said[key] = escape(tagged(tag=m["label"], direction=directions[m["direction"]]))
        row = rows.get(m["session"])
        if row is None:
            row = rows[m["session"]] = {"at": m["at"], "cells": {}, "tags": []}
        row["tags"].append(text)
    body = []
    intake = escape(words(N_("Intake")))
    ids = [g["goal_id"] for g in goals]
    days: dict = {}
    for session in sorted(rows):
        row = rows[session]
        got = row["cells"]
        cells = "".join(f'<td>{", ".join(got[i])}' if i in got else "<td>" for i in ids)
        name = (intake if session == 0 else number(words, session) if session == int(session)
                else escape(words(N_("Check-in {when}"), when=after(words, int(session)))))
        when = days.get(row["at"])
        if when is None:
            when = days[row["at"]] = escape(day(words, row["at"]))
        # a row's leading th is its header; the end tags of th, td and tr are implied by what follows
        body.append(f'<tr><th>{name}<td>{when}{cells}<td>{"; ".join(row["tags"])}')
    # the scale's note stays on screen above the table, which may scroll sideways on a phone
    note = escape(words(N_("Ratings are 0-10, yours unless marked.") if data["audience"] == "client"
                        else N_("Ratings are 0-10, the client's unless marked.")))
    name = escape(words(N_("The chart's data as a table")))
    session, when, tags = (escape(words(t)) for t in (N_("Session"), N_("Date"), N_("Tags")))
    # a region that may scroll sideways on a phone: focusable, so it scrolls by keyboard too
    return (f'<p class="pp-sub">{note}</p><div class="pp-table" tabindex="0" role="region" aria-label="{name}">'
            f'<table class="pp-data" aria-label="{name}"><thead><tr>'
            f'<th scope="col">{session}</th><th scope="col">{when}</th>{head}'
            f'<th scope="col">{tags}</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>')

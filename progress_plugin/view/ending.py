"""An ending in their words: a printable summary of a course of work (pure), for the client or the record.

Both versions say, in ``words``' language:

- where each goal started and ended, in the client's own words (``<bdi dir="auto">``, never
  translated), with whose goal it is and how far it moved (a move of
  :data:`~progress_plugin.view.audience.MARGIN` or more is "a real change", explained once);
- what happened along the way: every session's tags as plain words in the language, setbacks
  included (never hidden);
- what the client said progress would look like (the intake answers the client may see);
- the client's own session checks, as a small table, when there are any.

The ``record`` version also carries the client's id, the therapist's ratings, therapist-only
tags and strain tags (marked as such) and the movement's technical name. The ``client``
version leaves out therapist-only tags, and strain tags unless the clinic opted in
(``show_strain``).

The page is self-contained (inline styles, no script, nothing fetched) and made for print: A4,
margins, page numbers, page breaks kept out of a goal or a table row; WeasyPrint turns the same
page into a PDF. Its fonts fall back to Lohit Devanagari or Noto Sans Devanagari for Hindi. It
holds no chart: the words and numbers say it all, and a PDF renderer's SVG text does not shape
Devanagari.
"""
from __future__ import annotations

from datetime import datetime
from html import escape

from progress_plugin.core.checkin import SESSION_CHECK_ITEMS, SessionCheck
from progress_plugin.core.intake import Intake
from progress_plugin.core.progress import Progress
from progress_plugin.core.words import ENGLISH, N_, Words, msg
from progress_plugin.errors import ValidationError
from progress_plugin.view import chart, panel
from progress_plugin.view.audience import CLIENT_STATUS, CLIENT_WHOSE, MARGIN, THERAPIST_WHOSE, margin_note, whose
from progress_plugin.view.bidi import bdi
from progress_plugin.view.wording import day, number

AUDIENCES = ("client", "record")
#: The session check's items as column headings (short; the questions are in core.checkin).
CHECK_HEADINGS = {"heard": N_("Felt heard"), "mattered": N_("Worked on what mattered"),
                  "fits": N_("The way of working fits"), "overall": N_("The session overall")}

CSS = """
@page{size:A4;margin:18mm 16mm 20mm;@bottom-center{content:counter(page) " / " counter(pages);font-size:9pt;color:#57606a}}
html{color:#1f2328;background:#fff}
body{margin:0 auto;max-width:760px;padding:16px;font:11pt/1.5 'Liberation Sans',Arial,'Lohit Devanagari',
'Noto Sans Devanagari',sans-serif}
h1{font-size:18pt;margin:0 0 4px;font-weight:600}
h2{font-size:13pt;margin:22px 0 8px;font-weight:600;break-after:avoid;page-break-after:avoid}
h3{font-size:11pt;margin:0;font-weight:600}
.sub{color:#57606a;margin:0 0 12px;font-size:10pt}
.goal{border:1px solid #d8dee4;border-left:4px solid var(--goal);border-radius:6px;padding:8px 12px;margin:0 0 10px;
break-inside:avoid;page-break-inside:avoid}
.goal q{display:block;margin:2px 0 6px;font-size:12pt;quotes:'\\201C' '\\201D'}
.goal p{margin:0}
.whose{color:#57606a;font-size:10pt}
.moved{font-weight:600}
.along{margin:0;padding:0;list-style:none}
.along li{padding:3px 0;border-bottom:1px solid #eef1f4;break-inside:avoid;page-break-inside:avoid}
.along .when{color:#57606a;white-space:nowrap}
.away{font-weight:600}
.only{color:#57606a;font-style:italic}
dl{margin:0}
dt{font-size:10pt;color:#57606a}
dd{margin:0 0 8px}
table{border-collapse:collapse;font-size:10pt;width:100%}
thead{display:table-header-group}
th,td{border-bottom:1px solid #d8dee4;padding:4px 8px;text-align:start;vertical-align:top}
td.num{text-align:end;font-variant-numeric:tabular-nums}
tr{break-inside:avoid;page-break-inside:avoid}
footer{margin-top:24px;color:#57606a;font-size:9pt}
@media print{body{padding:0;max-width:none}}
"""


def check_audience(audience: str) -> str:
    if audience not in AUDIENCES:
        raise ValidationError({"audience": [msg("Must be one of: {choices}.", choices=", ".join(AUDIENCES))]})
    return audience


def _goals(data: dict, intake: Intake | None, record: bool, words: Words) -> str:
    owners = whose(intake)
    out = []
    for i, g in enumerate(data["goals"]):
        rated = [p for p in g["client"] if p["value"] is not None]
        first = rated[0] if rated else None
        last = rated[-1] if len(rated) > 1 else None
        start = words(N_("Started at {value}/10 on {date}."), value=number(words, g["baseline"]),
                      date=day(words, first["at"] if first else data["agreed_on"]))
        end = (words(N_("Ended at {value}/10 on {date}."), value=number(words, last["value"]), date=day(words, last["at"]))
               if last else words(N_("No later rating.")))
        moved = words(CLIENT_STATUS[g["status"]], margin=number(words, MARGIN))
        if g["delta"] is not None:
            moved += f" ({chart.signed(words, g['delta'])})"
        if record:
            moved += " · " + words(g["status"])
        who = (THERAPIST_WHOSE if record else CLIENT_WHOSE).get(owners.get(g["goal_id"], "client"))
        extra = ""
        theirs = [p for p in g["therapist"] if p["value"] is not None]
        if record and theirs:
            extra = "<p>" + escape(words(N_("The therapist's last rating: {value}/10 on {date}."),
                                         value=number(words, theirs[-1]["value"]), date=day(words, theirs[-1]["at"]))) + "</p>"
        if g.get("replaced_by"):
            extra += '<p class="whose">' + escape(words(N_("Later redefined in new words."))) + "</p>"
        name = words(N_("Goal {rank}"), rank=number(words, g["rank"]))
        out.append(f'<section class="goal" style="--goal:{chart.goal_colour(i)}">'
                   f'<h3>{escape(name)}</h3>'
                   + (f'<p class="whose">{escape(words(who))}</p>' if who else "")
                   + f'<q>{bdi(g["words"])}</q><p>{escape(start)} {escape(end)}</p>'
                   f'<p class="moved">{escape(moved)}</p>{extra}</section>')
    if not out:
        return "<p>" + escape(words(N_("No goals agreed yet."))) + "</p>"
    return "".join(out) + f'<p class="sub">{escape(margin_note(words))}</p>'


def _along(data: dict, labels: dict, record: bool, words: Words) -> str:
    """Every session with tags, in order: its tags as plain words, setbacks among them."""
    by_session: dict[int, list[dict]] = {}
    for m in data["markers"]:
        by_session.setdefault(m["session"], []).append(m)
    if not by_session:
        return "<p>" + escape(words(N_("No tags were recorded."))) + "</p>"
    only = escape(words(N_("(therapist only)")))
    rows = []
    for session in sorted(by_session):
        ms = by_session[session]
        tags = []
        for m in ms:
            label = labels.get((m["code"], m["vocabulary_version"]), m["label"])
            said = escape(words(N_("{tag} ({direction})"), tag=label,
                                direction=words(chart.DIRECTION_WORDS[m["direction"]])))
            cls = ' class="away"' if m["direction"] == "away" else ""
            tags.append(f'<span{cls}>{said}</span>' + (f' <span class="only">{only}</span>'
                                                       if record and m["therapist_only"] else ""))
        when = words(N_("Session {session}, {date}"), session=number(words, session), date=day(words, ms[0]["at"]))
        rows.append(f'<li><span class="when">{escape(when)}</span>: {"; ".join(tags)}</li>')
    return f'<ul class="along">{"".join(rows)}</ul>'


def _checks(checks, words: Words) -> str:
    if not checks:
        return "<p>" + escape(words(N_("No session checks were recorded."))) + "</p>"
    head = "".join(f'<th scope="col">{escape(words(CHECK_HEADINGS[k]))}</th>' for k in SESSION_CHECK_ITEMS)
    body = []
    for at, check in sorted(checks, key=lambda c: c[0]):
        cells = "".join(f'<td class="num">{"" if v is None else escape(number(words, v))}</td>'
                        for v in check.values().values())
        body.append(f'<tr><td>{escape(words.date(at))}</td>{cells}</tr>')
    note = escape(words(N_("Each from 0 (not at all) to 10 (completely); a blank was skipped.")))
    date = escape(words(N_("Date")))
    return (f'<p class="sub">{note}</p><table><thead><tr><th scope="col">{date}</th>'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def render_html(progress: Progress, intake: Intake | None, audience: str = "client", *,
                checks: "list[tuple[datetime, SessionCheck]]" = (), labels: dict | None = None,
                words: Words = ENGLISH, show_strain: bool = False, today=None) -> str:
    """The ending summary as one printable, self-contained HTML page in ``words``' language.

    ``checks``: the client's session checks as ``(when, SessionCheck)``; ``labels``: each tag's
    label in the language by ``(code, vocabulary_version)`` (else its base label); ``today``:
    the day it is prepared on (a date)."""
    record = check_audience(audience) == "record"
    data = panel.panel_data(progress, intake, "therapist" if record else "client", words, show_strain=show_strain)
    language = f'lang="{escape(words.code)}" dir="{escape(words.direction)}"'
    title = words(N_("Ending summary for the record") if record else N_("Looking back on our work together"))
    sessions = data["sessions"]
    span = words.plural("{n} session", "{n} sessions", len(sessions))
    if sessions:
        span = words(N_("{first} to {last} · {sessions}"), first=day(words, sessions[0]["at"]),
                     last=day(words, sessions[-1]["at"]), sessions=span)
    sub = escape(span)
    if record:
        sub = escape(words(N_("Client {id}"), id=data["client_id"])) + " · " + sub
    heads = ((N_("Where each goal started and ended"), N_("What happened along the way"),
              N_("What the client said progress would look like"), N_("The client's session checks")) if record else
             (N_("Where each of your goals started and ended"), N_("What happened along the way"),
              N_("What you said progress would look like"), N_("Your session checks")))
    agreed = panel._agreed({**data, "answers": panel._answers(intake, "client")}, words) or (
        "<p>" + escape(words(N_("Nothing was written down."))) + "</p>")
    body = [f"<h1>{escape(title)}</h1>", f'<p class="sub">{sub}</p>',
            f"<h2>{escape(words(heads[0]))}</h2>", _goals(data, intake, record, words),
            f"<h2>{escape(words(heads[1]))}</h2>", _along(data, labels or {}, record, words),
            f"<h2>{escape(words(heads[2]))}</h2>", agreed,
            f"<h2>{escape(words(heads[3]))}</h2>", _checks(list(checks), words)]
    if today is not None:
        prepared = words(N_("Prepared on {date}."), date=words.date(today))
        body.append(f'<footer>{escape(prepared)}</footer>')
    return (f'<!doctype html><html {language}><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><style>{CSS}</style></head><body>{"".join(body)}</body></html>')


__all__ = ["AUDIENCES", "CSS", "check_audience", "render_html"]

"""What the progress chart says in words: its title, its text alternative, and the names of tag
directions (pure). Each is said by ``words`` (English by default); a goal's words are shown as
written, isolated for bidirectional text.
"""
from __future__ import annotations

from progress_plugin.core.bidi import isolate
from progress_plugin.core.words import ENGLISH, N_, Words
from progress_plugin.view.audience import CLIENT_STATUS, MARGIN
from progress_plugin.view.wording import number

DIRECTIONS = ("toward", "steady", "mixed", "away", "none")
#: How a tag's direction is named in tooltips, the table and the text alternative.
DIRECTION_WORDS = {"toward": N_("toward"), "steady": N_("holding steady"), "mixed": N_("mixed"),
                   "away": N_("away"), "none": N_("no direction")}
#: How the legend names each direction, after "Tags:": "Tags: step toward, holding steady, ...".
LEGEND_WORDS = {"toward": N_("step toward"), "steady": N_("holding steady"), "mixed": N_("mixed"),
                "away": N_("step back"), "none": N_("no direction")}


def title_text(data: dict, words: Words = ENGLISH) -> str:
    return words(N_("Progress chart: {goals} rated 0 to 10 over {sessions}, with session tags"),
                 goals=words.plural("{n} goal", "{n} goals", len(data["goals"])),
                 sessions=words.plural("{n} session", "{n} sessions", len(data["sessions"])))


def signed(words: Words, value: int) -> str:
    """A change in rating points with its sign: ``+6``, ``-3``, ``+0``."""
    return ("-" if value < 0 else "+") + number(words, abs(value))


def describe(data: dict, words: Words = ENGLISH) -> str:
    """A short text alternative; the panel adds the full data table."""
    parts = []
    for g in data["goals"]:
        rank = number(words, g["rank"])
        name = (words(N_("Goal {rank}"), rank=rank) if g.get("redefined_at") is None else
                words(N_("Goal {rank}, redefined at session {session}"), rank=rank,
                      session=number(words, g["redefined_at"])))
        who = words(N_("{goal}, {words} (replaced: its line ends where the goal was redefined)")
                    if g.get("replaced_by") else N_("{goal}, {words}"), goal=name, words=isolate(g["words"]))
        status = (words(CLIENT_STATUS[g["status"]], margin=number(words, MARGIN)) if data.get("audience") == "client"
                  else words(g["status"]))
        if g["delta"] is not None:
            status = words(N_("{status} ({delta} since the start)"), status=status, delta=signed(words, g["delta"]))
        parts.append(words(N_("{goal}: you started at {baseline}/10, your latest rating {last}/10; {status}.")
                           if data.get("audience") == "client" else
                           N_("{goal}: started at {baseline}/10, latest client rating {last}/10; {status}."),
                           goal=who, baseline=number(words, g["baseline"]), status=status,
                           last=number(words, g["last"] if g["last"] is not None else g["baseline"])))
    counts: dict[str, int] = {}
    for m in data["markers"]:
        counts[m["direction"]] = counts.get(m["direction"], 0) + 1
    if counts:
        parts.append(words(N_("Tags: {counts}."), counts=", ".join(
            words(N_("{n} {direction}"), n=number(words, counts[d]), direction=words(DIRECTION_WORDS[d]))
            for d in DIRECTIONS if d in counts)))
    return " ".join(parts) or words(N_("No goals or tags recorded yet."))


__all__ = ["DIRECTIONS", "DIRECTION_WORDS", "LEGEND_WORDS", "describe", "signed", "title_text"]

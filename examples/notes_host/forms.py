"""Between HTML form posts and the hooks' plain data, driven by the field definitions the plugin returns.

Input names: a top-level intake field uses its id (``small_shift``); a goal's field is
``goals-<row>-<field>``. Every goal row posted is sent, even past the rows the form shows, so
the plugin's own rule (at most three goals) refuses a crafted fourth next to the goals. An
answer to a question the form shows only on a condition (the planned review date, only when
looking again "at the planned review"; the words for "another way", only when that way is
chosen) is dropped when the condition does not hold, as an SDC form renderer drops the answers
of a disabled item. A goal already saved also carries ``goals-<row>-id`` (and
``goals-<row>-replaces`` when it replaced another) and a choice ``goals-<row>-change``:
``edit`` keeps its id (new words fix the wording), ``replaces`` sends a new goal with its own
id that replaces it. In the note form, each goal has ``rating-<goal>`` (blank, or 0-10)
and ``rater-<goal>``, and each tag a checkbox ``tag-<code>``. Field errors come back from the hooks as marshmallow-shaped
dicts and are turned into the same input names, so each message sits next to its field.
"""
from __future__ import annotations

import re
import uuid

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from progress_plugin.errors import flatten

INT_RE = re.compile(r"^-?\d+$")
GOAL_ROW = re.compile(r"^goals-(\d{1,3})-")
#: Fields asked only on a condition, as the intake's Questionnaire says with ``enableWhen``:
#: field id -> (the field it depends on, the answer code that shows it).
SHOWN_WHEN = {"review_date": ("review_cadence", "at-review")}


def shown_when(field: dict) -> tuple[str, str] | None:
    """The (field, answer) that shows ``field``, or None when it is always asked."""
    return SHOWN_WHEN.get(field["id"])


def _text(form, name):
    value = (form.get(name) or "").strip()
    return value or None


def _value(field: dict, form, name: str):
    kind = field["type"]
    if kind == "boolean":
        return form.get(name) == "on"
    raw = _text(form, name)
    if raw is None:
        return None
    if kind == "integer":
        return int(raw) if INT_RE.match(raw) else raw      # a non-number is left for validation to name
    return raw


# -- intake ---------------------------------------------------------------------------------
def intake_answers(section: dict, form) -> tuple[dict, list[int]]:
    """The answers for one section, and for each submitted goal the form row it came from."""
    answers: dict = {}
    rows: list[int] = []
    posted = {int(m.group(1)) for key in form.keys() if (m := GOAL_ROW.match(key))}
    for field in section["fields"]:
        if field["type"] == "goals":
            goals = []
            for row in sorted(posted | set(range(field.get("max_repeats") or 1))):
                goal = {}
                for child in field["fields"]:
                    value = _value(child, form, f"goals-{row}-{child['id']}")
                    if value is not None:
                        goal[child["id"]] = value
                if goal:
                    goal.update(_lineage(form, row))
                    goals.append(goal)
                    rows.append(row)
            answers[field["id"]] = goals
            continue
        value = _value(field, form, field["id"])
        if value is not None:
            answers[field["id"]] = value
        if field.get("other_allowed"):
            other = _text(form, f"{field['id']}_other")
            if other is not None and answers.get(field["id"]) == "other":    # asked only for "another way"
                answers[f"{field['id']}_other"] = other
    for field in section["fields"]:
        condition = shown_when(field)
        if condition and answers.get(condition[0]) != condition[1]:
            answers.pop(field["id"], None)
    return answers, rows


def _lineage(form, row: int) -> dict:
    """A saved goal's id, and what it replaces: kept on an edit, a new goal replacing it otherwise."""
    old = _text(form, f"goals-{row}-id")
    if old is None:
        return {}
    if form.get(f"goals-{row}-change") == "replaces":
        return {"id": "g-" + uuid.uuid4().hex[:12], "replaces": old}
    replaces = _text(form, f"goals-{row}-replaces")
    return {"id": old, **({"replaces": replaces} if replaces else {})}


def intake_form_values(section: dict) -> dict[str, str]:
    """The stored answers (``section["values"]``) as input values, to fill the form again."""
    values = section.get("values") or {}
    out: dict[str, str] = {}
    for key, value in values.items():
        if key == "goals":
            for row, goal in enumerate(value):
                for gkey, gvalue in goal.items():
                    out[f"goals-{row}-{gkey}"] = str(gvalue)
        elif isinstance(value, bool):
            if value:
                out[key] = "on"
        else:
            out[key] = str(value)
    return out


def intake_error_names(errors: dict, rows: list[int]) -> dict[str, list[str]]:
    """Field errors keyed by input name (goal positions mapped back to their form rows)."""
    out: dict[str, list[str]] = {}
    for path, messages in flatten(errors).items():
        parts = path.split(".")
        if parts[0] == "goals" and len(parts) > 1 and parts[1].isdigit():
            i = int(parts[1])
            parts[1] = str(rows[i] if i < len(rows) else i)
            if len(parts) == 2:
                parts.append("words")
        out.setdefault("-".join(parts), []).extend(messages)
    return out


# -- notes ----------------------------------------------------------------------------------
SESSION_LABEL = _l("Session date and time")
TAGS_LABEL = _l("Progress tags")
#: Who gave a goal's rating, by the code the note sends.
RATERS = {"client": _l("the client"), "therapist": _l("the therapist"), "carer": _l("the carer")}


def note_tags(picker: dict, form) -> list[dict]:
    """The ticked tags (checkbox ``tag-<code>``), in vocabulary order, as ``{"code"}``."""
    return [{"code": t["code"]} for cat in picker["categories"] for t in cat["tags"]
            if form.get(f"tag-{t['code']}") == "on"]


def note_ratings(picker: dict, form) -> tuple[list[dict], list[str]]:
    """The goals rated (``rating-<goal>``, rater ``rater-<goal>``), and the goal of each, in order."""
    ratings, rated = [], []
    for g in picker["goals"]:
        raw = _text(form, f"rating-{g['id']}")
        if raw is None:
            continue
        ratings.append({"goal": g["id"], "value": int(raw) if INT_RE.match(raw) else raw,
                        "rated_by": form.get(f"rater-{g['id']}") or "client", "source": "session"})
        rated.append(g["id"])
    return ratings, rated


def note_error_names(errors: dict, tags: list[dict], rated: list[str]) -> dict[str, list[str]]:
    """Field errors keyed by input name; anything not tied to one input goes under ``_note``."""
    out: dict[str, list[str]] = {}
    for path, messages in flatten(errors).items():
        parts = path.split(".")
        name = "_note"
        if parts[0] == "ratings" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rated):
            goal = rated[int(parts[1])]
            name = f"rater-{goal}" if len(parts) > 2 and parts[2] == "rated_by" else f"rating-{goal}"
        elif parts[0] == "tags":
            name = "tags"
        elif parts[0] in ("session_at", "text"):
            name = parts[0]
        out.setdefault(name, []).extend(messages)
    return out


def note_error_labels(picker: dict | None) -> dict[str, str]:
    """What each input is called on the page, for the error summary (never a code or a path)."""
    labels = {"_note": _("This note"), "session_at": str(SESSION_LABEL), "text": _("Note"), "tags": str(TAGS_LABEL)}
    for g in (picker or {}).get("goals", ()):
        labels[f"rating-{g['id']}"] = _("Rating for goal {rank}").format(rank=g["rank"])
        labels[f"rater-{g['id']}"] = _("Who rated goal {rank}").format(rank=g["rank"])
    return labels


def merge(results: list[dict]) -> dict:
    """Field errors from several plugins, merged into one marshmallow-shaped dict."""
    out: dict = {}

    def into(target, source):
        for key, value in source.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                into(target[key], value)
            elif isinstance(value, list) and isinstance(target.get(key), list):
                target[key] = target[key] + value
            else:
                target[key] = value

    for result in results:
        into(out, result or {})
    return out

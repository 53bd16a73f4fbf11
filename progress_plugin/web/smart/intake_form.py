"""Between the intake page's HTML form and the intake's answers (pure of Flask).

Input names: a question uses its field id (``small_shift``); a goal's question is
``goals-<row>-<field>`` (rows 0..2; a goal already saved also carries ``goals-<row>-id``, so new
words for it are an edit of the same goal). A yes/no box sends ``on`` when ticked. An answer to a
question shown only on a condition (the planned review date, only when looking again "at the
planned review"; the words for "another way", only when that way is chosen) is dropped when the
condition does not hold, as an SDC form renderer drops a disabled item's answers. Every goal row
posted is read, even past the three the form shows, so the intake's own rule refuses a crafted
fourth. Field errors come back from the intake's schema in marshmallow's shape and are turned into
input names, each with what the page calls it, so the error summary can name and link it.
"""
from __future__ import annotations

import hashlib
import json
import re

from progress_plugin.core import intake as intake_mod
from progress_plugin.core.words import Words, msg
from progress_plugin.errors import flatten

INT_RE = re.compile(r"^-?\d{1,6}$")
GOAL_ROW = re.compile(r"^goals-(\d{1,2})-")
#: Questions asked only on a condition (the Questionnaire's ``enableWhen``): id -> (question, answer).
SHOWN_WHEN = {f.id: f.enable_when for f in intake_mod.FIELDS if f.enable_when}
GOAL_KEYS = tuple(f.id for f in intake_mod.GOAL_FIELDS)
OTHER = "other"


def _text(form, name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def _value(field: intake_mod.Field, form, name: str):
    if field.type == "boolean":
        return form.get(name) == "on"
    raw = _text(form, name)
    if raw is None:
        return None
    if field.type == "integer":
        return int(raw) if INT_RE.match(raw) else raw      # a non-number is left for the schema to name
    return raw


def answers(form) -> tuple[dict, list[int]]:
    """The intake's answers from the form, and for each goal sent the form row it came from."""
    out: dict = {}
    rows: list[int] = []
    posted = {int(m.group(1)) for key in form.keys() if (m := GOAL_ROW.match(key))}
    for field in intake_mod.FIELDS:
        if field.type == "goals":
            goals = []
            for row in sorted(posted | set(range(intake_mod.MAX_GOALS))):
                goal = {c.id: v for c in field.children
                        if (v := _value(c, form, f"goals-{row}-{c.id}")) is not None}
                if goal:
                    saved = _text(form, f"goals-{row}-id")
                    if saved:
                        goal["id"] = saved
                    goals.append(goal)
                    rows.append(row)
            out["goals"] = goals
            continue
        value = _value(field, form, field.id)
        if value is not None:
            out[field.id] = value
        if field.other_allowed and out.get(field.id) == OTHER:
            other = _text(form, f"{field.id}_other")
            if other is not None:
                out[f"{field.id}_other"] = other
    for field_id, (question, answer) in SHOWN_WHEN.items():
        if out.get(question) != answer:
            out.pop(field_id, None)
    return out, rows


def intake_id(client_id: str, given: dict) -> str:
    """The intake's id: the same answers for the same client give the same id, so a form sent twice
    is one intake (and its writes are queued once); changed answers are a new one."""
    canonical = json.dumps([client_id, given], sort_keys=True, separators=(",", ":"), default=str)
    return "smart-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def stored_values(intake) -> dict[str, str]:
    """A saved intake as input values, to fill the form with (active goals only, by rank)."""
    if intake is None:
        return {}
    out: dict[str, str] = {}
    goals = sorted((g for g in intake.goals if g.status == "active"), key=lambda g: g.rank)
    for row, g in enumerate(goals):
        for key, value in (("id", g.id), ("words", g.words), ("whose", g.whose), ("baseline", g.baseline),
                           ("rank", g.rank)):
            out[f"goals-{row}-{key}"] = str(value)
    for key, value in intake.answers.items():
        if isinstance(value, bool):
            if value:
                out[key] = "on"
        elif value is not None:
            out[key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    out["review_cadence"] = intake.review_cadence
    if intake.review_date is not None:
        out["review_date"] = intake.review_date.isoformat()
    if intake.agreed:
        out["agreed"] = "on"
    if intake.goals_reviewed:
        out["goals_reviewed"] = "on"
    out["agreed_on"] = intake.agreed_on.isoformat()
    return out


def sent_values(form) -> dict[str, str]:
    """What the therapist typed, to fill the form again after an error: nothing is lost."""
    return {key: form.get(key) or "" for key in form.keys() if key != "csrf_token"}


#: The input a question's error points at (a choice: its first option; a goal: its words).
def input_id(name: str) -> str:
    field_id = name.split("-")[-1] if name.startswith("goals-") else name
    field = _field(field_id)
    if name == "goals":
        return "goals-0-words"
    if field is not None and field.type == "choice":
        return f"{name}-{field.options[0].code}"
    if field is not None and field.type == "integer":        # a goal's 0-10 or rank: its first choice
        return f"{name}-{field.min}"
    return name


def _field(field_id: str) -> intake_mod.Field | None:
    return next((f for f in (*intake_mod.FIELDS, *intake_mod.GOAL_FIELDS) if f.id == field_id), None)


def errors(messages: dict, rows: list[int], words: Words) -> tuple[dict[str, list[str]], list[dict]]:
    """Field errors said in ``words``, keyed by input name (goal positions mapped back to their form
    rows), and the error summary: ``[{"name", "href", "label", "message"}]`` in the form's order."""
    by_name: dict[str, list[str]] = {}
    for path, said in flatten(words.say(messages)).items():
        parts = path.split(".")
        if parts[0] == "goals" and len(parts) > 1 and parts[1].isdigit():
            i = int(parts[1])
            row = rows[i] if i < len(rows) else i
            name = f"goals-{row}-" + (parts[2] if len(parts) > 2 and parts[2] in GOAL_KEYS else "words")
        elif parts[0] in ("_schema", "intake_id", "definition_version"):
            name = "goals"
        else:
            name = parts[0]
        by_name.setdefault(name, []).extend(said)
    summary = [{"name": name, "href": "#" + input_id(name), "label": label(name, words), "message": m}
               for name in sorted(by_name, key=_order) for m in by_name[name]]
    return by_name, summary


def label(name: str, words: Words) -> str:
    """What the page calls the input ``name``: the question, with its goal's number for a goal's."""
    m = GOAL_ROW.match(name)
    if m:
        field = _field(name[m.end():])
        question = words(field.label) if field else ""
        return words.say(msg("Goal {n}: {question}", n=int(m.group(1)) + 1, question=question))
    field = _field(name.removesuffix("_other"))
    if name.endswith("_other"):
        return words(intake_mod.OTHER_LABEL)
    return words(field.label) if field else name


def _order(name: str) -> tuple:
    ids = [f.id for f in intake_mod.FIELDS]
    m = GOAL_ROW.match(name)
    if m:
        key = name[m.end():]
        return (ids.index("goals"), int(m.group(1)), GOAL_KEYS.index(key) if key in GOAL_KEYS else 0)
    base = name.removesuffix("_other")
    return (ids.index(base) if base in ids else len(ids), 0, 1 if name.endswith("_other") else 0)

"""The plugin's two Canvas questionnaires, generated from the intake section and the vocabulary.

"Defining progress together" asks the intake section's questions in its order (the three goals
after what the client hopes for, what better looks like and the small shifts); "Progress this session" asks for the session's tags and, per goal, the tag that fits
it and a 0-10 rating. They ship as YAML templates in ``hooks/canvas/questionnaires/``; the
question codes tie the answers :mod:`progress_plugin.web.canvas` receives to our fields. After a
change to the intake section or the default vocabulary, write them again with::

    python -m progress_plugin.web.canvas_questionnaires hooks/canvas/questionnaires
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from progress_plugin.core.intake import FIELDS, GOAL_FIELDS, MAX_GOALS, RATING_MAX, RATING_MIN
from progress_plugin.core.vocabulary import Vocabulary, default

INTAKE, SESSION = "pp-intake", "pp-session"
#: Intake fields the Canvas questionnaire leaves out: the date comes from the note's date of
#: service, and the private reflection never goes into a note.
NOT_ASKED = ("goals", "agreed_on", "private_reflection")
YES_NO = (("yes", "Yes"), ("no", "No"))


def _question(code: str, content: str, kind: str, responses=()) -> dict:
    """One question. ``responses`` are (code, label) pairs; a TXT question gets its placeholder."""
    if kind == "TXT":
        responses = ((f"{code}.text", "TXT"),)
    return {"code_system": "INTERNAL", "code": code, "content": content, "responses_code_system": "INTERNAL",
            "responses_type": kind, "responses": [{"name": label, "code": c} for c, label in responses]}


def _when(question: dict, code: str, value: str) -> dict:
    question["enabled_behavior"] = "all"
    question["enabled_conditions"] = [{"question_code": code, "operator": "=", "value_code": value}]
    return question


RATINGS = tuple((str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1))


def goal_questions() -> list[dict]:
    """Three goals: each one's words, whose it is, and where things are now."""
    out = []
    words, whose, baseline = (next(f for f in GOAL_FIELDS if f.id == i) for i in ("words", "whose", "baseline"))
    for rank in range(1, MAX_GOALS + 1):
        prefix = f"{INTAKE}.g{rank}"
        optional = "" if rank == 1 else " (optional)"
        out.append(_question(f"{prefix}.words", f"Goal {rank}{optional}: {words.label}", "TXT"))
        out.append(_question(f"{prefix}.whose", f"Goal {rank}: {whose.label}", "SING",
                             tuple((o.code, o.label) for o in whose.options)))
        out.append(_question(f"{prefix}.baseline", f"Goal {rank}: {baseline.label}", "SING", RATINGS))
    return out


def intake_questions() -> list[dict]:
    """The intake section as Canvas questions, in the section's order (the goals in their place)."""
    out = []
    for field in FIELDS:
        if field.id == "goals":
            out += goal_questions()
            continue
        if field.id in NOT_ASKED:
            continue
        code = f"{INTAKE}.{field.id}"
        if field.type == "choice":
            out.append(_question(code, field.label, "SING", tuple((o.code, o.label) for o in field.options)))
            if field.other_allowed:
                out.append(_when(_question(f"{code}_other", "In your own words", "TXT"), code, "other"))
        elif field.type == "boolean":
            out.append(_question(code, field.label, "SING", YES_NO))
        elif field.type == "date":
            out.append(_when(_question(code, f"{field.label} (YYYY-MM-DD)", "TXT"),
                             f"{INTAKE}.review_cadence", "at-review"))
        else:
            out.append(_question(code, field.label, "TXT"))
    return out


def session_questions(vocabulary: Vocabulary) -> list[dict]:
    """A session's progress: tags for the session, and per goal the tag that fits it and a 0-10 rating."""
    tags = tuple((t.code, t.label) for t in vocabulary.active())
    out = [_question(f"{SESSION}.tags", "Progress tags for this session", "MULT", tags)]
    for rank in range(1, MAX_GOALS + 1):
        out.append(_question(f"{SESSION}.g{rank}.tag", f"Goal {rank}: the tag that fits it today", "SING", tags))
        out.append(_question(f"{SESSION}.g{rank}.rating", f"Goal {rank}: the client's rating today, 0-10",
                             "SING", RATINGS))
    return out


def questionnaires(vocabulary: Vocabulary | None = None) -> dict[str, dict]:
    """The Canvas questionnaire templates, by file name. Tags come from ``vocabulary`` (the default)."""
    vocabulary = vocabulary or default()
    return {
        "defining_progress_together.yml": {
            "name": "Defining progress together", "form_type": "QUES", "code_system": "INTERNAL", "code": INTAKE,
            "can_originate_in_charting": True,
            "prologue": "Filled in together, early on; read the questions aloud to the client. Answers "
                        "are written in the client's own words; goal 1 is required. Until both \"agreed\" "
                        "questions are answered yes, it is kept as a draft.",
            "questions": intake_questions()},
        "progress_this_session.yml": {
            "name": "Progress this session", "form_type": "QUES", "code_system": "INTERNAL", "code": SESSION,
            "can_originate_in_charting": True,
            "prologue": "Progress is not a straight line: setbacks, stirring up and holding steady count too.",
            "questions": session_questions(vocabulary)},
    }


HEADER = "# Generated by progress_plugin.web.canvas_questionnaires; do not edit by hand.\n"


def to_yaml(document: dict) -> str:
    """A questionnaire as Canvas's YAML template: keys in our order, text as it is, no line folded."""
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10_000)


def write_questionnaires(directory, vocabulary: Vocabulary | None = None) -> list[Path]:
    """Write the templates into ``directory`` (``hooks/canvas/questionnaires``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in questionnaires(vocabulary).items():
        (directory / name).write_text(to_yaml(document), encoding="utf-8")
        written.append(directory / name)
    return written


#: Each question's response type (SING, MULT or TXT), by question code.
ANSWER_TYPES = {q["code"]: q["responses_type"] for doc in questionnaires().values() for q in doc["questions"]}


if __name__ == "__main__":            # python -m progress_plugin.web.canvas_questionnaires hooks/canvas/questionnaires
    for path in write_questionnaires(sys.argv[1] if len(sys.argv) > 1 else "hooks/canvas/questionnaires"):
        print(path)

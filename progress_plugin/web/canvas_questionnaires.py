"""The plugin's Canvas questionnaires, per language, generated from the intake section and the vocabulary.

"Defining progress together" asks the intake section's questions in its order (the three goals
after what the client hopes for, what better looks like and the small shifts); "Progress this
session" asks for the session's tags and, per goal, the tag that fits it and a 0-10 rating.
They ship as YAML templates in ``hooks/canvas/questionnaires/``, one pair per language the
catalogs carry; the question codes tie the answers :mod:`progress_plugin.web.canvas` receives to
our fields. After a change to the intake section, the default vocabulary or a translation,
write them again with::

    python -m progress_plugin.web.canvas_questionnaires hooks/canvas/questionnaires

English keeps the codes it always had (``pp-intake``, ``pp-session``). Every other language's
questionnaires are their own, with the language after the base code (``pp-intake-hi``, its
questions ``pp-intake-hi.g1.words`` ...) and the language's name in theirs: Canvas versions a
questionnaire by its name and shares a question between questionnaires by its code, so each
language needs its own of both to be installed beside the others. The answer codes (``client``,
``yes``, ``at-review``, a tag's code, ``0``-``10``) are the same in every language, and
:func:`canonical` maps a question code of any language back to the English one.

What Canvas cannot say (its questionnaire YAML has single choice, multiple choice and free
text questions, ``enabled_conditions``, and nothing else): no number input with bounds, so
0-10 is a single choice of 0..10 and a rank is not asked (a goal's place is its rank); no
repeating group, so there are three goal blocks, the second and third marked optional; no
required flag, so the service checks what is required and answers with a protocol card; no
help text, so the questionnaire's prologue carries the guidance. The review date is asked only
when the cadence is "at the planned review" (``enabled_conditions``), and the words for another
way of saying something is not working only when that way is "another way".
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from progress_plugin import lang
from progress_plugin.core.intake import FIELDS, GOAL_FIELDS, MAX_GOALS, RATING_MAX, RATING_MIN, TITLE
from progress_plugin.core.vocabulary import Tag, Vocabulary, default
from progress_plugin.core.words import N_, Words

INTAKE, SESSION = "pp-intake", "pp-session"
#: Intake fields the Canvas questionnaire leaves out: the date comes from the note's date of
#: service, and the private reflection never goes into a note.
NOT_ASKED = ("goals", "agreed_on", "private_reflection")
YES_NO = (("yes", N_("Yes")), ("no", N_("No")))
SESSION_TITLE = N_("Progress this session")
INTAKE_PROLOGUE = N_("Filled in together, early on; read the questions aloud to the client. Answers are written in "
                     "the client's own words; goal 1 is required. Until both \"agreed\" questions are answered yes, "
                     "it is kept as a draft.")
SESSION_PROLOGUE = N_("Progress is not a straight line: setbacks, stirring up and holding steady count too.")
#: The file each questionnaire ships in, by its base code (other languages add ``_<language>``).
FILES = {INTAKE: "defining_progress_together", SESSION: "progress_this_session"}


def code_of(base: str, language: str) -> str:
    """A questionnaire's code in ``language``: ``pp-intake`` in English, ``pp-intake-hi`` in Hindi."""
    return base if language == lang.DEFAULT_LANGUAGE else f"{base}-{language}"


#: The English questionnaire code for each language's code.
BASES = {code_of(base, language): base for base in FILES for language in lang.LANGUAGES}


def canonical(code: str) -> str:
    """The English question code for a question of any language's questionnaire
    (``pp-intake-hi.g1.words`` gives ``pp-intake.g1.words``); another code comes back as it is."""
    head, dot, rest = code.partition(".")
    return BASES.get(head, head) + dot + rest


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


def _options(words: Words, options) -> tuple[tuple[str, str], ...]:
    return tuple((o.code, words.gettext(o.label)) for o in options)


RATINGS = tuple((str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1))


def goal_questions(language: str = lang.DEFAULT_LANGUAGE) -> list[dict]:
    """Three goals: each one's words, whose it is, and where things are now."""
    words, base = lang.words(language), code_of(INTAKE, language)
    out = []
    text, whose, baseline = (next(f for f in GOAL_FIELDS if f.id == i) for i in ("words", "whose", "baseline"))
    for rank in range(1, MAX_GOALS + 1):
        prefix = f"{base}.g{rank}"
        first = words(N_("Goal {rank}: {question}"), rank=rank, question=words.gettext(text.label)) if rank == 1 \
            else words(N_("Goal {rank} (optional): {question}"), rank=rank, question=words.gettext(text.label))
        out.append(_question(f"{prefix}.words", first, "TXT"))
        out.append(_question(f"{prefix}.whose", words(N_("Goal {rank}: {question}"), rank=rank,
                                                      question=words.gettext(whose.label)),
                             "SING", _options(words, whose.options)))
        out.append(_question(f"{prefix}.baseline", words(N_("Goal {rank}: {question}"), rank=rank,
                                                         question=words.gettext(baseline.label)), "SING", RATINGS))
    return out


def intake_questions(language: str = lang.DEFAULT_LANGUAGE) -> list[dict]:
    """The intake section as Canvas questions, in the section's order (the goals in their place)."""
    words, base = lang.words(language), code_of(INTAKE, language)
    out = []
    for field in FIELDS:
        if field.id == "goals":
            out += goal_questions(language)
            continue
        if field.id in NOT_ASKED:
            continue
        code, label = f"{base}.{field.id}", words.gettext(field.label)
        if field.type == "choice":
            out.append(_question(code, label, "SING", _options(words, field.options)))
            if field.other_allowed:
                out.append(_when(_question(f"{code}_other", words(N_("In your own words")), "TXT"), code, "other"))
        elif field.type == "boolean":
            out.append(_question(code, label, "SING", tuple((c, words(text)) for c, text in YES_NO)))
        elif field.type == "date":
            out.append(_when(_question(code, words(N_("{question} (YYYY-MM-DD)"), question=label), "TXT"),
                             f"{base}.review_cadence", "at-review"))
        else:
            out.append(_question(code, label, "TXT"))
    return out


def tag_label(tag: Tag, language: str, words: Words) -> str:
    """A tag's label in ``language``: the vocabulary's own where it has one, else the catalog's."""
    label_in = getattr(tag, "label_in", None)
    return label_in(language) if callable(label_in) else words.gettext(tag.label)


def session_questions(vocabulary: Vocabulary, language: str = lang.DEFAULT_LANGUAGE) -> list[dict]:
    """A session's progress: tags for the session, and per goal the tag that fits it and a 0-10 rating."""
    words, base = lang.words(language), code_of(SESSION, language)
    tags = tuple((t.code, tag_label(t, language, words)) for t in vocabulary.active())
    out = [_question(f"{base}.tags", words(N_("Progress tags for this session")), "MULT", tags)]
    for rank in range(1, MAX_GOALS + 1):
        out.append(_question(f"{base}.g{rank}.tag", words(N_("Goal {rank}: the tag that fits it today"), rank=rank),
                             "SING", tags))
        out.append(_question(f"{base}.g{rank}.rating",
                             words(N_("Goal {rank}: the client's rating today, 0-10"), rank=rank), "SING", RATINGS))
    return out


def _name(title: str, language: str, words: Words) -> str:
    """A questionnaire's name: English as it always was; another language's with that language's
    name after it, so no two languages' questionnaires share a name, translated or not."""
    if language == lang.DEFAULT_LANGUAGE:
        return title
    return f"{words.gettext(title)} · {lang.NAMES[language]}"


def file_name(base: str, language: str) -> str:
    suffix = "" if language == lang.DEFAULT_LANGUAGE else f"_{language}"
    return f"{FILES[base]}{suffix}.yml"


def questionnaires(vocabulary: Vocabulary | None = None) -> dict[str, dict]:
    """The Canvas questionnaire templates of every language, by file name. Tags come from
    ``vocabulary`` (the default)."""
    vocabulary = vocabulary or default()
    out = {}
    for language in lang.LANGUAGES:
        words = lang.words(language)
        out[file_name(INTAKE, language)] = {
            "name": _name(TITLE, language, words), "form_type": "QUES", "code_system": "INTERNAL",
            "code": code_of(INTAKE, language), "can_originate_in_charting": True,
            "prologue": words(INTAKE_PROLOGUE), "questions": intake_questions(language)}
        out[file_name(SESSION, language)] = {
            "name": _name(SESSION_TITLE, language, words), "form_type": "QUES", "code_system": "INTERNAL",
            "code": code_of(SESSION, language), "can_originate_in_charting": True,
            "prologue": words(SESSION_PROLOGUE), "questions": session_questions(vocabulary, language)}
    return out


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


#: Each question's response type (SING, MULT or TXT), by question code, for every language.
ANSWER_TYPES = {q["code"]: q["responses_type"] for doc in questionnaires().values() for q in doc["questions"]}


if __name__ == "__main__":            # python -m progress_plugin.web.canvas_questionnaires hooks/canvas/questionnaires
    for path in write_questionnaires(sys.argv[1] if len(sys.argv) > 1 else "hooks/canvas/questionnaires"):
        print(path)

"""The client's check-in in FHIR (pure): the "Between sessions" SDC Questionnaire, a check-in as
its QuestionnaireResponse, and as Observations whose ``performer`` is the Patient.

The Questionnaire carries its rules the way the intake's does (see
:mod:`~progress_plugin.fhir.questionnaire`): ``minValue``/``maxValue`` 0-10 and a ``slider``
itemControl on every rating, with its ends as ``lower``/``upper`` display items; the goals group
repeats at most three times (``questionnaire-maxOccurs``), each answer naming its goal by a
reference to the Goal (its identifier: the goals are the client's own, so no goal's words sit in
the Questionnaire); the session check asked only after a session (``enableWhen``); ``meta.profile``,
``language`` and the ``translation`` extension on every text.

Every resource carries an identifier made of the clinic, the client and the check-in id, so a
conditional create writes each once however often the outbox sends it.
"""
from __future__ import annotations

from progress_plugin import lang
from progress_plugin.core.checkin import SCALE_ENDS, SESSION_CHECK, Checkin
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.intake import RATING_MAX, RATING_MIN
from progress_plugin.core.words import N_
from progress_plugin.fhir.questionnaire import (BASE, EXT_MAX_OCCURS, EXT_MAX_VALUE, EXT_MIN_VALUE,
                                                EXT_SLIDER_STEP, LANGUAGE, SDC_PROFILE, _control, _said)

URL = f"{BASE}/Questionnaire/between-sessions"
VERSION = "1.0.0"
CHECKIN_ID_SYSTEM = f"{BASE}/checkin"
SESSION_CHECK_ID_SYSTEM = f"{BASE}/session-check"
MEASURES = f"{BASE}/CodeSystem/progress-measures"
EXT_REFERENCE_RESOURCE = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"
#: The session check's codes in the plugin's progress-measures CodeSystem.
CHECK_CODES = {
    "heard": ("session-check-heard", "Session check: felt heard and understood, 0-10"),
    "mattered": ("session-check-mattered", "Session check: worked on what matters to the client, 0-10"),
    "fits": ("session-check-fits", "Session check: the way of working suits the client, 0-10"),
    "overall": ("session-check-overall", "Session check: the session overall, 0-10"),
}
SURVEY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}

TITLE = N_("Between sessions")
GOALS_TEXT = N_("Your goals")
GOAL_TEXT = N_("Which goal")
RATING_TEXT = N_("Where are things now?")
HAD_SESSION_TEXT = N_("Have you had a session since your last check-in?")
CHECK_TEXT = N_("About the last session")
REVISIT_TEXT = N_("I'd like us to look at what progress means next time.")
DESCRIPTION = ("The client's own check-in between sessions, on their phone: where things are now on each of their "
               "goals (0-10, each may be skipped), a short check on the last session in the plugin's own words "
               "(each 0-10), and whether they would like to look at what progress means next time. No free text.")


def questionnaire() -> dict:
    """The "Between sessions" Questionnaire, with a canonical url and version."""
    others = tuple((code, lang.words(code)) for code in lang.LANGUAGES if code != LANGUAGE)
    check = [_rating(f"session_check.{code}", label, others) for code, label in SESSION_CHECK]
    return {
        "resourceType": "Questionnaire",
        "id": "between-sessions",
        "meta": {"profile": [SDC_PROFILE]},
        "language": LANGUAGE,
        "url": URL,
        "version": VERSION,
        "name": "BetweenSessions",
        **_said("title", TITLE, others),
        "status": "active",
        "subjectType": ["Patient"],
        "description": DESCRIPTION,
        "item": [
            {"linkId": "goals", **_said("text", GOALS_TEXT, others), "type": "group", "repeats": True,
             "required": False, "extension": [{"url": EXT_MAX_OCCURS, "valueInteger": 3}],
             "item": [{"linkId": "goals.goal", **_said("text", GOAL_TEXT, others), "type": "reference",
                       "required": True, "readOnly": True,
                       "extension": [{"url": EXT_REFERENCE_RESOURCE, "valueCode": "Goal"}]},
                      _rating("goals.rating", RATING_TEXT, others)]},
            {"linkId": "had_session", **_said("text", HAD_SESSION_TEXT, others), "type": "boolean",
             "required": False},
            {"linkId": "session_check", **_said("text", CHECK_TEXT, others), "type": "group", "required": False,
             "enableWhen": [{"question": "had_session", "operator": "=", "answerBoolean": True}],
             "item": check},
            {"linkId": "revisit", **_said("text", REVISIT_TEXT, others), "type": "boolean", "required": False},
        ],
    }


def _rating(link: str, text: str, others) -> dict:
    """A 0-10 slider that may be skipped, with its two ends as display items."""
    ends = [{"linkId": f"{link}.{side}", **_said("text", label, others), "type": "display",
             "extension": [_control(side)]} for side, label in zip(("lower", "upper"), SCALE_ENDS)]
    return {"linkId": link, **_said("text", text, others), "type": "integer", "required": False,
            "extension": [{"url": EXT_MIN_VALUE, "valueInteger": RATING_MIN},
                          {"url": EXT_MAX_VALUE, "valueInteger": RATING_MAX},
                          _control("slider"), {"url": EXT_SLIDER_STEP, "valueInteger": 1}],
            "item": ends}


def checkin_identifier(clinic_id: str, client_id: str, checkin_id: str) -> dict:
    return {"system": CHECKIN_ID_SYSTEM, "value": f"{clinic_id}/{client_id}/{checkin_id}"}


def response(clinic_id: str, client_id: str, checkin: Checkin, goal_identifier) -> dict:
    """The check-in as a QuestionnaireResponse to "Between sessions", authored by the Patient."""
    patient = {"reference": f"Patient/{client_id}"}
    items = [{"linkId": "goals", "item": [
        {"linkId": "goals.goal", "answer": [{"valueReference": {
            "type": "Goal", "identifier": goal_identifier(clinic_id, client_id, r.goal_id)}}]},
        {"linkId": "goals.rating", "answer": [{"valueInteger": r.value}]}]}
        for r in checkin.ratings if r.value is not None]
    answered = {k: v for k, v in (checkin.session_check.values() if checkin.session_check else {}).items()
                if v is not None}
    items.append({"linkId": "had_session", "answer": [{"valueBoolean": bool(answered)}]})
    if answered:
        items.append({"linkId": "session_check", "item": [
            {"linkId": f"session_check.{k}", "answer": [{"valueInteger": v}]} for k, v in answered.items()]})
    items.append({"linkId": "revisit", "answer": [{"valueBoolean": checkin.revisit}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": checkin_identifier(clinic_id, client_id, checkin.checkin_id),
        "questionnaire": f"{URL}|{VERSION}",
        "status": "completed",
        "subject": patient,
        "authored": as_datetime(checkin.at).isoformat(),
        "author": patient,
        "source": patient,
        "item": items,
    }


def check_observations(clinic_id: str, client_id: str, checkin: Checkin) -> list[tuple[str, dict]]:
    """``(item, Observation)`` for each answered item of the session check, performed by the Patient
    and derived from the check-in's QuestionnaireResponse."""
    if checkin.session_check is None:
        return []
    out = []
    for item, value in checkin.session_check.values().items():
        if value is None:
            continue
        code, display = CHECK_CODES[item]
        out.append((item, {
            "resourceType": "Observation",
            "identifier": [{"system": SESSION_CHECK_ID_SYSTEM,
                            "value": f"{clinic_id}/{client_id}/{checkin.checkin_id}/{item}"}],
            "status": "final",
            "category": [SURVEY],
            "code": {"coding": [{"system": MEASURES, "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{client_id}"},
            "effectiveDateTime": as_datetime(checkin.at).isoformat(),
            "performer": [{"reference": f"Patient/{client_id}"}],
            "valueInteger": value,
            "derivedFrom": [derived_from(clinic_id, client_id, checkin.checkin_id)],
        }))
    return out


def derived_from(clinic_id: str, client_id: str, checkin_id: str) -> dict:
    """A reference to the check-in's QuestionnaireResponse, by its identifier."""
    return {"type": "QuestionnaireResponse", "identifier": checkin_identifier(clinic_id, client_id, checkin_id)}

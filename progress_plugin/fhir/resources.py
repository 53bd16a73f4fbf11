"""FHIR R4 shapes of the plugin's concepts (pure): the intake Questionnaire (built in
:mod:`~progress_plugin.fhir.questionnaire`), the vocabulary as CodeSystem and ValueSet, and the
write-back resources (Goal, Observation, note tags)."""
from __future__ import annotations

from progress_plugin.core import intake as intake_mod
from progress_plugin.core.dates import as_datetime
from progress_plugin.core.intake import Goal
from progress_plugin.core.notes import Rating
from progress_plugin.core.vocabulary import SYSTEM, Vocabulary
from progress_plugin.fhir import between_sessions
from progress_plugin.fhir.designations import with_designations
# The intake's Questionnaire (SDC) lives in its own module; its names are part of this one's.
from progress_plugin.fhir.questionnaire import (BASE, EXT_ANSWERED_BY, EXT_THERAPIST_ONLY,  # noqa: F401
                                                option_system, other_link, questionnaire)

VALUESET_URL = f"{BASE}/ValueSet/progress-tags"
GOAL_ID_SYSTEM = f"{BASE}/goal"
RATING_ID_SYSTEM = f"{BASE}/rating"
RATING_CODE = {"system": f"{BASE}/CodeSystem/progress-measures", "code": "goal-rating",
               "display": "Goal rating, 0-10, in the client's own terms"}
GAS_CODE = {"system": f"{BASE}/CodeSystem/progress-measures", "code": "goal-attainment-level",
            "display": "Goal attainment level, -2 to +2"}
ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"


def codesystem(vocabulary: Vocabulary) -> dict:
    """The vocabulary as a CodeSystem. Retired codes stay, with status ``retired``. A tag's label and
    description in another language are the concept's ``designation``s in that ``language``."""
    return {
        "resourceType": "CodeSystem",
        "id": "progress-tags",
        "url": SYSTEM,
        "version": str(vocabulary.version),
        "name": "ProgressTags",
        "title": "Progress tags",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "valueSet": f"{VALUESET_URL}|{vocabulary.version}",
        "property": [
            {"code": "category", "type": "code", "description": "Movement, awareness, action, relationship, ..."},
            {"code": "direction", "type": "code", "description": "toward, steady, mixed, away or none"},
            {"code": "audience", "type": "code", "description": "all, or therapist (therapist-only)"},
            {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code",
             "description": "active or retired"},
            {"code": "role", "type": "code",
             "description": "What the logic does with the tag: review (resets the review clock), strain (open "
                            "until a repair) or repair; absent when the tag has no role"},
        ],
        "concept": [with_designations({
            "code": tag.code, "display": tag.label, "definition": tag.description or tag.label,
            "property": [{"code": "category", "valueCode": tag.category},
                         {"code": "direction", "valueCode": tag.direction},
                         {"code": "audience", "valueCode": tag.audience},
                         {"code": "status", "valueCode": tag.status}]
                        + ([{"code": "role", "valueCode": tag.role}] if tag.role else []),
        }, tag) for tag in vocabulary.tags],
    }


def valueset(vocabulary: Vocabulary) -> dict:
    """The tags that may be applied now: the active codes of this version, each with its labels in
    other languages as ``designation``s (display use)."""
    return {
        "resourceType": "ValueSet",
        "id": "progress-tags",
        "url": VALUESET_URL,
        "version": str(vocabulary.version),
        "name": "ActiveProgressTags",
        "title": "Progress tags that can be applied",
        "status": "active",
        "compose": {"include": [{
            "system": SYSTEM, "version": str(vocabulary.version),
            "concept": [with_designations({"code": t.code, "display": t.label}, t, definitions=False)
                        for t in vocabulary.active()],
        }]},
    }


def vocabulary_bundle(vocabulary: Vocabulary) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"{SYSTEM}|{vocabulary.version}", "resource": codesystem(vocabulary)},
                      {"fullUrl": f"{VALUESET_URL}|{vocabulary.version}", "resource": valueset(vocabulary)}]}


# -- write-back resources -------------------------------------------------------------------
def goal_identifier(clinic_id: str, client_id: str, goal_id: str) -> dict:
    return {"system": GOAL_ID_SYSTEM, "value": f"{clinic_id}/{client_id}/{goal_id}"}


def goal_resource(clinic_id: str, client_id: str, goal: Goal, achievement: str | None = None) -> dict:
    lifecycle = {"active": "active", "dropped": "cancelled", "replaced": "cancelled",
                 "completed": "completed"}[goal.status]
    res = {
        "resourceType": "Goal",
        "identifier": [goal_identifier(clinic_id, client_id, goal.id)],
        "lifecycleStatus": lifecycle,
        "description": {"text": goal.words},
        "subject": {"reference": f"Patient/{client_id}"},
        "priority": {"text": f"rank {goal.rank}"},
    }
    if goal.whose == "client":
        res["expressedBy"] = {"reference": f"Patient/{client_id}"}
    if goal.status == "replaced" and goal.replaced_by:      # a redefinition: ratings stay on this Goal
        res["note"] = [{"text": "Progress was redefined: this goal was replaced by a new goal, "
                                f"{goal_identifier(clinic_id, client_id, goal.replaced_by)['value']}."}]
    elif goal.replaces:
        res["note"] = [{"text": "Progress was redefined: this goal replaces an earlier goal, "
                                f"{goal_identifier(clinic_id, client_id, goal.replaces)['value']}."}]
    if achievement:
        res["achievementStatus"] = {"coding": [{"system": ACHIEVEMENT_SYSTEM, "code": achievement}]}
    return res


def observation_resource(clinic_id: str, client_id: str, rating: Rating) -> dict:
    source = rating.note_id or "baseline"
    res = {
        "resourceType": "Observation",
        "identifier": [{"system": RATING_ID_SYSTEM,
                        "value": f"{clinic_id}/{client_id}/{rating.goal_id}/{source}/{rating.rater}"}],
        "status": "final",
        "code": {"coding": [RATING_CODE]},
        "subject": {"reference": f"Patient/{client_id}"},
        "focus": [{"identifier": goal_identifier(clinic_id, client_id, rating.goal_id)}],
        "performer": [{"reference": f"Patient/{client_id}"}] if rating.rater == "client" else [],
    }
    if rating.at is not None:
        res["effectiveDateTime"] = as_datetime(rating.at).isoformat()
    if rating.value is not None:
        res["valueInteger"] = rating.value
    if rating.level is not None:
        res["component"] = [{"code": {"coding": [GAS_CODE]}, "valueInteger": rating.level}]
    if rating.note_id and rating.source == "self":     # the client's own check-in: its QuestionnaireResponse
        res["category"] = [between_sessions.SURVEY]
        res["derivedFrom"] = [between_sessions.derived_from(clinic_id, client_id, rating.note_id)]
    elif rating.note_id:
        res["derivedFrom"] = [{"reference": f"DocumentReference/{rating.note_id}"}]
    if not res["performer"]:
        del res["performer"]
    return res


def tag_codings(vocabulary_by_version: dict[int, Vocabulary], tags) -> list[dict]:
    """``meta.tag`` Codings for the tags applied to a note."""
    out = []
    for applied in tags:
        vocab = vocabulary_by_version.get(applied.vocabulary_version)
        tag = vocab.get(applied.code) if vocab else None
        coding = {"system": SYSTEM, "code": applied.code, "version": str(applied.vocabulary_version)}
        if tag is not None:
            coding["display"] = tag.label
        out.append(coding)
    return out


INTAKE_ID_SYSTEM = f"{BASE}/intake"
FLAG_ID_SYSTEM = f"{BASE}/review-due"
VOCABULARY_ID_SYSTEM = f"{BASE}/vocabulary"


def questionnaire_response(clinic_id: str, client_id: str, intake, author: str, at) -> dict:
    """The filled intake. Therapist-only answers (the private reflection) are never exported.
    A draft (not yet agreed) is ``in-progress``; an agreed one ``completed``."""
    items = []
    for g in intake.goals:
        goal_items = [{"linkId": "goals.words", "answer": [{"valueString": g.words}]},
                      {"linkId": "goals.whose", "answer": [{"valueCoding": {"system": option_system("whose"),
                                                                             "code": g.whose}}]},
                      {"linkId": "goals.baseline", "answer": [{"valueInteger": g.baseline}]},
                      {"linkId": "goals.rank", "answer": [{"valueInteger": g.rank}]}]
        items.append({"linkId": "goals", "item": goal_items})
    answers = intake.shareable_answers()
    followups = {other_link(f.id): f.id for f in intake_mod.FIELDS if f.other_allowed}
    for key, value in answers.items():
        if followups.get(key) in answers:        # asked under its choice: nested in that answer
            continue
        if isinstance(value, bool):
            answer = {"valueBoolean": value}
        elif key in ("holding_steady_counts", "saying_not_working"):
            answer = {"valueCoding": {"system": option_system(key), "code": value}}
        else:
            answer = {"valueString": str(value)}
        if other_link(key) in answers:
            answer["item"] = [{"linkId": other_link(key), "answer": [{"valueString": str(answers[other_link(key)])}]}]
        items.append({"linkId": key, "answer": [answer]})
    items.append({"linkId": "review_cadence", "answer": [{"valueCoding": {
        "system": option_system("review_cadence"), "code": intake.review_cadence}}]})
    if intake.review_date:
        items.append({"linkId": "review_date", "answer": [{"valueDate": intake.review_date.isoformat()}]})
    items.append({"linkId": "agreed", "answer": [{"valueBoolean": intake.agreed}]})
    items.append({"linkId": "agreed_on", "answer": [{"valueDate": intake.agreed_on.isoformat()}]})
    items.append({"linkId": "goals_reviewed", "answer": [{"valueBoolean": intake.goals_reviewed}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": INTAKE_ID_SYSTEM, "value": f"{clinic_id}/{client_id}/{intake.intake_id}"},
        "questionnaire": f"{intake_mod.SECTION_URL}|{intake.definition_version}",
        "status": "completed" if intake.is_agreed else "in-progress",     # a draft is not yet agreed
        "subject": {"reference": f"Patient/{client_id}"},
        "authored": as_datetime(at).isoformat(),
        "author": {"identifier": {"system": f"{BASE}/author", "value": author}},
        "item": items,
    }


def review_flag(clinic_id: str, client_id: str, last_reviewed, cadence: str) -> dict:
    return {
        "resourceType": "Flag",
        "identifier": [{"system": FLAG_ID_SYSTEM, "value": f"{clinic_id}/{client_id}"}],
        "status": "active",
        "category": [{"text": "Progress review"}],
        "code": {"text": "Time to look together at what progress means"},
        "subject": {"reference": f"Patient/{client_id}"},
        "period": {"start": as_datetime(last_reviewed).isoformat()},
        "extension": [{"url": f"{BASE}/StructureDefinition/review-cadence", "valueCode": cadence}],
    }


def identified(resource: dict, clinic_id: str, kind: str) -> dict:
    """A copy of a terminology resource carrying a per-clinic identifier, for upserts."""
    return {**resource, "identifier": [{"system": VOCABULARY_ID_SYSTEM, "value": f"{clinic_id}/{kind}"}]}

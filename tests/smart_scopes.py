"""SMART scopes for the EHR stand-in (tests/smart_ehr.py): what to grant, and what a token may do.

Granting. A requested scope is granted when the client is allowed it. A resource scope
(``patient/Goal.cruds``, ``user/*.rs``, v1 ``patient/Goal.write``) asked for with more
permissions than allowed is granted with the permissions both name (asked ``patient/Goal.cruds``,
allowed ``patient/Goal.rs``: granted ``patient/Goal.rs``), as SMART 2.x lets a server do.

Deciding. A request to the FHIR proxy is one interaction (c, r, u, d, s) on one resource type.
It is allowed when a granted scope names the type (or ``*``) with that letter (v1: ``read`` = r s,
``write`` = c u d, ``*`` = all). A ``user/`` or ``system/`` scope allows it on any resource; a
``patient/`` scope only inside the launch's patient compartment, which the proxy then checks.
Canonical resources that are not patient data (Questionnaire, ValueSet, CodeSystem, and the
Practitioner the user is) may be read and searched with any valid token, as most EHRs allow;
writing them needs a scope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

LETTERS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
SCOPE_RE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")
#: Read and searched with any valid token (not patient data).
OPEN_TYPES = frozenset({"Questionnaire", "ValueSet", "CodeSystem", "Practitioner", "PractitionerRole",
                        "Organization", "Location"})
#: Where a resource names its patient, by type; any other type is looked up at ``subject`` then ``patient``.
PATIENT_FIELDS = {"Patient": None, "Goal": "subject", "Observation": "subject", "QuestionnaireResponse": "subject",
                  "DocumentReference": "subject", "Encounter": "subject", "Condition": "subject",
                  "AllergyIntolerance": "patient", "Immunization": "patient", "Coverage": "beneficiary"}
#: Search parameters that constrain a search to one patient.
PATIENT_PARAMS = ("patient", "subject", "beneficiary")


@dataclass(frozen=True)
class Scope:
    context: str          # patient | user | system
    type: str             # a resource type or "*"
    letters: str          # a subset of "cruds", in that order
    version: str          # v1 | v2

    def text(self) -> str:
        if self.version == "v1":
            name = next((k for k, v in V1.items() if v == self.letters), "read")
            return f"{self.context}/{self.type}.{name}"
        return f"{self.context}/{self.type}.{self.letters}"


def parse(scope: str) -> Scope | None:
    """A resource scope, or None for anything else (``openid``, ``launch``, a scope with a query)."""
    m = SCOPE_RE.match(scope)
    if not m or m.group(4):
        return None
    context, kind, perms = m.group(1), m.group(2), m.group(3)
    if perms in V1:
        return Scope(context, kind, V1[perms], "v1")
    if perms and all(c in LETTERS for c in perms) and list(perms) == sorted(set(perms), key=LETTERS.index):
        return Scope(context, kind, perms, "v2")
    return None


def grant(requested: str | None, allowed: list[str]) -> str:
    """The scopes to grant for ``requested``, in the order asked (see the module's docstring)."""
    out: list[str] = []
    for want in (requested or "").split():
        if want in allowed:
            out.append(want)
            continue
        asked = parse(want)
        if asked is None:
            continue
        for have in map(parse, allowed):
            if have and (have.context, have.type, have.version) == (asked.context, asked.type, asked.version):
                letters = "".join(c for c in LETTERS if c in asked.letters and c in have.letters)
                if letters and (asked.version == "v2" or letters in V1.values()):
                    out.append(Scope(asked.context, asked.type, letters, asked.version).text())
                break
    return " ".join(dict.fromkeys(out))


def decide(scopes: str, kind: str, letter: str) -> str | None:
    """``"any"`` (a user/system scope allows it), ``"patient"`` (allowed in the patient's compartment
    only), ``"open"`` (a canonical read), or None (no scope allows it)."""
    parsed = [s for s in map(parse, scopes.split()) if s and s.type in (kind, "*") and letter in s.letters]
    if any(s.context in ("user", "system") for s in parsed):
        return "any"
    if parsed:
        return "patient"
    if kind in OPEN_TYPES and letter in "rs":
        return "open"
    return None


def patient_of(resource: dict) -> str | None:
    """The id of the patient ``resource`` belongs to (``Patient/<id>`` references; a Patient is its own)."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        return resource.get("id")
    for name in ([PATIENT_FIELDS[kind]] if PATIENT_FIELDS.get(kind) else ["subject", "patient"]):
        ref = resource.get(name)
        ref = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(ref, str) and "Patient/" in ref:
            return ref.rsplit("Patient/", 1)[1].split("/")[0] or None
    return None


def search_patient(kind: str, params: dict[str, list[str]]) -> str | None | bool:
    """The patient a search is constrained to; False when it names several or none."""
    names = ("_id",) if kind == "Patient" else PATIENT_PARAMS
    values = [v for name in names for raw in params.get(name, []) for v in raw.split(",")]
    ids = {v.rsplit("Patient/", 1)[-1] for v in values}
    return ids.pop() if len(ids) == 1 else False

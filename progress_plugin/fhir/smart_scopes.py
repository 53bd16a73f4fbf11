"""The SMART scopes the app asks for: only what its pages use, within what the EHR granted at
registration, in the scope syntax the EHR speaks (SMART v2 ``patient/Goal.crus``, or v1
``patient/Goal.read patient/Goal.write``).

What the app does with each resource type (in the launch's patient compartment):

- ``Patient``: read (the banner, and to know the launch is for this patient) -> ``rs``;
- ``Goal``, ``Observation``, ``QuestionnaireResponse``: read, search by identifier, conditional
  create and update -> ``crus`` (never delete);
- ``DocumentReference``: read the note of ``fhirContext`` and add ``meta.tag`` to it (``$meta-add``
  or a guarded JSON Patch, both updates) -> ``rus``;
- ``Questionnaire`` (the intake definition, not in a patient's compartment): ``user/Questionnaire.rs``,
  asked only when the EHR's registration lists a scope covering it.

Plus ``launch`` (EHR launch) or ``launch/patient`` (standalone), ``openid fhirUser`` (who launched)
and ``online_access`` (a refresh token while the user is online).

Configured scopes *cover* a wanted one when, together, those of the same context and resource type
(or ``*``) give at least its permissions; v1 ``read`` counts as ``rs``, ``write`` as ``cud`` and
``*`` as ``cruds``. Pure functions, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: (scope, always asked when the EHR's registration lists no scopes)
WANTED_V2: tuple[tuple[str, bool], ...] = (
    ("openid", True), ("fhirUser", True), ("online_access", True),
    ("patient/Patient.rs", True), ("patient/Goal.crus", True), ("patient/Observation.crus", True),
    ("patient/QuestionnaireResponse.crus", True), ("patient/DocumentReference.rus", True),
    ("user/Questionnaire.rs", False),
)
EHR_LAUNCH = "launch"
STANDALONE_LAUNCH = "launch/patient"
LETTERS = "cruds"
V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}

_RESOURCE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")


@dataclass(frozen=True)
class ResourceScope:
    context: str          # patient | user | system
    resource: str         # a FHIR type, or *
    letters: str          # a subset of "cruds", in that order

    def v2(self) -> str:
        return f"{self.context}/{self.resource}.{self.letters}"

    def v1(self) -> list[str]:
        out = []
        if set(self.letters) & set("rs"):
            out.append(f"{self.context}/{self.resource}.read")
        if set(self.letters) & set("cud"):
            out.append(f"{self.context}/{self.resource}.write")
        return out


def parse(scope: str) -> ResourceScope | None:
    """A resource scope (v1 or v2) as its context, type and permission letters; None for any other scope."""
    m = _RESOURCE.match(scope)
    if not m or m.group(4):               # a v2 scope with a query (``?category=``) narrows: not relied on
        return None
    context, resource, perms = m.group(1), m.group(2), m.group(3)
    if perms in V1_LETTERS:
        return ResourceScope(context, resource, V1_LETTERS[perms])
    if perms and set(perms) <= set(LETTERS) and "".join(c for c in LETTERS if c in perms) == perms:
        return ResourceScope(context, resource, perms)
    return None


def covered(wanted: str, granted) -> bool:
    """Whether ``granted`` covers ``wanted``: it holds it, or its resource scopes give its permissions."""
    if wanted in granted:
        return True
    w = parse(wanted)
    if w is None:
        return False
    letters = set()
    for g in map(parse, granted):
        if g is not None and g.context == w.context and g.resource in ("*", w.resource):
            letters |= set(g.letters)
    return set(w.letters) <= letters


def requested(configured, version: str = "v2", standalone: bool = False) -> list[str]:
    """The scopes to ask for: the app's wanted ones that ``configured`` (the EHR's registration)
    covers, or the always-asked ones when nothing is configured; in ``version``'s syntax."""
    configured = list(configured)
    out = [STANDALONE_LAUNCH if standalone else EHR_LAUNCH]       # always: without it there is no context
    for scope, always in WANTED_V2:
        take = covered(scope, configured) if configured else always
        if not take:
            continue
        resource = parse(scope)
        if resource is None:
            out.append(scope)
        elif version == "v1":
            out.extend(s for s in resource.v1() if not configured or covered(s, configured))
        else:
            out.append(resource.v2())
    return list(dict.fromkeys(out))


def uncovered(configured, supported) -> list[str]:
    """The configured scopes no scope of ``supported`` covers (for ``progress-plugin check``)."""
    return [s for s in configured if not covered(s, supported)]

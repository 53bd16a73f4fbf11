"""The intake section "Defining progress together", as versioned data a host can render.

Each field says who answers (``client`` words or ``therapist``), whether it is required
and whether it is therapist-only. Therapist-only fields never leave the therapist's view.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SECTION_ID = "defining-progress-together"
SECTION_VERSION = "1.0.0"
SECTION_URL = "https://progress-plugin.org/fhir/Questionnaire/defining-progress-together"
TITLE = "Defining progress together"

MAX_GOALS = 3
RATING_MIN, RATING_MAX = 0, 10
GAS_LEVELS = (-2, -1, 0, 1, 2)

WHOSE = ("client", "carer", "therapist")
HOLDING_STEADY = ("yes", "no", "unsure")
SAYING_NOT_WORKING = ("tell-in-session", "write-it-down", "rating-scale", "through-someone-else", "other")
CADENCES = ("every-session", "every-4-sessions", "monthly", "at-review")


@dataclass(frozen=True)
class Option:
    code: str
    label: str


@dataclass(frozen=True)
class Field:
    id: str
    type: str                     # text | choice | boolean | date | goals | integer
    label: str
    help: str = ""
    required: bool = False
    answered_by: str = "client"   # client (client's own words) | therapist | together
    therapist_only: bool = False
    options: tuple[Option, ...] = ()
    other_allowed: bool = False
    children: tuple["Field", ...] = ()
    min: int | None = None
    max: int | None = None
    repeats: int | None = None

    def as_dict(self) -> dict:
        data = {
            "id": self.id, "type": self.type, "label": self.label, "help": self.help,
            "required": self.required, "answered_by": self.answered_by,
            "therapist_only": self.therapist_only,
        }
        if self.options:
            data["options"] = [{"code": o.code, "label": o.label} for o in self.options]
            data["other_allowed"] = self.other_allowed
        if self.children:
            data["fields"] = [c.as_dict() for c in self.children]
        if self.min is not None:
            data["min"], data["max"] = self.min, self.max
        if self.repeats is not None:
            data["max_repeats"] = self.repeats
        return data


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(code, label) for code, label in pairs)


GOAL_FIELDS = (
    Field("words", "text", "The goal, in the client's own words",
          "Write it as the client says it; do not translate it into clinical language.",
          required=True, answered_by="client"),
    Field("whose", "choice", "Whose goal is this?", "Say whose hope this is.",
          required=True, answered_by="together",
          options=_opts(("client", "The client's"), ("carer", "A carer's or family member's"),
                        ("therapist", "The therapist's"))),
    Field("baseline", "integer", "Where are things now, 0-10?",
          "0 is as far from the goal as it could be, 10 is the goal fully reached.",
          required=True, answered_by="client", min=RATING_MIN, max=RATING_MAX),
    Field("rank", "integer", "Rank", "1 is the goal that matters most right now.",
          answered_by="together", min=1, max=MAX_GOALS),
    Field("gas_levels", "gas", "Goal attainment levels (optional)",
          "What -2 (much less than hoped) to +2 (much more than hoped) would look like; 0 is the expected outcome.",
          answered_by="together"),
    Field("weight", "integer", "Weight (optional, with attainment levels)",
          "How much this goal counts in the attainment score, 1-10.", answered_by="together", min=1, max=10),
)

FIELDS = (
    Field("goals", "goals", "Up to three goals, in the client's words",
          "Goal 1 is required. Rate each 0-10 where things are now.",
          required=True, answered_by="client", children=GOAL_FIELDS, repeats=MAX_GOALS),
    Field("better_looks_like", "text", "What would \"better\" look like, day to day?",
          "Ordinary moments: what would someone notice first?", answered_by="client"),
    Field("small_shift", "text", "A small shift that would already feel meaningful",
          "Something small enough to notice next week.", answered_by="client"),
    Field("holding_steady_counts", "choice", "Would holding steady count as progress right now?",
          "Sometimes not getting worse is the change.", answered_by="client",
          options=_opts(("yes", "Yes"), ("no", "No"), ("unsure", "Not sure"))),
    Field("if_stirred_up", "text", "If therapy stirs things up before they settle, what would help?",
          "Harder feelings can surface before things ease.", answered_by="client"),
    Field("saying_not_working", "choice", "How would you prefer to say when something isn't working?",
          "There is no wrong way; pick what feels easiest.", answered_by="client",
          options=_opts(("tell-in-session", "Tell the therapist in the session"),
                        ("write-it-down", "Write it down and bring it"),
                        ("rating-scale", "Use the 0-10 ratings"),
                        ("through-someone-else", "Through someone I trust"),
                        ("other", "Another way")), other_allowed=True),
    Field("review_cadence", "choice", "How often shall we look at this together?",
          "You can change this at any review.", required=True, answered_by="together",
          options=_opts(("every-session", "Every session"), ("every-4-sessions", "Every 4 sessions"),
                        ("monthly", "Monthly"), ("at-review", "At the planned review"))),
    Field("review_date", "date", "Planned review date",
          "Needed when looking at it together 'at the planned review'.", answered_by="together"),
    Field("therapist_view", "text", "What progress looks like from the therapist's chair",
          "Your view, shared with the client.", answered_by="therapist"),
    Field("agreed", "boolean", "We agreed this together", "", required=True, answered_by="together"),
    Field("agreed_on", "date", "Date agreed", "", required=True, answered_by="together"),
    Field("goals_reviewed", "boolean",
          "The goals were reviewed as safe, realistic and owned by the client", "",
          required=True, answered_by="therapist"),
    Field("private_reflection", "text", "Private reflection (therapist only)",
          "For example a pull to \"fix\". Never shown to the client, never exported.",
          answered_by="therapist", therapist_only=True),
)

THERAPIST_ONLY = frozenset(f.id for f in FIELDS if f.therapist_only)


def definition() -> dict:
    """The section definition as plain data, ready for a host to render."""
    return {
        "id": SECTION_ID,
        "version": SECTION_VERSION,
        "url": SECTION_URL,
        "title": TITLE,
        "fields": [f.as_dict() for f in FIELDS],
    }


@dataclass(frozen=True)
class Goal:
    """One goal, in the client's words. ``id`` is stable per client (``g1``..``g3`` by default)."""

    id: str
    words: str
    whose: str
    baseline: int
    rank: int
    gas_levels: dict[int, str] | None = None
    weight: int | None = None
    status: str = "active"   # active | achieved | dropped (on redefinition)


@dataclass(frozen=True)
class Intake:
    """A filled-in section for one client."""

    intake_id: str
    goals: tuple[Goal, ...]
    review_cadence: str
    agreed: bool
    agreed_on: object              # datetime.date
    goals_reviewed: bool
    answers: dict = field(default_factory=dict)   # the free-text and choice answers
    review_date: object | None = None
    definition_version: str = SECTION_VERSION

    def goal(self, goal_id: str) -> Goal | None:
        return next((g for g in self.goals if g.id == goal_id), None)

    def shareable_answers(self) -> dict:
        """Answers without therapist-only fields: what client-facing output may show."""
        return {k: v for k, v in self.answers.items() if k not in THERAPIST_ONLY}

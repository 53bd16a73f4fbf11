"""The intake section "Defining progress together", as versioned data a host can render.

Each field says who answers (``client``: the client's own words; ``therapist``; or ``together``
for a choice made together), whether it is required and whether it is therapist-only.
Therapist-only fields never leave the therapist's view.

An intake counts as agreed only when ``agreed`` and ``goals_reviewed`` are both true;
otherwise it is kept as a draft. Answers to an earlier version of the section stay readable:
:func:`upgrade_answers` maps them onto the current one.

Every title, label, help text and option label is marked for the message catalogs (``N_``) and
said in a language by :func:`definition`'s ``words``; ids and codes never change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from progress_plugin.core.words import ENGLISH, N_, Words

SECTION_ID = "defining-progress-together"
SECTION_VERSION = "2.0.0"
SECTION_URL = "https://progress-plugin.org/fhir/Questionnaire/defining-progress-together"
TITLE = N_("Defining progress together")

MAX_GOALS = 3
RATING_MIN, RATING_MAX = 0, 10

WHOSE = ("client", "carer", "therapist")
HOLDING_STEADY = ("yes", "no", "unsure")
SAYING_NOT_WORKING = ("tell-in-session", "write-it-down", "rating-scale", "through-someone-else", "other")
CADENCES = ("every-session", "every-4-sessions", "monthly", "at-review")
#: The follow-up to a choice with ``other_allowed``, when "other" is picked (answer id ``<field id>_other``).
OTHER_LABEL = N_("Which other way would suit you?")


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
    #: Asked only when another field has this answer: ``(field id, option code)``.
    enable_when: tuple[str, str] | None = None

    def as_dict(self, words: Words = ENGLISH) -> dict:
        """The field as plain data, every label and help text said by ``words``."""
        data = {
            "id": self.id, "type": self.type, "label": words(self.label),
            "help": words(self.help) if self.help else "",
            "required": self.required, "answered_by": self.answered_by,
            "therapist_only": self.therapist_only,
        }
        if self.options:
            data["options"] = [{"code": o.code, "label": words(o.label)} for o in self.options]
            data["other_allowed"] = self.other_allowed
        if self.children:
            data["fields"] = [c.as_dict(words) for c in self.children]
        if self.min is not None:
            data["min"], data["max"] = self.min, self.max
        if self.repeats is not None:
            data["max_repeats"] = self.repeats
        return data


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(code, label) for code, label in pairs)


GOAL_FIELDS = (
    Field("words", "text", N_("In your own words, what is this goal?"),
          N_("Write it as the client says it; do not translate it into clinical language."),
          required=True, answered_by="client"),
    Field("whose", "choice", N_("Whose hope is this: yours, someone close to you, or mine?"),
          N_("Carers and family can have goals too; say whose this one is."),
          required=True, answered_by="together",
          options=_opts(("client", N_("The client's")), ("carer", N_("A carer's or family member's")),
                        ("therapist", N_("The therapist's")))),
    Field("baseline", "integer", N_("Where are things now, from 0 to 10?"),
          N_("0 is as far from the goal as it could be, 10 is the goal fully reached. The client's number."),
          required=True, answered_by="client", min=RATING_MIN, max=RATING_MAX),
    Field("rank", "integer", N_("Which of these matters most to you right now?"),
          N_("Rank 1 is the goal that matters most."), answered_by="together", min=1, max=MAX_GOALS),
)

#: The section in the order of the conversation: what the client hopes for, what "better"
#: looks like, the small shifts, then the goals. Labels are read aloud to the client ("you");
#: the help is a short hint for the therapist.
FIELDS = (
    Field("hopes", "text", N_("What do you hope to get from coming here?"),
          N_("Write the answer in the client's own words; a few words are enough."), answered_by="client"),
    Field("better_looks_like", "text",
          N_("If things were better for you, what would that look like day to day?"),
          N_("Ask for ordinary moments: what would the client, or someone close, notice first?"),
          answered_by="client"),
    Field("small_shift", "text", N_("What small change would already feel meaningful to you?"),
          N_("Something small enough to notice within a week or two."), answered_by="client"),
    Field("goals", "goals", N_("What would you like to work on? Up to three goals, in your own words."),
          N_("Goal 1 is required. For each, ask where things are now, 0-10."),
          required=True, answered_by="client", children=GOAL_FIELDS, repeats=MAX_GOALS),
    Field("holding_steady_counts", "choice", N_("Right now, would holding steady count as progress for you?"),
          N_("Sometimes not getting worse is the change."), answered_by="client",
          options=_opts(("yes", N_("Yes")), ("no", N_("No")), ("unsure", N_("Not sure")))),
    Field("if_stirred_up", "text", N_("If therapy stirs things up before they settle, what would help you?"),
          N_("Harder feelings can surface before things ease; plan for it together."), answered_by="client"),
    Field("saying_not_working", "choice",
          N_("If something here isn't working for you, how would you prefer to say so?"),
          N_("There is no wrong way; the client picks what feels easiest."), answered_by="client",
          options=_opts(("tell-in-session", N_("Say it in the session")),
                        ("write-it-down", N_("Write it down and bring it")),
                        ("rating-scale", N_("Use the 0-10 ratings")),
                        ("through-someone-else", N_("Through someone you trust")),
                        ("other", N_("Another way"))), other_allowed=True),
    Field("review_cadence", "choice", N_("How often shall we look at this together?"),
          N_("It can change at any review."), required=True, answered_by="together",
          options=_opts(("every-session", N_("Every session")), ("every-4-sessions", N_("Every 4 sessions")),
                        ("monthly", N_("Monthly")), ("at-review", N_("At the planned review")))),
    Field("review_date", "date", N_("When shall we next look at it together?"),
          N_("Needed only for 'At the planned review'."), answered_by="together",
          enable_when=("review_cadence", "at-review")),
    Field("therapist_view", "text", N_("From my chair, progress would look like this:"),
          N_("Your own view, said to the client and shared with them."), answered_by="therapist"),
    Field("agreed", "boolean", N_("Have we agreed this together?"),
          N_("Tick only when you both agree. Until then the intake is saved as a draft."),
          required=True, answered_by="together"),
    Field("agreed_on", "date", N_("Date agreed"),
          N_("The day you agreed it; for a draft, the day of this conversation."),
          required=True, answered_by="together"),
    Field("goals_reviewed", "boolean", N_("Do these goals feel like yours, and safe and realistic to work on?"),
          N_("Your check: tick once you have reviewed them together as safe, realistic and owned by "
             "the client. Needed, with the agreement, for the intake to count as agreed."),
          required=True, answered_by="therapist"),
    Field("private_reflection", "text", N_("Private reflection (therapist only)"),
          N_("For example a pull to \"fix\". Never shown to the client, never exported."),
          answered_by="therapist", therapist_only=True),
)

THERAPIST_ONLY = frozenset(f.id for f in FIELDS if f.therapist_only)

#: Earlier versions of the section, with the field ids each asked in its own order and, where
#: a field's id changed, ``{old id: current id}``. Version 1.0.0 opened with the goals and had
#: no question about what the client hopes to get from coming.
EARLIER_VERSIONS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "1.0.0": (("goals", "better_looks_like", "small_shift", "holding_steady_counts", "if_stirred_up",
               "saying_not_working", "review_cadence", "review_date", "therapist_view", "agreed",
               "agreed_on", "goals_reviewed", "private_reflection"), {}),
}
VERSIONS = (*EARLIER_VERSIONS, SECTION_VERSION)

#: Goal answers an earlier version asked and the current one does not: they are ignored.
#: Goal Attainment Scaling (five level texts and a weight per goal) was asked up to 1.0.0 but
#: no attained level was ever recorded or shown, so it is taken out rather than half kept.
RETIRED_GOAL_ANSWERS: dict[str, tuple[str, ...]] = {"1.0.0": ("gas_levels", "weight")}


def upgrade_answers(version: str, answers: dict) -> dict:
    """Answers given to ``version`` of the section, keyed by the current definition's field ids.

    Every answer is kept; a field the current version asks and ``version`` did not stays
    absent (it was never asked, so it has no answer). An unknown version is a ``ValueError``.
    """
    if version == SECTION_VERSION:
        return dict(answers)
    if version not in EARLIER_VERSIONS:
        raise ValueError(f"unknown version of the section: {version}")
    renamed = EARLIER_VERSIONS[version][1]
    return {renamed.get(key, key): value for key, value in answers.items()}


def not_asked(version: str) -> tuple[str, ...]:
    """The current fields that ``version`` of the section did not ask, in the current order."""
    if version == SECTION_VERSION:
        return ()
    if version not in EARLIER_VERSIONS:
        raise ValueError(f"unknown version of the section: {version}")
    asked, renamed = EARLIER_VERSIONS[version]
    now_asked = {renamed.get(i, i) for i in asked}
    return tuple(f.id for f in FIELDS if f.id not in now_asked)


def definition(words: Words = ENGLISH) -> dict:
    """The section definition as plain data, ready for a host to render; the title, labels, help
    texts and option labels said by ``words`` (English by default)."""
    return {
        "id": SECTION_ID,
        "version": SECTION_VERSION,
        "url": SECTION_URL,
        "title": words(TITLE),
        "fields": [f.as_dict(words) for f in FIELDS],
    }


@dataclass(frozen=True)
class Goal:
    """One goal, in the client's words. ``id`` is stable per client (``g1``..``g3`` by default)."""

    id: str
    words: str
    whose: str
    baseline: int
    rank: int
    status: str = "active"   # active | completed | dropped (left out) | replaced (redefined)
    #: A redefinition: the id of the goal whose words this one replaces (that goal ends
    #: "replaced" and keeps its own ratings). The same id with new words is an edit.
    replaces: str | None = None
    replaced_by: str | None = None   # set on the old goal when it ends "replaced"
    since: object | None = None      # datetime a replacing goal began; None: from the intake


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

    @property
    def is_agreed(self) -> bool:
        """Agreed together, and the goals reviewed as safe, realistic and the client's own."""
        return bool(self.agreed and self.goals_reviewed)

    @property
    def status(self) -> str:
        """``agreed``, or ``draft`` (saved, not yet agreed): reviews are timed only from an agreed one."""
        return "agreed" if self.is_agreed else "draft"

    def goal(self, goal_id: str) -> Goal | None:
        return next((g for g in self.goals if g.id == goal_id), None)

    def shareable_answers(self) -> dict:
        """Answers without therapist-only fields: what client-facing output may show."""
        return {k: v for k, v in self.answers.items() if k not in THERAPIST_ONLY}

"""The clinic's tag vocabulary: versioned, with immutable codes.

An edit never changes a version in place; it yields a new :class:`Vocabulary` whose
``version`` is one higher. Retired tags stay resolvable, so old notes keep their meaning,
but they cannot be newly applied.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from progress_plugin.errors import NotFound, ValidationError

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LABEL_MAX = 80
DIRECTIONS = ("toward", "steady", "mixed", "away", "none")
AUDIENCES = ("all", "therapist")
STATUSES = ("active", "retired")
#: What the logic does with a tag: ``review`` resets the review clock; a ``strain`` stays open until a ``repair``.
ROLES = ("review", "strain", "repair")
CATEGORIES = ("movement", "awareness", "action", "relationship", "therapist")
SYSTEM = "https://progress-plugin.org/fhir/CodeSystem/progress-tags"


@dataclass(frozen=True)
class Tag:
    code: str
    label: str
    description: str
    category: str
    direction: str
    audience: str = "all"
    status: str = "active"
    role: str | None = None          # one of ROLES, or None: the logic never looks at a tag's code

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def therapist_only(self) -> bool:
        return self.audience == "therapist"

    def as_dict(self) -> dict:
        return {"code": self.code, "label": self.label, "description": self.description,
                "category": self.category, "direction": self.direction,
                "audience": self.audience, "status": self.status, "role": self.role}

    @classmethod
    def from_stored(cls, data: dict) -> "Tag":
        """A tag as a vocabulary version stored it. A version stored before tags had roles has no
        ``role`` key: its default tags get the role their code carries in :data:`DEFAULT_TAGS`, the
        meaning the logic gave those codes when the version was written (see :data:`DEFAULT_ROLES`)."""
        if "role" in data:
            return cls(**data)
        return cls(**data, role=DEFAULT_ROLES.get(data.get("code")))


def _t(code, label, description, category, direction, audience="all", role=None) -> Tag:
    return Tag(code, label, description, category, direction, audience, role=role)


DEFAULT_TAGS: tuple[Tag, ...] = (
    _t("step-forward", "Step forward", "Something moved toward what the client hopes for.", "movement", "toward"),
    _t("holding-steady", "Holding steady", "Things held; stability is a change too.", "movement", "steady"),
    _t("stirring-up", "Stirring up", "Harder material is surfacing; things may feel worse before they settle.", "movement", "mixed"),
    _t("setback", "Setback", "A step back; expected in a course that is not a straight line.", "movement", "away"),
    _t("came-back", "Came back after a tough session", "The client returned after a difficult session.", "movement", "toward"),
    _t("noticing-more", "Noticing more", "The client notices more of what happens inside or around them.", "awareness", "mixed"),
    _t("feeling-more", "Feeling more", "Feelings are more available, including painful ones.", "awareness", "mixed"),
    _t("more-honesty", "More honesty", "The client said something they had held back.", "awareness", "toward"),
    _t("breathing-space", "More breathing space", "A little more room between a trigger and what follows.", "awareness", "toward"),
    _t("responded-not-reacted", "Responded, not reacted", "The client chose a response instead of an old reflex.", "action", "toward"),
    _t("small-shift", "Small shift happened", "One of the small, meaningful shifts named at intake happened.", "action", "toward"),
    _t("tried-something-new", "Tried something new", "The client tried something different, whatever the outcome.", "action", "none"),
    _t("moment-of-connection", "Moment of connection", "A moment of real contact in the room.", "relationship", "toward"),
    # mixed, therapist-only: a rupture is a possible turning point, not a step back; noted by the therapist until named together
    _t("strain-noticed", "Strain noticed", "Strain or a rupture in the working relationship was noticed.", "relationship", "mixed", "therapist", role="strain"),
    _t("repair", "Repair", "A strain in the relationship was talked about and repaired.", "relationship", "toward", role="repair"),
    _t("progress-redefined", "Progress redefined together", "We looked again at what progress means and changed it together.", "relationship", "none", role="review"),
    _t("let-go-of-fixing", "Let go of fixing", "The therapist noticed and let go of a pull to fix.", "therapist", "none", "therapist"),
)

#: The roles of the default tags, by code: what a vocabulary version stored before roles existed meant
#: by these codes (the review clock and strains were keyed on them). Used by :meth:`Tag.from_stored` only.
DEFAULT_ROLES: dict[str, str] = {t.code: t.role for t in DEFAULT_TAGS if t.role}


@dataclass(frozen=True)
class Vocabulary:
    version: int
    tags: tuple[Tag, ...] = field(default_factory=tuple)

    def __post_init__(self):
        problems = check_tags(self.tags)
        if problems:
            raise ValidationError({"tags": problems})
        object.__setattr__(self, "_by_code", {t.code: t for t in self.tags})   # codes are unique (checked)

    # -- lookups -------------------------------------------------------------------------
    def get(self, code: str) -> Tag | None:
        return self._by_code.get(code)

    def resolve(self, code: str) -> Tag:
        """The tag for ``code``, active or retired. Raises :class:`NotFound` when unknown."""
        tag = self.get(code)
        if tag is None:
            raise NotFound(f"unknown tag code {code!r}", code=code)
        return tag

    def applicable(self, code: str) -> tuple[Tag | None, str | None]:
        """``(tag, None)`` when the code may be newly applied, else ``(None, reason)``."""
        tag = self.get(code)
        if tag is None:
            return None, f"Unknown tag code '{code}' in vocabulary version {self.version}."
        if not tag.active:
            return None, f"Tag '{code}' was retired; it can no longer be applied."
        return tag, None

    def active(self) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.active)

    def by_category(self, audience: str = "therapist") -> dict[str, list[Tag]]:
        """Active tags grouped by category, in vocabulary order. ``audience='client'`` hides therapist-only tags."""
        groups: dict[str, list[Tag]] = {}
        for tag in self.active():
            if audience == "client" and tag.therapist_only:
                continue
            groups.setdefault(tag.category, []).append(tag)
        return groups

    # -- edits: each returns a new version -------------------------------------------------
    def _next(self, tags) -> "Vocabulary":
        return Vocabulary(self.version + 1, tuple(tags))

    def add(self, tag: Tag) -> "Vocabulary":
        if self.get(tag.code) is not None:
            raise ValidationError({"code": [f"Code '{tag.code}' already exists; codes are never reused."]})
        return self._next(self.tags + (replace(tag, status="active"),))

    def edit(self, code: str, /, **changes) -> "Vocabulary":
        if "code" in changes and changes["code"] != code:
            raise ValidationError({"code": ["Codes are immutable; add a new tag and retire this one instead."]})
        if "status" in changes:
            raise ValidationError({"status": ["Use retire or restore to change a tag's status."]})
        old = self.resolve(code)
        new = replace(old, **{k: v for k, v in changes.items() if k != "code"})
        if new == old:
            raise ValidationError({"_schema": [f"Nothing to change for tag '{code}'."]})
        return self._next(new if t.code == code else t for t in self.tags)

    def retire(self, code: str) -> "Vocabulary":
        return self._set_status(code, "retired")

    def restore(self, code: str) -> "Vocabulary":
        return self._set_status(code, "active")

    def _set_status(self, code: str, status: str) -> "Vocabulary":
        tag = self.resolve(code)
        if tag.status == status:
            raise ValidationError({"status": [f"Tag '{code}' is already {status}."]})
        return self._next(replace(t, status=status) if t.code == code else t for t in self.tags)

    def replace_all(self, tags) -> "Vocabulary":
        """A new version holding exactly ``tags`` (an import). Codes missing from ``tags`` stay, retired."""
        incoming = {t.code: t for t in tags}
        kept = [replace(t, status="retired") for t in self.tags if t.code not in incoming and t.active]
        kept += [t for t in self.tags if t.code not in incoming and not t.active]
        merged = list(tags) + kept
        return self._next(merged)

    def same_tags(self, tags) -> bool:
        return sorted(self.tags, key=lambda t: t.code) == sorted(tags, key=lambda t: t.code)

    def diff(self, other: "Vocabulary") -> dict[str, list]:
        """What changed from ``self`` to ``other``: added, removed, retired, restored and edited codes."""
        mine = {t.code: t for t in self.tags}
        theirs = {t.code: t for t in other.tags}
        out = {"added": [], "removed": [], "retired": [], "restored": [], "edited": []}
        for code, tag in theirs.items():
            old = mine.get(code)
            if old is None:
                out["added"].append(code)
                continue
            if old.status != tag.status:
                out["retired" if tag.status == "retired" else "restored"].append(code)
            fields = [f for f in ("label", "description", "category", "direction", "audience", "role")
                      if getattr(old, f) != getattr(tag, f)]
            if fields:
                out["edited"].append({"code": code, "fields": {
                    f: [getattr(old, f), getattr(tag, f)] for f in fields}})
        out["removed"] = [c for c in mine if c not in theirs]
        return out


def check_tags(tags, positions=None) -> dict:
    """Problems in a list of tags, keyed by index then field (marshmallow's shape): the one check of the
    tag rules (codes, labels, enumerations, duplicate codes, duplicate labels within a category).

    ``positions``, when given, names each tag in messages ("also at ...") instead of its index.
    """
    at = list(positions) if positions is not None else list(range(len(tags)))
    problems: dict = {}
    seen_codes: dict[str, int] = {}
    seen_labels: dict[tuple[str, str], int] = {}

    def add(i, fld, msg):
        problems.setdefault(i, {}).setdefault(fld, []).append(msg)

    for i, tag in enumerate(tags):
        if not CODE_RE.match(tag.code or ""):
            add(i, "code", "Codes are 1-64 characters of letters, digits, '.', '_' or '-'.")
        if not tag.label or len(tag.label) > LABEL_MAX:
            add(i, "label", f"Labels are 1-{LABEL_MAX} characters.")
        if tag.direction not in DIRECTIONS:
            add(i, "direction", f"Must be one of: {', '.join(DIRECTIONS)}.")
        if tag.audience not in AUDIENCES:
            add(i, "audience", f"Must be one of: {', '.join(AUDIENCES)}.")
        if tag.status not in STATUSES:
            add(i, "status", f"Must be one of: {', '.join(STATUSES)}.")
        if tag.role is not None and tag.role not in ROLES:
            add(i, "role", f"Must be one of: {', '.join(ROLES)}, or none.")
        if not tag.category:
            add(i, "category", "A category is required.")
        if tag.code in seen_codes:
            add(i, "code", f"Duplicate code '{tag.code}' (also at {at[seen_codes[tag.code]]}).")
        else:
            seen_codes[tag.code] = i
        key = ((tag.category or "").casefold(), (tag.label or "").casefold())
        if key in seen_labels:
            add(i, "label", f"Duplicate label '{tag.label}' in category '{tag.category}' "
                            f"(also at {at[seen_labels[key]]}).")
        else:
            seen_labels[key] = i
    return problems


def default() -> Vocabulary:
    return Vocabulary(1, DEFAULT_TAGS)


def labels_at(vocabularies: dict[int, "Vocabulary"], pairs) -> list[dict]:
    """What each ``(code, version)`` pair meant at that vocabulary version, in the order given.

    A known pair gives the tag as it was at ``version`` (its label, description, category,
    direction, audience and status then) with ``"found": True``; an unknown code or version gives
    ``"found": False`` and a ``problem`` sentence, so one bad pair never fails the others.
    """
    out = []
    for code, version in pairs:
        vocabulary = vocabularies.get(version)
        tag = vocabulary.get(code) if vocabulary is not None else None
        if tag is not None:
            out.append({**tag.as_dict(), "version": version, "therapist_only": tag.therapist_only, "found": True})
        elif vocabulary is None:
            out.append({"code": code, "version": version, "found": False,
                        "problem": f"There is no vocabulary version {version}."})
        else:
            out.append({"code": code, "version": version, "found": False,
                        "problem": f"Unknown tag code '{code}' in vocabulary version {version}."})
    return out

"""The clinic's tag vocabulary: versioned, with immutable codes.

An edit never changes a version in place; it yields a new :class:`Vocabulary` whose
``version`` is one higher. Retired tags stay resolvable, so old notes keep their meaning,
but they cannot be newly applied.

A tag's ``label`` and ``description`` are its base texts, in English (:data:`BASE_LANGUAGE`)
unless the clinic wrote them otherwise; ``labels`` and ``descriptions`` hold its texts in other
languages (``{"hi": "एक कदम आगे"}``, see :mod:`progress_plugin.core.tag_texts`).
:meth:`Tag.label_in` gives the label in a language, falling back to the clinic's default
language, then to the base text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from progress_plugin.core import tag_texts as texts_mod
from progress_plugin.core.tag_texts import (BASE_LANGUAGE, CATEGORY_NAMES, DESCRIPTION_MAX,  # noqa: F401 (re-exported)
                                            DIRECTION_NAMES, LABEL_MAX, LANGUAGE_RE, Texts, category_label,
                                            direction_label)
from progress_plugin.core.words import N_, msg
from progress_plugin.errors import NotFound, ValidationError

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
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
    labels: Texts = ()               # the label in other languages: (("hi", "एक कदम आगे"),); a dict is taken too
    descriptions: Texts = ()         # the description in other languages, likewise

    def __post_init__(self):
        object.__setattr__(self, "labels", texts_mod.freeze(self.labels))
        object.__setattr__(self, "descriptions", texts_mod.freeze(self.descriptions))

    def label_in(self, language: str | None, fallback: str | None = None) -> str:
        """The label in ``language``; else in ``fallback`` (the clinic's default language); else the
        base label. A request for :data:`BASE_LANGUAGE` gets the base label unless ``labels`` has one."""
        return texts_mod.text_in(self.labels, self.label, language, fallback)

    def description_in(self, language: str | None, fallback: str | None = None) -> str:
        """The description in ``language``, falling back as :meth:`label_in` does."""
        return texts_mod.text_in(self.descriptions, self.description, language, fallback)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def therapist_only(self) -> bool:
        return self.audience == "therapist"

    def as_dict(self) -> dict:
        return {"code": self.code, "label": self.label, "description": self.description,
                "category": self.category, "direction": self.direction,
                "audience": self.audience, "status": self.status, "role": self.role,
                "labels": dict(self.labels), "descriptions": dict(self.descriptions)}

    @classmethod
    def from_stored(cls, data: dict) -> "Tag":
        """A tag as a vocabulary version stored it. A version stored before tags had roles has no
        ``role`` key: its default tags get the role their code carries in :data:`DEFAULT_TAGS`, the
        meaning the logic gave those codes when the version was written (see :data:`DEFAULT_ROLES`).
        A version stored before tags had texts per language has no ``labels``/``descriptions``: it
        has none, and every language falls back to the base texts."""
        if "role" in data:
            return cls(**data)
        return cls(**data, role=DEFAULT_ROLES.get(data.get("code")))


def _t(code, label, description, category, direction, hi, audience="all", role=None) -> Tag:
    return Tag(code, label, description, category, direction, audience, role=role,
               labels={"hi": hi[0]}, descriptions={"hi": hi[1]})


DEFAULT_TAGS: tuple[Tag, ...] = (
    _t("step-forward", "Step forward", "Something moved toward what the client hopes for.", "movement", "toward",
       ("एक कदम आगे", "जिसकी क्लाइंट को उम्मीद है, उस तरफ़ कुछ बढ़ा।")),
    _t("holding-steady", "Holding steady", "Things held; stability is a change too.", "movement", "steady",
       ("संभले रहना", "हालात संभले रहे; टिके रहना भी एक बदलाव है।")),
    _t("stirring-up", "Stirring up", "Harder material is surfacing; things may feel worse before they settle.", "movement", "mixed",
       ("मन में हलचल", "मुश्किल बातें ऊपर आ रही हैं; संभलने से पहले हालात और भारी लग सकते हैं।")),
    _t("setback", "Setback", "A step back; expected in a course that is not a straight line.", "movement", "away",
       ("एक कदम पीछे", "एक कदम पीछे; जो रास्ता सीधी लकीर में नहीं चलता, उसमें ऐसा होना आम बात है।")),
    _t("came-back", "Came back after a tough session", "The client returned after a difficult session.", "movement", "toward",
       ("मुश्किल सेशन के बाद फिर आए", "एक मुश्किल सेशन के बाद भी क्लाइंट फिर से आए।")),
    _t("noticing-more", "Noticing more", "The client notices more of what happens inside or around them.", "awareness", "mixed",
       ("ज़्यादा ध्यान देना", "क्लाइंट अपने अंदर और आसपास जो हो रहा है, उस पर ज़्यादा ध्यान दे रहे हैं।")),
    _t("feeling-more", "Feeling more", "Feelings are more available, including painful ones.", "awareness", "mixed",
       ("ज़्यादा महसूस करना", "भावनाएँ ज़्यादा महसूस हो रही हैं, दर्द देने वाली भी।")),
    _t("more-honesty", "More honesty", "The client said something they had held back.", "awareness", "toward",
       ("ज़्यादा ईमानदारी", "क्लाइंट ने वो बात कही जो अब तक मन में दबा रखी थी।")),
    _t("breathing-space", "More breathing space", "A little more room between a trigger and what follows.", "awareness", "toward",
       ("सांस लेने की थोड़ी और जगह", "ट्रिगर और उसके बाद जो होता है, उसके बीच थोड़ा ज़्यादा फ़ासला।")),
    _t("responded-not-reacted", "Responded, not reacted", "The client chose a response instead of an old reflex.", "action", "toward",
       ("सोचकर जवाब दिया, झट से नहीं", "क्लाइंट ने पुरानी आदत के बजाय सोच-समझकर जवाब चुना।")),
    _t("small-shift", "Small shift happened", "One of the small, meaningful shifts named at intake happened.", "action", "toward",
       ("छोटा-सा बदलाव आया", "शुरुआत में जिन छोटे पर मायने रखने वाले बदलावों की बात हुई थी, उनमें से एक हुआ।")),
    _t("tried-something-new", "Tried something new", "The client tried something different, whatever the outcome.", "action", "none",
       ("कुछ नया आज़माया", "क्लाइंट ने कुछ अलग करके देखा, नतीजा चाहे जो भी रहा।")),
    _t("moment-of-connection", "Moment of connection", "A moment of real contact in the room.", "relationship", "toward",
       ("जुड़ाव का पल", "सेशन में सच्चे जुड़ाव का एक पल।")),
    # mixed, therapist-only: a rupture is a possible turning point, not a step back; noted by the therapist until named together
    _t("strain-noticed", "Strain noticed", "Strain or a rupture in the working relationship was noticed.", "relationship", "mixed",
       ("रिश्ते में खिंचाव", "थेरेपिस्ट और क्लाइंट के रिश्ते में खिंचाव या दरार महसूस हुई।"), "therapist", role="strain"),
    _t("repair", "Repair", "A strain in the relationship was talked about and repaired.", "relationship", "toward",
       ("रिश्ते में सुधार", "रिश्ते के खिंचाव पर बात हुई और उसे सुधारा गया।"), role="repair"),
    _t("progress-redefined", "Progress redefined together", "We looked again at what progress means and changed it together.", "relationship", "none",
       ("प्रगति का मतलब मिलकर फिर से तय किया", "हमने दोबारा साथ में देखा कि प्रगति का मतलब क्या है, और उसे मिलकर बदला।"), role="review"),
    _t("let-go-of-fixing", "Let go of fixing", "The therapist noticed and let go of a pull to fix.", "therapist", "none",
       ("सब ठीक करने की चाह छोड़ी", "थेरेपिस्ट ने सब कुछ ठीक कर देने के अपने झुकाव को पहचाना और छोड़ा।"), "therapist"),
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
            raise NotFound(msg("unknown tag code '{code}'", code=code), code=code)
        return tag

    def applicable(self, code: str) -> tuple[Tag | None, str | None]:
        """``(tag, None)`` when the code may be newly applied, else ``(None, reason)``."""
        tag = self.get(code)
        if tag is None:
            return None, msg("Unknown tag code '{code}' in vocabulary version {version}.", code=code,
                             version=self.version)
        if not tag.active:
            return None, msg("Tag '{code}' was retired; it can no longer be applied.", code=code)
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
            raise ValidationError({"code": [msg("Code '{code}' already exists; codes are never reused.", code=tag.code)]})
        return self._next(self.tags + (replace(tag, status="active"),))

    def edit(self, code: str, /, **changes) -> "Vocabulary":
        """The next version with tag ``code`` changed. ``labels`` and ``descriptions`` are merged into
        the tag's: each language given gets its new text, and a language given None loses its text."""
        if "code" in changes and changes["code"] != code:
            raise ValidationError({"code": [N_("Codes are immutable; add a new tag and retire this one instead.")]})
        if "status" in changes:
            raise ValidationError({"status": [N_("Use retire or restore to change a tag's status.")]})
        old = self.resolve(code)
        new = replace(old, **{k: v for k, v in merged(old, changes).items() if k != "code"})
        if new == old:
            raise ValidationError({"_schema": [msg("Nothing to change for tag '{code}'.", code=code)]})
        return self._next(new if t.code == code else t for t in self.tags)

    def retire(self, code: str) -> "Vocabulary":
        return self._set_status(code, "retired")

    def restore(self, code: str) -> "Vocabulary":
        return self._set_status(code, "active")

    def _set_status(self, code: str, status: str) -> "Vocabulary":
        tag = self.resolve(code)
        if tag.status == status:
            raise ValidationError({"status": [msg("Tag '{code}' is already active.", code=code) if status == "active"
                                              else msg("Tag '{code}' is already retired.", code=code)]})
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
        """What changed from ``self`` to ``other``: added, removed, retired, restored and edited codes.

        An edited tag lists each changed field as ``[old, new]``; a text in one language is the field
        ``labels.<language>`` or ``descriptions.<language>``, None where there was (or is) none."""
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
            fields = {f: [getattr(old, f), getattr(tag, f)]
                      for f in ("label", "description", "category", "direction", "audience", "role")
                      if getattr(old, f) != getattr(tag, f)}
            for name in ("labels", "descriptions"):
                was, now = dict(getattr(old, name)), dict(getattr(tag, name))
                fields.update({f"{name}.{k}": [was.get(k), now.get(k)] for k in sorted({*was, *now})
                               if was.get(k) != now.get(k)})
            if fields:
                out["edited"].append({"code": code, "fields": fields})
        out["removed"] = [c for c in mine if c not in theirs]
        return out


def merged(old: Tag, changes: dict) -> dict:
    """``changes`` to ``old``, its ``labels``/``descriptions`` merged into the tag's (:func:`~progress_plugin.core.tag_texts.merge`)."""
    return {**changes, **{name: texts_mod.merge(getattr(old, name), changes[name])
                          for name in ("labels", "descriptions") if name in changes}}


def check_tags(tags, positions=None) -> dict:
    """Problems in a list of tags, keyed by index then field (marshmallow's shape): the one check of the
    tag rules (codes, labels, enumerations, duplicate codes, duplicate labels within a category, in the
    base texts and in each language). A problem with a text in one language is keyed by the language
    under its field: ``{3: {"labels": {"hi": [...]}}}``.

    ``positions``, when given, names each tag in messages ("also at ...") instead of its index.
    """
    at = list(positions) if positions is not None else list(range(len(tags)))
    problems: dict = {}
    seen_codes: dict[str, int] = {}
    seen_labels: dict[tuple, int] = {}

    def add(i, fld, message, language=None):
        node = problems.setdefault(i, {})
        if language is not None:
            node = node.setdefault(fld, {})
            fld = language
        node.setdefault(fld, []).append(message)

    for i, tag in enumerate(tags):
        if not CODE_RE.match(tag.code or ""):
            add(i, "code", N_("Codes are 1-64 characters of letters, digits, '.', '_' or '-'."))
        if not tag.label or len(tag.label) > LABEL_MAX:
            add(i, "label", msg("Labels are 1-{max} characters.", max=LABEL_MAX))
        if tag.direction not in DIRECTIONS:
            add(i, "direction", msg("Must be one of: {choices}.", choices=", ".join(DIRECTIONS)))
        if tag.audience not in AUDIENCES:
            add(i, "audience", msg("Must be one of: {choices}.", choices=", ".join(AUDIENCES)))
        if tag.status not in STATUSES:
            add(i, "status", msg("Must be one of: {choices}.", choices=", ".join(STATUSES)))
        if tag.role is not None and tag.role not in ROLES:
            add(i, "role", msg("Must be one of: {choices}, or none.", choices=", ".join(ROLES)))
        if not tag.category:
            add(i, "category", N_("A category is required."))
        if tag.code in seen_codes:
            add(i, "code", msg("Duplicate code '{code}' (also at {at}).", code=tag.code, at=at[seen_codes[tag.code]]))
        else:
            seen_codes[tag.code] = i
        category = (tag.category or "").casefold()
        key = (None, category, (tag.label or "").casefold())
        if key in seen_labels:
            add(i, "label", msg("Duplicate label '{label}' in category '{category}' (also at {at}).",
                                label=tag.label, category=tag.category, at=at[seen_labels[key]]))
        else:
            seen_labels[key] = i
        texts_mod.check(i, tag, at, seen_labels, add)
    return problems


def default() -> Vocabulary:
    return Vocabulary(1, DEFAULT_TAGS)


def labels_at(vocabularies: dict[int, "Vocabulary"], pairs, words=None, fallback: str | None = None) -> list[dict]:
    """What each ``(code, version)`` pair meant at that vocabulary version, in the order given.

    A known pair gives the tag as it was at ``version`` (its label, description, category,
    direction, audience and status then, with its ``labels`` and ``descriptions`` in every language)
    with ``"found": True``; ``label`` and ``description`` are in the language of ``words`` (a
    :class:`~progress_plugin.core.words.Words`; English by default), else in ``fallback`` (the
    clinic's default language), else the base texts. An unknown code or version gives ``"found":
    False`` and a ``problem`` sentence in that language, so one bad pair never fails the others.
    """
    language = getattr(words, "code", BASE_LANGUAGE)
    say = words.say if words is not None else (lambda text: text)
    out = []
    for code, version in pairs:
        vocabulary = vocabularies.get(version)
        tag = vocabulary.get(code) if vocabulary is not None else None
        if tag is not None:
            out.append({**tag.as_dict(), "label": tag.label_in(language, fallback),
                        "description": tag.description_in(language, fallback),
                        "version": version, "therapist_only": tag.therapist_only, "found": True})
        elif vocabulary is None:
            out.append({"code": code, "version": version, "found": False,
                        "problem": say(msg("There is no vocabulary version {version}.", version=version))})
        else:
            out.append({"code": code, "version": version, "found": False,
                        "problem": say(msg("Unknown tag code '{code}' in vocabulary version {version}.",
                                           code=code, version=version))})
    return out

"""The tag picker's categories, as a therapist sees them (pure): the ``note_fields`` hook returns them,
and the admin console's preview shows them.

Only active tags, grouped by category in vocabulary order; each category's name and each direction's
name in the language of ``words``; each tag's label and description in that language, else in
``fallback`` (the clinic's default language), else its base text; therapist-only tags flagged.
"""
from __future__ import annotations

from progress_plugin.core.vocabulary import Vocabulary, category_label, direction_label
from progress_plugin.core.words import ENGLISH, Words


def categories(vocabulary: Vocabulary, words: Words = ENGLISH, fallback: str | None = None) -> list[dict]:
    """``[{"id", "label", "tags": [{"code", "label", "description", "direction", "direction_label",
    "therapist_only"}]}]``, in the picker's order."""
    return [{"id": category, "label": category_label(category, words),
             "tags": [{"code": t.code, "label": t.label_in(words.code, fallback),
                       "description": t.description_in(words.code, fallback), "direction": t.direction,
                       "direction_label": direction_label(t.direction, words),
                       "therapist_only": t.therapist_only} for t in tags]}
            for category, tags in vocabulary.by_category("therapist").items()]

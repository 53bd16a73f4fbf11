"""Which categories a tag may be put in (pure): a typo must not make a new group in the picker.

A category is one of the default :data:`~progress_plugin.core.vocabulary.CATEGORIES` or one the
vocabulary already has (a category of any of its tags, active or retired). Any other is refused,
naming the field and suggesting the closest known one ("Did you mean 'relationship'?"), unless the
change asks for a new category explicitly (``--new-category`` on the command line, ``new_category``
in the admin API, "A new category" in the console).
"""
from __future__ import annotations

import difflib

from progress_plugin.core.vocabulary import CATEGORIES, Vocabulary
from progress_plugin.core.words import N_, Msg, msg
from progress_plugin.errors import ValidationError

#: How a change asks for a new category, said after the refusal.
HOW_TO_ADD = N_("To start a new category, ask for it explicitly: --new-category on the command line, "
                "new_category=true in the API, or \"A new category\" in the console.")


def known(vocabulary: Vocabulary | None) -> tuple[str, ...]:
    """The default categories, then the vocabulary's others in the order its tags first use them."""
    found = list(CATEGORIES)
    for tag in vocabulary.tags if vocabulary is not None else ():
        if tag.category not in found:
            found.append(tag.category)
    return tuple(found)


def closest(category: str, choices) -> str | None:
    """The known category ``category`` most likely meant (``relationships`` -> ``relationship``), if any is close."""
    choices = list(choices)
    folded = {c.casefold(): c for c in choices}
    found = difflib.get_close_matches((category or "").casefold(), list(folded), n=1, cutoff=0.6)
    return folded[found[0]] if found else None


def problem(category: str, choices) -> Msg | None:
    """Why ``category`` is refused when only ``choices`` may be used; None when it is one of them."""
    choices = tuple(choices)
    if category in choices:
        return None
    suggestion = closest(category, choices)
    if suggestion is not None:
        return msg("Unknown category '{category}'. Did you mean '{suggestion}'?", category=category,
                   suggestion=suggestion)
    return msg("Unknown category '{category}'. The categories are: {categories}.", category=category,
               categories=", ".join(choices))


def check(vocabulary: Vocabulary, category: str, new_category: bool = False) -> None:
    """Refuse ``category`` (a :class:`ValidationError` under ``category``) unless ``vocabulary`` knows it
    or ``new_category`` asks for a new one on purpose."""
    found = None if new_category else problem(category, known(vocabulary))
    if found is not None:
        raise ValidationError({"category": [found, HOW_TO_ADD]})

"""How the views speak to each audience (pure): the client in the second person and plain words,
the therapist in the panel's terms; which tags each audience sees; whose each goal is.

A move of :data:`MARGIN` points or more is "a real change" to the client (the core's reliable
change), explained once by :func:`margin_note`. The client never sees a therapist-only tag, nor a
tag with the ``strain`` role unless the clinic opted in (``client_view_shows_strain`` in its
``[[clinics]]`` table; the edges read it and pass ``show_strain``).
"""
from __future__ import annotations

from progress_plugin.core.intake import Intake
from progress_plugin.core.progress import (NO_RELIABLE_CHANGE, NOT_ENOUGH, RELIABLE_DETERIORATION,
                                           RELIABLE_IMPROVEMENT, Settings)
from progress_plugin.core.words import N_, Words
from progress_plugin.view.wording import number

#: The smallest movement the client view calls "a real change" (the core's reliable-change threshold).
MARGIN = Settings().threshold
#: The same, said to the client in plain words (``{margin}`` is :data:`MARGIN`).
CLIENT_STATUS = {
    RELIABLE_IMPROVEMENT: N_("Moved up by {margin} or more: a real change"),
    RELIABLE_DETERIORATION: N_("Moved down by {margin} or more: a real change"),
    NO_RELIABLE_CHANGE: N_("No real change yet"),
    NOT_ENOUGH: N_("Not enough ratings yet"),
}
CLIENT_STATUS_NOTE = {
    RELIABLE_IMPROVEMENT: N_("Your rating has moved up by {margin} or more since the start."),
    RELIABLE_DETERIORATION: N_("Your rating has moved down by {margin} or more since the start."),
    NO_RELIABLE_CHANGE: N_("Your rating has moved by less than {margin} since the start."),
    NOT_ENOUGH: N_("One more rating from you is needed to see movement."),
}
#: Whose goal it is, said to the client (nothing for their own).
CLIENT_WHOSE = {"carer": N_("A goal of someone close to you"), "therapist": N_("Your therapist's goal")}
#: Whose goal it is, said to the therapist (nothing for the client's own).
THERAPIST_WHOSE = {"carer": N_("A carer's or family member's goal"), "therapist": N_("The therapist's goal")}


def margin_note(words: Words) -> str:
    """The margin explained once, in plain words, for the client."""
    return words(N_("Ratings go up and down from week to week. When a rating has moved by {margin} or more "
                    "since the start, we call it a real change, up or down."), margin=number(words, MARGIN))


def whose(intake: Intake | None) -> dict[str, str]:
    """Goal id -> whose goal it is (``client``, ``carer``, ``therapist``), from the intake."""
    return {g.id: g.whose for g in intake.goals} if intake is not None else {}


def shown_marker(m, audience: str, show_strain: bool = False) -> bool:
    """Whether ``audience`` sees marker ``m``: the therapist every one; the client no therapist-only
    tag, and no strain tag unless the clinic opted in (``show_strain``)."""
    if audience == "therapist":
        return True
    return not m.therapist_only and (show_strain or m.role != "strain")


__all__ = ["CLIENT_STATUS", "CLIENT_STATUS_NOTE", "CLIENT_WHOSE", "MARGIN", "THERAPIST_WHOSE", "margin_note",
           "shown_marker", "whose"]

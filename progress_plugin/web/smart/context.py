"""The launch a SMART app page runs in: who launched it, for which patient and note, and a FHIR
client that talks to the EHR with the launch's token.

The launch side (:mod:`progress_plugin.web.smart.launch` and :mod:`~progress_plugin.web.smart.session`)
finds the browser's session before each request under ``/smart/app/`` and puts a :class:`Launch`
on ``flask.g.smart_launch``; a request without a live session never reaches a page. Pages ask
:func:`current` for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import g

from progress_plugin.fhir.client import FHIRClient


@dataclass(frozen=True)
class Launch:
    """One SMART launch, as the EHR gave it. Ids only, never a token.

    ``fhir_base`` is the EHR's FHIR base (the launch's ``iss``). ``patient`` and ``encounter``
    are FHIR ids; ``fhir_user`` a reference such as ``Practitioner/123``; ``fhir_context`` the
    references of the launch's ``fhirContext`` (e.g. ``DocumentReference/9``, the note).
    ``scopes`` are the scopes the EHR granted. ``client`` makes a :class:`FHIRClient` that sends
    the launch's (refreshed when needed) access token.
    """

    session_key: str              # the session row's key (a hash, never the cookie's value)
    ehr_id: str                   # the [[smart.ehrs]] entry the launch came from
    clinic_id: str
    fhir_base: str
    patient: str | None
    encounter: str | None = None
    fhir_user: str | None = None
    fhir_context: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    client: Callable[[], FHIRClient] = field(default=None, repr=False, compare=False)

    @property
    def target(self) -> str:
        """The outbox target of the writes made in this launch (see ``outbox.put``)."""
        return f"smart:{self.ehr_id}"

    @property
    def note(self) -> str | None:
        """The launch's note: the first ``DocumentReference`` of ``fhirContext``, as ``Type/id``."""
        return next((ref for ref in self.fhir_context if ref.startswith("DocumentReference/")), None)


def current() -> Launch:
    """The request's launch. Only called under ``/smart/app/``, where the launch side has set it."""
    return g.smart_launch

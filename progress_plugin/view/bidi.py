"""A person's words inside our HTML, isolated for the Unicode bidirectional algorithm (UAX #9).

The pairing of the words' own controls and the plain-text isolation live in the core
(:mod:`progress_plugin.core.bidi`), whose prompts name goals in the client's words; this
module adds the HTML form.
"""
from __future__ import annotations

from html import escape

from progress_plugin.core.bidi import balance


def bdi(text: str) -> str:
    """``text`` as escaped HTML inside ``<bdi dir="auto">``: a person's words, never translated, laid
    out by their own first strong character whatever the page's language."""
    return f'<bdi dir="auto">{escape(balance(text))}</bdi>'

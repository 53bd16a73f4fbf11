"""A person's words inside our text, isolated for the Unicode bidirectional algorithm (UAX #9).

A goal in the client's words may hold right-to-left script, or a control such as U+202E
(RIGHT-TO-LEFT OVERRIDE) that would otherwise reverse the text around it ("Goal 1: ...,
started at 3/10" read backwards). Every place that shows such words wraps them:

- :func:`progress_plugin.view.bidi.bdi` for HTML: ``<bdi>`` (isolated by the browser), with the
  words escaped;
- :func:`isolate` for plain text (the core's prompts), SVG text, attributes and markdown:
  U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE around the words.

Both first :func:`balance` the words' own controls: an embedding or isolate the words open is
closed at their end, and a closer they did not open is dropped, so nothing inside can end
the isolation early or reach past it. Nothing else of the words changes.
"""
from __future__ import annotations

FSI, PDI, PDF = "\u2068", "\u2069", "\u202c"
EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")     # LRE RLE LRO RLO, closed by PDF
ISOLATES = frozenset("\u2066\u2067\u2068")              # LRI RLI FSI, closed by PDI
MAX_DEPTH = 60                                           # well inside UAX #9's 125


def balance(text: str) -> str:
    """``text`` with its explicit bidi controls paired: unopened closers dropped, open ones closed."""
    if not any(ch in EMBEDDINGS or ch in ISOLATES or ch in (PDF, PDI) for ch in text):
        return text
    out: list[str] = []
    stack: list[str] = []            # "e" for an open embedding or override, "i" for an open isolate
    for ch in text:
        if ch in EMBEDDINGS or ch in ISOLATES:
            if len(stack) < MAX_DEPTH:
                stack.append("e" if ch in EMBEDDINGS else "i")
                out.append(ch)
        elif ch == PDF:
            if stack and stack[-1] == "e":
                stack.pop()
                out.append(ch)
        elif ch == PDI:
            if "i" in stack:
                while stack[-1] == "e":
                    stack.pop()
                    out.append(PDF)
                stack.pop()
                out.append(ch)
        else:
            out.append(ch)
    out.extend(PDF if kind == "e" else PDI for kind in reversed(stack))
    return "".join(out)


def isolate(text: str) -> str:
    """``text`` between FSI and PDI, for places that cannot hold an element."""
    return FSI + balance(text) + PDI


"""Rendering a client's progress for people: the panel's HTML and its chart. Pure: no I/O."""

"""Who made a vocabulary version, said plainly from the actor the store recorded: a token by its name,
a command-line user, a host's user, the plugin itself. The home page, the history and the import's
stale preview all say it this way.
"""
from __future__ import annotations

from progress_plugin.core.words import N_, Words
from progress_plugin.store import tokens


def token_names(store, clinic: str) -> dict[str, str]:
    """The clinic's token names by token id (revoked tokens too: they made versions once)."""
    return {t["token_id"]: t["name"] for t in tokens.list_tokens(store, clinic)}


def who_said(actor: str, token_names: dict[str, str], words: Words) -> str:
    """Who made a version, from the actor the store recorded: a token by its name, a command-line user,
    a host's user, the plugin itself."""
    kind, _, name = actor.partition(":")
    if kind == "token" and name:
        return token_names.get(name) or words(N_("a token ({id})"), id=name)
    if kind == "cli":
        return words(N_("{name}, on the command line"), name=name) if name else words(N_("the command line"))
    if kind == "host" and name:
        return words(N_("{name}, in your notes system"), name=name)
    if actor == "system":
        return words(N_("the plugin itself"))
    return actor

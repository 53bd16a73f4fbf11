"""Secrets of a SMART launch at rest: the PKCE verifier of an authorization in flight, and a
session's access, refresh and id tokens. They are sealed with Fernet (AES-128-CBC + HMAC-SHA256)
under ``[smart] token_key_env``'s keys, newest first: :class:`~cryptography.fernet.MultiFernet`
seals with the first and opens with any, so a key is rotated by putting a new one in front,
and removed once every live session has been sealed again (or has ended).
"""
from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from progress_plugin.errors import ConfigError, ProgressPluginError


class Unreadable(ProgressPluginError):
    """Sealed data none of the keys opens (a removed key, or a changed row): treated as no data."""


def key_problems(keys) -> list[str]:
    """Why each unusable key is unusable, by position (never the key itself)."""
    problems = []
    for i, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            problems.append(f"key {i + 1} is not a Fernet key (32 bytes, url-safe base64)")
    return problems


class Vault:
    """Seals and opens small JSON values with the configured Fernet keys."""

    def __init__(self, keys):
        keys = list(keys)
        problems = key_problems(keys)
        if not keys or problems:
            raise ConfigError("configuration: smart.token_key_env: " + ("; ".join(problems) or "no key"))
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, value: dict) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> dict:
        try:
            value = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise Unreadable("sealed data could not be opened with the configured keys") from None
        if not isinstance(value, dict):
            raise Unreadable("sealed data is not an object")
        return value

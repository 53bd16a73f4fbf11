"""The config file: where it is, its TOML, and the store URL it names.

:mod:`progress_plugin.service.settings` validates what the file holds; this module only finds and
reads it (``--config``, else ``$PROGRESS_PLUGIN_CONFIG``, else ``./progress-plugin.toml``).
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from progress_plugin.errors import ConfigError
from progress_plugin.store.engine import DEFAULT_URL

ENV_STORE = "PROGRESS_PLUGIN_STORE"
ENV_CONFIG = "PROGRESS_PLUGIN_CONFIG"
DEFAULT_CONFIG = "progress-plugin.toml"


def config_path(explicit: str | None = None) -> Path | None:
    """The config file to read: ``--config``, else ``$PROGRESS_PLUGIN_CONFIG``, else ./progress-plugin.toml if present."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{ENV_CONFIG} points to a missing file: {path}")
        return path
    path = Path(DEFAULT_CONFIG)
    return path if path.is_file() else None


def read_file(path: Path | None) -> dict:
    """The parsed TOML document at ``path``; ``{}`` for no file."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def store_url(flag: str | None = None, config: dict | None = None) -> str:
    """``--store``, else ``$PROGRESS_PLUGIN_STORE``, else ``[store] url`` in the config file, else ``sqlite:///progress.db``."""
    if flag:
        return flag
    if os.environ.get(ENV_STORE):
        return os.environ[ENV_STORE]
    url = ((config or {}).get("store") or {}).get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError("[store] url must be a string (a SQLAlchemy URL)")
    return url or DEFAULT_URL

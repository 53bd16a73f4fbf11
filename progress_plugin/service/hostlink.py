"""The configured host's FHIR client, and a cached reachability check for /readyz."""
from __future__ import annotations

import logging
import threading
import time

from progress_plugin.errors import ConfigError, HostAPIError
from progress_plugin.fhir.client import FHIRClient
from progress_plugin.service.settings import ServiceConfig

_checked: dict[str, tuple[float, str | None]] = {}
CHECK_TTL = 10.0


#: Said once when a process starts without a host, and by ``progress-plugin check``.
NO_HOST = "no [host] base_url (or $PROGRESS_PLUGIN_HOST_URL): write-backs to the host are off and none are queued"


_said = threading.Event()


def say_no_host(log: logging.Logger) -> None:
    """Log :data:`NO_HOST` once per process (the service and its embedded worker share one line)."""
    if not _said.is_set():
        _said.set()
        log.warning(NO_HOST)


def client(config: ServiceConfig, retries: int = 2) -> FHIRClient:
    if not config.host_url:
        raise ConfigError("no [host] base_url configured (or $PROGRESS_PLUGIN_HOST_URL)")
    return FHIRClient(config.host_url, config.host_token, timeout=(3.05, config.host_timeout), retries=retries,
                      ca_bundle=config.ca_bundle)


def check_host(config: ServiceConfig, now: float | None = None) -> str | None:
    """None when the host answers ``GET metadata`` with a CapabilityStatement; else a short reason.
    Cached for a few seconds so a busy /readyz does not hammer the host."""
    now = time.monotonic() if now is None else now
    cached = _checked.get(config.host_url or "")
    if cached and now - cached[0] < CHECK_TTL:
        return cached[1]
    problem = None
    try:
        with client(config, retries=0) as c:
            c.metadata()
    except HostAPIError as exc:
        problem = f"{exc.__class__.__name__} status={exc.status_code}"
    _checked[config.host_url or ""] = (now, problem)
    return problem

"""One connection pool per EHR and process for the SMART app's pages.

Each page makes its own :class:`~progress_plugin.fhir.client.FHIRClient` with the launch's own
token (a client's headers are never shared between launches), but its requests go through
this process's :class:`~progress_plugin.fhir.retry.RetryAdapter` for the EHR's base: the
adapter keeps its connections open between pages (urllib3's pool, safe to share between
threads; the retry policy is chosen per request and thread) instead of a new TCP and TLS
connection per page. Closing a page's client leaves the pool open for the next page.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

from progress_plugin.fhir.client import FHIRClient
from progress_plugin.fhir.retry import RetryAdapter, policy

_MAX_POOLS = 16
_pools: dict[tuple[str, str], RetryAdapter] = {}
#: The proxy environment as :class:`~progress_plugin.fhir.session.Session` reads it, per scheme, host,
#: port and ``no_proxy``: shared by every page's session (the process's environment is set when it
#: starts), so a page does not walk ``os.environ`` again. Bounded as the pools are.
_environ_proxies: dict[tuple, dict] = {}
_lock = threading.Lock()


def _adapter(base_url: str) -> RetryAdapter:
    parts = urlsplit(base_url)
    key = (parts.scheme, parts.netloc.lower())
    adapter = _pools.get(key)
    if adapter is None:
        with _lock:
            adapter = _pools.get(key)
            if adapter is None:
                if len(_pools) >= _MAX_POOLS:      # an EHR gone from the configuration: its pool goes
                    for old in _pools.values():
                        old.close()
                    _pools.clear()
                adapter = _pools[key] = RetryAdapter(policy())      # a FHIRClient's default policy
    return adapter


class PooledClient(FHIRClient):
    """A :class:`FHIRClient` for one page, on the process's pool for its EHR."""

    def __init__(self, base_url: str, token: str | None):
        if len(_environ_proxies) >= _MAX_POOLS * 4:
            _environ_proxies.clear()
        super().__init__(base_url, token=token, adapter=_adapter(base_url), environ_proxies=_environ_proxies)

    def close(self) -> None:
        self.session.adapters.clear()             # the pool is the process's, kept for the next page
        super().close()


def client(base_url: str, token: str | None) -> PooledClient:
    return PooledClient(base_url, token)

"""The client's ``requests.Session``: the environment's proxy settings read once per host.

requests reads the proxy environment (``HTTP(S)_PROXY``, ``NO_PROXY``) on every request: it
walks the whole of ``os.environ`` twice to find them, which was the largest cost of a
write-back request after the network itself. :class:`Session` reads them once per scheme, host
and port and keeps the answer for its own life (a client's session lives as long as its
worker, and a process's environment is set when it starts). What is read, and how it is
merged with a request's own settings, is requests' own: ``get_environ_proxies`` and
``merge_setting``; ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` are still read per request, and
a session with ``trust_env = False`` reads nothing, as in requests.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies


class Session(requests.Session):
    """A ``requests.Session`` that reads the proxy environment once per scheme, host and port."""

    def __init__(self, environ_proxies: dict[tuple, dict] | None = None) -> None:
        """``environ_proxies``: the memo to read and fill, when sessions share one (the process's
        environment is set when it starts); a session of its own by default."""
        super().__init__()
        self._environ_proxies = {} if environ_proxies is None else environ_proxies

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        env_proxies = self._environ_proxies.get(key)
        if env_proxies is None:
            env_proxies = self._environ_proxies[key] = get_environ_proxies(url, no_proxy=no_proxy)
        if proxies is not None:
            for k, v in env_proxies.items():
                proxies.setdefault(k, v)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {"proxies": merge_setting(proxies, self.proxies), "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify), "cert": merge_setting(cert, self.cert)}

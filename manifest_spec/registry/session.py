"""A requests.Session that reads the environment's proxy and CA settings once per host, not per request."""

from __future__ import annotations

from typing import Any, Hashable, Optional
from urllib.parse import urlsplit

import requests


class Session(requests.Session):
    """requests.Session, with `merge_environment_settings` remembered per target and arguments.

    requests looks at the environment again for every request (HTTP(S)_PROXY, NO_PROXY,
    REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE): three walks over os.environ, a fifth of the CPU the
    client spends on a request. What it finds depends only on the URL's scheme and host, the
    call's arguments and the session's own settings, all of which are in the key; the
    environment does not change while a run is under way. The answers are exactly requests' own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[Hashable, dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: str, proxies: Optional[dict[str, str]], stream: Optional[bool], verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies != {}:  # proxies passed by the caller: requests' own path, every time
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, netloc = urlsplit(url)[:2]
        key = (scheme, netloc, stream, verify, cert, self.trust_env, self.stream, self.verify, self.cert, tuple(self.proxies.items()))
        try:
            settings = self._environment.get(key)
        except TypeError:  # an unhashable verify or cert (a list): not remembered
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}  # a copy: the caller's to change

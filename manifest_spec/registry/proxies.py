"""Which proxy the environment names for a URL: HTTP(S)_PROXY, ALL_PROXY and NO_PROXY, read as requests reads them.

requests (`get_environ_proxies`, `should_bypass_proxies`, `select_proxy`) takes the variables
from urllib.request (lower case wins), skips hosts NO_PROXY names (suffixes, host:port, `*`,
CIDR ranges for IPv4 addresses) and picks `scheme://host`, then `scheme`, `all://host`, `all`.
urllib.request is imported only when some `*_proxy` variable is set: most runs have none.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Optional
from urllib.parse import unquote, urlsplit


def environment_proxy(url: str) -> Optional[str]:
    """The proxy URL (scheme added when missing) for `url`, or None to go direct."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request

    parts = urlsplit(url)
    host = parts.hostname
    if host is None or _bypassed(host, parts.port):
        return None
    proxies = urllib.request.getproxies()
    for key in (f"{parts.scheme}://{host}", parts.scheme, f"all://{host}", "all"):
        if key in proxies:
            proxy = proxies[key]
            return proxy if "://" in proxy else f"http://{proxy}"
    return None


def _bypassed(host: str, port: Optional[int]) -> bool:
    import urllib.request

    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    if no_proxy:
        entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
        if _is_ipv4(host):
            if any(_in_network(host, entry) if "/" in entry else host == entry for entry in entries):
                return True
        else:
            with_port = f"{host}:{port}" if port else host
            if any(host.endswith(entry) or with_port.endswith(entry) for entry in entries):
                return True
    try:
        return bool(urllib.request.proxy_bypass(host))
    except (TypeError, OSError):
        return False


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


def _in_network(address: str, cidr: str) -> bool:
    """requests' is_valid_cidr + address_in_network: a.b.c.d/N with N from 1 to 32."""
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return False
    if not 1 <= network.prefixlen <= 32:
        return False
    return ipaddress.IPv4Address(address) in network


def proxy_authorization(proxy: str) -> dict[str, str]:
    """`Proxy-Authorization` for a proxy URL carrying `user:password@` (unquoted, as requests does)."""
    parts = urlsplit(proxy)
    if not parts.username:
        return {}
    import base64

    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode("latin-1")).decode()}

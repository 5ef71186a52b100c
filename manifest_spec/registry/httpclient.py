"""HTTP on urllib3 directly: the part of requests the registry client used, at a fraction of its cost.

requests' import (with charset_normalizer, idna, http.cookiejar) was a fifth of a push's start-up,
and each request spent as much CPU in its layers (preparing, merging the environment, hooks,
cookies) as in urllib3. What the client needs of it is kept, with requests' names and behaviour:
`Session.request(method, url, params=, data=, headers=, stream=, timeout=, verify=, auth=,
allow_redirects=)` returning a `Response` (`status_code`, `headers`, `url`, `reason`, `content`,
`text`, `json()`, `iter_content()`, `links`, `is_redirect`, `history`, `request`, `raw`); an `auth`
callable that may set headers and register a "response" hook (auth.py's 401 answer), which may
send the request again with `response.connection.send(request, **kwargs)`; GET redirects followed
(Authorization dropped when the host changes); proxies from the environment (proxies.py), looked
up once per scheme and host; TLS trust per request (`verify`: a CA file, True, False) and a client
certificate per session (`cert`); retries by the urllib3 `Retry` given (transport.py).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Callable, Iterator, Optional, Union
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.util import Timeout

from manifest_spec.errors import VerificationError
from manifest_spec.registry import httperrors
from manifest_spec.registry.proxies import environment_proxy, proxy_authorization

_QUOTES = " '\""
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 30  # requests' limit
Body = Union[bytes, str, list[tuple[str, str]], None]


class PreparedRequest:
    """What is sent: method, URL (query included), headers (case-insensitive), body; and the hooks to run on the answer."""

    def __init__(self, method: str, url: str, headers: urllib3.HTTPHeaderDict, body: Optional[bytes]) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.hooks: dict[str, list[Callable[..., Any]]] = {"response": []}

    def register_hook(self, event: str, hook: Callable[..., Any]) -> None:
        self.hooks.setdefault(event, []).append(hook)

    def copy(self) -> PreparedRequest:
        copied = PreparedRequest(self.method, self.url, urllib3.HTTPHeaderDict(self.headers), self.body)
        copied.hooks = {event: list(hooks) for event, hooks in self.hooks.items()}
        return copied


class Response:
    """One answer; the body is read at once unless the request asked to stream it."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, request: PreparedRequest, connection: Session) -> None:
        self.raw = raw
        self.request = request
        self.connection = connection  # `.send(request, **kwargs)` sends it again, as requests' adapter does
        self.status_code = raw.status
        self.headers = raw.headers
        self.reason = raw.reason or ""
        self.url = request.url
        self.history: list[Response] = []
        self._content: Optional[bytes] = None

    @property
    def is_redirect(self) -> bool:
        return "Location" in self.headers and self.status_code in REDIRECTS

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_content(64 * 1024))
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers.get("Content-Type", "")), errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def iter_content(self, chunk_size: int = 1) -> Iterator[bytes]:
        if self._content is not None:
            for start in range(0, len(self._content), chunk_size):
                yield self._content[start : start + chunk_size]
            return
        try:
            yield from self.raw.stream(chunk_size, decode_content=True)
        except Exception as e:
            mapped = httperrors.from_body(e)
            if mapped is None:
                raise
            raise mapped from e

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The `Link` header, by `rel` (requests' parse_header_links)."""
        found: dict[str, dict[str, str]] = {}
        header = self.headers.get("Link", "").strip(_QUOTES)
        for value in re.split(", *<", header) if header else []:
            url, _, params = value.partition(";")
            link = {"url": url.strip("<> '\"")}
            for param in params.split(";"):
                key, equals, item = param.partition("=")
                if not equals or "=" in item:
                    break
                link[key.strip(_QUOTES)] = item.strip(_QUOTES)
            found[link.get("rel") or link["url"]] = link
        return found

    def close(self) -> None:
        """Back to the pool when the body was read; a body left half-read closes its connection."""
        if self._content is None:
            self.raw.close()
        self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_capped(response: Response, limit: int, what: str, chunk_bytes: int) -> bytes:
    """A whole body, refused (VerificationError) once it is larger than `limit`, before it is all in memory."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise VerificationError(f"{what}: {declared} bytes is over the {limit} byte limit")
    chunks, total = [], 0
    for chunk in response.iter_content(chunk_bytes):
        total += len(chunk)
        if total > limit:
            response.close()
            raise VerificationError(f"{what}: more than {limit} bytes, over the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" '\""):
            return value.strip(" '\"")
    return "utf-8"


class Session:
    """One registry host's connections (urllib3 pools, one per proxy), default headers, auth, TLS trust."""

    def __init__(self, retries: urllib3.Retry, pool_size: int, pool_classes: dict[str, Any]) -> None:
        self.headers: dict[str, str] = {"User-Agent": "manifest-spec", "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
        self.auth: Optional[Callable[[PreparedRequest], PreparedRequest]] = None
        self.verify: Union[bool, str] = True
        self.cert: Optional[tuple[str, str]] = None
        self.retries = retries
        self.pool_size = pool_size
        self.pool_classes = pool_classes
        self._managers: dict[Optional[str], urllib3.PoolManager] = {}
        self._proxies: dict[tuple[str, str], Optional[str]] = {}  # the environment, read once per scheme and host
        self._contexts: dict[tuple[Any, ...], Any] = {}
        self._contexts_lock = threading.Lock()

    def request(
        self, method: str, url: str, *, params: Any = None, data: Body = None, headers: Optional[dict[str, str]] = None,
        stream: bool = False, timeout: Optional[float] = None, verify: Union[bool, str, None] = None,
        auth: Optional[Callable[[PreparedRequest], PreparedRequest]] = None, allow_redirects: bool = True,
    ) -> Response:
        request = self.prepare(method, url, params, data, headers)
        chosen = auth if auth is not None else self.auth
        if chosen is not None:
            request = chosen(request)
        options = {"stream": stream, "timeout": timeout, "verify": self.verify if verify is None else verify, "cert": self.cert}
        response = self.send_hooked(request, options)
        if allow_redirects:
            response = self.follow(response, options)
        if not stream:
            response.content  # noqa: B018 - read now, so the connection goes back to the pool
        return response

    def prepare(self, method: str, url: str, params: Any, data: Body, headers: Optional[dict[str, str]]) -> PreparedRequest:
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params, doseq=True)
        merged = urllib3.HTTPHeaderDict(self.headers)
        for name, value in (headers or {}).items():
            merged.discard(name)
            if value is not None:
                merged[name] = value
        body: Optional[bytes]
        if isinstance(data, list):
            body = urlencode(data).encode()
            merged.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = data.encode() if isinstance(data, str) else data
        return PreparedRequest(method, url, merged, body)

    def send_hooked(self, request: PreparedRequest, options: dict[str, Any]) -> Response:
        response = self.send(request, **options)
        for hook in request.hooks.get("response", []):
            response = hook(response, **options) or response
        return response

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Optional[float] = None,
             verify: Union[bool, str] = True, cert: Optional[tuple[str, str]] = None, **_: Any) -> Response:
        """One request as prepared, no hooks (the auth hook sends its retry through this)."""
        parts = urllib3.util.parse_url(request.url)
        proxy = self.proxy_for(parts.scheme or "http", parts.netloc or "")
        manager = self.manager(proxy)
        try:
            pool = manager.connection_from_host(parts.host, parts.port, parts.scheme, pool_kwargs=self.tls(parts.scheme, verify, cert))
            target = request.url if proxy and parts.scheme != "https" else parts.request_uri
            raw = pool.urlopen(
                request.method, target, body=request.body, headers=request.headers, redirect=False, assert_same_host=False,
                preload_content=False, decode_content=False, retries=self.retries,
                timeout=Timeout(connect=timeout, read=timeout) if timeout is not None else Timeout.DEFAULT_TIMEOUT,
            )
        except Exception as e:
            mapped = httperrors.from_send(e, request)
            if mapped is None:
                raise
            raise mapped from e
        return Response(raw, request, self)

    def follow(self, response: Response, options: dict[str, Any]) -> Response:
        """Follow redirects as requests does: 301/302/303 of a POST (303: of anything but HEAD) become a GET
        without a body; Authorization is dropped when the host changes."""
        history: list[Response] = []
        while response.is_redirect:
            if len(history) >= MAX_REDIRECTS:
                raise httperrors.TooManyRedirects(f"exceeded {MAX_REDIRECTS} redirects", request=response.request)
            try:
                response.content  # noqa: B018 - drained, so the connection is reused
            except httperrors.RequestException:
                pass
            response.close()
            previous = response.request
            request = previous.copy()
            request.url = urljoin(response.url, response.headers["Location"])
            status = response.status_code
            if (status == 303 and previous.method != "HEAD") or (status in (301, 302) and previous.method == "POST"):
                request.method = "GET"
            if status not in (307, 308):
                for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
                    request.headers.discard(name)
                request.body = None
            if _strip_auth(previous.url, request.url):
                request.headers.discard("Authorization")
            history.append(response)
            response = self.send_hooked(request, options)
        response.history = history
        return response

    def proxy_for(self, scheme: str, netloc: str) -> Optional[str]:
        key = (scheme, netloc)
        if key not in self._proxies:
            self._proxies[key] = environment_proxy(f"{scheme}://{netloc}/")
        return self._proxies[key]

    def manager(self, proxy: Optional[str]) -> urllib3.PoolManager:
        manager = self._managers.get(proxy)
        if manager is None:
            # Two pools: the registry's, and its token realm's when that lives on another host.
            if proxy is None:
                manager = urllib3.PoolManager(num_pools=2, maxsize=self.pool_size, block=False)
            else:
                manager = urllib3.ProxyManager(
                    proxy, num_pools=2, maxsize=self.pool_size, block=False, proxy_headers=proxy_authorization(proxy)
                )
            manager.pool_classes_by_scheme = self.pool_classes
            manager = self._managers.setdefault(proxy, manager)
        return manager

    def tls(self, scheme: Optional[str], verify: Union[bool, str], cert: Optional[tuple[str, str]]) -> dict[str, Any]:
        """Pool settings for https: one SSL context per trust (CA file, client pair), its files read once
        (urllib3 would read them again for every connection)."""
        if scheme != "https":
            return {}
        if verify is True:  # requests' rule: the environment's bundle, else certifi's
            import os

            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        key = (verify, cert)
        with self._contexts_lock:  # one read of the files: the first requests of a run all come at once
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = _context(verify, cert)
        return {"ssl_context": context, "cert_reqs": "CERT_REQUIRED" if verify is not False else "CERT_NONE"}

    def close(self) -> None:
        for manager in self._managers.values():
            manager.clear()


def _context(verify: Union[bool, str], cert: Optional[tuple[str, str]]) -> Any:
    import ssl

    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify is not False else ssl.CERT_NONE)
    try:
        if verify is not False:
            import os

            if verify is True:
                import certifi

                context.load_verify_locations(cafile=certifi.where())
            elif os.path.isdir(verify):
                context.load_verify_locations(capath=verify)
            else:
                context.load_verify_locations(cafile=verify)
        if cert:
            context.load_cert_chain(*cert)
    except (ssl.SSLError, OSError) as e:
        raise httperrors.SSLError(e) from e
    return context


def _strip_auth(old: str, new: str) -> bool:
    """requests' should_strip_auth: another host, or another scheme or port (http:80 -> https:443 kept)."""
    before, after = urlsplit(old), urlsplit(new)
    if before.hostname != after.hostname:
        return True
    if before.scheme == "http" and before.port in (80, None) and after.scheme == "https" and after.port in (443, None):
        return False
    defaults = ({"http": 80, "https": 443}.get(before.scheme), None)
    if before.scheme == after.scheme and before.port in defaults and after.port in defaults:
        return False
    return before.port != after.port or before.scheme != after.scheme

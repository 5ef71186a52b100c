"""Why a request got no answer, in plain words: refused, no such name, silent, plain HTTP, TLS."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
from typing import Iterator, Optional
from urllib.parse import urljoin, urlsplit

from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    ReadTimeoutError,
)

from manifest_spec.errors import RegistryError
from manifest_spec.registry.deadline import Attempts
from manifest_spec.registry.httpclient import Response
from manifest_spec.registry.httperrors import Timeout

# What OpenSSL says when the peer answered a TLS hello with plain HTTP bytes.
_PLAIN_HTTP_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "UNEXPECTED_EOF")
_QUERY_RE = re.compile(r"\?[\w.~%-]+=[^\s'\")]*")  # "?_state=...&digest=..." in urllib3's "with url: ..."


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (with or without a port): where docker falls back to http."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (args, reason, __cause__, __context__), each once."""
    stack: list[BaseException] = [error]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend(x for x in (getattr(current, "reason", None), current.__cause__, current.__context__) if isinstance(x, BaseException))


def speaks_plain_http(error: BaseException) -> bool:
    """A TLS handshake that met an HTTP answer (not a certificate problem)."""
    for cause in causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False
        if isinstance(cause, ssl.SSLError) and any(r in f"{cause.reason} {cause}".upper().replace(" ", "_") for r in _PLAIN_HTTP_REASONS):
            return True
    return False


def tries(attempts: Optional[Attempts]) -> str:
    return f" (after {attempts.tries} tries)" if attempts is not None and attempts.tries > 1 else ""


def describe(error: BaseException, who: str, attempts: Optional[Attempts], timeout: float) -> str:
    """One clause naming `who` (host:port) and what happened; never a URL's query."""
    chain = list(causes(error))
    # Refused and unresolvable first: urllib3's NewConnectionError is a ConnectTimeoutError.
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return f"{who}: connection refused (is the registry running, and on that port?){tries(attempts)}"
    if any(isinstance(c, (NameResolutionError, socket.gaierror)) for c in chain):
        return f"{who}: the name does not resolve (check the registry's host name)"
    if (attempts is not None and attempts.expired) or isinstance(error, Timeout) \
            or any(isinstance(c, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)) for c in chain):
        return f"{who} did not answer within {timeout:g} s{tries(attempts)}"
    if any(isinstance(c, (ConnectionResetError, ConnectionAbortedError)) for c in chain):
        return f"{who} reset the connection{tries(attempts)}"
    if any("RemoteDisconnected" in type(c).__name__ or "closed connection without response" in str(c) for c in chain):
        return f"{who} closed the connection without answering{tries(attempts)}"
    return f"request to {who} failed: {short(error)}"


def short(error: BaseException) -> str:
    # An upload URL's query carries the registry's signed state (on some, a storage credential).
    text = _QUERY_RE.sub("", str(error))
    return text if len(text) < 200 else text[:200] + "…"


def error_body(response: Response) -> tuple[str, str]:
    """The first OCI error (`{"errors": [{"code", "message", "detail"}]}`) or the text body."""
    text = response.text[:2000] if response.content else ""
    try:
        errors = json.loads(text).get("errors") or []
        first = errors[0]
        message = str(first.get("message", ""))
        detail = first.get("detail")
        if detail:
            message += f" ({json.dumps(detail) if not isinstance(detail, str) else detail})"
        return str(first.get("code", "")), message
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", " ".join(text.split())[:200]


def tls_problem(error: Exception, host: str) -> str:
    """The innermost ssl reason (cut by _short otherwise) and what to do about it."""
    for current in causes(error):
        if isinstance(current, ssl.SSLCertVerificationError):
            return (
                f"certificate verify failed: {current.verify_message}; trust its CA (<certs dir>/{host}/ca.crt "
                "with --certs-dir, default /etc/docker/certs.d, or REQUESTS_CA_BUNDLE) or use --insecure"
            )
        if isinstance(current, ssl.SSLError) and "CERTIFICATE" in str(current.reason or "") and "ALERT" in str(current.reason or ""):
            return (
                f"the registry refused the connection ({current.reason}): it wants a client certificate it trusts; "
                f"put client.cert and client.key in <certs dir>/{host}/ (--certs-dir)"
            )
    return f"{short(error)} (--insecure skips verification)"


def no_query(url: str) -> str:
    """host:port/path for a log line or message: a query may carry signed state or a credential."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def refused(response: Response, host: str, what: str, body: tuple[str, str], expected: str = "") -> RegistryError:
    """An answer that is not what was asked for, in one line: what failed, who answered (`host` is
    the registry asked), their code and reason (`body`: error_body's, read by the caller), and
    (`expected`) what the protocol allows there instead."""
    status = response.status_code
    who = urlsplit(response.url or "").netloc or host
    if response.is_redirect:
        where = no_query(urljoin(response.url, response.headers.get("Location", "")))
        method = response.request.method if response.request is not None else "request"
        return RegistryError(
            f"{what}: {who} answered the {method} with a {status} redirect to {where}; a write is followed "
            "only through 307/308 (method and body kept), so it did not land",
            status=status,
        )
    code, message = body
    reason = f"{code}: {message}" if code else (message or response.reason or "")
    if who != host:
        hint = f" (a host {host} sent us to; credentials go only to {host})" if status == 401 else ""
    else:
        hint = {
            401: " (check --username/--password or your docker login)",
            403: " (the credentials lack permission for this repository)",
        }.get(status, "")
    wanted = f"; expected {expected}" if expected else ""
    line = f"{what}: {who} answered HTTP {status} {reason}{hint}".rstrip()
    return RegistryError((line.rstrip(".") + wanted) if wanted else line, status=status, code=code)

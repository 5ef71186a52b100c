"""HTTP sessions for registries: timeouts, retries with backoff, TLS trust from certs.d."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError, SSLError
from urllib3.util.retry import Retry

from manifest_spec.errors import TLSConfigError
from manifest_spec.registry.credentials import Credentials, find_credentials
from manifest_spec.registry.deadline import POOL_CLASSES, may_try_again, note_retry
from manifest_spec.registry.httpclient import PreparedRequest, Session

log = logging.getLogger(__name__)

DEFAULT_CERTS_DIR = "/etc/docker/certs.d"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Reads are always safe to repeat; a manifest PUT of the same bytes is too. POST and PATCH
# (upload sessions) are not: a repeated PATCH would append twice.
RETRY_METHODS = frozenset({"GET", "HEAD", "PUT", "OPTIONS"})
RETRY_AFTER_CAP = 30.0


@dataclass(frozen=True)
class ClientOptions:
    """How to reach registries; built by the CLI from global flags."""

    plain_http: bool = False
    insecure: bool = False
    credentials: Optional[Credentials] = None  # from flags or environment ...
    credentials_host: Optional[str] = None  # ... for this registry only (None: every registry)
    docker_cfg: Optional[str] = None
    certs_dir: Optional[str] = None
    timeout: float = 60.0
    attempts: int = 4
    pool_size: int = 8

    def credentials_for(self, host: str) -> Optional[Credentials]:
        """Flags and environment for their registry, else docker / podman config, else anonymous."""
        if self.credentials is not None and self.credentials_host in (None, host):
            return self.credentials
        return find_credentials(host, docker_cfg=self.docker_cfg)



class _Retry(Retry):
    """urllib3's Retry, with Retry-After capped and every retry logged (URL without query)."""

    # urllib3 retries any status with a Retry-After in {413, 429, 503}: a 413 never gets smaller.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def get_retry_after(self, response: Any) -> Optional[float]:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None  # "soon", "-5": unreadable, so the normal backoff applies
        return None if seconds is None else max(0.0, min(seconds, RETRY_AFTER_CAP))

    def increment(  # type: ignore[override]
        self, method: Optional[str] = None, url: Optional[str] = None, *args: Any, **kwargs: Any
    ) -> Retry:
        response, error, pool = kwargs.get("response"), kwargs.get("error"), kwargs.get("_pool")
        if isinstance(error, SSLError):
            raise MaxRetryError(pool, url or "", error) from error  # type: ignore[arg-type]  # a TLS mismatch does not heal by waiting
        why = f"HTTP {response.status}" if response is not None else type(error).__name__ if error else "?"
        host = f"{pool.host}:{pool.port}" if pool is not None and pool.port else getattr(pool, "host", "")
        log.debug("retrying %s %s%s after %s", method, host, urlsplit(url or "").path, why)
        retry = super().increment(method, url, *args, **kwargs)  # raises when the budget is spent
        wait = (retry.get_retry_after(response) if response is not None else None) or retry.get_backoff_time()
        if not may_try_again(wait + retry.backoff_jitter):
            # Past the operation's window (deadline.py): the last answer or error stands, no more tries.
            log.debug("no more tries for %s %s%s: the retry window of the timeout is spent", method, host, urlsplit(url or "").path)
            raise MaxRetryError(pool, url or "", error or ResponseError(why)) from error  # type: ignore[arg-type]
        note_retry()
        return retry


class _NoUrllib3RetryWarning(logging.Filter):
    """urllib3 warns `Retrying (...) after connection broken by ...: <url>` with the URL's query
    (an upload URL's query carries a signed state, on some registries a storage credential).
    _Retry.increment already logs every retry, path only, with --debug: drop urllib3's line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying (")


logging.getLogger("urllib3.connectionpool").addFilter(_NoUrllib3RetryWarning())


def make_retry(attempts: int) -> Retry:
    """Capped exponential backoff with jitter; the last response comes back instead of raising."""
    return _Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        backoff_factor=0.5,
        backoff_max=8.0,
        backoff_jitter=0.5,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=RETRY_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
        redirect=5,
    )


@dataclass(frozen=True)
class TLSSettings:
    """What requests to one registry verify against, and the client certificate they present."""

    verify: Union[bool, str]
    cert: Optional[tuple[str, str]]


_BUNDLES: dict[tuple[str, ...], str] = {}


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def _bundle(ca_files: list[Path]) -> str:
    """One CA file: the usual trust store plus the registry's own CAs (docker adds, not replaces)."""
    key = tuple(str(p) for p in ca_files)
    if key not in _BUNDLES:
        import atexit
        import tempfile

        import certifi

        base = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        parts = [Path(base).read_text()] if base and Path(base).is_file() else []
        parts += [p.read_text() for p in ca_files]
        handle, path = tempfile.mkstemp(prefix="manifest-spec-ca-", suffix=".pem")
        with os.fdopen(handle, "w") as f:
            f.write("\n".join(parts))
        atexit.register(_remove, path)
        _BUNDLES[key] = path
    return _BUNDLES[key]


CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def check_ca_environment() -> None:
    """A CA bundle variable naming a missing file: say so, instead of requests' OSError at the first request."""
    for name in CA_VARIABLES:
        value = os.environ.get(name)
        if value and not Path(value).is_file():
            raise TLSConfigError(f"{name}={value}: no such CA file; fix or unset {name}")


def tls_settings(host: str, *, insecure: bool, certs_dir: Optional[str]) -> TLSSettings:
    """docker's layout: <certs dir>/<host[:port]>/*.crt are CAs, *.cert + *.key a client pair."""
    if insecure:
        return TLSSettings(False, None)
    directory = Path(certs_dir or DEFAULT_CERTS_DIR) / host
    try:
        entries = sorted(directory.iterdir()) if directory.is_dir() else []
    except OSError:
        entries = []
    cas = [p for p in entries if p.suffix == ".crt"]
    cert = None
    for certificate in (p for p in entries if p.suffix == ".cert"):
        key = certificate.with_suffix(".key")
        if key.is_file():
            cert = (str(certificate), str(key))
            break
    if cas or cert:
        log.debug("TLS for %s from %s: %d CA file(s)%s", host, directory, len(cas), ", client certificate" if cert else "")
    return TLSSettings(_bundle(cas) if cas else True, cert)


def make_session(host: str, *, insecure: bool, certs_dir: Optional[str], attempts: int, pool_size: int) -> Session:
    """One session per registry host: pooled connections, retries, TLS trust; every request gets an overall deadline."""
    session = Session(make_retry(attempts), pool_size, POOL_CLASSES)
    tls = tls_settings(host, insecure=insecure, certs_dir=certs_dir)
    session.verify = tls.verify
    session.cert = tls.cert
    return session


def no_auth(request: PreparedRequest) -> PreparedRequest:
    """An `auth` that attaches nothing: for the token realm, which gets no registry credentials."""
    return request

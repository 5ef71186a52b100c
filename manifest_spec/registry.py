"""Talk to one registry: manifests and blobs over `/v2/`, every byte verified, errors made clear."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from manifest_spec.auth import RegistryAuth
from manifest_spec.credentials import Credentials, find_credentials
from manifest_spec.errors import RegistryError, VerificationError
from manifest_spec.index import MANIFEST_ACCEPT, Descriptor, digest_of
from manifest_spec.reference import Reference
from manifest_spec.transport import make_session

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what distribution itself accepts for a manifest
MAX_CONFIG_BYTES = 8 * 1024 * 1024
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
CHUNK = 64 * 1024


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


@dataclass(frozen=True)
class Manifest:
    """Manifest bytes exactly as received, with the digest they hash to."""

    data: bytes
    media_type: str
    digest: str

    @property
    def size(self) -> int:
        return len(self.data)

    def json(self) -> dict[str, Any]:
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise VerificationError(f"manifest {self.digest} is not a JSON object")
        return value



BODY_RETRIES = 2  # a body cut short or reset mid-way: GET again (urllib3 retries only until the headers)


class BrokenBodyError(RegistryError):
    """The connection broke while a body was being read; the request itself may be repeated."""


class RegistryClient:
    """One registry host, one `requests.Session` (connections reused, safe to share by threads)."""

    def __init__(self, host: str, options: ClientOptions) -> None:
        self.host = host
        scheme = "http" if options.plain_http else "https"
        self.base = f"{scheme}://{host}"
        self.timeout = options.timeout
        self.body_retries = min(options.attempts, BODY_RETRIES)
        self.session = make_session(
            host, insecure=options.insecure, certs_dir=options.certs_dir, attempts=options.attempts, pool_size=options.pool_size
        )
        # Passed on every request: requests would otherwise let REQUESTS_CA_BUNDLE override it.
        self.verify = self.session.verify
        self.session.auth = RegistryAuth(host, scheme, options.credentials_for(host), self.send_unauthenticated)

    def close(self) -> None:
        self.session.close()

    # -- plumbing ------------------------------------------------------------------------
    def request(self, method: str, path_or_url: str, what: str, **kwargs: Any) -> requests.Response:
        url = urljoin(self.base, path_or_url)
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        log.debug("%s %s", method, urlsplit(url).path)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.exceptions.SSLError as e:
            raise RegistryError(f"{what}: TLS error talking to {self.host}: {_tls_problem(e, self.host)}") from e
        except requests.exceptions.ConnectionError as e:
            raise RegistryError(f"{what}: cannot connect to {self.host}: {_short(e)}") from e
        except requests.exceptions.Timeout as e:
            raise RegistryError(f"{what}: {self.host} did not answer within {self.timeout:g} s") from e
        except requests.exceptions.RequestException as e:
            raise RegistryError(f"{what}: request to {self.host} failed: {_short(e)}") from e

    def send_unauthenticated(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """For the token realm: same retries and TLS trust, but no registry credentials attached."""
        return self.request(method, url, f"token from {urlsplit(url).netloc}", auth=_no_auth, **kwargs)

    def fail(self, response: requests.Response, what: str) -> RegistryError:
        """Turn an unexpected answer into one line: what failed, the registry's code and reason."""
        status = response.status_code
        with self.reading_body(what):
            code, message = _error_body(response)
        reason = f"{code}: {message}" if code else (message or response.reason or "")
        hint = {
            401: " (check --username/--password or your docker login)",
            403: " (the credentials lack permission for this repository)",
        }.get(status, "")
        return RegistryError(f"{what}: {self.host} answered HTTP {status} {reason}{hint}".rstrip(), status=status, code=code)

    def read_limited(self, response: requests.Response, limit: int, what: str) -> bytes:
        """Read a body, refusing anything larger than `limit` before it is all in memory."""
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            response.close()
            raise VerificationError(f"{what}: {declared} bytes is over the {limit} byte limit")
        chunks, total = [], 0
        with self.reading_body(what):
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if total > limit:
                    response.close()
                    raise VerificationError(f"{what}: more than {limit} bytes, over the limit")
                chunks.append(chunk)
        return b"".join(chunks)

    @contextmanager
    def reading_body(self, what: str) -> Iterator[None]:
        """A body cut short or reset mid-way: iter_content raises these, not the request, so
        request() cannot wrap them; this does, for every place that streams a body."""
        try:
            yield
        except requests.exceptions.RequestException as e:
            raise BrokenBodyError(f"{what}: the connection to {self.host} broke while reading the body: {_short(e)}") from e

    def again_if_body_breaks(self, read: Callable[[], T], path: str) -> T:
        """Run `read` (a GET of `path` and its body) again when the body breaks off mid-way:
        urllib3 retries failed requests, not bodies cut short after the answer began."""
        for attempt in range(self.body_retries + 1):
            try:
                return read()
            except BrokenBodyError:
                if attempt >= self.body_retries:
                    raise
                log.debug("retrying GET %s after the body broke off", urlsplit(path).path)
                time.sleep(0.25 * attempt)
        raise AssertionError("unreachable")

    def get_body(self, path: str, limit: int, what: str, **kwargs: Any) -> tuple[requests.Response, bytes]:
        """GET a whole body (200 only), read again when the connection breaks in the middle of it."""

        def read() -> tuple[requests.Response, bytes]:
            response = self.request("GET", path, what, stream=True, **kwargs)
            if response.status_code != 200:
                raise self.fail(response, what)
            return response, self.read_limited(response, limit, what)

        return self.again_if_body_breaks(read, path)

    # -- manifests -----------------------------------------------------------------------
    def get_manifest(self, repository: str, ref: str, what: str) -> Manifest:
        """GET a manifest with every media type accepted; digest, type and size verified."""
        if ":" in ref and not ref.startswith("sha256:"):
            raise VerificationError(f"{what}: digest {ref} uses an algorithm this tool cannot verify (only sha256)")
        response, data = self.get_body(
            f"/v2/{repository}/manifests/{ref}", MAX_MANIFEST_BYTES, what, headers={"Accept": ", ".join(MANIFEST_ACCEPT)}
        )
        digest = digest_of(data)
        if ref.startswith("sha256:") and digest != ref:
            raise VerificationError(f"{what}: the registry sent content with digest {digest}, not the {ref} asked for")
        header = response.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise VerificationError(f"{what}: Docker-Content-Digest {header} does not match the content ({digest})")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        media_type = _check_manifest_type(data, content_type, what)
        return Manifest(data, media_type, digest)

    def manifest_exists(self, repository: str, digest: str, what: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{digest}", what, headers={"Accept": ", ".join(MANIFEST_ACCEPT)}
        )
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.fail(response, what)

    def put_manifest(self, repository: str, ref: str, data: bytes, media_type: str, what: str) -> str:
        """PUT exact bytes; the registry must answer with the digest of those bytes."""
        response = self.request(
            "PUT", f"/v2/{repository}/manifests/{ref}", what, data=data, headers={"Content-Type": media_type}
        )
        if response.status_code not in (200, 201):
            raise self.fail(response, what)
        expected = digest_of(data)
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != expected:
            raise VerificationError(f"{what}: the registry stored digest {returned}, but the bytes sent hash to {expected}")
        return expected

    # -- blobs ---------------------------------------------------------------------------
    def get_blob(self, repository: str, digest: str, limit: int, what: str) -> bytes:
        _, data = self.get_body(f"/v2/{repository}/blobs/{digest}", limit, what)
        if digest_of(data) != digest:
            raise VerificationError(f"{what}: blob content hashes to {digest_of(data)}, not {digest}")
        return data

    def blob_exists(self, repository: str, digest: str, what: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", what)
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.fail(response, what)

    def mount_blob(self, repository: str, digest: str, source_repository: str, what: str) -> Optional[str]:
        """Cross-repository mount: None when mounted (or already there), else the upload session the
        registry opened instead (202), for the caller to stream the blob into: nothing left dangling
        ("" when a 202 names no session: the caller opens its own)."""
        response = self.request(
            "POST", f"/v2/{repository}/blobs/uploads/", what, params={"mount": digest, "from": source_repository}
        )
        if response.status_code == 201:
            return None
        if response.status_code == 202:
            location = response.headers.get("Location")
            return urljoin(self.base, location) if location else ""
        raise self.fail(response, what)

    # -- read-only look-ups for plan, dry-run and idempotent pushes -------------------------
    def head_manifest(self, repository: str, ref: str, what: str) -> Optional[Descriptor]:
        """What a tag or digest holds now (media type, digest, size), or None when it does not exist."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{ref}", what, headers={"Accept": ", ".join(MANIFEST_ACCEPT)}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.fail(response, what)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest.startswith("sha256:"):
            # Some registries leave the header out of HEAD answers: GET and hash the bytes instead.
            manifest = self.get_manifest(repository, ref, what)
            return Descriptor(manifest.media_type, manifest.digest, manifest.size)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        length = response.headers.get("Content-Length", "")
        return Descriptor(media_type, digest, int(length) if length.isdigit() else 0)


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _check_manifest_type(data: bytes, content_type: str, what: str) -> str:
    try:
        body = json.loads(data)
    except ValueError as e:
        raise VerificationError(f"{what}: the manifest is not valid JSON ({e})") from e
    if not isinstance(body, dict):
        raise VerificationError(f"{what}: the manifest is not a JSON object")
    if content_type in SCHEMA1_TYPES or body.get("schemaVersion") == 1:
        raise VerificationError(
            f"{what}: is a Docker schema 1 manifest, which registries and docker no longer accept; rebuild and push the image again"
        )
    declared = body.get("mediaType")
    if isinstance(declared, str) and declared and content_type and declared != content_type:
        raise VerificationError(f"{what}: served as {content_type} but the manifest says mediaType {declared}")
    media_type = declared if isinstance(declared, str) and declared else content_type
    if media_type not in MANIFEST_ACCEPT:
        raise VerificationError(f"{what}: unsupported manifest media type {media_type or '(none)'}")
    return media_type


def _error_body(response: requests.Response) -> tuple[str, str]:
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


_QUERY_RE = re.compile(r"\?[\w.~%-]+=[^\s'\")]*")  # "?_state=...&digest=..." in urllib3's "with url: ..."


def _short(error: Exception) -> str:
    # An upload URL's query carries the registry's signed state (on some, a storage credential).
    text = _QUERY_RE.sub("", str(error))
    return text if len(text) < 200 else text[:200] + "…"


def _tls_problem(error: Exception, host: str) -> str:
    """The innermost ssl reason (cut by _short otherwise) and what to do about it."""
    import ssl

    stack: list[BaseException] = [error]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
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
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend(x for x in (getattr(current, "reason", None), current.__cause__, current.__context__) if isinstance(x, BaseException))
    return f"{_short(error)} (--insecure skips verification)"



class ClientPool:
    """One client per registry host, made on first use and shared by every thread."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.clients: dict[str, RegistryClient] = {}
        self.lock = threading.Lock()

    def __call__(self, reference: Reference) -> RegistryClient:
        with self.lock:
            client = self.clients.get(reference.api_host)
            if client is None:
                client = self.clients[reference.api_host] = RegistryClient(reference.api_host, self.options)
            return client

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients.values():
            client.close()

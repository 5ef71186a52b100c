"""Talk to one registry: manifests and blobs over `/v2/`, every byte verified, errors made clear."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar
from urllib.parse import urljoin, urlsplit

from manifest_spec.errors import (
    BrokenBodyError,
    RegistryError,
    TransientError,
    VerificationError,
)
from manifest_spec.oci.index import MANIFEST_ACCEPT, Descriptor, digest_as, digest_of
from manifest_spec.oci.manifest import Manifest
from manifest_spec.oci.reference import Reference
from manifest_spec.registry import deadline
from manifest_spec.registry.auth import RegistryAuth
from manifest_spec.registry.failures import describe as describe_failure
from manifest_spec.registry.failures import (
    error_body,
    is_loopback,
    no_query,
    refused,
    speaks_plain_http,
    tls_problem,
)
from manifest_spec.registry.httpclient import Response, read_capped
from manifest_spec.registry.httperrors import (
    ChunkedEncodingError,
    ContentDecodingError,
    RequestException,
    SSLError,
)
from manifest_spec.registry.transport import (
    RETRY_METHODS,
    RETRY_STATUSES,
    check_ca_environment,
    make_session,
    no_auth,
)
from manifest_spec.registry.transport import ClientOptions as ClientOptions

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what distribution itself accepts for a manifest
MAX_CONFIG_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024
VERIFIABLE = ("sha256:", "sha512:")
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
MAX_WRITE_REDIRECTS = 5
BODY_RETRIES = 2  # a body cut short or reset mid-way: GET again (urllib3 retries only until the headers)


class RegistryClient:
    """One registry host, one `httpclient.Session` (connections reused, safe to share by threads)."""

    def __init__(self, host: str, options: ClientOptions) -> None:
        self.host = host
        scheme = "http" if options.plain_http else "https"
        self.base = f"{scheme}://{host}"
        if scheme == "https" and not options.insecure:
            check_ca_environment()
        self.timeout = options.timeout
        self.body_retries = min(options.attempts, BODY_RETRIES)
        self.attempts = options.attempts
        self.session = make_session(
            host, insecure=options.insecure, certs_dir=options.certs_dir, attempts=options.attempts, pool_size=options.pool_size
        )
        # Passed on every request: requests would otherwise let REQUESTS_CA_BUNDLE override it.
        self.verify = self.session.verify
        self.session.auth = RegistryAuth(host, scheme, options.credentials_for(host), self.send_unauthenticated)

    def close(self) -> None:
        self.session.close()

    # -- plumbing ------------------------------------------------------------------------
    def request(self, method: str, path_or_url: str, what: str, **kwargs: Any) -> Response:
        """Send one request; a write follows only 307/308 (method, body kept), anything else is returned."""
        url = urljoin(self.base, path_or_url)
        if method not in WRITE_METHODS:
            return self.send_once(method, url, what, **kwargs)
        # requests would turn a 301/302/303 of a PUT into a GET and hand back *that* answer:
        # a write that never landed would look like success.
        kwargs["allow_redirects"] = False
        for _ in range(MAX_WRITE_REDIRECTS):
            response = self.send_once(method, url, what, **kwargs)
            location = response.headers.get("Location")
            if not response.is_redirect or response.status_code not in (307, 308) or not location:
                return response
            url = urljoin(response.url, location)
            log.debug("%s redirected (%d) to %s", method, response.status_code, no_query(url))
        raise RegistryError(f"{what}: more than {MAX_WRITE_REDIRECTS} redirects of a {method}; nothing was written")

    def send_once(self, method: str, url: str, what: str, **kwargs: Any) -> Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        started = time.monotonic()
        with deadline.attempt(self.timeout) as attempts:
            return self.send_counted(method, url, what, attempts, started, **kwargs)

    def send_counted(self, method: str, url: str, what: str, attempts: deadline.Attempts, started: float, **kwargs: Any) -> Response:
        try:
            response = self.session.request(method, url, **kwargs)
        except RegistryError:  # raised by the authentication hook: a refusal, a failed token fetch
            log.debug("%s %s stopped after %.0f ms (try %d)", method, no_query(url), deadline.elapsed_ms(started), attempts.tries)
            raise
        except RequestException as e:
            sent = e.request.url if e.request is not None else None
            failed = sent if isinstance(sent, str) and sent else url  # the host a redirect led to
            who = urlsplit(failed).netloc or self.host
            log.debug("%s %s failed after %.0f ms (try %d): %s", method, no_query(failed), deadline.elapsed_ms(started), attempts.tries, type(e).__name__)
            if isinstance(e, SSLError) and speaks_plain_http(e) and who == self.host:
                if is_loopback(self.host) and url.startswith("https://"):
                    # As docker does for registries on this machine: the server speaks http, so use it.
                    log.debug("%s speaks plain HTTP; loopback registry: using http", self.host)
                    self.use_plain_http()
                    return self.send_once(method, "http://" + url[len("https://"):], what, **kwargs)
                raise RegistryError(f"{what}: {who} speaks plain HTTP: use --plain-http") from e
            if isinstance(e, SSLError):
                raise RegistryError(f"{what}: TLS error talking to {who}: {tls_problem(e, who)}") from e
            if isinstance(e, (ChunkedEncodingError, ContentDecodingError)):
                raise BrokenBodyError(f"{what}: {self.body_broke(who, attempts)}") from e
            error = TransientError if method not in RETRY_METHODS else RegistryError  # urllib3 retried the others already
            raise error(f"{what}: {describe_failure(e, who, attempts, self.timeout)}") from e
        response.attempts = attempts  # type: ignore[attr-defined]  # read by reading_body
        for step in [*response.history, response]:
            log.debug("%s %s -> %d in %.0f ms (try %d)", step.request.method, no_query(step.url), step.status_code, deadline.elapsed_ms(started), attempts.tries)
        return response

    def use_plain_http(self) -> None:
        self.base = f"http://{self.host}"
        auth = self.session.auth
        if isinstance(auth, RegistryAuth):
            auth.https = False

    def body_broke(self, who: str, attempts: Optional[deadline.Attempts]) -> str:
        if attempts is not None and attempts.expired:
            return f"{who} did not send the whole answer within {self.timeout:g} s"
        return f"the connection to {who} broke while reading the body"

    def send_unauthenticated(self, method: str, url: str, **kwargs: Any) -> Response:
        """For the token realm: same retries and TLS trust, but no registry credentials attached."""
        what = f"get a token for {self.host}"

        def attempt() -> Response:
            response = self.request(method, url, what, auth=no_auth, **kwargs)
            if method == "POST" and response.status_code in RETRY_STATUSES:  # urllib3 repeats only the GET
                raise self.transient(response, what)
            return response

        return self.again_if_body_breaks(attempt, url, self.attempts)

    def fail(self, response: Response, what: str, expected: str = "") -> RegistryError:
        """Turn an unexpected answer into one line: what failed, who answered, their code and reason,
        and (`expected`) what the protocol allows there instead."""
        if response.is_redirect:
            return refused(response, self.host, what, ("", ""))
        with self.reading_body(what, response):
            body = error_body(response)
        return refused(response, self.host, what, body, expected)

    def read_limited(self, response: Response, limit: int, what: str) -> bytes:
        """Read a body, refusing anything larger than `limit` before it is all in memory."""
        with self.reading_body(what, response):
            return read_capped(response, limit, what, CHUNK)

    @contextmanager
    def reading_body(self, what: str, response: Response) -> Iterator[None]:
        """A body cut short, reset mid-way or past its deadline: iter_content raises these, not the
        request, so request() cannot wrap them; this does, for every place that streams a body."""
        try:
            yield
        except RequestException as e:
            who = urlsplit(response.url or "").netloc or self.host
            raise BrokenBodyError(f"{what}: {self.body_broke(who, getattr(response, 'attempts', None))}") from e

    def again_if_body_breaks(self, read: Callable[[], T], path: str, retries: Optional[int] = None) -> T:
        """Run `read` (a GET of `path` and its body, or a whole upload session) again when it breaks
        off (TransientError): urllib3 retries failed requests, not bodies cut short after the answer
        began, nor POST and PATCH."""
        retries = self.body_retries if retries is None else retries
        with deadline.operation(self.timeout):  # one window for every read of it (deadline.WINDOW)
            for attempt in range(retries + 1):
                try:
                    return read()
                except TransientError as e:
                    pause = min(0.25 * 2**attempt, 4.0)
                    if attempt >= retries or not deadline.may_try_again(pause):
                        raise
                    log.debug("again (%d of %d): %s %s after: %s", attempt + 2, retries + 1, self.host, urlsplit(path).path, e)
                    time.sleep(pause)
        raise AssertionError("unreachable")

    def transient(self, response: Response, what: str, expected: str = "") -> RegistryError:
        """fail(), as a TransientError when the answer is one worth another try (503, 429, ...)."""
        error = self.fail(response, what, expected)
        if response.status_code in RETRY_STATUSES:
            return TransientError(str(error), status=error.status, code=error.code)
        return error

    def get_body(self, path: str, limit: int, what: str, **kwargs: Any) -> tuple[Response, bytes]:
        """GET a whole body (200 only), read again when the connection breaks in the middle of it."""

        def read() -> tuple[Response, bytes]:
            response = self.request("GET", path, what, stream=True, **kwargs)
            if response.status_code != 200:
                raise self.fail(response, what)
            return response, self.read_limited(response, limit, what)

        return self.again_if_body_breaks(read, path)

    # -- manifests -----------------------------------------------------------------------
    def get_manifest(self, repository: str, ref: str, what: str) -> Manifest:
        """GET a manifest with every media type accepted; digest, type and size verified."""
        if ":" in ref and not ref.startswith(VERIFIABLE):
            raise VerificationError(f"{what}: digest {ref} uses an algorithm this tool cannot verify (only sha256 and sha512)")
        response, data = self.get_body(
            f"/v2/{repository}/manifests/{ref}", MAX_MANIFEST_BYTES, what, headers={"Accept": ", ".join(MANIFEST_ACCEPT)}
        )
        digest = digest_of(data)
        if ":" in ref and digest_as(data, ref) != ref:
            raise VerificationError(f"{what}: the registry sent content with digest {digest_as(data, ref)}, not the {ref} asked for")
        header = response.headers.get("Docker-Content-Digest")
        if header and header.startswith(VERIFIABLE) and digest_as(data, header) != header:
            raise VerificationError(f"{what}: Docker-Content-Digest {header} does not match the content ({digest_as(data, header)})")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        # Loaded by the first answer, not before the first request.
        from manifest_spec.oci.shape import check_manifest

        media_type = check_manifest(data, content_type, what)
        return Manifest(data, media_type, digest)

    def manifest_exists(self, repository: str, digest: str, what: str) -> bool:
        return self.head_manifest(repository, digest, what) is not None

    def put_manifest(self, repository: str, ref: str, data: bytes, media_type: str, what: str) -> str:
        """PUT exact bytes; the registry must answer with the digest of those bytes. An answer cut short
        (its body broke off after the status line) is confirmed by asking what `ref` holds now."""
        expected = digest_of(data)
        try:
            response = self.request(
                "PUT", f"/v2/{repository}/manifests/{ref}", what, data=data, headers={"Content-Type": media_type}
            )
        except BrokenBodyError as broken:
            self.confirm_put(repository, ref, expected, what, f"its answer broke off ({broken})")
            return expected
        if response.status_code not in (200, 201):
            raise self.fail(response, what, "201 Created")
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != expected:
            raise VerificationError(f"{what}: the registry stored digest {returned}, but the bytes sent hash to {expected}")
        if not returned:
            # Registries send the digest of what they stored; a 2xx without it (a proxy's page, a
            # registry that drops it) is confirmed by asking what `ref` holds now: one round trip.
            self.confirm_put(repository, ref, expected, what, f"the PUT was answered HTTP {response.status_code} without a digest")
        return expected

    def confirm_put(self, repository: str, ref: str, expected: str, what: str, why: str) -> None:
        """A PUT whose answer does not say what was stored: a HEAD says whether `ref` holds `expected`."""
        held = self.head_manifest(repository, ref, what)
        if held is None or held.digest != expected:
            now = held.digest if held else "nothing"
            raise VerificationError(f"{what}: {why}, and {ref} holds {now}, not {expected}")
        log.debug("%s: %s; a HEAD confirms %s holds %s", what, why, ref, expected)

    # -- blobs ---------------------------------------------------------------------------
    def get_blob(self, repository: str, digest: str, limit: int, what: str) -> bytes:
        _, data = self.get_body(f"/v2/{repository}/blobs/{digest}", limit, what)
        if digest_as(data, digest) != digest:
            raise VerificationError(f"{what}: blob content hashes to {digest_as(data, digest)}, not {digest}")
        return data

    def blob_exists(self, repository: str, digest: str, what: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", what)
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self.fail(response, what, "200 OK (there) or 404 (not there)")

    def mount_blob(self, repository: str, digest: str, source_repository: str, what: str) -> Optional[str]:
        """Cross-repository mount: None when mounted (or already there), else the upload session the
        registry opened instead (202), for the caller to stream the blob into: nothing left dangling
        ("" when a 202 names no session: the caller opens its own).
        A 503 or a reset POST is sent again: a mount is safe to repeat."""

        def mount() -> Optional[str]:
            response = self.request(
                "POST", f"/v2/{repository}/blobs/uploads/", what, params={"mount": digest, "from": source_repository}
            )
            if response.status_code == 201:
                mounted = response.headers.get("Docker-Content-Digest")
                if mounted and mounted != digest:
                    raise VerificationError(f"{what}: the registry mounted {mounted}, not {digest}")
                return None
            if response.status_code == 202:
                location = response.headers.get("Location")
                return urljoin(self.base, location) if location else ""
            raise self.transient(response, what, "201 Created (mounted) or 202 Accepted (an upload session instead)")

        return self.again_if_body_breaks(mount, f"/v2/{repository}/blobs/uploads/", self.attempts)

    # -- read-only look-ups for plan, dry-run and idempotent pushes -------------------------
    def head_manifest(self, repository: str, ref: str, what: str) -> Optional[Descriptor]:
        """What a tag or digest holds now (media type, digest, size), or None when it does not exist."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{ref}", what, headers={"Accept": ", ".join(MANIFEST_ACCEPT)}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.fail(response, what, "200 OK (there) or 404 (not there)")
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest.startswith("sha256:"):
            # Some registries leave the header out of HEAD answers: GET and hash the bytes instead.
            manifest = self.get_manifest(repository, ref, what)
            return Descriptor(manifest.media_type, manifest.digest, manifest.size)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        length = response.headers.get("Content-Length", "")
        return Descriptor(media_type, digest, int(length) if length.isdigit() else 0)


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

"""Documented registry behaviour imitated by a proxy in front of a real registry.

Each behaviour is a handler wrapper over a started :class:`FaultProxy` (it stacks, as
``reset_connections`` does) and cites where the behaviour is documented. An
:class:`UploadLedger` watches the upload sessions the client opens through the proxy, so a test
can say that none was left open.
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence
from urllib.parse import urlsplit

from support.faults import FaultProxy, Reply

if TYPE_CHECKING:
    from support.tokenserver import TokenServer

MiB = 1024 * 1024
GHCR_PATCH_LIMIT = 4 * MiB
_SESSION = re.compile(r"/v2/.+/blobs/uploads/[^/?]+")


def _handler_base(proxy: FaultProxy) -> type:
    assert proxy._loop is not None, "start the proxy first"
    return proxy._loop.server.RequestHandlerClass  # type: ignore[no-any-return]


def refuse_large_patches(proxy: FaultProxy, limit: int = GHCR_PATCH_LIMIT) -> list[int]:
    """GHCR: a PATCH whose body is over 4 MiB is refused, never forwarded. Source: the answer quoted in
    oras-project/rust-oci-client#35 and wasmCloud/wash#268 — 416 REQUESTED_RANGE_NOT_SATISFIABLE "the
    request body is too large and exceeds the maximum permissible limit of 4.00MiB". Returns the sizes
    of the PATCHes refused."""
    refused: list[int] = []
    base = _handler_base(proxy)
    body = json.dumps({"errors": [{"code": "REQUESTED_RANGE_NOT_SATISFIABLE", "message":
                       "the request body is too large and exceeds the maximum permissible limit of 4.00MiB"}]}).encode()

    class Limited(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.command != "PATCH" or length <= limit:
                return base.forward(self)  # type: ignore[no-any-return]
            self.rfile.read(length)
            refused.append(length)
            self.send(Reply(416, (("Content-Type", "application/json"),), body))

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Limited  # type: ignore[union-attr]
    return refused


def record_patch_sizes(proxy: FaultProxy) -> list[int]:
    """The body size of every PATCH the proxy forwards, in order (stacks like the other wrappers)."""
    sizes: list[int] = []
    base = _handler_base(proxy)

    class Recording(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            if self.command == "PATCH":
                sizes.append(int(self.headers.get("Content-Length") or 0))
            return base.forward(self)  # type: ignore[no-any-return]

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Recording  # type: ignore[union-attr]
    return sizes


@dataclass
class UploadLedger:
    """Upload sessions seen through a proxy: opened by a 202 Location, closed by a 2xx PUT or a DELETE."""

    opened: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)  # every DELETE path, whatever it named
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def left_open(self) -> set[str]:
        with self._lock:
            return self.opened - self.closed


def watch_uploads(proxy: FaultProxy) -> UploadLedger:
    """Wrap the proxy's handler so every upload session it carries is accounted for."""
    ledger = UploadLedger()
    base = _handler_base(proxy)

    class Watching(base):  # type: ignore[misc, valid-type]
        def send(self, reply: Reply) -> None:
            path = urlsplit(self.path).path
            with ledger._lock:
                if self.command in ("POST", "PATCH") and reply.status == 202 and reply.header("Location"):
                    ledger.opened.add(urlsplit(reply.header("Location") or "").path)
                if self.command == "PUT" and 200 <= reply.status < 300 and _SESSION.fullmatch(path):
                    ledger.closed.add(path)
                if self.command == "DELETE":
                    ledger.deleted.append(path)
                    ledger.closed.add(path)
            base.send(self, reply)

    proxy._loop.server.RequestHandlerClass = Watching  # type: ignore[union-attr]
    return ledger


def honour_one_scope(tokens: "TokenServer", keep: str = "push") -> None:
    """Token services that grant only one of the `scope`s of a request, so a mount token (push on the
    target, pull on the source) lacks one and the mount is refused 401 insufficient_scope. Harbor 1.1
    handled only one scope (goharbor/harbor#2411, "just one is handled by token service ... the mount
    operation can not be handled properly"): imitated with keep="push", the target's. GitLab's
    /jwt/auth kept only the second, the source's pull (estesp/manifest-tool#53): keep="pull". docker
    falls back to uploading the blob (moby/moby#20387)."""
    original = tokens._answer

    def answer(user: Optional[str], scopes: frozenset[str], fields: Sequence[str]) -> tuple[dict[str, Any], str]:
        if len(scopes) > 1:
            pushes = frozenset(s for s in scopes if s.endswith("push"))
            scopes = pushes if keep == "push" else scopes - pushes
        return original(user, scopes, fields)

    tokens._answer = answer  # type: ignore[method-assign]


# -- vendor behaviour (each from the vendor's docs or its users' issue threads) ------------------


def _wrap(proxy: FaultProxy, decide: Any) -> None:
    """Wrap the proxy's handler: `decide(handler)` answers a request itself (returns a Reply), or None to
    let it through (it may change `handler.path` first)."""
    base = _handler_base(proxy)

    class Wrapped(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            answer = decide(self)
            if answer is None:
                return base.forward(self)  # type: ignore[no-any-return]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send(answer)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Wrapped  # type: ignore[union-attr]


def _errors(status: int, code: str, message: str) -> Reply:
    return Reply(status, (("Content-Type", "application/json"),), json.dumps({"errors": [{"code": code, "message": message}]}).encode())


def never_mount(proxy: FaultProxy) -> list[str]:
    """ECR: a mount is answered 202 with a fresh upload session whenever no manifest in the source
    repository references the blob (aws/containers-roadmap#2860), Harbor when its blob records are stale
    (goharbor/harbor#18541): the client must stream the blob into that session. Imitated by sending the
    mount POST on without its query (a plain POST: the real registry opens a session). Returns the mounts."""
    mounts: list[str] = []

    def decide(handler: Any) -> None:
        if handler.command == "POST" and "mount=" in handler.path:
            mounts.append(handler.path)
            handler.path = urlsplit(handler.path).path
        return None

    _wrap(proxy, decide)
    return mounts


def immutable_tags(proxy: FaultProxy, upstream_url: str) -> list[str]:
    """ECR with tag immutability: a manifest PUT to a tag that exists is refused, even with the same
    manifest — "tag invalid: The image tag '<tag>' already exists in the '<repo>' repository and cannot be
    overwritten because the repository is immutable." (moby/buildkit#3776, aws/containers-roadmap#2380).
    Returns the tags refused (an unchanged push must refuse none: it writes nothing)."""
    import requests

    refused: list[str] = []

    def decide(handler: Any) -> Optional[Reply]:
        match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", urlsplit(handler.path).path)
        if handler.command != "PUT" or match is None or ":" in match.group(2):
            return None
        repo, tag = match.groups()
        head = requests.head(f"{upstream_url}/v2/{repo}/manifests/{tag}", timeout=10,
                             headers={"Accept": "application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,"
                                                "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"})
        if head.status_code != 200:
            return None
        refused.append(tag)
        return _errors(400, "TAG_INVALID", f"The image tag '{tag}' already exists in the '{repo}' repository and cannot be "
                                          "overwritten because the repository is immutable.")

    _wrap(proxy, decide)
    return refused


def blobs_redirected_to(proxy: FaultProxy, cdn: FaultProxy) -> list[str]:
    """Docker Hub: a blob GET is answered 307 to another host (a CDN, production.cloudflare.docker.com,
    with the grant in the query; opencontainers/distribution-spec#299). The client must follow it and send
    no credentials there (docker/cli#865; Go's client drops Authorization across hosts). GHCR does the same
    to its own blob host. Returns the blob paths redirected."""
    redirected: list[str] = []

    def decide(handler: Any) -> Optional[Reply]:
        if handler.command == "GET" and re.search(r"/blobs/sha256:[0-9a-f]{64}$", urlsplit(handler.path).path):
            redirected.append(handler.path)
            return Reply(307, (("Location", f"http://{cdn.host}{handler.path}?verify=1632139768-signed"),), b"")
        return None

    _wrap(proxy, decide)
    return redirected


def rate_limited_once(proxy: FaultProxy) -> None:
    """Docker Hub: over the pull rate limit a manifest request is answered 429 TOOMANYREQUESTS "You have
    reached your pull rate limit" (Docker docs, "Docker Hub usage and limits"); with Retry-After it is worth
    another try after that long."""
    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit. "
                                   "You may increase the limit by authenticating and upgrading"}]}).encode()
    proxy.inject("GET", r"/manifests/", lambda reply: Reply(429, (("Content-Type", "application/json"), ("Retry-After", "0")), body),
                 times=1, forward=False)


def no_digest_on_manifest_put(proxy: FaultProxy) -> None:
    """Nexus (with PostgreSQL metadata) answered a manifest PUT without Docker-Content-Digest
    (distribution/distribution#3849; the header is only a SHOULD in the distribution spec)."""
    proxy.inject("PUT", r"/manifests/", lambda reply: reply.with_header("Docker-Content-Digest", None))


def bare_manifest_heads(proxy: FaultProxy) -> None:
    """Artifactory 7.41: a manifest HEAD answered 200 with no Docker-Content-Digest and Content-Type
    application/octet-stream (deitch/docker_registry2#83): a HEAD cannot say which manifest a tag holds."""
    proxy.inject("HEAD", r"/manifests/", lambda reply: reply.with_header("Docker-Content-Digest", None)
                 .with_header("Content-Type", "application/octet-stream"))


def subject_header_without_api(proxy: FaultProxy) -> None:
    """ECR: a manifest PUT with a subject answered with OCI-Subject though the referrers API is not served
    (sigstore/sigstore-js#1183, which stopped trusting the header for that reason)."""

    def fault(reply: Reply) -> Reply:
        return reply.with_header("OCI-Subject", "sha256:" + "0" * 64) if 200 <= reply.status < 300 else reply

    proxy.inject("PUT", r"/manifests/", fault)


def refuse_docker_lists_naming_oci(proxy: FaultProxy) -> list[str]:
    """Quay: a Docker manifest list whose entries are OCI manifests is refused 400 MANIFEST_INVALID "manifest
    invalid" (rabbitmq/rabbitmq-server#9132; the fix there was converting to OCI). Returns the refused PUTs
    (manifest-spec refuses such a list before any write, so there must be none)."""
    refused: list[str] = []

    def decide(handler: Any) -> Optional[Reply]:
        if handler.command != "PUT" or "/manifests/" not in handler.path or "manifest.list" not in (handler.headers.get("Content-Type") or ""):
            return None
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        handler.rfile = io.BytesIO(body)  # read again by the forward (or the refusal)
        entries = json.loads(body).get("manifests") or []
        if not any("vnd.oci." in str(entry.get("mediaType")) for entry in entries):
            return None
        refused.append(handler.path)
        return _errors(400, "MANIFEST_INVALID", "manifest invalid")

    _wrap(proxy, decide)
    return refused


def _read_chunked(handler: Any) -> None:
    """A request body sent with Transfer-Encoding: chunked, made plain (the proxy forwards by Content-Length)."""
    body = bytearray()
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            break
        body += handler.rfile.read(size)
        handler.rfile.readline()
    del handler.headers["Transfer-Encoding"]
    handler.headers["Content-Length"] = str(len(body))
    handler.rfile = io.BytesIO(bytes(body))


def no_chunked_uploads(proxy: FaultProxy) -> list[str]:
    """Google Artifact Registry: "does not support Docker chunked uploads ... You must use monolithic
    uploads" (its Docker API reference, quoted in dotnet/sdk-container-builds#287). A PATCH with a
    Content-Range is refused — with 400 here: the status is not documented — while docker's one streamed
    PATCH (no Content-Range) goes through. Returns the ranged PATCHes refused."""
    refused: list[str] = []

    def decide(handler: Any) -> Optional[Reply]:
        if handler.command != "PATCH":
            return None
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            _read_chunked(handler)
        if handler.headers.get("Content-Range") is None:
            return None
        refused.append(handler.path)
        return _errors(400, "BLOB_UPLOAD_INVALID", "chunked uploads are not supported; use a monolithic upload")

    _wrap(proxy, decide)
    return refused

"""In-process stand-ins for `RegistryClient`, for the unit tests: plain classes, no HTTP, no sockets.

A `FakeRegistry` holds one host's manifests (by repository and tag or digest) and blobs in dicts
and logs every call it is asked (`calls`, in order). `FakeClient` answers the client methods the
push, carry and upload modules call, with the status codes and error codes CNCF distribution
answers (404 MANIFEST_UNKNOWN / BLOB_UNKNOWN / NAME_UNKNOWN, 201 for a mount, 202 for a mount
refused with an upload session). `FakePool` is the `ClientPool` (one client per host).

Faults are set per registry: `registry.fail(method, fragment, status, times)` answers a matching
request with that status; `registry.break_body(fragment, after, times)` cuts a streamed GET body
short (as a reset connection does, a requests exception while reading); `registry.answers[path]`
serves other content for a tag list or referrers listing (a proxy's page, a malformed answer);
`registry.rewrite(method, path, answer)` changes how a request is answered (another status, headers).
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests

from manifest_spec.errors import (
    BrokenBodyError,
    RegistryError,
    TransientError,
    VerificationError,
)
from manifest_spec.oci.index import OCI_INDEX, OCI_MANIFEST, Descriptor
from manifest_spec.oci.manifest import Manifest
from manifest_spec.oci.reference import Reference

T = TypeVar("T")
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class FakeRequest:
    method: str


@dataclass
class FakeResponse:
    """What `request`/`get_body` hand back: the attributes the callers read, nothing more."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    url: str = ""
    broken_after: Optional[int] = None  # a body cut short after this many bytes
    closed: bool = False
    request: Optional[FakeRequest] = None
    reason: str = ""

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        end = len(self.body) if self.broken_after is None else self.broken_after
        for start in range(0, end, chunk_size):
            yield self.body[start : min(start + chunk_size, end)]
        if self.broken_after is not None:
            raise requests.exceptions.ChunkedEncodingError("connection reset while reading the body")

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Fault:
    method: str
    fragment: str
    status: int
    times: int
    broken_after: Optional[int] = None


class FakeRegistry:
    """One registry host's content, in memory. Thread-safe; every call logged in `calls`."""

    def __init__(self, host: str = "registry.test", *, referrers_api: bool = False, page_size: int = 0, mounts: bool = True) -> None:
        self.host = host
        self.mounts = mounts  # False: every mount is refused with an upload session (202), as without shared storage
        self.base = f"https://{host}"
        self.referrers_api = referrers_api  # GET /referrers/<digest> answers an index (else a plain 404)
        self.page_size = page_size  # tag lists and referrers listings paged by this many (0: one page)
        self.manifests: dict[tuple[str, str], Manifest] = {}  # (repository, tag or digest)
        self.blobs: dict[tuple[str, str], bytes] = {}  # (repository, digest)
        self.uploads: dict[str, tuple[str, bytearray]] = {}  # open upload sessions: id -> (repository, data)
        self.calls: list[tuple[str, str]] = []  # (method, what was asked: repository and ref)
        self.faults: list[_Fault] = []
        self.stored: list[str] = []  # what client writes stored, in order: "blob <repo>@<digest>", "manifest <repo>@<digest>"
        self.answers: dict[str, tuple[str, bytes]] = {}  # a listing path -> (content type, body) served instead
        # (method, path, answer) -> the answer `request` gives instead: a registry's own way of answering
        self.rewrite: Optional[Callable[[str, str, FakeResponse], FakeResponse]] = None
        self.lock = threading.Lock()
        self._sessions = 0

    # -- content -------------------------------------------------------------------------
    def add_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[(repository, digest)] = data
        return digest

    def add_manifest(self, repository: str, body: Any, media_type: str = OCI_MANIFEST, tag: str = "") -> Manifest:
        data = body if isinstance(body, bytes) else compact(body)
        manifest = Manifest(data, media_type, digest_of(data))
        self.manifests[(repository, manifest.digest)] = manifest
        if tag:
            self.manifests[(repository, tag)] = manifest
        return manifest

    def add_image(self, repository: str, tag: str = "", *, architecture: str = "amd64", os: str = "linux",
                  layers: tuple[bytes, ...] = (b"layer",), config: Optional[dict[str, Any]] = None,
                  extra: Optional[dict[str, Any]] = None) -> Manifest:
        """An OCI image: its config (platform from `os`/`architecture` unless `config` is given) and layers."""
        config_data = compact(config if config is not None else {"architecture": architecture, "os": os, "rootfs": {"type": "layers"}})
        body = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.add_blob(repository, config_data), "size": len(config_data)},
            "layers": [{"mediaType": OCI_LAYER, "digest": self.add_blob(repository, layer), "size": len(layer)} for layer in layers],
            **(extra or {}),
        }
        return self.add_manifest(repository, body, OCI_MANIFEST, tag)

    def add_index(self, repository: str, entries: list[dict[str, Any]], tag: str = "") -> Manifest:
        return self.add_manifest(repository, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, OCI_INDEX, tag)

    def tags(self, repository: str) -> list[str]:
        return sorted(ref for repo, ref in self.manifests if repo == repository and ":" not in ref)

    # -- faults and the log --------------------------------------------------------------
    def fail(self, method: str, fragment: str, status: int, times: int = 1) -> None:
        """Answer the next `times` `method` requests whose path contains `fragment` with `status`."""
        self.faults.append(_Fault(method, fragment, status, times))

    def break_body(self, fragment: str, after: int, times: int = 1) -> None:
        """Cut the body of the next `times` GETs whose path contains `fragment` after `after` bytes."""
        self.faults.append(_Fault("GET", fragment, 200, times, after))

    def fault(self, method: str, path: str) -> Optional[_Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.fragment in path:
                    fault.times -= 1
                    return fault
        return None

    def log(self, method: str, what: str) -> None:
        with self.lock:
            self.calls.append((method, what))

    def log_stored(self, what: str) -> None:
        with self.lock:
            self.stored.append(what)

    def asked(self, method: str) -> list[str]:
        return [what for m, what in self.calls if m == method]

    def new_session(self, repository: str) -> str:
        with self.lock:
            self._sessions += 1
            session = f"s{self._sessions}"
            self.uploads[session] = (repository, bytearray())
        return session


def _not_found(what: str, code: str) -> RegistryError:
    return RegistryError(f"{what}: HTTP 404 {code}", status=404, code=code)


class FakeClient:
    """The `RegistryClient` methods the push, carry and upload modules call, over a FakeRegistry."""

    def __init__(self, registry: FakeRegistry, attempts: int = 3) -> None:
        self.registry = registry
        self.host = registry.host
        self.base = registry.base
        self.attempts = attempts
        self.body_retries = min(attempts, 2)
        self.timeout = 60.0  # the retry window of a just-seen 404's re-reads (carry/confirm.py)

    # -- manifests and blobs --------------------------------------------------------------
    def get_manifest(self, repository: str, ref: str, what: str) -> Manifest:
        self.registry.log("GET manifest", f"{repository}:{ref}")
        self._raise_fault("GET", f"/v2/{repository}/manifests/{ref}", what)
        manifest = self.registry.manifests.get((repository, ref))
        if manifest is None:
            raise _not_found(what, "MANIFEST_UNKNOWN")
        return manifest

    def head_manifest(self, repository: str, ref: str, what: str) -> Optional[Descriptor]:
        self.registry.log("HEAD manifest", f"{repository}:{ref}")
        self._raise_fault("HEAD", f"/v2/{repository}/manifests/{ref}", what)
        manifest = self.registry.manifests.get((repository, ref))
        return None if manifest is None else Descriptor(manifest.media_type, manifest.digest, manifest.size)

    def manifest_exists(self, repository: str, digest: str, what: str) -> bool:
        return self.head_manifest(repository, digest, what) is not None

    def put_manifest(self, repository: str, ref: str, data: bytes, media_type: str, what: str) -> str:
        self.registry.log("PUT manifest", f"{repository}:{ref}")
        self._raise_fault("PUT", f"/v2/{repository}/manifests/{ref}", what)
        body = json.loads(data)
        for part in [body.get("config"), *(body.get("layers") or [])]:
            if isinstance(part, dict) and (repository, part["digest"]) not in self.registry.blobs:
                raise RegistryError(f"{what}: HTTP 400 MANIFEST_BLOB_UNKNOWN {part['digest']}", status=400, code="MANIFEST_BLOB_UNKNOWN")
        for entry in body.get("manifests") or []:
            if (repository, entry["digest"]) not in self.registry.manifests:
                raise RegistryError(f"{what}: HTTP 400 MANIFEST_UNKNOWN {entry['digest']}", status=400, code="MANIFEST_UNKNOWN")
        manifest = self.registry.add_manifest(repository, data, media_type, "" if ref.startswith("sha256:") else ref)
        self.registry.log_stored(f"manifest {repository}@{manifest.digest}")
        return manifest.digest

    def get_blob(self, repository: str, digest: str, limit: int, what: str) -> bytes:
        self.registry.log("GET blob", f"{repository}@{digest}")
        self._raise_fault("GET", f"/v2/{repository}/blobs/{digest}", what)
        data = self.registry.blobs.get((repository, digest))
        if data is None:
            raise _not_found(what, "BLOB_UNKNOWN")
        if len(data) > limit:
            raise VerificationError(f"{what}: more than {limit} bytes, over the limit")
        return data

    def blob_exists(self, repository: str, digest: str, what: str) -> bool:
        self.registry.log("HEAD blob", f"{repository}@{digest}")
        self._raise_fault("HEAD", f"/v2/{repository}/blobs/{digest}", what)
        return (repository, digest) in self.registry.blobs

    def mount_blob(self, repository: str, digest: str, source_repository: str, what: str) -> Optional[str]:
        """As distribution: 201 (None) when the source repository has the blob, else 202 with a session."""
        self.registry.log("POST mount", f"{repository}@{digest} from {source_repository}")
        self._raise_fault("POST", f"/v2/{repository}/blobs/uploads/?mount={digest}", what)
        data = self.registry.blobs.get((source_repository, digest))
        if data is not None and self.registry.mounts:
            self.registry.blobs[(repository, digest)] = data
            self.registry.log_stored(f"blob {repository}@{digest}")
            return None
        return f"{self.base}/v2/{repository}/blobs/uploads/{self.registry.new_session(repository)}"

    # -- listings (tag lists, the referrers API) -------------------------------------------
    def get_body(self, path: str, limit: int, what: str, **kwargs: Any) -> tuple[FakeResponse, bytes]:
        parts = urlsplit(path)  # a later page's URL is absolute: logged by its path and query
        self.registry.log("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        self._raise_fault("GET", path, what)
        if parts.path in self.registry.answers:
            content_type, data = self.registry.answers[parts.path]
            return FakeResponse(200, {"Content-Type": content_type}, data, {}, self.base + path), data
        query = parse_qs(parts.query)
        segments = parts.path.split("/")
        if parts.path.endswith("/tags/list"):
            repository = "/".join(segments[2:-2])
            if not any(repo == repository for repo, _ in self.registry.manifests):
                raise _not_found(what, "NAME_UNKNOWN")
            return self._page("tags", self.registry.tags(repository), query, parts.path, {"name": repository}, "application/json")
        if "/referrers/" in parts.path:
            if not self.registry.referrers_api:
                raise RegistryError(f"{what}: HTTP 404", status=404)
            repository, subject = parts.path.split("/referrers/")
            entries = self._referrers(repository[len("/v2/"):], subject, query.get("artifactType", [""])[0])
            return self._page("manifests", entries, query, parts.path, {"schemaVersion": 2, "mediaType": OCI_INDEX}, OCI_INDEX)
        raise AssertionError(f"the fake has no answer for GET {path}")

    def _page(self, key: str, items: list[Any], query: dict[str, list[str]], path: str, body: dict[str, Any],
              content_type: str) -> tuple[FakeResponse, bytes]:
        start = int(query.get("last", ["0"])[0])
        size = self.registry.page_size or max(1, len(items))
        page = items[start : start + size]
        links = {"next": {"url": f"{path}?last={start + size}"}} if start + size < len(items) else {}
        data = compact({**body, key: page})
        return FakeResponse(200, {"Content-Type": content_type}, data, links, self.base + path), data

    def _referrers(self, repository: str, subject: str, artifact_type: str) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for (repo, _), manifest in self.registry.manifests.items():
            if repo != repository or manifest.media_type != OCI_MANIFEST:
                continue
            body = manifest.json()
            if (body.get("subject") or {}).get("digest") != subject:
                continue
            kind = body.get("artifactType") or body["config"]["mediaType"]
            if not artifact_type or kind == artifact_type:
                found[manifest.digest] = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
                                          "artifactType": kind}
        return list(found.values())

    # -- the plumbing registry/upload.py streams through ------------------------------------
    def request(self, method: str, path_or_url: str, what: str, **kwargs: Any) -> FakeResponse:
        path = urlsplit(path_or_url).path
        self.registry.log(method, path)
        response = self._answer(method, path_or_url, path, **kwargs)
        response.request = FakeRequest(method)
        response.url = response.url or self.base + path
        rewrite = self.registry.rewrite
        return rewrite(method, path, response) if rewrite is not None else response

    def _answer(self, method: str, path_or_url: str, path: str, **kwargs: Any) -> FakeResponse:
        fault = self.registry.fault(method, path_or_url)
        if fault is not None and fault.broken_after is None:
            return FakeResponse(fault.status, {}, b"", url=self.base + path)
        if method == "GET" and "/blobs/" in path:
            repository, digest = path[len("/v2/"):].split("/blobs/")
            data = self.registry.blobs.get((repository, digest))
            if data is None:
                return FakeResponse(404, {}, compact({"errors": [{"code": "BLOB_UNKNOWN"}]}), url=self.base + path)
            return FakeResponse(200, {"Content-Length": str(len(data))}, data, url=self.base + path,
                                broken_after=fault.broken_after if fault else None)
        if method == "POST" and path.endswith("/blobs/uploads/"):
            session = self.registry.new_session(path[len("/v2/"):-len("/blobs/uploads/")])
            return FakeResponse(202, {"Location": f"{path}{session}"})
        session = path.rsplit("/", 1)[-1]
        if session not in self.registry.uploads:
            return FakeResponse(404, {}, compact({"errors": [{"code": "BLOB_UPLOAD_UNKNOWN"}]}), url=self.base + path)
        repository, data = self.registry.uploads[session]
        if method == "PATCH" and "Content-Range" not in kwargs["headers"]:  # one streamed PATCH: the whole blob
            data.extend(b"".join(kwargs["data"]))
            return FakeResponse(202, {"Location": path})
        if method == "PATCH":
            start = int(kwargs["headers"]["Content-Range"].split("-")[0])
            if start != len(data):
                return FakeResponse(416, {}, url=self.base + path)
            data.extend(kwargs["data"])
            return FakeResponse(202, {"Location": path})
        if method == "PUT":
            del self.registry.uploads[session]
            data.extend(kwargs.get("data") or b"")
            digest = parse_qs(urlsplit(path_or_url).query)["digest"][0]
            if digest_of(bytes(data)) != digest:
                return FakeResponse(400, {}, compact({"errors": [{"code": "DIGEST_INVALID"}]}), url=self.base + path)
            self.registry.blobs[(repository, digest)] = bytes(data)
            self.registry.log_stored(f"blob {repository}@{digest}")
            return FakeResponse(201, {"Docker-Content-Digest": digest})
        if method == "DELETE":
            del self.registry.uploads[session]
            return FakeResponse(204)
        raise AssertionError(f"the fake has no answer for {method} {path}")

    def fail(self, response: FakeResponse, what: str, expected: str = "") -> RegistryError:
        return RegistryError(f"{what}: {self.host} answered HTTP {response.status_code}", status=response.status_code)

    def transient(self, response: FakeResponse, what: str, expected: str = "") -> RegistryError:
        error = self.fail(response, what, expected)
        if response.status_code in (429, 500, 502, 503, 504):
            return TransientError(str(error), status=error.status)
        return error

    @contextmanager
    def reading_body(self, what: str, response: FakeResponse) -> Iterator[None]:
        try:
            yield
        except requests.exceptions.RequestException as e:
            raise BrokenBodyError(f"{what}: the connection to {self.host} broke off") from e

    def again_if_body_breaks(self, read: Callable[[], T], path: str, retries: Optional[int] = None) -> T:
        """As the client: `read` again after a TransientError, `retries` times (no back-off here)."""
        retries = self.body_retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return read()
            except TransientError:
                if attempt >= retries:
                    raise
        raise AssertionError("unreachable")

    def _raise_fault(self, method: str, path: str, what: str) -> None:
        fault = self.registry.fault(method, path)
        if fault is not None:
            raise RegistryError(f"{what}: {self.host} answered HTTP {fault.status}", status=fault.status)


class FakePool:
    """`ClientPool`: one FakeClient per registry host; the hosts are the FakeRegistries given."""

    def __init__(self, *registries: FakeRegistry) -> None:
        self.clients = {r.host: FakeClient(r) for r in registries}
        self.asked: list[str] = []

    def __call__(self, reference: Reference) -> Any:
        self.asked.append(reference.api_host)
        return self.clients[reference.api_host]

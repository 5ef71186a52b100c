"""Stream a blob from one repository (any registry) into another: constant memory, verified."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Iterator, Optional
from urllib.parse import urljoin, urlsplit

from manifest_spec.errors import RegistryError, TransientError, VerificationError
from manifest_spec.events import BlobCopied, Listener
from manifest_spec.registry.client import RegistryClient
from manifest_spec.registry.deadline import extend_for_body
from manifest_spec.registry.httpclient import Response

log = logging.getLogger(__name__)

# One PATCH each, so memory stays at one chunk whatever the blob size. 4 MiB, not more: GHCR refuses
# a larger PATCH with 416 REQUESTED_RANGE_NOT_SATISFIABLE "the request body is too large and exceeds the
# maximum permissible limit of 4.00MiB" (oras-project/rust-oci-client#35, fixed there by 4 MiB chunks
# in #37), so an 8 MiB chunk could never copy a layer over 4 MiB into it. Chunks rather than one
# streamed PATCH: a failed chunk's error names the limit, and memory stays bounded the same way.
CHUNK_BYTES = 4 * 1024 * 1024
# The distribution spec (v1.1, "Pushing a blob in chunks"): a registry with a minimum chunk size says
# so in `OCI-Chunk-Min-Length` on the POST's answer, and may refuse smaller chunks (but the last) with
# 416. Honoured up to this bound on memory; a registry wanting more gets this much and its 416 shown.
MAX_CHUNK_BYTES = 64 * 1024 * 1024
# A first ranged PATCH refused with one of these: the registry takes no chunks (Google Artifact Registry's
# docs: "does not support Docker chunked uploads ... You must use monolithic uploads", quoted in
# dotnet/sdk-container-builds#287; the status is not documented) or not chunks this size (GHCR's 416).
# The copy then starts over in a new session as docker sends blobs: one streamed PATCH, no Content-Range.
CHUNKS_REFUSED = frozenset({400, 405, 411, 413, 415, 416})
UPLOADS_PATH = "/blobs/uploads/"


def copy_blob(
    source: RegistryClient,
    source_repository: str,
    target: RegistryClient,
    target_repository: str,
    digest: str,
    listener: Optional[Listener] = None,
    location: Optional[str] = None,
) -> None:
    """Copy one blob. A source body that breaks off, or an upload POST, PATCH or commit that gets a
    503 or a reset, starts over with a new upload session, within the target's retry budget.
    `location`: an upload session already open in the target (a refused mount's), used by the first try."""
    what = f"copy blob {digest} from {source.host}/{source_repository} to {target.host}/{target_repository}"
    path = f"/v2/{source_repository}/blobs/{digest}"
    if location and not is_upload_url(location):
        # A mount answered 202 with, say, the blob's own URL (the Location a 201 carries): nothing to
        # upload into, and nothing there is ours to PATCH or cancel.
        raise RegistryError(f"{what}: {target.host} answered the mount with 202 Accepted and Location "
                            f"{urlsplit(location).path}, not an upload session URL (/v2/<name>/blobs/uploads/<id>); "
                            "expected 201 Created (mounted) or 202 with an upload session")
    retries = max(target.attempts, source.body_retries)
    opened = [location] if location else []
    refused: list[RegistryError] = []  # the first chunk's refusal, once: then one streamed PATCH

    def once() -> None:
        session = opened.pop() if opened else None
        _copy_once(source, path, target, target_repository, digest, what, listener, session, refused)

    try:
        target.again_if_body_breaks(once, path, retries)
    except RegistryError as e:
        if not refused or refused[0] is not e:
            raise
        log.debug("%s: chunks refused (%s); one streamed PATCH instead", what, e)
        target.again_if_body_breaks(once, path, retries)


def _copy_once(
    source: RegistryClient,
    path: str,
    target: RegistryClient,
    target_repository: str,
    digest: str,
    what: str,
    listener: Optional[Listener],
    location: Optional[str],
    refused: list[RegistryError],
) -> None:
    """GET from the source, upload in chunks to the target (one streamed PATCH once `refused` holds the
    first chunk's refusal); the digest is checked before commit. Any failure cancels the upload session,
    so a repeat starts clean."""
    try:
        response = source.request("GET", path, what, stream=True)
        if response.status_code != 200:
            raise source.fail(response, what)
    except BaseException:
        if location:  # a refused mount's session: abandoned like any broken copy, not left dangling
            _abandon(target, location, what)
        raise
    try:
        location, chunk_bytes = (location, CHUNK_BYTES) if location else open_upload(target, target_repository, what)
    except BaseException:
        response.close()
        raise
    hasher = hashlib.new("sha512" if digest.startswith("sha512:") else "sha256")
    sent = [0]
    try:
        with response, source.reading_body(what, response):
            chunks = _hashed_chunks(response, chunk_bytes, hasher, sent, digest, listener)
            location = _send(target, location, chunks, sent, refused, what)
        if f"{hasher.name}:{hasher.hexdigest()}" != digest:
            raise VerificationError(f"{what}: the source sent content hashing to {hasher.name}:{hasher.hexdigest()}; nothing committed")
    except BaseException:
        _abandon(target, location, what)
        raise
    commit_upload(target, location, digest, what)
    log.debug("%s: %d bytes", what, sent[0])


def _hashed_chunks(response: Response, chunk_bytes: int, hasher: Any, sent: list[int], digest: str,
                   listener: Optional[Listener]) -> Iterator[bytes]:
    """The body in chunks, each hashed, counted in `sent[0]` once sent on, and told to `listener`."""
    declared = response.headers.get("Content-Length")
    total = int(declared) if declared and declared.isdigit() else None
    # Each chunk read may take the timeout per MiB: granted ahead, as a read waits for a whole chunk.
    extend_for_body(response, chunk_bytes)
    for chunk in response.iter_content(chunk_bytes):
        extend_for_body(response, len(chunk))
        hasher.update(chunk)
        yield chunk
        sent[0] += len(chunk)
        if listener:
            listener(BlobCopied(digest, sent[0], total))


def _send(target: RegistryClient, location: str, chunks: Iterator[bytes], sent: list[int], refused: list[RegistryError],
          what: str) -> str:
    """PATCH each chunk at its offset; or, once chunks were refused, all of them as one streamed PATCH."""
    if refused:
        response = target.request("PATCH", location, what, data=chunks, headers={"Content-Type": "application/octet-stream"})
        if not 200 <= response.status_code < 300:
            raise unexpected(target, response, what, "202 Accepted for the streamed blob")
        return session_location(target, response, location, what)
    for chunk in chunks:
        try:
            location = _patch(target, location, chunk, sent[0], what)
        except RegistryError as e:
            if sent[0] == 0 and e.status in CHUNKS_REFUSED and not isinstance(e, TransientError):
                refused.append(e)
            raise
    return location


def commit_upload(target: RegistryClient, location: str, digest: str, what: str, data: bytes = b"") -> None:
    """The closing PUT of an upload session (with `data`, the whole blob in it); the stored digest checked."""
    separator = "&" if "?" in location else "?"
    headers = {"Content-Type": "application/octet-stream"} if data else {"Content-Length": "0"}
    done = target.request("PUT", f"{location}{separator}digest={digest}", what, data=data or None, headers=headers)
    if not 200 <= done.status_code < 300:  # the distribution spec says 201; some registries answer 200 or 204
        raise unexpected(target, done, what, "201 Created for the closing PUT")
    stored = done.headers.get("Docker-Content-Digest")
    if stored and stored != digest:
        raise VerificationError(f"{what}: the registry stored the blob as {stored}, not {digest}")


def _abandon(target: RegistryClient, location: str, what: str) -> None:
    """Cancel an upload session we opened (nothing is stored in it), so a repeat starts clean. Only an
    upload URL is ever sent a DELETE: never a manifest or a blob, whatever a registry answered."""
    if not is_upload_url(location):
        return
    try:
        target.request("DELETE", location, what)  # any answer will do: ggcr says 400, sessions expire anyway
    except RegistryError:
        pass  # the error that brought us here is the one to report


def is_upload_url(location: str) -> bool:
    """An upload session's URL, as a POST/PATCH 202 gives it (`.../v2/<name>/blobs/uploads/<id>`)."""
    path = urlsplit(location).path
    return "/v2/" in path and UPLOADS_PATH in path and not path.endswith(UPLOADS_PATH)


def session_location(target: RegistryClient, response: Response, previous: str, what: str) -> str:
    """The session URL an answer names; a missing Location keeps `previous` (ggcr's PATCH repeats it,
    the spec lets a registry omit nothing, some proxies strip it). One that is no upload URL is refused."""
    named = response.headers.get("Location")
    if not named:
        if previous:
            return previous
        raise unexpected(target, response, what, "202 Accepted with the upload session's Location")
    location = urljoin(response.url or target.base, named)
    if not is_upload_url(location):
        raise RegistryError(f"{what}: {target.host} answered {response.request.method if response.request else 'the upload'} "
                            f"with HTTP {response.status_code} and Location {urlsplit(location).path}, "
                            "not an upload session URL (/v2/<name>/blobs/uploads/<id>); nothing was written there")
    return location


def unexpected(target: RegistryClient, response: Response, what: str, expected: str) -> RegistryError:
    """A write answered in a way the upload protocol does not allow: an error saying what was expected.
    An error status keeps fail()'s wording (and a 503 stays worth another try)."""
    if response.status_code >= 400:
        return target.transient(response, what)
    method = response.request.method if response.request is not None else "request"
    return RegistryError(f"{what}: {target.host} answered the {method} with HTTP {response.status_code} "
                         f"{response.reason or ''}".rstrip() + f"; the upload protocol expects {expected}",
                         status=response.status_code)


def start_upload(target: RegistryClient, repository: str, what: str) -> str:
    """Open an upload session (POST); its absolute location."""
    return open_upload(target, repository, what)[0]


def open_upload(target: RegistryClient, repository: str, what: str) -> tuple[str, int]:
    """Open an upload session (POST): its absolute location and the chunk size to send it."""
    response = target.request("POST", f"/v2/{repository}/blobs/uploads/", what)
    if response.status_code != 202:
        raise unexpected(target, response, what, "202 Accepted with the upload session's Location")
    return session_location(target, response, "", what), chunk_size(response.headers.get("OCI-Chunk-Min-Length"))


def chunk_size(minimum: Optional[str]) -> int:
    """CHUNK_BYTES, or the registry's `OCI-Chunk-Min-Length` when that is larger (up to MAX_CHUNK_BYTES);
    a value that is no number is ignored (the chunks stay as they were)."""
    wanted = int(minimum) if minimum and minimum.strip().isdigit() else 0
    return max(CHUNK_BYTES, min(wanted, MAX_CHUNK_BYTES))


def _patch(target: RegistryClient, location: str, chunk: bytes, offset: int, what: str) -> str:
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        "Content-Length": str(len(chunk)),
    }
    response = target.request("PATCH", location, what, data=chunk, headers=headers)
    # The spec says 202; any 2xx is the chunk taken (go-containerregistry's registry answers 204).
    if not 200 <= response.status_code < 300:
        raise unexpected(target, response, what, "202 Accepted for a chunk")
    return session_location(target, response, location, what)


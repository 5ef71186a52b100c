"""Children into the target repository: blobs first (mounted, else streamed), then the manifest by digest.

Each child, and each blob, is placed once per run however many specs point at it; every blob of
a child is in flight together. A mount the registry answers with an upload session instead
(202) gets the blob streamed into that very session, not cancelled; only a copy that fails for
good cancels its session (blobcopy.py), so none is left open.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import CancelledError, Future
from typing import Callable, Hashable, Optional, TypeVar

from manifest_spec.errors import RegistryError
from manifest_spec.events import Listener
from manifest_spec.oci.index import Descriptor
from manifest_spec.oci.manifest import Child
from manifest_spec.oci.reference import Reference
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.registry.client import RegistryClient
from manifest_spec.registry.singleflight import when_all

log = logging.getLogger(__name__)
T = TypeVar("T")


class Placer:
    def __init__(self, scheduler: Scheduler, listener: Optional[Listener]) -> None:
        self.scheduler = scheduler
        self.listener = listener
        self._placing: dict[Hashable, Future[None]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def needs_placing(target: Reference, child: Child) -> bool:
        return not (child.registry == target.registry and child.repository == target.repository)

    @staticmethod
    def what(target: Reference, child: Child) -> str:
        return f"copy {child.registry}/{child.repository}@{child.manifest.digest} into {target.repository}"

    def place(self, target: Reference, child: Child, present: Future[Optional[Descriptor]]) -> Future[None]:
        """Make `child` exist in the target repository by digest; `present` is its HEAD there. Chained
        on the answers (no thread waits for them): the HEAD, then every blob at once, then the PUT."""
        key = (target.api_host, target.repository, child.manifest.digest)
        with self._lock:
            known = self._placing.get(key)
            if known is not None:
                return known
            placed: Future[None] = Future()
            placed.set_running_or_notify_cancel()
            self._placing[key] = placed
        present.add_done_callback(lambda head: _guarded(placed, lambda: self._present(target, child, head, placed)))
        return placed

    def _present(self, target: Reference, child: Child, head: Future[Optional[Descriptor]], placed: Future[None]) -> None:
        what = self.what(target, child)
        if _failed(head, placed):
            return
        if head.result() is not None:
            log.debug("%s: already there", what)
            placed.set_result(None)
            return
        blobs = [self._blob(target, child, digest, what) for digest in child.blobs]
        when_all(blobs, lambda: _guarded(placed, lambda: self._put(target, child, blobs, placed)))

    def _put(self, target: Reference, child: Child, blobs: list[Future[None]], placed: Future[None]) -> None:
        """Every blob is in (else the first failure, in the manifest's order): the manifest by digest."""
        if any(_failed(blob, placed) for blob in blobs):
            return
        manifest, what = child.manifest, self.what(target, child)
        put = self.scheduler.submit(
            target, lambda client: client.put_manifest(target.repository, manifest.digest, manifest.data, manifest.media_type, what)
        )
        put.add_done_callback(lambda done: None if _failed(done, placed) else placed.set_result(None))

    def mount_if_first_push(self, target: Reference, child: Child, tag_heads: list[Future[Optional[Descriptor]]]) -> None:
        """On a first push (none of the spec's tags exists yet) mount the child's blobs as soon as it is
        read, beside the configs, without waiting for its HEAD: one round trip less. A blob the target
        already has answers 201 as well. A repeat (a tag exists), or a tag HEAD that failed, waits for
        the verification as before, so it writes nothing early. The mounts are the requests `place`
        sends later (memoised), and only link blobs: no manifest, no tag, nothing a puller sees."""
        if child.registry != target.registry:
            return

        def start(_: object) -> None:
            if not all(h.done() for h in tag_heads):
                return  # the last tag HEAD to answer decides
            if any(h.cancelled() or h.exception() is not None or h.result() is not None for h in tag_heads):
                return
            what = self.what(target, child)
            for digest in child.blobs:
                self._blob(target, child, digest, what)

        for head in tag_heads:
            head.add_done_callback(start)

    def _blob(self, target: Reference, child: Child, digest: str, what: str) -> Future[None]:
        source = Reference(child.registry, child.repository)
        same_registry = child.registry == target.registry

        def place_blob(client: RegistryClient) -> None:
            location: Optional[str] = None
            if same_registry:
                # A blob the target already has answers 201 as well: no HEAD needed before it.
                location = mount_or_fallback(client, target.repository, digest, child.repository, what)
                if location is None:
                    return
            if location is None or location == REFUSED:
                if client.blob_exists(target.repository, digest, what):
                    return
                location = None
            # Only a streamed copy loads it: mounts, and pushes within one repository, never do.
            from manifest_spec.registry.upload import copy_blob

            copy_blob(self.scheduler.client(source), child.repository, client, target.repository, digest, self.listener, location)

        return self.scheduler.submit(target, place_blob, ("place-blob", target.api_host, target.repository, digest))


def _failed(step: Future[T], placed: Future[None]) -> bool:
    """A step that failed (or was cancelled: the run is closing) fails the placing with it."""
    if step.cancelled():
        placed.set_exception(CancelledError())
        return True
    error = step.exception()
    if error is not None:
        placed.set_exception(error)
    return error is not None


def _guarded(placed: Future[None], step: Callable[[], None]) -> None:
    """A step run from a callback: whatever it raises fails the placing, never left waiting."""
    try:
        step()
    except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the placing
        if not placed.done():
            placed.set_exception(e)


REFUSED = "refused"  # a mount refused for scope: no session open, the blob not placed


def mount_or_fallback(client: RegistryClient, repository: str, digest: str, source: str, what: str) -> Optional[str]:
    """mount_blob(); a mount refused 401 insufficient_scope gives REFUSED: the caller HEADs the blob and
    copies it with separate pull and push tokens, as docker does (moby/moby#20387). Token services that grant only one
    `scope` of a request (Harbor 1.1: goharbor/harbor#2411; GitLab: estesp/manifest-tool#53) refuse such a mount."""
    try:
        return client.mount_blob(repository, digest, source, what)
    except RegistryError as e:
        if e.status == 401 and e.code == "INSUFFICIENT_SCOPE":
            log.debug("%s: mount refused for scope, copying instead: %s", what, e)
            return REFUSED
        raise

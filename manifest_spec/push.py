"""Write to the registry: children into the target repository, then the index, then the tags."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

from manifest_spec.blobcopy import Progress, copy_blob
from manifest_spec.carry import CarryPlan, CarrySettings, write_carry_tags
from manifest_spec.carryread import prepare_carry
from manifest_spec.errors import VerificationError
from manifest_spec.index import OCI_MANIFEST, BuiltIndex, build_index
from manifest_spec.reference import Reference
from manifest_spec.registry import RegistryClient
from manifest_spec.resolve import Child, Resolution, resolve_members
from manifest_spec.spec import Spec, check_type
from manifest_spec.submit import Requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushSettings:
    """What the push flags decide; `index_type` is already flag > spec > docker."""

    index_type: str = "docker"
    ignore_missing: bool = False
    check_platform: bool = True
    carry: CarrySettings = CarrySettings()  # members' signatures, attestations, SBOMs (--no-referrers, --referrers-type)


@dataclass(frozen=True)
class Prepared:
    """Everything a push will write, worked out without writing anything."""

    spec: Spec
    resolution: Resolution
    index: BuiltIndex
    carry: Optional[CarryPlan] = None  # what travels with members from elsewhere (None: nothing, or off)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the index goes to, in push order: the target's first, each once."""
        return tuple(dict.fromkeys((self.spec.image.tag, *self.spec.tags)))


def prepare(spec: Spec, settings: PushSettings, client_for: Callable[[Reference], RegistryClient]) -> Prepared:
    """Validate against the type, resolve and verify every member, build the index bytes."""
    check_type(spec, settings.index_type)
    resolution = resolve_members(
        spec.members, client_for, check_platform=settings.check_platform, ignore_missing=settings.ignore_missing
    )
    oci = settings.index_type == "oci"
    if not oci:
        for member in resolution.members:
            if any(d.media_type == OCI_MANIFEST for d in member.descriptors):
                raise VerificationError(
                    f"manifests[{member.position}] {member.member.image} is an OCI image; a Docker manifest list "
                    "must not point at OCI manifests (Nexus and Quay reject it): push with --type oci or set `type: oci`"
                )
    index = build_index(resolution.descriptors, oci=oci, annotations=dict(spec.annotations) if oci else None)
    with Requests(client_for) as submit:
        carry = prepare_carry(resolution, spec.image, settings.carry, submit)
    return Prepared(spec, resolution, index, carry)


CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass(frozen=True)
class TagResult:
    """What a push did to one tag; `previous` is the digest it held before ("" if none)."""

    tag: str
    status: str  # CREATED, UPDATED or UNCHANGED (already the index: not written)
    previous: str = ""


@dataclass(frozen=True)
class PushResult:
    prepared: Prepared
    tag_results: tuple[TagResult, ...]


def place_children(
    target: Reference,
    children: list[Child],
    client_for: Callable[[Reference], RegistryClient],
    progress: Optional[Progress] = None,
) -> None:
    """Make every child manifest exist in the target repository by digest, blobs first.

    A blob already there is skipped; on the same registry it is mounted; where the registry
    refuses the mount, or the source is on another registry, it is streamed across.
    """
    client = client_for(target)
    repository = target.repository
    done: set[str] = set()
    for child in children:
        digest = child.manifest.digest
        same_registry = child.registry == target.registry
        if (same_registry and child.repository == repository) or digest in done:
            continue
        done.add(digest)
        what = f"copy {child.registry}/{child.repository}@{digest} into {repository}"
        if client.manifest_exists(repository, digest, what):
            log.debug("%s: already there", what)
            continue
        source = client_for(Reference(child.registry, child.repository))
        for blob in child.blobs:
            if client.blob_exists(repository, blob, what):
                continue
            if same_registry and client.mount_blob(repository, blob, child.repository, what):
                continue
            copy_blob(source, child.repository, client, repository, blob, progress)
        client.put_manifest(repository, digest, child.manifest.data, child.manifest.media_type, what)


def push_index(
    prepared: Prepared, client_for: Callable[[Reference], RegistryClient], progress: Optional[Progress] = None
) -> PushResult:
    """Children first, the index to the target tag next, extra tags last; nothing is deleted."""
    target, index = prepared.spec.image, prepared.index
    client = client_for(target)
    children = [child for member in prepared.resolution.members for child in member.children]
    carry = prepared.carry
    place_children(target, children + list(carry.children if carry else ()), client_for, progress)
    if carry is not None:
        write_carry_tags(carry, client_for)  # referrers findable before any tag moves to the index
    results = []
    for tag in prepared.tags:
        what = f"push {target.with_tag(tag)}"
        # HEAD first: a tag already holding these exact bytes is left alone, so a repeated push writes nothing.
        current = client.head_manifest(target.repository, tag, what)
        if current is not None and current.digest == index.digest:
            log.debug("%s: already %s", what, index.digest)
            results.append(TagResult(tag, UNCHANGED, current.digest))
            continue
        client.put_manifest(target.repository, tag, index.data, index.media_type, what)
        results.append(TagResult(tag, UPDATED if current else CREATED, current.digest if current else ""))
    return PushResult(prepared, tuple(results))

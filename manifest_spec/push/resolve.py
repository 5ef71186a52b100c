"""Spec members → verified index entries, read-only: nothing here writes to a registry."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from manifest_spec.errors import ManifestSpecError, RegistryError, VerificationError
from manifest_spec.oci.index import IMAGE_TYPES, INDEX_TYPES, Descriptor, parse_index
from manifest_spec.oci.manifest import (
    REFERENCE_DIGEST,
    Child,
    Manifest,
    blob_digests,
    is_attestation,
)
from manifest_spec.oci.platforms import (
    Platform,
    platform_from_config,
    platform_key,
    platform_matches,
    platform_problems,
)
from manifest_spec.oci.reference import Reference
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.registry.client import MAX_CONFIG_BYTES
from manifest_spec.specfile.spec import KNOWN, Member

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ResolvedMember:
    """One spec member after resolution: its source pinned by digest and its index entries."""

    position: int
    member: Member
    source: Reference
    descriptors: tuple[Descriptor, ...]
    children: tuple[Child, ...]
    manifest: Manifest  # the member's own manifest (an image, or the index its entries came from)
    labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (what, config labels) of each image entry
    dropped: tuple[Descriptor, ...] = ()  # attestation entries of a member index left out (attestations: drop)


@dataclass(frozen=True)
class Resolution:
    """A spec's members, resolved, and the ones --ignore-missing left out."""

    members: tuple[ResolvedMember, ...]
    skipped: tuple[str, ...]  # warnings for members left out by --ignore-missing

    @property
    def descriptors(self) -> list[Descriptor]:
        return [d for m in self.members for d in m.descriptors]


def fetch_manifest(scheduler: Scheduler, where: Reference, ref: str, what: str) -> Future[Manifest]:
    """GET a manifest (verified); asked twice in one run, by any member of any spec, sent once."""
    key = ("manifest", where.api_host, where.repository, ref)
    return scheduler.submit(where, lambda client: client.get_manifest(where.repository, ref, what), key)


def fetch_blob(scheduler: Scheduler, where: Reference, digest: str, limit: int, what: str) -> Future[bytes]:
    key = ("blob", where.api_host, where.repository, digest)
    return scheduler.submit(where, lambda client: client.get_blob(where.repository, digest, limit, what), key)


def member_name(position: int, member: Member) -> str:
    """How errors name a member: `manifests[2] REF` of a file, or the argument it came from."""
    return member.origin or f"manifests[{position}] {member.image}"


ChildSeen = Callable[[Child], None]  # told of each child as soon as its manifest is read (maybe twice)


def resolve_member(
    position: int,
    member: Member,
    scheduler: Scheduler,
    *,
    check_platform: bool = True,
    ignore_missing: bool = False,
    child_seen: Optional[ChildSeen] = None,
    drop_attestations: bool = False,
) -> Optional[ResolvedMember]:
    """Read and verify one member; None when it is missing and --ignore-missing leaves it out."""
    resolver = MemberResolver(position, member, scheduler, check_platform, child_seen, drop_attestations)
    try:
        return resolver.resolve()
    except RegistryError as e:
        if ignore_missing and e.not_found and e.status == 404 and resolver.at_top:
            return None
        raise


def collect(members: tuple[Member, ...], results: list[Optional[ResolvedMember]]) -> Resolution:
    """The members that resolved, in spec order, with a warning for each one left out; duplicates refused."""
    skipped = tuple(
        f"{member_name(i, m)} does not exist; left out (--ignore-missing)"
        for i, (m, r) in enumerate(zip(members, results))
        if r is None
    )
    resolved = tuple(r for r in results if r is not None)
    if not resolved:
        raise RegistryError("none of the spec's images exist; nothing to push")
    _check_duplicates(resolved)
    return Resolution(resolved, skipped)


class MemberResolver:
    """One member's reads and checks (resolve_member(); readahead.py sends its reads early)."""

    def __init__(
        self, position: int, member: Member, scheduler: Scheduler, check_platform: bool, child_seen: Optional[ChildSeen],
        drop_attestations: bool = False,
    ) -> None:
        self.position = position
        self.member = member
        self.scheduler = scheduler
        self.check_platform = check_platform
        self.child_seen = child_seen
        self.where = Reference(member.image.registry, member.image.repository)
        self.repository = member.image.repository
        self.registry = member.image.registry
        self.name = member_name(position, member)
        self.at_top = True  # a not-found answer here means the member itself is missing
        self.drop_attestations = drop_attestations
        self.labels: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.dropped: tuple[Descriptor, ...] = ()

    def resolve(self) -> ResolvedMember:
        top = fetch_manifest(self.scheduler, self.where, self.member.image.ref, self.name).result()
        self.at_top = False
        if top.media_type in INDEX_TYPES:
            descriptors, children = self.from_index(top)
        else:
            descriptor, child = self.from_image(top, self.member.platform, self.name)
            descriptor = replace(descriptor, annotations=self.member.annotations)
            descriptors, children = (descriptor,), (child,)
        source = self.member.image.with_digest(top.digest)
        return ResolvedMember(self.position, self.member, source, descriptors, children, top, tuple(self.labels), self.dropped)

    def child(self, manifest: Manifest) -> Child:
        child = Child(manifest, self.repository, blob_digests(manifest.json()), self.registry)
        if self.child_seen is not None:
            self.child_seen(child)
        return child

    def from_image(
        self, manifest: Manifest, wanted: Optional[Platform], what: str, claimed_by: str = "the spec"
    ) -> tuple[Descriptor, Child]:
        """An image manifest: read its config, settle its platform, list its blobs."""
        fetched = self.config(manifest, what)
        child = self.child(manifest)  # before the config is read: the engine may look for it in the target meanwhile
        config = _config_json(fetched.result(), f"{what} config")
        self.labels.append((what, config_labels(config)))
        platform = self.settle_platform(wanted, platform_from_config(config), what, claimed_by)
        descriptor = Descriptor(manifest.media_type, manifest.digest, manifest.size, platform)
        return descriptor, child

    def config(self, manifest: Manifest, what: str) -> Future[bytes]:
        """The image's config blob, asked for (once) without waiting for it."""
        config = manifest.json().get("config") or {}
        config_digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(config_digest, str):
            raise VerificationError(f"{what}: the manifest has no config descriptor")
        return fetch_blob(self.scheduler, self.where, config_digest, MAX_CONFIG_BYTES, f"{what} config")

    def settle_platform(
        self, wanted: Optional[Platform], actual: Optional[Platform], what: str, claimed_by: str = "the spec"
    ) -> Platform:
        if wanted is None:
            if actual is None:
                raise VerificationError(
                    f"{what}: the spec gives no platform and the image config names none; add platform: {{os: ..., architecture: ...}}"
                )
            if self.member.config_platform:
                _check_config_platform(actual, what, self.member.config_platform)
            return actual
        if actual is None:
            if self.check_platform:
                # Not an image (a Helm chart, an artifact) or a config stripped of its platform:
                # claiming a platform for it would send pullers something that cannot run.
                raise VerificationError(
                    f"{what}: {claimed_by} says {wanted} but the image config names no os/architecture, so "
                    "nothing shows it runs there (--skip-platform-check overrides)"
                )
            return wanted
        if self.check_platform and not platform_matches(wanted, actual):
            raise VerificationError(
                f"{what}: {claimed_by} says {wanted} but the image is {actual} (from its config); "
                f"pulled on {wanted} it would fail with `exec format error`. "
                "Point the spec at the right image or fix its platform (--skip-platform-check overrides)"
            )
        # As manifest-tool does: fields the spec leaves out come from the config.
        return Platform(
            os=wanted.os,
            architecture=wanted.architecture,
            variant=wanted.variant or (actual.variant if actual.architecture == wanted.architecture else ""),
            os_version=wanted.os_version or actual.os_version,
            os_features=wanted.os_features or actual.os_features,
        )

    def from_index(self, top: Manifest) -> tuple[tuple[Descriptor, ...], tuple[Child, ...]]:
        """An index member: all its entries, or with a spec platform that entry and its attestations."""
        _, entries, _ = parse_index(top.data)
        entries = self.entries_taken(entries)
        names = [f"{self.name} entry {entry.digest[:19]}" for entry in entries]
        for entry, what in zip(entries, names):
            if entry.media_type not in IMAGE_TYPES:
                raise VerificationError(f"{what}: is {entry.media_type}; an index inside an index member is not supported")
        # Every entry asked for at once; then each is checked in index order.
        pending = [fetch_manifest(self.scheduler, self.where, e.digest, what) for e, what in zip(entries, names)]
        for entry, what, fetched in zip(entries, names, pending):
            # Every config asked for, every child announced, before the first config is waited for.
            try:
                self.child(fetched.result())
                if not is_attestation(entry):
                    self.config(fetched.result(), what)
            except ManifestSpecError:
                pass  # reported below, in index order, with the checks that come first
        taken = [self.from_entry(entry, what, fetched.result()) for entry, what, fetched in zip(entries, names, pending)]
        return tuple(d for d, _ in taken), tuple(c for _, c in taken)

    def entries_taken(self, entries: list[Descriptor]) -> list[Descriptor]:
        """All, or the one entry for the spec's platform and its attestations; attestations dropped when asked."""
        wanted = self.member.platform
        if wanted is not None:
            # The pullers' rule, as for a plain image's config; never a silent pick among several.
            matches = [e for e in entries if not is_attestation(e) and e.platform and platform_matches(wanted, e.platform)]
            if not matches:
                have = ", ".join(str(e.platform) for e in entries if e.platform and not is_attestation(e)) or "none"
                raise VerificationError(f"{self.name}: the index has no {wanted} entry (it has: {have})")
            if len(matches) > 1:
                found = ", ".join(f"{e.platform} ({e.digest[:19]})" for e in matches)
                raise VerificationError(
                    f"{self.name}: {len(matches)} entries of the index match {wanted}: {found}; "
                    "name the variant, os.version or os.features of the one to take"
                )
            (chosen,) = matches
            entries = [chosen] + [e for e in entries if is_attestation(e) and dict(e.annotations).get(REFERENCE_DIGEST) == chosen.digest]
        if self.drop_attestations:  # neither in the index nor read, nor copied, nor their referrers carried
            self.dropped = tuple(e for e in entries if is_attestation(e))
            entries = [e for e in entries if not is_attestation(e)]
        return entries

    def from_entry(self, entry: Descriptor, what: str, manifest: Manifest) -> tuple[Descriptor, Child]:
        """One entry of an index member, checked against the manifest it names."""
        if (manifest.size, manifest.media_type) != (entry.size, entry.media_type):
            raise VerificationError(
                f"{what}: the index says {entry.media_type}, {entry.size} bytes, but the manifest is "
                f"{manifest.media_type}, {manifest.size} bytes"
            )
        if is_attestation(entry):
            return entry, self.child(manifest)
        wanted = self.member.platform
        platform_wanted = wanted if wanted is not None else entry.platform
        claimed_by = "the spec" if wanted is not None else "the source index"
        descriptor, child = self.from_image(manifest, platform_wanted, what, claimed_by)
        merged = {**dict(entry.annotations), **dict(self.member.annotations)}
        return replace(descriptor, annotations=tuple(sorted(merged.items()))), child


def _check_config_platform(actual: Platform, what: str, rule: str) -> None:
    """An image given as an argument: its config's platform must be one a puller can run (and,
    with KNOWN, a known one, as a platform written in a spec must be)."""
    if (actual.os, actual.architecture) == ("unknown", "unknown"):
        raise VerificationError(
            f"{what}: its config says unknown/unknown: an attestation or an artifact, not an image a puller can run; "
            "give the image (or the index) it belongs to"
        )
    problems = platform_problems(actual) if rule == KNOWN else []
    if problems:
        raise VerificationError(
            f"{what}: its config says {actual}: {problems[0][1]}; --allow-unknown-platform accepts it on purpose"
        )


def _config_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise VerificationError(f"{what}: not valid JSON ({e})") from e


def config_labels(config: Any) -> tuple[tuple[str, str], ...]:
    """An image config's labels (`config.Labels`, as docker build writes them), text values only."""
    inner = config.get("config") if isinstance(config, dict) else None
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((k, v) for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)))


def _check_duplicates(members: tuple[ResolvedMember, ...]) -> None:
    """Two entries for one platform, from two members or inside one: a puller gets either."""
    seen: dict[tuple[Any, ...], ResolvedMember] = {}
    for member in members:
        for descriptor in member.descriptors:
            if descriptor.platform is None or is_attestation(descriptor):
                continue
            key = platform_key(descriptor.platform)
            first = seen.get(key)
            if first is member:
                raise VerificationError(
                    f"duplicate platform {descriptor.platform}: {member_name(member.position, member.member)} "
                    "is an index with two entries for it; "
                    + ("give instead the digest of the entry to take" if member.member.origin
                       else "give the member a platform to take one")
                )
            if first is not None:
                raise VerificationError(
                    f"duplicate platform {descriptor.platform}: {member_name(first.position, first.member)} "
                    f"and {member_name(member.position, member.member)} both provide it"
                )
            seen[key] = member

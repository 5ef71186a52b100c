"""Compare a prepared index with what its tags hold now: create / update / unchanged. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from manifest_spec.oci.index import (
    DOCKER_LIST,
    INDEX_TYPES,
    OCI_INDEX,
    Descriptor,
    parse_index,
)
from manifest_spec.oci.manifest import REFERENCE_DIGEST, is_attestation
from manifest_spec.oci.platforms import platform_key
from manifest_spec.oci.reference import Reference
from manifest_spec.push.engine import Prepared
from manifest_spec.registry.client import RegistryClient

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
MISSING, INDEX, NOT_INDEX = "missing", "index", "not-index"
KIND_NAMES = {DOCKER_LIST: "Docker manifest list", OCI_INDEX: "OCI image index"}


@dataclass(frozen=True)
class Current:
    """What a tag holds now: nothing, an index, or something else (a single image, an artifact)."""

    state: str  # MISSING, INDEX or NOT_INDEX
    digest: str = ""
    media_type: str = ""


@dataclass(frozen=True)
class EntryChange:
    """One platform of the index: how its entry changes; `before`/`after` are digests ("" = none)."""

    platform: str
    change: str  # ADDED, REMOVED, CHANGED or UNCHANGED
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class TagPlan:
    """What a push would do to one tag."""

    tag: str
    reference: Reference
    action: str  # CREATE, UPDATE or UNCHANGED
    current: Current
    entries: tuple[EntryChange, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpecPlan:
    """The plan for one spec: the index it would push and what happens to each of its tags."""

    prepared: Prepared
    tags: tuple[TagPlan, ...]

    @property
    def changes(self) -> bool:
        carry = self.prepared.carry
        return any(t.action != UNCHANGED for t in self.tags) or bool(carry and carry.tag_writes)


Heads = Callable[[str], Optional[Descriptor]]  # what a tag of the target holds now (None: nothing)


def plan_prepared(prepared: Prepared, client: RegistryClient, heads: Heads) -> SpecPlan:
    """For each target tag, read what it holds (HEAD, then GET only for another index) and compare.
    `heads`: the tags' HEADs already asked for (the engine's, in its first round)."""
    target = prepared.spec.image
    new = parse_index(prepared.index.data)
    plans = []
    for tag in prepared.tags:
        ref = target.with_tag(tag)
        plans.append(_plan_tag(ref, prepared, new, client, heads(tag)))
    return SpecPlan(prepared, tuple(plans))


def _plan_tag(
    ref: Reference, prepared: Prepared, new: tuple[str, list[Descriptor], dict[str, str]], client: RegistryClient,
    head: Optional[Descriptor],
) -> TagPlan:
    what = f"plan {ref}"
    index = prepared.index
    if head is None:
        return TagPlan(ref.tag, ref, CREATE, Current(MISSING), _compare([], new[1]))
    if head.digest == index.digest:
        current = Current(INDEX, head.digest, head.media_type or index.media_type)
        return TagPlan(ref.tag, ref, UNCHANGED, current, _compare(new[1], new[1]))
    if head.media_type and head.media_type not in INDEX_TYPES:
        current = Current(NOT_INDEX, head.digest, head.media_type)
        note = f"{ref.tag} holds a single manifest ({head.media_type}), not an index; the index replaces it"
        return TagPlan(ref.tag, ref, UPDATE, current, _compare([], new[1]), (note,))
    manifest = client.get_manifest(ref.repository, head.digest, what)
    if manifest.media_type not in INDEX_TYPES:
        current = Current(NOT_INDEX, manifest.digest, manifest.media_type)
        note = f"{ref.tag} holds a single manifest ({manifest.media_type}), not an index; the index replaces it"
        return TagPlan(ref.tag, ref, UPDATE, current, _compare([], new[1]), (note,))
    old = parse_index(manifest.data)
    current = Current(INDEX, manifest.digest, manifest.media_type)
    entries = _compare(old[1], new[1])
    return TagPlan(ref.tag, ref, UPDATE, current, entries, _notes(manifest.media_type, old, index.media_type, new, entries))


def _keyed(descriptors: list[Descriptor]) -> dict[tuple[Any, ...], tuple[str, Descriptor]]:
    """Entries by platform; an attestation by the platform of the image it describes."""
    by_digest = {d.digest: d for d in descriptors}
    keyed: dict[tuple[Any, ...], tuple[str, Descriptor]] = {}
    for d in descriptors:
        if is_attestation(d):
            subject: Optional[Descriptor] = by_digest.get(dict(d.annotations).get(REFERENCE_DIGEST, ""))
            if subject is not None and subject.platform is not None:
                key: tuple[Any, ...] = ("attestation",) + platform_key(subject.platform)
                label = f"attestation of {subject.platform}"
            else:
                key, label = ("attestation", d.digest), "attestation"
        elif d.platform is not None:
            key, label = platform_key(d.platform), str(d.platform)
        else:
            key, label = ("no platform", d.digest), "(no platform)"
        # An index written by another tool may repeat a platform: keep both rather than lose one.
        while key in keyed:
            key, label = key + ("again",), f"{label} (again)"
        keyed[key] = (label, d)
    return keyed


def _compare(old: list[Descriptor], new: list[Descriptor]) -> tuple[EntryChange, ...]:
    before, after = _keyed(old), _keyed(new)
    changes = []
    for key, (label, d) in after.items():
        if key not in before:
            changes.append(EntryChange(label, ADDED, "", d.digest))
        else:
            was = before[key][1].digest
            changes.append(EntryChange(label, UNCHANGED if was == d.digest else CHANGED, was, d.digest))
    for key, (label, d) in before.items():
        if key not in after:
            changes.append(EntryChange(label, REMOVED, d.digest, ""))
    return tuple(changes)


def _notes(
    old_type: str,
    old: tuple[str, list[Descriptor], dict[str, str]],
    new_type: str,
    new: tuple[str, list[Descriptor], dict[str, str]],
    entries: tuple[EntryChange, ...],
) -> tuple[str, ...]:
    """Why the digest changes when the platform list alone does not say it."""
    notes = []
    if old_type != new_type:
        notes.append(f"index type changes: {KIND_NAMES.get(old_type, old_type)} → {KIND_NAMES.get(new_type, new_type)}")
    if old[2] != new[2]:
        notes.append("index annotations change")
    old_by_digest = {d.digest: d for d in old[1]}
    for d in new[1]:
        was = old_by_digest.get(d.digest)
        if was is not None and was.annotations != d.annotations:
            notes.append(f"annotations of the {d.platform or d.digest} entry change")
        elif was is not None and was.platform != d.platform:
            notes.append(f"platform of entry {d.digest[:19]} changes: {was.platform} → {d.platform}")
    common_old = [d.digest for d in old[1] if d.digest in {n.digest for n in new[1]}]
    common_new = [d.digest for d in new[1] if d.digest in {o.digest for o in old[1]}]
    if common_old != common_new:
        notes.append("entry order changes")
    if not notes and all(e.change == UNCHANGED for e in entries):
        notes.append("same entries, different bytes (written by another tool or with other fields)")
    return tuple(notes)

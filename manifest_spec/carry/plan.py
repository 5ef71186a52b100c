"""Carry members' signatures, attestations and SBOMs into the target repository.

carryread.py reads everything (sources and the target's current tags); the pure `plan_carry`
decides the writes. The push places the artifact manifests beside the
members (blobs mounted or streamed alike), then `write_carry_tags` makes them findable: the
`<alg>-<hex>` referrers indexes (merged, never an entry dropped) and cosign's tags (copied, or
merged with a different one the target has), all before the index tags move.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from manifest_spec.carry.lookups import parse_referrers_index
from manifest_spec.carry.referrers import (
    KINDS,
    OTHER,
    SBOM,
    Artifact,
    Subject,
    classify,
    referrers_tag,
)
from manifest_spec.carry.settings import (
    CarrySettings as CarrySettings,  # its home before issue 18, for importers
)
from manifest_spec.carry.submit import Submit, later
from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import OCI_INDEX, digest_of
from manifest_spec.oci.manifest import Child, Manifest
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import RegistryClient
from manifest_spec.registry.upload import commit_upload, start_upload

log = logging.getLogger(__name__)
REFERRERS, COSIGN = "referrers", "cosign"


@dataclass(frozen=True)
class TargetState:
    """What the target repository holds now; read before anything is written."""

    api: bool  # it serves the referrers API: a manifest with `subject` is found without a tag
    referrer_tags: Mapping[str, Optional[Manifest]] = field(default_factory=dict)  # by subject digest
    cosign_tags: Mapping[str, Optional[tuple[Manifest, bytes]]] = field(default_factory=dict)  # tag → (manifest, config)


@dataclass(frozen=True)
class TagWrite:
    """One tag the carry writes in the target: a referrers index or a cosign tag."""

    tag: str
    kind: str  # REFERRERS or COSIGN
    data: bytes
    media_type: str
    previous: str  # the digest it held ("" when new)
    added: tuple[str, ...]  # referrer manifests (or cosign layers) it adds
    kept: int  # entries (or layers) already there that stay
    config: bytes = b""  # a merged cosign manifest's new config blob, uploaded first

    @property
    def digest(self) -> str:
        return digest_of(self.data)


@dataclass(frozen=True)
class CarryPlan:
    """What the carry writes into the target: artifact manifests by digest, then tags."""

    target: Reference
    subjects: tuple[Subject, ...]
    api: bool
    children: tuple[Child, ...]  # artifact manifests to place by digest (blobs first)
    tag_writes: tuple[TagWrite, ...]
    unchanged: tuple[str, ...]  # tags that already hold what they should
    state: TargetState = TargetState(False)  # what the plan was made from (push --locked plans again from it)
    types: frozenset[str] = frozenset()  # the --referrers-type filter it was discovered with
    warnings: tuple[str, ...] = ()  # what discovery could not tell (shown by push, dry-run and plan)

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        seen: dict[str, Artifact] = {}
        for subject in self.subjects:
            for artifact in subject.artifacts:
                seen.setdefault(artifact.digest, artifact)
        return tuple(seen.values())

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for artifact in self.artifacts:
            counts[artifact.kind] += artifact.count
        return counts

    def summary(self) -> str:
        """"3 signatures, 2 attestations, 1 SBOM" (kinds with none left out; "nothing" when empty)."""
        names = {"signature": ("signature", "signatures"), "attestation": ("attestation", "attestations"),
                 SBOM: ("SBOM", "SBOMs"), "other": ("other artifact", "other artifacts")}
        parts = [f"{n} {names[k][n != 1]}" for k, n in self.counts().items() if n]
        return ", ".join(parts) or "no signatures, attestations or SBOMs"


def plan_carry(target: Reference, subjects: list[Subject], state: TargetState, types: frozenset[str] = frozenset(),
               warnings: tuple[str, ...] = ()) -> CarryPlan:
    """Pure: which manifests go in by digest, and which tags get which bytes."""
    children: dict[str, Child] = {}
    writes: list[TagWrite] = []
    unchanged: list[str] = []
    for subject in subjects:
        for artifact in subject.artifacts:
            children.setdefault(artifact.digest, Child(artifact.manifest, subject.source.repository, artifact.blobs,
                                                       subject.source.registry))
        if subject.referrers and not state.api:
            tag = referrers_tag(subject.digest)
            _add(merge_referrers_index(tag, state.referrer_tags.get(subject.digest), subject.referrers), tag, writes, unchanged)
        for artifact in subject.cosign:
            _add(merge_cosign_tag(artifact, state.cosign_tags.get(artifact.tag)), artifact.tag, writes, unchanged)
    return CarryPlan(target, tuple(subjects), state.api, tuple(children.values()), tuple(writes), tuple(unchanged), state, types,
                     warnings)


def _add(write: Optional[TagWrite], tag: str, writes: list[TagWrite], unchanged: list[str]) -> None:
    if write is None:
        unchanged.append(tag)
    else:
        writes.append(write)


def merge_referrers_index(tag: str, current: Optional[Manifest], referrers: tuple[Artifact, ...]) -> Optional[TagWrite]:
    """The target's index with every entry it has kept and the missing referrers appended; None: nothing to add."""
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if current is not None:
        parse_referrers_index(current.data, current.media_type, f"target referrers tag {tag}")  # refuses a non-index
        body = json.loads(current.data)
    have = {str(entry.get("digest")) for entry in body["manifests"] if isinstance(entry, dict)}
    added = [a for a in referrers if a.digest not in have]
    if not added:
        return None
    kept = len(body["manifests"])
    body["manifests"] = [*body["manifests"], *(a.entry_json() for a in added)]
    data = json.dumps(body, separators=(",", ":")).encode()
    return TagWrite(tag, REFERRERS, data, OCI_INDEX, current.digest if current else "", tuple(a.digest for a in added), kept)


def merge_cosign_tag(artifact: Artifact, current: Optional[tuple[Manifest, bytes]]) -> Optional[TagWrite]:
    """Copy cosign's tag, or — the target has another manifest there — append the layers it lacks, as
    `cosign sign` does when signing again (config diff_ids and history extended). None: nothing to add."""
    if current is None:
        return TagWrite(artifact.tag, COSIGN, artifact.manifest.data, artifact.manifest.media_type, "", (artifact.digest,), 0)
    manifest, config_data = current
    if manifest.digest == artifact.digest:
        return None
    ours, theirs = manifest.json(), artifact.manifest.json()
    if not isinstance(ours.get("config"), dict):
        raise VerificationError(f"target cosign tag {artifact.tag}: {manifest.digest} has no config; refusing to merge into it")
    layers = [layer for layer in ours.get("layers") or [] if isinstance(layer, dict)]
    if not layers or any(classify("", [str(layer.get("mediaType", ""))], {}) == OTHER for layer in layers):
        # An ordinary image (or anything else) under a cosign tag: merging signatures into it would
        # make a manifest that is neither; the user has to look at it first.
        raise VerificationError(
            f"target cosign tag {artifact.tag}: {manifest.digest} is not a cosign signature, attestation or SBOM "
            "manifest (its layers are of other types); refusing to merge into it"
        )
    added = [layer for layer in theirs.get("layers") or [] if isinstance(layer, dict) and layer not in layers]
    if not added:
        return None
    try:
        config = json.loads(config_data)
    except ValueError as e:
        raise VerificationError(f"target cosign tag {artifact.tag}: its config is not JSON ({e}); refusing to merge") from e
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
        rootfs["diff_ids"] += [layer["digest"] for layer in added]
    if isinstance(config, dict) and isinstance(config.get("history"), list):
        config["history"] += [dict(config["history"][-1]) if config["history"] else {} for _ in added]
    new_config = json.dumps(config, separators=(",", ":")).encode()
    ours["config"] = {**ours["config"], "digest": digest_of(new_config), "size": len(new_config)}
    ours["layers"] = layers + added
    data = json.dumps(ours, separators=(",", ":")).encode()
    return TagWrite(artifact.tag, COSIGN, data, manifest.media_type, manifest.digest,
                    tuple(str(layer.get("digest")) for layer in added), len(layers), new_config)


def write_carry_tags(plan: CarryPlan, submit: Submit) -> None:
    """After its manifests are placed (beside the members): the tags that make them findable, all at once."""
    repository = plan.target.repository

    def write(client: RegistryClient, tag: TagWrite) -> None:
        what = f"carry {tag.kind} tag {plan.target.with_tag(tag.tag)}"
        if tag.config:
            upload_blob(client, repository, tag.config, what)
        client.put_manifest(repository, tag.tag, tag.data, tag.media_type, what)

    for written in [later(submit, plan.target, write, tag) for tag in plan.tag_writes]:
        written.result()


def upload_blob(client: RegistryClient, repository: str, data: bytes, what: str) -> None:
    """A small blob in one upload (POST, then PUT with the bytes); skipped when already there."""
    digest = digest_of(data)
    if client.blob_exists(repository, digest, what):
        return
    commit_upload(client, start_upload(client, repository, what), digest, what, data)

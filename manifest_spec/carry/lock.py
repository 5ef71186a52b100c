"""The lock's record of carried signatures, attestations and SBOMs: written by `lock`, held to by
`push --locked` (exactly the reviewed ones travel) and checked by `lock --check` (added, replaced, gone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from manifest_spec.carry.plan import CarryPlan, plan_carry
from manifest_spec.carry.referrers import Artifact, Subject, discover_all
from manifest_spec.carry.submit import Submit
from manifest_spec.errors import ManifestSpecError
from manifest_spec.oci.reference import parse_reference


@dataclass(frozen=True)
class LockedArtifact:
    """One carried artifact as a lock file records it."""

    digest: str
    kind: str
    tag: str = ""  # a cosign tag (its manifest changes when a signature is added); "" for a referrer


@dataclass(frozen=True)
class LockedCarry:
    """The carried artifacts a lock file records, per subject image."""

    types: frozenset[str]
    subjects: tuple[tuple[str, tuple[LockedArtifact, ...]], ...]  # (image@digest, its artifacts)


def _artifact_json(artifact: Artifact) -> dict[str, Any]:
    entry: dict[str, Any] = {"digest": artifact.digest, "kind": artifact.kind, "artifactType": artifact.artifact_type}
    if artifact.tag:
        entry["tag"] = artifact.tag
    return entry


def carry_lock_json(plan: Optional[CarryPlan]) -> Optional[dict[str, Any]]:
    """The lock's `referrers`: per member image from elsewhere, what travels with it (even nothing)."""
    if plan is None:
        return None
    return {
        "types": sorted(plan.types),
        "subjects": [
            {"image": str(s.source), "artifacts": sorted((_artifact_json(a) for a in s.artifacts), key=lambda e: (e.get("tag", ""), e["digest"]))}
            for s in plan.subjects
        ],
    }


def read_carry_lock(value: Any, path: str) -> Optional[LockedCarry]:
    if value is None:
        return None
    try:
        subjects = tuple(
            (str(s["image"]), tuple(LockedArtifact(str(a["digest"]), str(a["kind"]), str(a.get("tag", ""))) for a in s["artifacts"]))
            for s in value["subjects"]
        )
        return LockedCarry(frozenset(str(t) for t in value.get("types") or []), subjects)
    except (KeyError, TypeError, AttributeError) as e:
        raise ManifestSpecError(f"{path}: its `referrers` are not as manifest-spec writes them ({e}); relock") from e


def _describe(kind: str, digest: str, tag: str, image: str) -> str:
    where = f" ({tag})" if tag else ""
    return f"{kind} {digest}{where} of {image}"


def restrict_to_lock(plan: CarryPlan, locked: Optional[LockedCarry], lock_path: str) -> CarryPlan:
    """Only the artifacts the lock names; one it names that is not there now (gone, or its cosign tag replaced) refuses."""
    if locked is None:
        if any(s.artifacts for s in plan.subjects):
            raise ManifestSpecError(
                f"{lock_path} records no signatures, attestations or SBOMs, but members from other repositories have "
                "some: relock to review them, or push with --no-referrers"
            )
        return plan
    by_image = dict(locked.subjects)
    subjects = []
    for subject in plan.subjects:
        wanted = by_image.get(str(subject.source), ())
        have = {a.digest for a in subject.artifacts}
        missing = [w for w in wanted if w.digest not in have]
        if missing:
            m = missing[0]
            raise ManifestSpecError(
                f"the locked {_describe(m.kind, m.digest, m.tag, str(subject.source))} is no longer there (removed, or its "
                f"tag replaced since the lock); relock and review"
            )
        keep = {w.digest for w in wanted}
        subjects.append(Subject(subject.source, tuple(a for a in subject.referrers if a.digest in keep),
                                tuple(a for a in subject.cosign if a.digest in keep)))
    return plan_carry(plan.target, subjects, plan.state, plan.types, plan.warnings)


def carry_drift(locked: Optional[LockedCarry], submit: Submit) -> list[str]:
    """`lock --check`: a signature (attestation, SBOM) added, replaced or gone since the lock, per member image."""
    if locked is None:
        return []
    drift = []
    refs = [parse_reference(image) for image, _ in locked.subjects]
    found = discover_all(submit, refs, locked.types)
    for (image, artifacts), now in zip(locked.subjects, found):
        locked_digests = {a.digest for a in artifacts}
        locked_tags = {a.tag: a for a in artifacts if a.tag}
        for artifact in now.artifacts:
            was = locked_tags.get(artifact.tag) if artifact.tag else None
            if was is not None and was.digest != artifact.digest:
                drift.append(f"{artifact.tag} of {image} now holds {artifact.digest}, locked {was.digest} "
                             f"(a {artifact.kind} added or replaced since the lock)")
            elif was is None and artifact.digest not in locked_digests:
                drift.append(f"{_describe(artifact.kind, artifact.digest, artifact.tag, image)} was added since the lock")
        present = {a.digest for a in now.artifacts} | {a.tag for a in now.artifacts if a.tag}
        for old in artifacts:
            if old.digest not in present and (not old.tag or old.tag not in present):
                drift.append(f"{_describe(old.kind, old.digest, old.tag, image)} is gone since the lock")
    return drift

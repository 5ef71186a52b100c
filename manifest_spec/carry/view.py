"""How a carry plan reads: lines for people (push, dry-run, plan) and one JSON object. Pure."""

from __future__ import annotations

from typing import Any, Optional

from manifest_spec.carry.plan import CarryPlan, TagWrite


def carry_lines(plan: Optional[CarryPlan], *, done: bool) -> list[str]:
    """'carried 3 signatures, 2 attestations …' (or 'would carry'), then one line per artifact and tag;
    nothing at all when nothing was found (a plain push keeps its one line of output)."""
    if plan is None:
        return []
    warnings = [f"warning: {warning}" for warning in plan.warnings]  # shown even when nothing was found: never a silent drop
    if not (plan.artifacts or any(s.missing for s in plan.subjects)):
        return warnings
    images = len(plan.subjects)
    verb = "carried" if done else "would carry"
    lines = [f"{verb} {plan.summary()} of {images} image{'s' if images != 1 else ''} into {plan.target.registry}/{plan.target.repository}",
             *(f"  {w}" for w in warnings)]
    for subject in plan.subjects:
        for digest in subject.missing:
            lines.append(f"  warning: {digest}, listed as a referrer of {subject.source}, does not exist there; left out")
        for artifact in subject.artifacts:
            where = f"cosign tag {artifact.tag}" if artifact.tag else f"referrer ({artifact.via}), {artifact.artifact_type}"
            lines.append(f"  {artifact.kind} {artifact.digest} of {subject.digest[:19]}: {where}")
    if plan.api:
        lines.append("  the target serves the referrers API: each manifest goes in with its subject, no tag to update")
    for write in plan.tag_writes:
        lines.append(f"  {write.tag}: {_write_text(write, done)}")
    for tag in plan.unchanged:
        lines.append(f"  {tag}: already holds everything carried; not written")
    return lines


def _write_text(write: TagWrite, done: bool) -> str:
    unit = "entr" if write.kind == "referrers" else "layer"
    plural = {("entr", True): "entries", ("entr", False): "entry", ("layer", True): "layers", ("layer", False): "layer"}
    added = f"{len(write.added)} {plural[(unit, len(write.added) != 1)]}"
    what = "referrers index" if write.kind == "referrers" else "cosign tag"
    if not write.previous and write.kind == "referrers":
        return f"{what} {'created' if done else 'would be created'} ({added})"
    if not write.previous:
        return f"{what} {'copied' if done else 'would be copied'}"
    kept = f"{write.kept} {plural[(unit, write.kept != 1)]}"
    action = "merged" if done else "would be merged"
    return f"{what} {action} with the target's {write.previous[:19]}: kept {kept}, added {added}"


def carry_json(plan: Optional[CarryPlan]) -> Optional[dict[str, Any]]:
    if plan is None:
        return None
    return {
        "counts": plan.counts(),
        "referrersApi": plan.api,
        "subjects": [
            {
                "image": str(subject.source),
                "artifacts": [
                    {"digest": a.digest, "kind": a.kind, "artifactType": a.artifact_type, "via": a.via, "tag": a.tag or None,
                     "size": a.manifest.size}
                    for a in subject.artifacts
                ],
                "missing": list(subject.missing),
            }
            for subject in plan.subjects
        ],
        "tags": [
            {"tag": w.tag, "kind": w.kind, "action": "merge" if w.previous else "create", "previous": w.previous or None,
             "digest": w.digest, "added": list(w.added), "kept": w.kept}
            for w in plan.tag_writes
        ],
        "unchanged": list(plan.unchanged),
        "warnings": list(plan.warnings),
    }

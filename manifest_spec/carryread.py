"""Everything the carry reads before anything is written, in rounds: the members' signatures,
attestations and SBOMs at their sources, and the target's tags for them.

Round 1, for every image placed from elsewhere, all at once: at its source the referrers API,
the `<alg>-<hex>` index and cosign's three tags; in the target the same API, index and tags (a
registry without the API or without any artifact costs no round trip more). Round 2: every listed
referrer by digest, the config of each target cosign tag to merge into, and a check that every
entry of a target index to merge into still exists. The engine starts round 1 as soon as it has
read a member (`start`), beside the configs; `prepare_carry` starts what was not started and
finishes.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Mapping, Optional

from manifest_spec.carry import CarryPlan, CarrySettings, TargetState, plan_carry
from manifest_spec.errors import VerificationError
from manifest_spec.index import IMAGE_TYPES, Descriptor
from manifest_spec.reference import Reference
from manifest_spec.referrers import (
    Discovery,
    complete,
    cosign_tags,
    fetch_listed,
    manifest_or_none,
    parse_referrers_index,
    referrers_api,
    referrers_tag,
    start_discovery,
)
from manifest_spec.registry import MAX_CONFIG_BYTES, Manifest, RegistryClient
from manifest_spec.resolve import Resolution
from manifest_spec.submit import Submit, later


@dataclass(frozen=True)
class Pending:
    """One image's first round in flight, at its source and in the target."""

    discovery: Discovery
    target_api: Future[Optional[list[Descriptor]]]
    target_index: Future[Optional[Manifest]]
    target_cosign: Mapping[str, Future[Optional[Manifest]]]


def subjects_of(resolution: Resolution, target: Reference) -> list[Reference]:
    """Every manifest placed into the target from another repository or registry, once each."""
    found: dict[str, Reference] = {}
    for member in resolution.members:
        for child in member.children:
            if (child.registry, child.repository) != (target.registry, target.repository):
                found.setdefault(child.manifest.digest, Reference(child.registry, child.repository, digest=child.manifest.digest))
    return list(found.values())


def start(submit: Submit, source: Reference, target: Reference, types: frozenset[str] = frozenset()) -> Pending:
    repository, tag = target.repository, referrers_tag(source.digest)
    where = f"{target.registry}/{repository}"
    return Pending(
        start_discovery(submit, source, types),
        later(submit, target, referrers_api, repository, source.digest),
        later(submit, target, manifest_or_none, repository, tag, f"target referrers tag {where}:{tag}"),
        {t: later(submit, target, manifest_or_none, repository, t, f"target cosign tag {where}:{t}") for t, _ in cosign_tags(source.digest)},
    )


def prepare_carry(
    resolution: Resolution, target: Reference, settings: CarrySettings, submit: Submit, started: Mapping[str, Pending] = {}
) -> Optional[CarryPlan]:
    """Read (the rounds not already started in `started`, by image digest) and plan; None when carrying
    is off or nothing comes from elsewhere."""
    sources = subjects_of(resolution, target)
    if not settings.enabled or not sources:
        return None
    pending = [started.get(ref.digest) or start(submit, ref, target, settings.types) for ref in sources]
    return finish(submit, target, pending, settings.types)


def finish(submit: Submit, target: Reference, pending: list[Pending], types: frozenset[str]) -> CarryPlan:
    fetching = [fetch_listed(submit, p.discovery) for p in pending]  # round 2 goes out ...
    api = all(p.target_api.result() is not None for p in pending)
    indexes = {} if api else {f.discovery.source.digest: p.target_index.result() for p, f in zip(pending, fetching) if f.listed}
    checks = _entry_checks(submit, target, indexes)
    configs = _configs_to_merge(submit, target, pending)
    subjects = [complete(f, types) for f in fetching]  # ... and is waited for
    with_referrers = {s.digest for s in subjects if s.referrers}
    for subject_digest, tag, digest, exists in checks:
        if subject_digest in with_referrers and not exists.result():
            raise VerificationError(
                f"target referrers tag {tag} lists {digest}, which the registry no longer has, so it would refuse the "
                "index with the carried referrers added; remove that entry (or the tag), or push with --no-referrers"
            )
    cosign: dict[str, Optional[tuple[Manifest, bytes]]] = {}
    for p, subject in zip(pending, subjects):
        for artifact in subject.cosign:
            current = p.target_cosign[artifact.tag].result()
            cosign[artifact.tag] = None if current is None else (current, configs[artifact.tag].result() if artifact.tag in configs else b"")
    state = TargetState(api, {d: m for d, m in indexes.items() if d in with_referrers}, cosign)
    return plan_carry(target, subjects, state, types)


def _entry_checks(
    submit: Submit, target: Reference, indexes: Mapping[str, Optional[Manifest]]
) -> list[tuple[str, str, str, Future[bool]]]:
    """A HEAD for every entry of the target's indexes that may be merged into: the registry refuses an
    index naming a manifest it lacks, and dropping the entry to get past that is not ours to decide."""
    checks = []
    for subject, current in indexes.items():
        if current is None:
            continue
        tag = f"{target.registry}/{target.repository}:{referrers_tag(subject)}"
        for entry in parse_referrers_index(current.data, current.media_type, f"target referrers tag {tag}"):
            exists = later(submit, target, RegistryClient.manifest_exists, target.repository, entry.digest, f"check {tag}")
            checks.append((subject, tag, entry.digest, exists))
    return checks


def _configs_to_merge(submit: Submit, target: Reference, pending: list[Pending]) -> dict[str, Future[bytes]]:
    """The config of each target cosign tag that holds another manifest than the source's (to merge into)."""
    configs = {}
    for p in pending:
        for tag, _, source in p.discovery.cosign:
            theirs, ours = source.result(), p.target_cosign[tag].result()
            if theirs is None or ours is None or ours.digest == theirs.digest:
                continue
            what = f"target cosign tag {target.registry}/{target.repository}:{tag}"
            if ours.media_type not in IMAGE_TYPES:
                raise VerificationError(f"{what}: holds {ours.media_type}, not a cosign manifest; refusing to merge into it")
            config = ours.json().get("config") or {}
            configs[tag] = later(submit, target, RegistryClient.get_blob, target.repository, str(config.get("digest", "")),
                                 MAX_CONFIG_BYTES, f"{what} config")
    return configs

"""carry/reads.py: everything the carry reads before anything is written — what is beside each image
at its source and what the target already holds under the same tags — and the plan made from it."""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from support.fakes import FakePool, FakeRegistry, compact

from manifest_spec.carry.reads import CarryReads, subjects_of
from manifest_spec.carry.referrers import referrers_tag
from manifest_spec.carry.settings import CarrySettings
from manifest_spec.errors import VerificationError
from manifest_spec.oci.manifest import Child, Manifest, blob_digests
from manifest_spec.oci.reference import Reference
from manifest_spec.push.scheduler import Scheduler

COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
TARGET = Reference("target.test", "team/app", tag="v1")
WRITES = ("PUT", "POST", "PATCH", "DELETE")




@pytest.fixture
def scheduler(source: FakeRegistry, target: FakeRegistry) -> Iterator[Scheduler]:
    with Scheduler(FakePool(source, target), 4) as sched:  # type: ignore[arg-type]
        yield sched


def child(registry: FakeRegistry, repo: str, manifest: Manifest) -> Child:
    return Child(manifest, repo, blob_digests(manifest.json()), registry.host)


def signed(registry: FakeRegistry, repo: str = "ci/app") -> tuple[Manifest, Manifest, Manifest]:
    """An image with a referrer signature (listed in its tag-schema index) and a cosign `.sig` tag."""
    image = registry.add_image(repo, "amd64")
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": image.size}
    signature = registry.add_image(repo, config={}, layers=(b"sig",), extra={"artifactType": COSIGN_SIG, "subject": subject})
    registry.add_index(repo, [{**subject, "digest": signature.digest, "size": signature.size, "artifactType": COSIGN_SIG}],
                       tag=referrers_tag(image.digest))
    cosign = cosign_manifest(registry, repo, b"payload", f"{referrers_tag(image.digest)}.sig")
    return image, signature, cosign


def cosign_manifest(registry: FakeRegistry, repo: str, payload: bytes, tag: str) -> Manifest:
    config = compact({"rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created": "x"}]})
    body = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": registry.add_blob(repo, config), "size": len(config)},
            "layers": [{"mediaType": SIMPLESIGNING, "digest": registry.add_blob(repo, payload), "size": len(payload)}]}
    return registry.add_manifest(repo, body, tag=tag)


def reads(scheduler: Scheduler, seen: list[str], settings: CarrySettings | None = None) -> CarryReads:
    return CarryReads(scheduler.submit, TARGET, settings or CarrySettings(), seen.append)


def test_what_is_beside_a_member_from_elsewhere_is_planned_into_the_target(
    source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler
) -> None:
    image, signature, cosign = signed(source)
    seen: list[str] = []
    carry = reads(scheduler, seen)
    carry.start(Reference("source.test", "ci/app", digest=image.digest))
    plan = carry.finish([child(source, "ci/app", image)])

    assert plan is not None and not plan.api
    assert {c.manifest.digest for c in plan.children} == {signature.digest, cosign.digest}  # placed by digest
    assert all(c.registry == "source.test" and c.repository == "ci/app" for c in plan.children)
    writes = {w.tag: w for w in plan.tag_writes}
    index_tag, sig_tag = referrers_tag(image.digest), f"{referrers_tag(image.digest)}.sig"
    assert set(writes) == {index_tag, sig_tag} and plan.unchanged == ()
    assert [e["digest"] for e in json.loads(writes[index_tag].data)["manifests"]] == [signature.digest]
    assert writes[sig_tag].data == cosign.data and writes[sig_tag].previous == ""
    assert set(seen) >= {signature.digest, cosign.digest}  # told as soon as known, to look for them in the target
    for registry in (source, target):
        assert not any(m.startswith(WRITES) for m, _ in registry.calls), registry.calls  # reads only
    assert set(target.asked("GET manifest")) == {f"team/app:{index_tag}", f"team/app:{sig_tag}"}  # by name, not by list


def test_a_target_that_already_has_it_all_needs_no_tag_written(source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler) -> None:
    image, signature, cosign = signed(source)
    index = source.manifests[("ci/app", referrers_tag(image.digest))]
    target.manifests[("team/app", signature.digest)] = signature
    target.add_manifest("team/app", index.data, index.media_type, tag=referrers_tag(image.digest))
    target.add_manifest("team/app", cosign.data, cosign.media_type, tag=f"{referrers_tag(image.digest)}.sig")
    plan = reads(scheduler, []).finish([child(source, "ci/app", image)])
    assert plan is not None and plan.tag_writes == ()
    assert set(plan.unchanged) == {referrers_tag(image.digest), f"{referrers_tag(image.digest)}.sig"}


def test_another_cosign_manifest_in_the_target_is_merged_into_with_its_config(
    source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler
) -> None:
    image, _, cosign = signed(source)
    sig_tag = f"{referrers_tag(image.digest)}.sig"
    theirs = cosign_manifest(target, "team/app", b"an earlier signature", sig_tag)
    plan = reads(scheduler, []).finish([child(source, "ci/app", image)])
    assert plan is not None
    (write,) = [w for w in plan.tag_writes if w.tag == sig_tag]
    assert write.previous == theirs.digest and write.kept == 1 and write.added == (cosign.json()["layers"][0]["digest"],)
    assert json.loads(write.config)["rootfs"]["diff_ids"] == [cosign.json()["layers"][0]["digest"]]
    assert target.asked("GET blob") == [f"team/app@{theirs.json()['config']['digest']}"]  # the config read to extend it


def test_a_target_cosign_tag_holding_an_index_is_not_merged_into(source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler) -> None:
    image, _, _ = signed(source)
    target.add_index("team/app", [], tag=f"{referrers_tag(image.digest)}.sig")
    with pytest.raises(VerificationError, match="not a cosign manifest; refusing to merge into it"):
        reads(scheduler, []).finish([child(source, "ci/app", image)])


def test_a_target_referrers_index_naming_a_manifest_it_lacks_is_refused(source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler) -> None:
    image, _, _ = signed(source)
    gone = {"mediaType": image.media_type, "digest": "sha256:" + "0" * 64, "size": 9, "artifactType": COSIGN_SIG}
    target.add_index("team/app", [gone], tag=referrers_tag(image.digest))
    with pytest.raises(VerificationError, match=f"lists {gone['digest']}, which the registry no longer has"):
        reads(scheduler, []).finish([child(source, "ci/app", image)])


def test_nothing_from_elsewhere_or_carrying_off_reads_nothing(source: FakeRegistry, target: FakeRegistry, scheduler: Scheduler) -> None:
    image, _, _ = signed(target, "team/app")  # members already in the target repository
    assert reads(scheduler, []).finish([child(target, "team/app", image)]) is None
    other, _, _ = signed(source)
    off = reads(scheduler, [], CarrySettings(enabled=False))
    off.start(Reference("source.test", "ci/app", digest=other.digest))
    assert off.finish([child(source, "ci/app", other)]) is None
    assert source.calls == [] and target.calls == []


def test_an_image_started_twice_is_read_once(source: FakeRegistry, scheduler: Scheduler) -> None:
    image, _, _ = signed(source)
    carry = reads(scheduler, [])
    where = Reference("source.test", "ci/app", digest=image.digest)
    carry.start(where)
    carry.start(where)
    carry.finish([child(source, "ci/app", image), child(source, "ci/app", image)])
    assert source.asked("GET").count("/v2/ci/app/tags/list") == 1
    assert source.asked("GET manifest").count(f"ci/app:{referrers_tag(image.digest)}") == 1


def test_subjects_are_the_children_from_another_repository_once_each(source: FakeRegistry, target: FakeRegistry) -> None:
    here = target.add_image("team/app", "amd64")
    there = source.add_image("ci/app", "arm64", architecture="arm64")
    children = [child(target, "team/app", here), child(source, "ci/app", there), child(source, "ci/app", there)]
    assert subjects_of(children, TARGET) == [Reference("source.test", "ci/app", digest=there.digest)]

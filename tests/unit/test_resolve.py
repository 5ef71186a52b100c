"""push/resolve.py: spec members read and verified into index entries, read-only, each read sent once."""

from __future__ import annotations

import re
from typing import Iterator, Optional

import pytest
from support.fakes import FakePool, FakeRegistry

from manifest_spec.errors import RegistryError, VerificationError
from manifest_spec.oci.index import OCI_INDEX
from manifest_spec.oci.manifest import (
    ATTESTATION,
    REFERENCE_DIGEST,
    REFERENCE_TYPE,
    Child,
    Manifest,
)
from manifest_spec.oci.platforms import Platform, parse_platform
from manifest_spec.oci.reference import Reference
from manifest_spec.push.resolve import ResolvedMember, collect, resolve_member
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.specfile.spec import Member

HOST = "source.test"


@pytest.fixture
def source() -> FakeRegistry:
    return FakeRegistry(HOST)


@pytest.fixture
def scheduler(source: FakeRegistry) -> Iterator[Scheduler]:
    with Scheduler(FakePool(source), 4) as sched:  # type: ignore[arg-type]
        yield sched


def member(ref: str, platform: Optional[str] = None, **annotations: str) -> Member:
    repository, _, tag = ref.partition(":")
    image = Reference(HOST, repository, tag=tag) if not tag.startswith("sha256") else Reference(HOST, repository, digest=tag)
    return Member(image, parse_platform(platform) if platform else None, tuple(sorted(annotations.items())))


def entry(manifest: Manifest, platform: Optional[dict[str, str]] = None, **annotations: str) -> dict[str, object]:
    found: dict[str, object] = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}
    if platform:
        found["platform"] = platform
    if annotations:
        found["annotations"] = annotations
    return found


def resolve(scheduler: Scheduler, m: Member, position: int = 0, **flags: bool) -> ResolvedMember:
    resolved = resolve_member(position, m, scheduler, **flags)
    assert resolved is not None
    return resolved


# -- an image member -----------------------------------------------------------------------------


def test_an_image_is_pinned_by_digest_and_takes_its_platform_from_its_config(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "arm", architecture="arm64")
    resolved = resolve(scheduler, member("app:arm"))
    (descriptor,) = resolved.descriptors
    assert (descriptor.digest, descriptor.size, descriptor.media_type) == (image.digest, image.size, image.media_type)
    assert descriptor.platform == Platform(os="linux", architecture="arm64")
    assert resolved.source == Reference(HOST, "app", digest=image.digest)
    (child,) = resolved.children
    assert child.manifest == image and child.registry == HOST and len(child.blobs) == 2  # its config and layer


def test_the_spec_platform_and_annotations_go_into_the_entry(source: FakeRegistry, scheduler: Scheduler) -> None:
    source.add_image("app", "amd64", config={"architecture": "amd64", "os": "linux", "variant": "v3"})
    (descriptor,) = resolve(scheduler, member("app:amd64", "linux/amd64", note="x")).descriptors
    assert descriptor.platform == Platform(os="linux", architecture="amd64", variant="v3")  # the rest from the config
    assert dict(descriptor.annotations) == {"note": "x"}


def test_a_spec_platform_the_image_does_not_run_on_is_refused_unless_told(source: FakeRegistry, scheduler: Scheduler) -> None:
    source.add_image("app", "amd64", architecture="amd64")
    with pytest.raises(VerificationError, match="exec format error"):
        resolve(scheduler, member("app:amd64", "linux/arm64"))
    (descriptor,) = resolve(scheduler, member("app:amd64", "linux/arm64"), check_platform=False).descriptors
    assert descriptor.platform == Platform(os="linux", architecture="arm64")


def test_no_platform_anywhere_is_an_error_naming_the_member(source: FakeRegistry, scheduler: Scheduler) -> None:
    source.add_image("chart", "1", config={"name": "a helm chart"})
    with pytest.raises(VerificationError, match=r"manifests\[2\] .*chart:1: the spec gives no platform"):
        resolve(scheduler, member("chart:1"), position=2)
    with pytest.raises(VerificationError, match="names no os/architecture"):
        resolve(scheduler, member("chart:1", "linux/amd64"))


def test_a_config_that_is_not_json_is_a_verification_error(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "amd64")
    config = image.json()["config"]["digest"]
    source.blobs[("app", config)] = b"{not json"
    with pytest.raises(VerificationError, match="config: not valid JSON"):
        resolve(scheduler, member("app:amd64"))


def test_a_missing_member_is_left_out_only_with_ignore_missing(source: FakeRegistry, scheduler: Scheduler) -> None:
    with pytest.raises(RegistryError) as raised:
        resolve_member(0, member("app:gone"), scheduler)
    assert raised.value.not_found
    assert resolve_member(0, member("app:gone"), scheduler, ignore_missing=True) is None


def test_a_missing_config_is_an_error_even_with_ignore_missing(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "amd64")
    del source.blobs[("app", image.json()["config"]["digest"])]
    with pytest.raises(RegistryError, match="BLOB_UNKNOWN"):
        resolve_member(0, member("app:amd64"), scheduler, ignore_missing=True)  # the member exists: it is broken


# -- an index member -----------------------------------------------------------------------------


@pytest.fixture
def multi(source: FakeRegistry) -> tuple[Manifest, Manifest, Manifest, Manifest]:
    """An index of amd64 and arm64 images, with a buildkit attestation for the amd64 one."""
    amd64 = source.add_image("app", architecture="amd64", layers=(b"amd64",))
    arm64 = source.add_image("app", architecture="arm64", layers=(b"arm64",))
    attestation = source.add_image("app", config={"architecture": "unknown", "os": "unknown"}, layers=(b"statement",))
    index = source.add_index("app", [
        entry(amd64, {"os": "linux", "architecture": "amd64"}),
        entry(arm64, {"os": "linux", "architecture": "arm64"}),
        entry(attestation, {"os": "unknown", "architecture": "unknown"}, **{REFERENCE_TYPE: ATTESTATION, REFERENCE_DIGEST: amd64.digest}),
    ], tag="multi")
    return index, amd64, arm64, attestation


def test_an_index_gives_every_entry_in_its_order(scheduler: Scheduler, multi: tuple[Manifest, ...]) -> None:
    index, amd64, arm64, attestation = multi
    resolved = resolve(scheduler, member("app:multi"))
    assert [d.digest for d in resolved.descriptors] == [amd64.digest, arm64.digest, attestation.digest]
    assert [c.manifest for c in resolved.children] == [amd64, arm64, attestation]
    assert resolved.manifest == index and resolved.source.digest == index.digest


def test_a_spec_platform_takes_one_entry_of_an_index_and_its_attestation(scheduler: Scheduler, multi: tuple[Manifest, ...]) -> None:
    _, amd64, _, attestation = multi
    resolved = resolve(scheduler, member("app:multi", "linux/amd64"))
    assert [d.digest for d in resolved.descriptors] == [amd64.digest, attestation.digest]


def test_an_index_without_the_wanted_platform_lists_what_it_has(scheduler: Scheduler, multi: tuple[Manifest, ...]) -> None:
    with pytest.raises(VerificationError, match=r"no linux/s390x entry \(it has: linux/amd64, linux/arm64\)"):
        resolve(scheduler, member("app:multi", "linux/s390x"))


def test_two_entries_matching_the_spec_platform_are_never_a_silent_pick(source: FakeRegistry, scheduler: Scheduler) -> None:
    one = source.add_image("app", architecture="arm64", layers=(b"1",))
    two = source.add_image("app", architecture="arm64", layers=(b"2",))
    source.add_index("app", [entry(one, {"os": "linux", "architecture": "arm64"}),
                             entry(two, {"os": "linux", "architecture": "arm64", "variant": "v8"})], tag="twice")
    with pytest.raises(VerificationError, match="2 entries of the index match linux/arm64"):
        resolve(scheduler, member("app:twice", "linux/arm64"))


def test_an_entry_whose_manifest_differs_from_what_the_index_says_is_refused(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", architecture="amd64")
    source.add_index("app", [{**entry(image, {"os": "linux", "architecture": "amd64"}), "size": image.size + 1}], tag="lying")
    with pytest.raises(VerificationError, match=rf"the index says .* {image.size + 1} bytes, but the manifest is .* {image.size} bytes"):
        resolve(scheduler, member("app:lying"))


def test_an_index_inside_an_index_member_is_not_supported(source: FakeRegistry, scheduler: Scheduler) -> None:
    inner = source.add_index("app", [])
    source.add_index("app", [entry(inner, {"os": "linux", "architecture": "amd64"})], tag="nested")
    with pytest.raises(VerificationError, match=re.escape(f"is {OCI_INDEX}; an index inside an index member is not supported")):
        resolve(scheduler, member("app:nested"))


def test_every_child_is_announced_and_each_read_is_sent_once(source: FakeRegistry, scheduler: Scheduler, multi: tuple[Manifest, ...]) -> None:
    _, amd64, arm64, attestation = multi
    seen: list[Child] = []
    resolved = [resolve_member(n, member("app:multi"), scheduler, child_seen=seen.append) for n in range(2)]
    assert {c.manifest.digest for c in seen} == {amd64.digest, arm64.digest, attestation.digest}
    assert resolved[0] is not None and resolved[1] is not None
    assert resolved[0].descriptors == resolved[1].descriptors
    gets = source.asked("GET manifest")
    assert sorted(gets) == sorted(["app:multi", f"app:{amd64.digest}", f"app:{arm64.digest}", f"app:{attestation.digest}"])
    configs = source.asked("GET blob")
    assert len(configs) == len(set(configs)) == 2  # the two images' configs; the attestation's is not needed


# -- collect ---------------------------------------------------------------------------------------


def test_collect_keeps_spec_order_and_says_what_was_left_out(source: FakeRegistry, scheduler: Scheduler) -> None:
    source.add_image("app", "amd64", architecture="amd64")
    source.add_image("app", "arm64", architecture="arm64")
    members = (member("app:amd64"), member("app:gone"), member("app:arm64"))
    results = [resolve_member(n, m, scheduler, ignore_missing=True) for n, m in enumerate(members)]
    resolution = collect(members, results)
    assert [r.position for r in resolution.members] == [0, 2]
    assert resolution.skipped == (f"manifests[1] {HOST}/app:gone does not exist; left out (--ignore-missing)",)
    assert [d.platform.architecture for d in resolution.descriptors if d.platform] == ["amd64", "arm64"]


def test_collect_refuses_nothing_to_push_and_two_members_for_one_platform(source: FakeRegistry, scheduler: Scheduler) -> None:
    with pytest.raises(RegistryError, match="none of the spec's images exist"):
        collect((member("app:gone"),), [None])
    source.add_image("app", "one", architecture="amd64", layers=(b"1",))
    source.add_image("app", "two", architecture="amd64", layers=(b"2",))
    members = (member("app:one"), member("app:two"))
    with pytest.raises(VerificationError, match=r"duplicate platform linux/amd64: manifests\[0\] .* and manifests\[1\] .* both provide it"):
        collect(members, [resolve_member(n, m, scheduler) for n, m in enumerate(members)])

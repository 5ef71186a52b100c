"""push/placement.py: a child placed into the target repository — blobs first (mounted within a
registry, streamed across registries), then its manifest by digest — once per run, whatever asks."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Iterator, Optional

import pytest
from support.fakes import FakePool, FakeRegistry

from manifest_spec.errors import RegistryError
from manifest_spec.events import BlobCopied, Event
from manifest_spec.oci.index import Descriptor
from manifest_spec.oci.manifest import Child, Manifest, blob_digests
from manifest_spec.oci.reference import Reference
from manifest_spec.push.placement import Placer
from manifest_spec.push.scheduler import Scheduler

WAIT = 30
TARGET = Reference("target.test", "team/app", tag="v1")




@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def placer(source: FakeRegistry, target: FakeRegistry, events: list[Event]) -> Iterator[Placer]:
    with Scheduler(FakePool(source, target), 4) as scheduler:  # type: ignore[arg-type]
        yield Placer(scheduler, events.append)


def child_in(registry: FakeRegistry, repository: str, manifest: Manifest) -> Child:
    return Child(manifest, repository, blob_digests(manifest.json()), registry.host)


def absent() -> Future[Optional[Descriptor]]:
    future: Future[Optional[Descriptor]] = Future()
    future.set_result(None)
    return future


def writes(registry: FakeRegistry) -> list[tuple[str, str]]:
    return [(m, what) for m, what in registry.calls if m.split()[0] in ("PUT", "POST", "PATCH", "DELETE")]


def test_a_child_from_another_registry_is_streamed_blob_by_blob_then_put_by_digest(
    placer: Placer, source: FakeRegistry, target: FakeRegistry, events: list[Event]
) -> None:
    manifest = source.add_image("ci/app", "amd64", layers=(b"one", b"two"))
    child = child_in(source, "ci/app", manifest)
    placer.place(TARGET, child, absent()).result(WAIT)

    assert target.manifests[("team/app", manifest.digest)] == manifest  # the exact bytes, by digest
    for digest in child.blobs:
        assert target.blobs[("team/app", digest)] == source.blobs[("ci/app", digest)]
    assert sorted(target.asked("HEAD blob")) == sorted(f"team/app@{d}" for d in child.blobs)  # asked before copying
    assert target.asked("POST mount") == []  # no mount across registries
    puts = [i for i, (method, _) in enumerate(target.calls) if method == "PUT manifest"]
    commits = [i for i, (method, _) in enumerate(target.calls) if method == "PUT"]
    assert len(puts) == 1 and len(commits) == 3 and max(commits) < puts[0]  # every blob in before the manifest
    assert {e.digest for e in events if isinstance(e, BlobCopied)} == set(child.blobs)


def test_within_a_registry_the_blobs_are_mounted_not_copied(placer: Placer, target: FakeRegistry) -> None:
    manifest = target.add_image("ci/app", "amd64")
    child = child_in(target, "ci/app", manifest)
    placer.place(TARGET, child, absent()).result(WAIT)

    assert sorted(target.asked("POST mount")) == sorted(f"team/app@{d} from ci/app" for d in child.blobs)
    assert target.asked("GET") == [] and target.asked("PATCH") == [] and target.asked("HEAD blob") == []
    assert target.asked("PUT manifest") == [f"team/app:{manifest.digest}"]


def test_a_refused_mount_streams_the_blob_into_the_session_it_opened(events: list[Event]) -> None:
    registry = FakeRegistry("target.test", mounts=False)  # 202 and an upload session for every mount
    manifest = registry.add_image("ci/app", "amd64", layers=(b"layer",))
    child = child_in(registry, "ci/app", manifest)
    with Scheduler(FakePool(registry), 2) as scheduler:  # type: ignore[arg-type]
        Placer(scheduler, events.append).place(TARGET, child, absent()).result(WAIT)

    for digest in child.blobs:
        assert registry.blobs[("team/app", digest)] == registry.blobs[("ci/app", digest)]
    assert len(registry.asked("POST mount")) == 2
    assert registry.asked("POST") == [] and registry.asked("DELETE") == []  # no second session, none cancelled
    assert registry.uploads == {}  # both sessions committed
    assert registry.asked("PUT manifest") == [f"team/app:{manifest.digest}"]


def test_a_child_already_in_the_target_costs_no_write(placer: Placer, source: FakeRegistry, target: FakeRegistry) -> None:
    manifest = source.add_image("ci/app", "amd64")
    present: Future[Optional[Descriptor]] = Future()
    present.set_result(Descriptor(manifest.media_type, manifest.digest, manifest.size))
    placer.place(TARGET, child_in(source, "ci/app", manifest), present).result(WAIT)
    assert target.calls == [] and source.calls == []


def test_one_child_asked_for_by_two_specs_is_placed_once_and_a_shared_blob_once(
    placer: Placer, source: FakeRegistry, target: FakeRegistry
) -> None:
    first = source.add_image("ci/app", "amd64", layers=(b"shared", b"amd64 only"))
    second = source.add_image("ci/app", "arm64", architecture="arm64", layers=(b"shared",))
    places = [placer.place(TARGET, child_in(source, "ci/app", m), absent()) for m in (first, first, second)]
    assert places[0] is places[1]
    for place in places:
        place.result(WAIT)
    shared = child_in(source, "ci/app", first).blobs[1]
    assert target.asked("HEAD blob").count(f"team/app@{shared}") == 1
    assert source.asked("GET").count(f"/v2/ci/app/blobs/{shared}") == 1
    assert sorted(target.asked("PUT manifest")) == sorted(f"team/app:{m.digest}" for m in (first, second))


def test_a_blob_that_cannot_be_copied_fails_the_child_and_its_manifest_is_not_put(
    placer: Placer, source: FakeRegistry, target: FakeRegistry
) -> None:
    manifest = source.add_image("ci/app", "amd64", layers=(b"gone",))
    child = child_in(source, "ci/app", manifest)
    del source.blobs[("ci/app", child.blobs[1])]
    with pytest.raises(RegistryError, match="404"):
        placer.place(TARGET, child, absent()).result(WAIT)
    assert target.asked("PUT manifest") == [] and target.uploads == {}  # no session left open


def test_needs_placing_only_from_another_repository_or_registry() -> None:
    manifest = Manifest(b"{}", "application/vnd.oci.image.manifest.v1+json", "sha256:" + "0" * 64)
    assert not Placer.needs_placing(TARGET, Child(manifest, "team/app", (), "target.test"))
    assert Placer.needs_placing(TARGET, Child(manifest, "team/other", (), "target.test"))
    assert Placer.needs_placing(TARGET, Child(manifest, "team/app", (), "source.test"))

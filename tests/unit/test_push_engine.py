"""push/engine.py over the fakes: every spec read and verified before anything of it is written;
then children, the index under the target tag, the extra tags; a second run writes nothing."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from support.fakes import FakePool, FakeRegistry
from support.specs import spec

from manifest_spec.errors import VerificationError
from manifest_spec.events import Event, MembersResolved, TagWritten
from manifest_spec.oci.index import OCI_INDEX
from manifest_spec.oci.manifest import blob_digests
from manifest_spec.push.engine import (
    CREATED,
    UNCHANGED,
    UPDATED,
    Engine,
    Outcome,
    Prepared,
    PushResult,
    PushSettings,
)
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.specfile.spec import Spec, spec_from_data

WRITES = ("PUT", "POST", "PATCH", "DELETE")
OCI = PushSettings(index_type="oci")




class Run:
    """One run of the engine (its own scheduler: nothing memoised from an earlier run)."""

    def __init__(self, *registries: FakeRegistry) -> None:
        self.events: list[Event] = []
        self.registries = registries

    def __enter__(self) -> Run:
        self.scheduler = Scheduler(FakePool(*self.registries), 4)  # type: ignore[arg-type]
        self.engine = Engine(self.scheduler, self.events.append)
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.close()
        self.scheduler.close()

    def prepare(self, *specs: Spec, settings: PushSettings = OCI, pushing: bool = False) -> list[Outcome[Prepared]]:
        return self.engine.prepare([(s, settings) for s in specs], pushing=pushing)

    def push(self, *specs: Spec, settings: PushSettings = OCI) -> list[Outcome[PushResult]]:
        prepared = self.prepare(*specs, settings=settings, pushing=True)
        assert all(p.error is None for p in prepared), [p.error for p in prepared]
        return self.engine.push([p.value for p in prepared if p.value is not None])


def a_spec(path: str, target: str, *members: tuple[str, Any], **keys: Any) -> Spec:
    return spec_from_data(spec(target, *members, **keys), path)


def writes(registry: FakeRegistry) -> list[tuple[str, str]]:
    return [(m, what) for m, what in registry.calls if m.split()[0] in WRITES]


@pytest.fixture
def members(source: FakeRegistry) -> Iterator[tuple[Any, Any]]:
    yield source.add_image("ci/app", "amd64", architecture="amd64"), source.add_image("ci/app", "arm64", architecture="arm64")


def test_prepare_reads_only_and_builds_the_index_of_the_verified_members(
    source: FakeRegistry, target: FakeRegistry, members: tuple[Any, Any]
) -> None:
    amd64, arm64 = members
    the_spec = a_spec("app.yaml", "target.test/team/app:v1", ("source.test/ci/app:amd64", "amd64"), ("source.test/ci/app:arm64", "arm64"))
    with Run(source, target) as run:
        (outcome,) = run.prepare(the_spec)
    assert outcome.error is None and outcome.value is not None
    assert [d.digest for d in outcome.value.resolution.descriptors] == [amd64.digest, arm64.digest]
    assert outcome.value.index.media_type == OCI_INDEX
    assert writes(source) == [] and writes(target) == []
    assert sorted(e.done for e in run.events if isinstance(e, MembersResolved)) == [1, 2]


def test_a_push_writes_children_then_the_index_then_the_extra_tags(
    source: FakeRegistry, target: FakeRegistry, members: tuple[Any, Any]
) -> None:
    amd64, arm64 = members
    the_spec = a_spec("app.yaml", "target.test/team/app:v1", ("source.test/ci/app:amd64", "amd64"),
                      ("source.test/ci/app:arm64", "arm64"), tags=["latest", "1"])
    with Run(source, target) as run:
        (outcome,) = run.push(the_spec)
    assert outcome.error is None and outcome.value is not None
    assert [(r.tag, r.status) for r in outcome.value.tag_results] == [("v1", CREATED), ("latest", CREATED), ("1", CREATED)]
    index = outcome.value.prepared.index
    for tag in ("v1", "latest", "1"):
        assert target.manifests[("team/app", tag)].data == index.data  # the exact bytes under every tag
    puts = [what for m, what in target.calls if m == "PUT manifest"]
    children = {f"team/app:{amd64.digest}", f"team/app:{arm64.digest}"}
    assert set(puts[:2]) == children and puts[2] == "team/app:v1" and set(puts[3:]) == {"team/app:latest", "team/app:1"}
    for child in (amd64, arm64):  # each child's blobs stored before the child itself, every child before the index
        blobs = [target.stored.index(f"blob team/app@{d}") for d in blob_digests(child.json())]
        assert max(blobs) < target.stored.index(f"manifest team/app@{child.digest}") < target.stored.index(f"manifest team/app@{index.digest}")
    assert writes(source) == []  # the source is only read
    assert [(e.tag, e.status) for e in run.events if isinstance(e, TagWritten)][0] == ("v1", CREATED)


def test_a_second_run_writes_nothing_and_a_changed_spec_updates_the_tags(
    source: FakeRegistry, target: FakeRegistry, members: tuple[Any, Any]
) -> None:
    one = a_spec("app.yaml", "target.test/team/app:v1", ("source.test/ci/app:amd64", "amd64"), tags=["latest"])
    with Run(source, target) as run:
        (first,) = run.push(one)
    written = len(writes(target))
    with Run(source, target) as run:
        (again,) = run.push(one)
    assert again.value is not None and [r.status for r in again.value.tag_results] == [UNCHANGED, UNCHANGED]
    assert len(writes(target)) == written  # not one write the second time

    two = a_spec("app.yaml", "target.test/team/app:v1", ("source.test/ci/app:amd64", "amd64"),
                 ("source.test/ci/app:arm64", "arm64"), tags=["latest"])
    with Run(source, target) as run:
        (changed,) = run.push(two)
    assert first.value is not None and changed.value is not None
    old = first.value.prepared.index.digest
    assert [(r.status, r.previous) for r in changed.value.tag_results] == [(UPDATED, old), (UPDATED, old)]


def test_a_spec_that_fails_verification_is_reported_and_its_neighbour_goes_on(
    source: FakeRegistry, target: FakeRegistry, members: tuple[Any, Any]
) -> None:
    good = a_spec("good.yaml", "target.test/team/good:v1", ("source.test/ci/app:amd64", "amd64"))
    bad = a_spec("bad.yaml", "target.test/team/bad:v1", ("source.test/ci/app:amd64", "s390x"))  # the image is amd64
    with Run(source, target) as run:
        outcomes = run.prepare(good, bad, pushing=True)
    assert outcomes[0].error is None
    assert isinstance(outcomes[1].error, VerificationError) and "exec format error" in str(outcomes[1].error)
    assert target.asked("PUT manifest") == []  # no manifest, no tag written while reading
    assert not any("team/bad" in what for _, what in writes(target))


def test_members_in_the_target_repository_are_not_placed(target: FakeRegistry) -> None:
    image = target.add_image("team/app", "amd64")
    the_spec = a_spec("app.yaml", "target.test/team/app:v1", ("target.test/team/app:amd64", "amd64"))
    with Run(target) as run:
        (outcome,) = run.push(the_spec)
    assert outcome.error is None
    assert writes(target) == [("PUT manifest", "team/app:v1")]  # the index only: its member is already there
    assert f"team/app:{image.digest}" not in target.asked("HEAD manifest")

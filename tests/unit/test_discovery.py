"""carry/lookups.py and carry/referrers.py: finding an image's signatures, attestations and SBOMs —
the referrers API where the registry has it, else the referrers tag schema, and cosign's tags — read
only where the repository's tag list shows them, each listed manifest verified."""

from __future__ import annotations

import json
import re
from typing import Iterator

import pytest
from support.fakes import FakeClient, FakePool, FakeRegistry, compact, digest_of

from manifest_spec.carry.lookups import (
    Lookups,
    parse_referrers_index,
    referrers_api,
    repository_tags,
)
from manifest_spec.carry.referrers import (
    ATTESTATION,
    SBOM,
    SIGNATURE,
    VIA_API,
    VIA_COSIGN,
    VIA_TAG_SCHEMA,
    cosign_tags,
    discover_all,
    referrers_tag,
)
from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import OCI_INDEX, OCI_MANIFEST
from manifest_spec.oci.manifest import Manifest
from manifest_spec.oci.reference import Reference
from manifest_spec.push.scheduler import Scheduler

HOST = "source.test"
COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SPDX = "application/spdx+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
WAIT = 30


@pytest.fixture
def source() -> FakeRegistry:
    return FakeRegistry(HOST)


@pytest.fixture
def scheduler(source: FakeRegistry) -> Iterator[Scheduler]:
    with Scheduler(FakePool(source), 4) as sched:  # type: ignore[arg-type]
        yield sched


def subject_of(manifest: Manifest) -> dict[str, object]:
    return {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}


def referrer(registry: FakeRegistry, repo: str, image: Manifest, artifact_type: str, content: bytes) -> Manifest:
    """An OCI 1.1 artifact whose subject is `image` (as cosign, notation and syft push them)."""
    return registry.add_image(repo, config={}, layers=(content,), extra={"artifactType": artifact_type, "subject": subject_of(image)})


def tag_schema_index(registry: FakeRegistry, repo: str, image: Manifest, *listed: Manifest) -> Manifest:
    """The `sha256-<hex>` tag a client keeps beside the image where the registry has no referrers API."""
    entries = [{**subject_of(m), "artifactType": m.json()["artifactType"]} for m in listed]
    return registry.add_index(repo, entries, tag=referrers_tag(image.digest))


def cosign_signature(registry: FakeRegistry, repo: str, image: Manifest) -> Manifest:
    """cosign's `sha256-<hex>.sig` tag: a manifest of simplesigning layers, one per signature."""
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": registry.add_blob(repo, b"{}"), "size": 2},
            "layers": [{"mediaType": SIMPLESIGNING, "digest": registry.add_blob(repo, b"payload"), "size": 7,
                        "annotations": {"dev.cosignproject.cosign/signature": "MEUC"}}]}
    return registry.add_manifest(repo, body, OCI_MANIFEST, tag=f"{referrers_tag(image.digest)}.sig")


def at(image: Manifest, repo: str = "app") -> Reference:
    return Reference(HOST, repo, digest=image.digest)


# -- parse_referrers_index --------------------------------------------------------------------------


def test_a_referrers_index_gives_its_descriptors_with_their_artifact_types() -> None:
    entries = [{"mediaType": OCI_MANIFEST, "digest": digest_of(b"a"), "size": 10, "artifactType": SPDX,
                "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}]
    data = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    (descriptor,) = parse_referrers_index(data, OCI_INDEX, "tag")
    assert (descriptor.digest, descriptor.size, descriptor.artifact_type) == (digest_of(b"a"), 10, SPDX)
    assert dict(descriptor.annotations) == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize("data, media_type, message", [
    (b"<html>", OCI_INDEX, "tag: not valid JSON"),
    (compact({"manifests": []}), OCI_MANIFEST, "not an OCI index of referrers"),
    (compact([]), OCI_INDEX, "not an OCI index of referrers"),
    (compact({"manifests": {}}), OCI_INDEX, "not an OCI index of referrers"),
    (compact({"manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:x", "size": "ten"}]}), OCI_INDEX, "tag: "),
])
def test_anything_else_is_refused(data: bytes, media_type: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        parse_referrers_index(data, media_type, "tag")


# -- the tag list and the referrers API ------------------------------------------------------------------


def test_the_tag_list_follows_every_link_page(source: FakeRegistry) -> None:
    source.page_size = 2
    for n in range(5):
        source.add_image("app", f"v{n}", layers=(str(n).encode(),))
    assert repository_tags(FakeClient(source), "app") == frozenset(f"v{n}" for n in range(5))
    assert source.asked("GET") == ["/v2/app/tags/list", "/v2/app/tags/list?last=2", "/v2/app/tags/list?last=4"]


def test_a_repository_not_there_yet_has_no_tags_and_a_malformed_list_is_refused(source: FakeRegistry) -> None:
    assert repository_tags(FakeClient(source), "nothing/here") == frozenset()  # NAME_UNKNOWN
    source.answers["/v2/app/tags/list"] = ("application/json", b"[1, 2]")
    with pytest.raises(VerificationError, match="not a tag list"):
        repository_tags(FakeClient(source), "app")


def test_without_the_referrers_api_the_answer_is_none_and_with_it_every_page(source: FakeRegistry) -> None:
    image = source.add_image("app", "v1")
    signatures = [referrer(source, "app", image, COSIGN_SIG, f"signature {n}".encode()) for n in range(3)]
    assert referrers_api(FakeClient(source), "app", image.digest) is None  # distribution 2.8.2: a plain 404
    source.referrers_api, source.page_size = True, 2
    listed = referrers_api(FakeClient(source), "app", image.digest)
    assert listed is not None and sorted(d.digest for d in listed) == sorted(s.digest for s in signatures)


def test_one_artifact_type_asked_for_is_sent_as_the_apis_filter(source: FakeRegistry) -> None:
    source.referrers_api = True
    image = source.add_image("app", "v1")
    referrer(source, "app", image, SPDX, b"sbom")
    referrers_api(FakeClient(source), "app", image.digest, frozenset({SPDX}))
    referrers_api(FakeClient(source), "app", image.digest, frozenset({"sbom"}))  # a kind, not a type: no filter
    assert source.asked("GET") == [f"/v2/app/referrers/{image.digest}?artifactType=application%2Fspdx%2Bjson",
                                   f"/v2/app/referrers/{image.digest}"]


def test_an_api_answer_that_is_not_an_index_means_no_api(source: FakeRegistry) -> None:
    source.referrers_api = True
    image = source.add_image("app", "v1")
    source.answers[f"/v2/app/referrers/{image.digest}"] = ("text/html", b"<html>a portal's page</html>")
    assert referrers_api(FakeClient(source), "app", image.digest) is None


def test_the_api_is_probed_once_per_registry_and_tag_lists_read_once_per_repository(source: FakeRegistry, scheduler: Scheduler) -> None:
    images = [source.add_image("app", f"v{n}", layers=(str(n).encode(),)) for n in range(3)]
    lookups = Lookups(scheduler.submit)
    listings = [lookups.listing(at(image), image.digest) for image in images]
    tags = [lookups.tags(at(image)) for image in images]
    assert [f.result(WAIT) for f in listings] == [None, None, None]
    assert tags[0] is tags[1] is tags[2] and tags[0].result(WAIT) == frozenset({"v0", "v1", "v2"})
    assert len([p for p in source.asked("GET") if "/referrers/" in p]) == 1  # no API: one request in all
    assert source.asked("GET").count("/v2/app/tags/list") == 1

    api = FakeRegistry("api.test", referrers_api=True)
    more = [api.add_image("app", f"v{n}", layers=(str(n).encode(),)) for n in range(3)]
    with Scheduler(FakePool(api), 4) as sched:  # type: ignore[arg-type]
        on_api = Lookups(sched.submit)
        answers = [on_api.listing(Reference("api.test", "app", digest=m.digest), m.digest) for m in more]
        assert [f.result(WAIT) for f in answers] == [[], [], []]
    assert sorted(p for p in api.asked("GET") if "/referrers/" in p) == sorted(f"/v2/app/referrers/{m.digest}" for m in more)


# -- discover_all ------------------------------------------------------------------------------------


def test_the_tag_schema_and_cosign_tags_are_found_and_only_existing_tags_are_read(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    signature = referrer(source, "app", image, COSIGN_SIG, b"sig")
    sbom = referrer(source, "app", image, SPDX, b"sbom")
    tag_schema_index(source, "app", image, signature, sbom)
    cosign = cosign_signature(source, "app", image)

    (found,) = discover_all(scheduler.submit, [at(image)])
    assert found.source == at(image)
    assert [(a.digest, a.kind, a.via) for a in found.referrers] == [(signature.digest, SIGNATURE, VIA_TAG_SCHEMA), (sbom.digest, SBOM, VIA_TAG_SCHEMA)]
    assert [(a.digest, a.kind, a.via, a.tag) for a in found.cosign] == [(cosign.digest, SIGNATURE, VIA_COSIGN, f"{referrers_tag(image.digest)}.sig")]
    assert found.missing == ()
    (sbom_artifact,) = [a for a in found.referrers if a.kind == SBOM]
    assert set(sbom_artifact.blobs) == {sbom.json()["config"]["digest"], sbom.json()["layers"][0]["digest"]}
    never_made = [t for t, kind in cosign_tags(image.digest) if kind in (ATTESTATION, SBOM)]
    assert not any(t in s for t in never_made for s in source.asked("GET manifest"))  # not on the list: not asked for
    assert not any(m.startswith(("PUT", "POST", "PATCH", "DELETE")) for m, _ in source.calls)  # read-only


def test_the_referrers_api_is_used_where_the_registry_has_it(source: FakeRegistry, scheduler: Scheduler) -> None:
    source.referrers_api = True
    image = source.add_image("app", "v1")
    signature = referrer(source, "app", image, COSIGN_SIG, b"sig")  # no tag-schema index: only the API lists it
    (found,) = discover_all(scheduler.submit, [at(image)])
    assert [(a.digest, a.via) for a in found.referrers] == [(signature.digest, VIA_API)]


def test_an_image_with_nothing_beside_it_costs_its_tag_list_and_one_probe(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    (found,) = discover_all(scheduler.submit, [at(image)])
    assert found.artifacts == () and found.missing == ()
    assert sorted(source.asked("GET")) == sorted(["/v2/app/tags/list", f"/v2/app/referrers/{image.digest}"])
    assert source.asked("GET manifest") == []


def test_a_listed_referrer_no_longer_there_is_left_out_and_named(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    signature = referrer(source, "app", image, COSIGN_SIG, b"sig")
    tag_schema_index(source, "app", image, signature)
    del source.manifests[("app", signature.digest)]
    (found,) = discover_all(scheduler.submit, [at(image)])
    assert found.referrers == () and found.missing == (signature.digest,)


def test_the_kinds_asked_for_filter_what_is_carried(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    signature = referrer(source, "app", image, COSIGN_SIG, b"sig")
    sbom = referrer(source, "app", image, SPDX, b"sbom")
    tag_schema_index(source, "app", image, signature, sbom)
    cosign_signature(source, "app", image)
    (found,) = discover_all(scheduler.submit, [at(image)], frozenset({"sbom"}))
    assert [a.digest for a in found.artifacts] == [sbom.digest]


def test_a_listed_manifest_about_another_image_is_refused(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    other = source.add_image("app", "v2", layers=(b"other",))
    stray = referrer(source, "app", other, COSIGN_SIG, b"sig")
    tag_schema_index(source, "app", image, stray)
    with pytest.raises(VerificationError, match=f"its subject is {other.digest}, not {image.digest}"):
        discover_all(scheduler.submit, [at(image)])


def test_a_listed_manifest_of_another_size_than_listed_is_refused(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    signature = referrer(source, "app", image, COSIGN_SIG, b"sig")
    index = json.loads(tag_schema_index(source, "app", image, signature).data)
    index["manifests"][0]["size"] += 1
    source.add_index("app", index["manifests"], tag=referrers_tag(image.digest))
    with pytest.raises(VerificationError, match=re.escape(f"listed as {OCI_MANIFEST}, {signature.size + 1} bytes")):
        discover_all(scheduler.submit, [at(image)])


def test_a_referrers_tag_that_holds_no_index_is_refused(source: FakeRegistry, scheduler: Scheduler) -> None:
    image = source.add_image("app", "v1")
    source.add_image("app", referrers_tag(image.digest), layers=(b"an image under that tag",))
    with pytest.raises(VerificationError, match="not an OCI index of referrers"):
        discover_all(scheduler.submit, [at(image)])


def test_several_images_are_read_round_by_round_with_one_tag_list(source: FakeRegistry, scheduler: Scheduler) -> None:
    images = [source.add_image("app", f"v{n}", layers=(str(n).encode(),)) for n in range(3)]
    signatures = [referrer(source, "app", image, COSIGN_SIG, f"sig {n}".encode()) for n, image in enumerate(images)]
    for image, signature in zip(images, signatures):
        tag_schema_index(source, "app", image, signature)
    found = discover_all(scheduler.submit, [at(image) for image in images])
    assert [[a.digest for a in s.referrers] for s in found] == [[s.digest] for s in signatures]  # each its own, in order
    assert source.asked("GET").count("/v2/app/tags/list") == 1
    assert len([p for p in source.asked("GET") if "/referrers/" in p]) == 1

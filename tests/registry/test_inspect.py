"""`inspect REF` against the real registry: text, --raw bytes, --output json, single images, errors."""

from __future__ import annotations

import json

import pytest
from support.clirun import assert_clean_failure, assert_ok, run_cli
from support.images import (
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    get_manifest,
    push_image,
    push_index,
)
from support.registry import Registry

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's


@pytest.fixture
def attested(registry: Registry, repo_name: str) -> PushedIndex:
    """An OCI index: linux/amd64, linux/arm64/v8 and one buildx attestation for each, annotated."""
    amd64 = push_image(registry.url, repo_name, None)
    arm64 = push_image(registry.url, repo_name, None, architecture="arm64", variant="v8", layer_size=300)
    return push_index(
        registry.url, repo_name, "multi", [amd64, arm64], oci=True, attestations=True,
        annotations={"org.opencontainers.image.source": "https://example.com/src"},
    )


def _blocks(text: str) -> list[str]:
    """The listing split at blank lines: the header, then one block per entry."""
    return text.split("\n\n")


def _layer_sizes(image: PushedImage, registry: Registry) -> list[int]:
    data, _, _ = get_manifest(registry.url, image.repo, image.digest)
    return [layer["size"] for layer in json.loads(data)["layers"]]


def test_inspect_index_lists_type_digest_and_every_entry(registry: Registry, repo_name: str, attested: PushedIndex) -> None:
    result = run_cli("inspect", f"{registry.host}/{repo_name}:multi")
    assert_ok(result)
    header, *entries = _blocks(result.stdout.rstrip("\n"))
    assert OCI_INDEX in header and attested.digest in header and str(attested.size) in header
    assert "org.opencontainers.image.source=https://example.com/src" in header
    assert len(entries) == 4

    images = list(attested.entries)
    for block, image, platform in zip(entries, images, ("linux/amd64", "linux/arm64/v8")):
        assert block.splitlines()[0].endswith(platform)
        assert image.digest in block and DOCKER_MANIFEST in block and str(image.size) in block
        (layer_digest,) = image.layer_digests
        (layer_size,) = _layer_sizes(image, registry)
        assert f"{layer_digest} {layer_size}" in block
    for block, attestation, subject in zip(entries[2:], attested.attestations, images):
        assert "unknown/unknown" in block.splitlines()[0]
        assert attestation.digest in block and OCI_MANIFEST in block
        assert f"vnd.docker.reference.digest={subject.digest}" in block
        assert attestation.layer_digests[0] in block


def test_inspect_raw_prints_exactly_the_served_bytes(registry: Registry, repo_name: str, attested: PushedIndex) -> None:
    result = run_cli("inspect", "--raw", f"{registry.host}/{repo_name}:multi")
    assert_ok(result)
    served, _, _ = get_manifest(registry.url, repo_name, "multi")
    assert result.stdout_bytes == served == attested.manifest_bytes


def test_inspect_raw_of_a_docker_list_by_digest(registry: Registry, repo_name: str) -> None:
    amd64 = push_image(registry.url, repo_name, None)
    index = push_index(registry.url, repo_name, None, [amd64], oci=False)
    result = run_cli("inspect", "--raw", f"{registry.host}/{repo_name}@{index.digest}")
    assert_ok(result)
    assert result.stdout_bytes == index.manifest_bytes
    assert json.loads(result.stdout_bytes)["mediaType"] == DOCKER_LIST


def test_inspect_json(registry: Registry, repo_name: str, attested: PushedIndex) -> None:
    result = run_cli("inspect", "--output", "json", f"{registry.host}/{repo_name}:multi")
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["reference"] == f"{registry.host}/{repo_name}:multi"
    assert (report["mediaType"], report["digest"], report["size"]) == (OCI_INDEX, attested.digest, attested.size)
    assert report["annotations"] == {"org.opencontainers.image.source": "https://example.com/src"}
    expected = attested.document["manifests"]
    assert [(m["mediaType"], m["digest"], m["size"]) for m in report["manifests"]] == [
        (e["mediaType"], e["digest"], e["size"]) for e in expected
    ]
    assert [m["platform"] for m in report["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
        {"os": "unknown", "architecture": "unknown"},
        {"os": "unknown", "architecture": "unknown"},
    ]
    assert report["manifests"][2]["annotations"] == expected[2]["annotations"]
    first = attested.entries[0]
    assert report["manifests"][0]["layers"] == [
        {"mediaType": DOCKER_LAYER_GZIP, "digest": first.layer_digests[0], "size": _layer_sizes(first, registry)[0]}
    ]


@pytest.mark.parametrize("output", ["text", "json"])
def test_inspect_single_image(registry: Registry, repo_name: str, output: str) -> None:
    image = push_image(registry.url, repo_name, "v1", architecture="s390x", oci=True)
    (layer_size,) = _layer_sizes(image, registry)
    result = run_cli("inspect", "--output", output, f"{registry.host}/{repo_name}:v1")
    assert_ok(result)
    if output == "json":
        report = json.loads(result.stdout)
        assert (report["mediaType"], report["digest"], report["size"]) == (OCI_MANIFEST, image.digest, image.size)
        assert report["manifests"] == []
        assert [(layer["digest"], layer["size"]) for layer in report["layers"]] == [(image.layer_digests[0], layer_size)]
        assert report["platform"] == {"os": "linux", "architecture": "s390x"}
    else:
        assert OCI_MANIFEST in result.stdout and "(image)" in result.stdout
        assert "Platform:  linux/s390x" in result.stdout
        assert image.digest in result.stdout
        assert f"{image.layer_digests[0]} {layer_size}" in result.stdout


def test_inspect_without_tag_means_latest(registry: Registry, repo_name: str) -> None:
    image = push_image(registry.url, repo_name, "latest")
    result = run_cli("inspect", f"{registry.host}/{repo_name}")
    assert_ok(result)
    assert image.digest in result.stdout


@pytest.mark.parametrize("where", ["tag", "repository", "digest"])
def test_inspect_missing_is_one_line(registry: Registry, repo_name: str, where: str) -> None:
    push_image(registry.url, repo_name, "v1")
    reference = {
        "tag": f"{registry.host}/{repo_name}:nope",
        "repository": f"{registry.host}/{repo_name}/nowhere:v1",
        "digest": f"{registry.host}/{repo_name}@sha256:{'0' * 64}",
    }[where]
    result = run_cli("inspect", reference)
    assert_clean_failure(result, reference, "HTTP 404")
    assert result.stdout == ""


def test_inspect_invalid_reference_is_one_line(registry: Registry) -> None:
    assert_clean_failure(run_cli("inspect", f"{registry.host}/Upper/Case:v1"), "lower-case")

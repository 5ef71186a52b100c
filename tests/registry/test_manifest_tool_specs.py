"""Specs written for manifest-tool v2 push unchanged, and give the same index bytes it gives.

Two sources: the byte vectors in tests/vectors (copied from the shared vectors) (index bytes manifest-tool pushed for the
spec beside each), and the spec shapes manifest-tool itself publishes (its README sample and
from-args examples, integration/test-registry.yml, and the shape of its release spec
hack/pushml.yaml: unquoted `architecture: 386` and tags, a Windows member with osversion/osfeatures).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.clirun import (
    assert_ok,
    digest_line,
    push_spec,
    run_cli,
    served_document,
    tag_digest,
)
from support.images import (
    DOCKER_LIST,
    OCI_INDEX,
    PushedImage,
    get_manifest,
    list_tags,
    push_image,
)
from support.registry import Registry

from manifest_spec.oci.index import build_index, parse_index

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
VECTOR_HOST = "127.0.0.1:5000"

README_SPEC = """\
image: myprivreg:5000/someimage:latest
tags: ["1.0.0", "1.0", "1"]
manifests:
  -
    image: myprivreg:5000/someimage:arm64
    platform:
      architecture: arm64
      os: linux
  -
    image: myprivreg:5000/someimage:amd64
    platform:
      architecture: amd64
      os: linux
"""

# integration/test-registry.yml, pushed by its test-registry.sh with --type oci.
TEST_REGISTRY_SPEC = """\
image: __REGISTRY__/alpine:latest
annotations:
  org.opencontainers.image.title: My Image Title
  org.opencontainers.image.description: My image description.
  org.opencontainers.image.authors: Fred Flintstone
  org.opencontainers.image.source: https://github.com/estesp/manifest-tool
  org.opencontainers.image.licenses: Apache-2.0
manifests: 
  - 
    image: __REGISTRY__/ppc64le_alpine:latest
    platform: 
      architecture: ppc64le
      os: linux
  - 
    image: __REGISTRY__/amd64_alpine:latest
    platform: 
      architecture: amd64
      os: linux
  - 
    image: __REGISTRY__/s390x_alpine:latest
    platform: 
      architecture: s390x
      os: linux
  - 
    image: __REGISTRY__/aarch64_alpine:latest
    platform: 
      architecture: arm64
      os: linux
      variant: v8
"""  # the trailing spaces after `manifests:` and `-` are the original's

PUSHML_SHAPE_SPEC = """\
image: __REGISTRY__/manifest-tool:2.1.6
tags: [latest, 2.1, 1.10]
manifests:
  - image: __REGISTRY__/manifest-tool:linux-amd64
    platform:
      architecture: amd64
      os: linux
  - image: __REGISTRY__/manifest-tool:linux-386
    platform:
      architecture: 386
      os: linux
  - image: __REGISTRY__/manifest-tool:linux-armv6
    platform:
      architecture: arm
      os: linux
      variant: v6
  - image: __REGISTRY__/manifest-tool:linux-armv7
    platform:
      architecture: arm
      os: linux
      variant: v7
  - image: __REGISTRY__/manifest-tool:linux-arm64
    platform:
      architecture: arm64
      os: linux
      variant: v8
  - image: __REGISTRY__/manifest-tool:linux-ppc64le
    platform:
      architecture: ppc64le
      os: linux
  - image: __REGISTRY__/manifest-tool:linux-s390x
    platform:
      architecture: s390x
      os: linux
  - image: __REGISTRY__/manifest-tool:windows-amd64
    platform:
      architecture: amd64
      os: windows
      osversion: 10.0.17763.2300
      osfeatures: [win32k]
"""


# -- helpers ----------------------------------------------------------------------------------


def push_member_images(registry: Registry, spec_text: str, *, oci: bool) -> list[PushedImage]:
    """Push, for each member, an image whose config has exactly the spec's platform fields."""
    data = yaml.load(spec_text, Loader=yaml.BaseLoader)  # every scalar as written, as manifest-tool reads it
    pushed = []
    for entry in data["manifests"]:
        platform = entry["platform"]
        name = entry["image"].removeprefix(f"{registry.host}/")
        repo, _, tag = name.rpartition(":")
        pushed.append(push_image(
            registry.url, repo, tag, oci=oci,
            os=platform["os"], architecture=platform["architecture"], variant=platform.get("variant"),
            os_version=platform.get("osversion"), os_features=platform.get("osfeatures"),
        ))
    return pushed


def spec_platforms(spec_text: str) -> list[dict[str, Any]]:
    """The index platforms the spec asks for, spelt as the index spells them."""
    spelling = {"osversion": "os.version", "osfeatures": "os.features"}
    data = yaml.load(spec_text, Loader=yaml.BaseLoader)
    return [{spelling.get(k, k): v for k, v in entry["platform"].items()} for entry in data["manifests"]]


def skeleton(data: bytes) -> Any:
    """The document with key order kept and every digest and size blanked out."""

    def pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return [(k, "*" if k in ("digest", "size") else v) for k, v in items]

    return json.loads(data, object_pairs_hook=pairs)


def assert_all_tags(registry: Registry, repo: str, tags: list[str], digest: str) -> None:
    assert set(tags) <= set(list_tags(registry.url, repo))
    for tag in tags:
        assert tag_digest(registry.url, repo, tag) == digest, tag


# -- the byte vectors -------------------------------------------------------------------------


@pytest.mark.parametrize(("vector", "index_type"), [("docker-list", "docker"), ("oci-index", "oci")])
def test_vector_spec_gives_manifest_tools_bytes(
    registry: Registry, repo_name: str, tmp_path: Path, vector: str, index_type: str
) -> None:
    spec_file, expected_file = VECTORS / f"{vector}.spec.yaml", VECTORS / f"{vector}.json"
    assert spec_file.is_file() and expected_file.is_file(), f"missing vectors in {VECTORS}"
    spec_text = spec_file.read_text(encoding="utf-8")
    assert VECTOR_HOST in spec_text
    spec_text = spec_text.replace(f"{VECTOR_HOST}/", f"{registry.host}/{repo_name}/")
    images = push_member_images(registry, spec_text, oci=index_type == "oci")

    result = push_spec(tmp_path, spec_text, push_flags=("--type", index_type))

    assert_ok(result)
    digest, size = digest_line(result)
    target = yaml.safe_load(spec_text)["image"].removeprefix(f"{registry.host}/")
    repo, _, tag = target.rpartition(":")
    served, media_type, served_digest = get_manifest(registry.url, repo, tag)
    assert (served_digest, len(served)) == (digest, size)
    assert media_type == (OCI_INDEX if index_type == "oci" else DOCKER_LIST)

    # manifest-tool's bytes with our images' digests and sizes put in.
    vector_bytes = expected_file.read_bytes()
    _, descriptors, annotations = parse_index(vector_bytes)
    assert len(descriptors) == len(images)
    ours = [replace(d, digest=image.digest, size=image.size) for d, image in zip(descriptors, images)]
    expected = build_index(ours, oci=index_type == "oci", annotations=annotations or None)
    assert served == expected.data
    assert skeleton(served) == skeleton(vector_bytes)
    assert [d.media_type for d in descriptors] == [image.media_type for image in images]


def test_vectors_are_there() -> None:
    assert sorted(p.name for p in VECTORS.glob("*.spec.yaml")) == ["docker-list.spec.yaml", "oci-index.spec.yaml"]


# -- manifest-tool's published spec shapes ----------------------------------------------------


def test_readme_sample_spec(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec_text = README_SPEC.replace("myprivreg:5000/", f"{registry.host}/{repo_name}/")
    images = push_member_images(registry, spec_text, oci=False)
    result = push_spec(tmp_path, spec_text)

    assert_ok(result)
    digest, _ = digest_line(result)
    repo = f"{repo_name}/someimage"
    document = served_document(registry.url, repo, "latest")
    assert document["mediaType"] == DOCKER_LIST
    assert [e["digest"] for e in document["manifests"]] == [image.digest for image in images]
    assert [e["platform"] for e in document["manifests"]] == spec_platforms(spec_text)
    assert_all_tags(registry, repo, ["latest", "1.0.0", "1.0", "1"], digest)


@pytest.mark.parametrize(
    ("platforms", "template", "sources"),
    [
        ("linux/amd64,linux/s390x,linux/arm64", "foo/bar-ARCH:v1", ["foo/bar-amd64:v1", "foo/bar-s390x:v1", "foo/bar-arm64:v1"]),
        ("linux/amd64,linux/arm/v5,linux/arm/v7", "foo/bar-ARCHVARIANT:v1", ["foo/bar-amd64:v1", "foo/bar-armv5:v1", "foo/bar-armv7:v1"]),
    ],
    ids=["arch", "arch-variant"],
)
def test_readme_from_args_examples(
    registry: Registry, repo_name: str, platforms: str, template: str, sources: list[str]
) -> None:
    prefix = f"{registry.host}/{repo_name}/"
    images = []
    for platform, source in zip(platforms.split(","), sources):
        os_, arch, *variant = platform.split("/")
        repo, _, tag = f"{repo_name}/{source}".rpartition(":")
        images.append(push_image(registry.url, repo, tag, os=os_, architecture=arch, variant=variant[0] if variant else None))

    result = run_cli(
        "push", "from-args", "--platforms", platforms, "--template", prefix + template,
        "--tags", "v1.0.0,v1.0", "--target", f"{prefix}foo/bar:v1",
    )

    assert_ok(result)
    digest, _ = digest_line(result)
    repo = f"{repo_name}/foo/bar"
    document = served_document(registry.url, repo, "v1")
    assert [e["digest"] for e in document["manifests"]] == [image.digest for image in images]
    assert_all_tags(registry, repo, ["v1", "v1.0.0", "v1.0"], digest)


def test_integration_test_registry_spec(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec_text = TEST_REGISTRY_SPEC.replace("__REGISTRY__", f"{registry.host}/{repo_name}")
    images = push_member_images(registry, spec_text, oci=True)
    result = push_spec(tmp_path, spec_text, push_flags=("--type", "oci"))

    assert_ok(result)
    digest, _ = digest_line(result)
    repo = f"{repo_name}/alpine"
    assert tag_digest(registry.url, repo, "latest") == digest
    document = served_document(registry.url, repo, "latest")
    assert document["mediaType"] == OCI_INDEX
    assert list(document["annotations"].items()) == sorted(yaml.safe_load(spec_text)["annotations"].items())
    assert [e["digest"] for e in document["manifests"]] == [image.digest for image in images]
    assert [e["platform"] for e in document["manifests"]] == spec_platforms(spec_text)
    for image in images:  # cross-repository sources now live in the target repository too
        get_manifest(registry.url, repo, image.digest)


def test_pushml_shape_spec(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec_text = PUSHML_SHAPE_SPEC.replace("__REGISTRY__", f"{registry.host}/{repo_name}")
    images = push_member_images(registry, spec_text, oci=False)
    assert images[1].platform["architecture"] == "386"  # unquoted 386 is the text "386"
    result = push_spec(tmp_path, spec_text)

    assert_ok(result)
    digest, _ = digest_line(result)
    repo = f"{repo_name}/manifest-tool"
    document = served_document(registry.url, repo, "2.1.6")
    assert document["mediaType"] == DOCKER_LIST
    assert [e["digest"] for e in document["manifests"]] == [image.digest for image in images]
    platforms = [e["platform"] for e in document["manifests"]]
    assert platforms == spec_platforms(spec_text)
    assert platforms[-1] == {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.2300", "os.features": ["win32k"]}
    assert_all_tags(registry, repo, ["2.1.6", "latest", "2.1", "1.10"], digest)

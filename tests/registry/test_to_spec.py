"""`inspect --to-spec`: a spec that reproduces an existing index, so old images can be adopted."""

from __future__ import annotations

from pathlib import Path

import yaml
from support.clirun import assert_clean_failure, assert_ok, digest_line, push_spec, run_cli, served_document, write_spec
from support.images import get_manifest, push_image, push_index
from support.registry import Registry
from support.specs import AMD64, ARM64, repo_spec


def to_spec(tmp_path: Path, reference: str, name: str = "adopted.yaml") -> Path:
    result = run_cli("inspect", "--to-spec", reference)
    assert_ok(result)
    assert result.stdout.startswith("# Written by `manifest-spec inspect --to-spec")
    return write_spec(tmp_path, result.stdout, name)


def test_round_trip_of_an_index_this_tool_pushed_gives_the_same_digest(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64", variant="v8")
    original = push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", {**ARM64, "variant": "v8"})]))
    assert_ok(original)
    digest, _ = digest_line(original)

    # Adopt it under a new tag: the tag names where the spec pushes, the digest what it reads.
    path = to_spec(tmp_path, f"{registry.host}/{repo_name}:v2@{digest}")

    spec = yaml.safe_load(path.read_text())
    assert spec["image"] == f"{registry.host}/{repo_name}:v2" and spec["type"] == "docker"
    assert spec["manifests"] == [
        {"image": f"{registry.host}/{repo_name}@{amd64.digest}", "platform": {"os": "linux", "architecture": "amd64"}},
        {"image": f"{registry.host}/{repo_name}@{arm64.digest}", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    ]
    assert_ok(run_cli("validate", str(path)))
    pushed = run_cli("push", "from-spec", str(path))
    assert_ok(pushed)
    assert digest_line(pushed)[0] == digest == get_manifest(registry.url, repo_name, "v2")[2]


def test_buildx_style_oci_index_with_annotations_and_attestations(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, None, oci=True)
    arm64 = push_image(registry.url, repo_name, None, architecture="arm64", oci=True)
    built = push_index(
        registry.url, repo_name, "v1", [amd64, arm64], attestations=True,
        annotations={"org.opencontainers.image.source": "https://example.com/app"},
    )

    path = to_spec(tmp_path, f"{registry.host}/{repo_name}:v1")
    spec = yaml.safe_load(path.read_text())
    assert spec["type"] == "oci" and spec["annotations"] == {"org.opencontainers.image.source": "https://example.com/app"}
    assert len(spec["manifests"]) == 4
    attestations = [m for m in spec["manifests"] if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"]
    assert len(attestations) == 2 and all("platform" not in m for m in attestations)

    # Push it elsewhere: same entries (digests, platforms, annotations) in the same order, and the same digest.
    path.write_text(path.read_text().replace(f"{repo_name}:v1\n", f"{repo_name}:adopted\n"))
    pushed = run_cli("push", "from-spec", str(path))
    assert_ok(pushed)
    assert served_document(registry.url, repo_name, "adopted")["manifests"] == built.document["manifests"]
    assert served_document(registry.url, repo_name, "adopted")["annotations"] == built.document["annotations"]
    assert digest_line(pushed)[0] == built.digest


def test_json_output_is_a_spec_too(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)])))
    result = run_cli("inspect", "--to-spec", "--output", "json", f"{registry.host}/{repo_name}:v1")
    assert_ok(result)
    assert_ok(run_cli("validate", str(write_spec(tmp_path, result.stdout, "adopted.json"))))


def test_a_single_image_or_a_bare_digest_is_refused(registry: Registry, repo_name: str) -> None:
    image = push_image(registry.url, repo_name, "amd64")
    assert_clean_failure(run_cli("inspect", "--to-spec", f"{registry.host}/{repo_name}:amd64"), "single image", "not an index")
    usage = run_cli("inspect", "--to-spec", f"{registry.host}/{repo_name}@{image.digest}")
    assert usage.exit_code == 2 and "give the tag" in usage.stderr

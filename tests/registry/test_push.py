"""`push from-spec` / `push from-args` against the real registry: what lands there, and what doesn't."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.clirun import (
    assert_clean_failure,
    assert_ok,
    digest_line,
    entry_platforms,
    push_spec,
    run_cli,
    served_document,
    tag_digest,
)
from support.faults import FaultProxy, error
from support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    get_blob,
    get_manifest,
    json_bytes,
    list_tags,
    push_blob,
    push_image,
    push_index,
    put_manifest,
    sha256_digest,
)
from support.registry import Registry
from support.specs import member, spec

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's

LINUX_AMD64 = {"os": "linux", "architecture": "amd64"}
LINUX_ARM64 = {"os": "linux", "architecture": "arm64"}


def ref(registry: Registry, repo: str, tag_or_digest: str) -> str:
    sep = "@" if tag_or_digest.startswith("sha256:") else ":"
    return f"{registry.host}/{repo}{sep}{tag_or_digest}"


def two_images(registry: Registry, repo: str) -> tuple[PushedImage, PushedImage]:
    """linux/amd64 at :amd64 and linux/arm64 at :arm64 (no variant in the config)."""
    return (
        push_image(registry.url, repo, "amd64"),
        push_image(registry.url, repo, "arm64", architecture="arm64"),
    )


def two_image_spec(registry: Registry, repo: str, tag: str = "v1", **extra: Any) -> dict[str, Any]:
    return spec(
        ref(registry, repo, tag),
        member(ref(registry, repo, "amd64"), LINUX_AMD64),
        member(ref(registry, repo, "arm64"), LINUX_ARM64),
        **extra,
    )


# -- the happy paths ---------------------------------------------------------------------------


def test_same_repo_members_digest_line_matches_what_the_registry_serves(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64", variant="v8")
    result = push_spec(tmp_path, spec(
        ref(registry, repo_name, "1.0"),
        member(ref(registry, repo_name, "amd64"), LINUX_AMD64),
        member(ref(registry, repo_name, "arm64"), {**LINUX_ARM64, "variant": "v8"}),
        tags=["latest", "1.10"],
    ))

    assert_ok(result)
    assert result.stderr == ""
    digest, size = digest_line(result)
    data, media_type, served = get_manifest(registry.url, repo_name, "1.0")
    assert served == digest == sha256_digest(data) and len(data) == size
    assert media_type == DOCKER_LIST
    for tag in ("latest", "1.10"):
        assert tag_digest(registry.url, repo_name, tag) == digest
    assert sorted(list_tags(registry.url, repo_name)) == sorted(["amd64", "arm64", "1.0", "latest", "1.10"])
    document = json.loads(data)
    assert [(e["mediaType"], e["digest"], e["size"]) for e in document["manifests"]] == [
        (DOCKER_MANIFEST, amd64.digest, amd64.size),
        (DOCKER_MANIFEST, arm64.digest, arm64.size),
    ]
    assert entry_platforms(document) == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]


def test_pushing_the_same_spec_twice_gives_the_same_digest(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    two_images(registry, repo_name)
    first = push_spec(tmp_path, two_image_spec(registry, repo_name))
    second = push_spec(tmp_path, two_image_spec(registry, repo_name))
    assert_ok(first)
    assert_ok(second)
    assert first.stdout == second.stdout


def test_cross_repo_members_are_mounted_and_put_by_digest_in_the_target(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, other, target = f"{repo_name}/src", f"{repo_name}/other", f"{repo_name}/app"
    amd64 = push_image(registry.url, source, "amd64")
    s390x = push_image(registry.url, other, "s390x", architecture="s390x")
    assert tag_digest(registry.url, target, amd64.digest) is None

    result = push_spec(tmp_path, spec(
        ref(registry, target, "v1"),
        member(ref(registry, source, "amd64"), LINUX_AMD64),
        member(ref(registry, other, "s390x"), {"os": "linux", "architecture": "s390x"}),
    ))

    assert_ok(result)
    digest, _ = digest_line(result)
    assert tag_digest(registry.url, target, "v1") == digest
    for image in (amd64, s390x):
        data, media_type, _ = get_manifest(registry.url, target, image.digest)
        assert data == image.manifest_bytes and media_type == DOCKER_MANIFEST
        for blob in (image.config_digest, *image.layer_digests):
            get_blob(registry.url, target, blob)  # raises unless the blob is there, intact
    assert [e["digest"] for e in served_document(registry.url, target, "v1")["manifests"]] == [amd64.digest, s390x.digest]
    assert list_tags(registry.url, target) == ["v1"]  # children by digest only, no stray tags
    assert list_tags(registry.url, source) == ["amd64"]


# -- index members and buildx attestations -----------------------------------------------------


def _attested_index(registry: Registry, repo: str) -> Any:
    amd64 = push_image(registry.url, repo, None)
    arm64 = push_image(registry.url, repo, None, architecture="arm64")
    return push_index(registry.url, repo, "multi", [amd64, arm64], oci=True, attestations=True)


def test_index_member_without_platform_takes_every_entry_with_attestations(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    index = _attested_index(registry, source)
    result = push_spec(tmp_path, spec(ref(registry, target, "v1"), member(ref(registry, source, "multi"))), push_flags=("--type", "oci"))

    assert_ok(result)
    document = served_document(registry.url, target, "v1")
    assert document["mediaType"] == OCI_INDEX
    # The same four entries as buildx wrote them, attestation annotations and all, in order.
    assert document["manifests"] == index.document["manifests"]
    assert [list(e) for e in document["manifests"]] == [list(e) for e in index.document["manifests"]]
    for entry in document["manifests"]:
        get_manifest(registry.url, target, entry["digest"])


def test_index_member_with_attestations_in_a_docker_list_asks_for_oci(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    _attested_index(registry, source)
    result = push_spec(tmp_path, spec(ref(registry, target, "v1"), member(ref(registry, source, "multi"))))
    assert_clean_failure(result, "--type oci", "manifests[0]")
    assert list_tags(registry.url, target) == []


def test_index_member_with_platform_takes_that_entry_and_its_attestation(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    index = _attested_index(registry, source)
    result = push_spec(
        tmp_path, spec(ref(registry, target, "v1"), member(ref(registry, source, "multi"), LINUX_ARM64)), push_flags=("--type", "oci")
    )

    assert_ok(result)
    entries = served_document(registry.url, target, "v1")["manifests"]
    arm64, arm64_attestation = index.document["manifests"][1], index.document["manifests"][3]
    assert arm64_attestation["annotations"]["vnd.docker.reference.digest"] == arm64["digest"]
    assert entries == [arm64, arm64_attestation]


def test_index_member_without_the_spec_platform_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _attested_index(registry, repo_name)
    result = push_spec(
        tmp_path,
        spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "multi"), {"os": "linux", "architecture": "s390x"})),
        push_flags=("--type", "oci"),
    )
    assert_clean_failure(result, "manifests[0]", "linux/s390x", "linux/amd64", "linux/arm64")
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_docker_list_member_entries_join_other_members(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    amd64 = push_image(registry.url, source, None)
    arm64 = push_image(registry.url, source, None, architecture="arm64", variant="v8")
    s390x = push_image(registry.url, source, "s390x", architecture="s390x")
    listed = push_index(registry.url, source, "list", [amd64, arm64], oci=False)
    result = push_spec(tmp_path, spec(ref(registry, target, "v1"), member(ref(registry, source, "list")), member(ref(registry, source, "s390x"))))

    assert_ok(result)
    entries = served_document(registry.url, target, "v1")["manifests"]
    assert entries == [*listed.document["manifests"], s390x.descriptor()]


def test_index_entry_whose_platform_disagrees_with_its_config_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, None)
    mislabelled = PushedImage(**{**amd64.__dict__, "platform": {"architecture": "arm64", "os": "linux"}})
    push_index(registry.url, repo_name, "list", [mislabelled], oci=False)
    the_spec = spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "list")))
    assert_clean_failure(push_spec(tmp_path, the_spec), "exec format error", "manifests[0]", amd64.digest[:19])
    assert tag_digest(registry.url, repo_name, "v1") is None


# -- platforms from the image config -----------------------------------------------------------


def test_platform_fields_missing_in_the_spec_come_from_the_config(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "arm64", architecture="arm64", variant="v8")
    push_image(registry.url, repo_name, "arm", architecture="arm", variant="v7")
    push_image(registry.url, repo_name, "win", os="windows", os_version="10.0.20348.2340", os_features=["win32k"])
    result = push_spec(tmp_path, spec(
        ref(registry, repo_name, "v1"),
        member(ref(registry, repo_name, "arm64")),  # no platform at all
        member(ref(registry, repo_name, "arm"), {"os": "linux", "architecture": "arm"}),
        member(ref(registry, repo_name, "win"), {"os": "windows", "architecture": "amd64"}),
    ))

    assert_ok(result)
    platforms = entry_platforms(served_document(registry.url, repo_name, "v1"))
    assert platforms == [
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2340", "os.features": ["win32k"]},
    ]
    assert list(platforms[2]) == ["architecture", "os", "os.version", "os.features"]  # Go's field order


@pytest.mark.parametrize(
    ("pushed", "claimed"),
    [
        ({"architecture": "amd64"}, LINUX_ARM64),
        ({"architecture": "arm", "variant": "v7"}, {"os": "linux", "architecture": "arm", "variant": "v6"}),
        ({"os": "windows", "architecture": "amd64"}, LINUX_AMD64),
    ],
    ids=["arch", "variant", "os"],
)
def test_platform_mismatch_fails_unless_skipped(
    registry: Registry, repo_name: str, tmp_path: Path, pushed: dict[str, Any], claimed: dict[str, str]
) -> None:
    push_image(registry.url, repo_name, "odd", **pushed)
    the_spec = spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "odd"), claimed))

    failed = push_spec(tmp_path, the_spec)
    assert_clean_failure(failed, "exec format error", "manifests[0]", ref(registry, repo_name, "odd"))
    assert tag_digest(registry.url, repo_name, "v1") is None

    result = push_spec(tmp_path, the_spec, "--skip-platform-check")
    assert_ok(result)
    expected = {"architecture": claimed["architecture"], "os": claimed["os"]}
    if "variant" in claimed:
        expected["variant"] = claimed["variant"]
    assert entry_platforms(served_document(registry.url, repo_name, "v1")) == [expected]


# -- missing members ---------------------------------------------------------------------------


def test_missing_member_fails_and_writes_nothing(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "amd64"), LINUX_AMD64), member(ref(registry, repo_name, "arm64"), LINUX_ARM64)
    ))
    assert_clean_failure(result, "manifests[1]", ref(registry, repo_name, "arm64"), "404")
    assert list_tags(registry.url, repo_name) == ["amd64"]


def test_ignore_missing_warns_and_pushes_the_rest(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    result = push_spec(
        tmp_path,
        spec(
            ref(registry, repo_name, "v1"),
            member(ref(registry, repo_name, "arm64"), LINUX_ARM64),  # no such tag
            member(ref(registry, repo_name, "amd64"), LINUX_AMD64),
            member(ref(registry, f"{repo_name}/nowhere", "s390x"), {"os": "linux", "architecture": "s390x"}),  # no such repo
        ),
        "--ignore-missing",
    )

    assert_ok(result)
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings), result.stderr
    assert "manifests[0]" in warnings[0] and ref(registry, repo_name, "arm64") in warnings[0]
    assert "manifests[2]" in warnings[1] and ref(registry, f"{repo_name}/nowhere", "s390x") in warnings[1]
    digest, _ = digest_line(result)
    document = served_document(registry.url, repo_name, "v1")
    assert [e["digest"] for e in document["manifests"]] == [amd64.digest]
    assert tag_digest(registry.url, repo_name, "v1") == digest


def test_ignore_missing_with_every_member_missing_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    result = push_spec(
        tmp_path,
        spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "amd64"), LINUX_AMD64), member(ref(registry, repo_name, "arm64"), LINUX_ARM64)),
        "--ignore-missing",
    )
    assert_clean_failure(result, "none of the spec's images exist")
    assert list_tags(registry.url, repo_name) == []


def test_member_digest_that_does_not_exist_is_one_clear_line(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    absent = "sha256:" + "0" * 64
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "amd64"), LINUX_AMD64), member(ref(registry, repo_name, absent), LINUX_ARM64)
    ))
    assert_clean_failure(result, "manifests[1]", absent, "HTTP 404", "MANIFEST_UNKNOWN")
    assert tag_digest(registry.url, repo_name, "v1") is None


# -- duplicates found only after resolution ----------------------------------------------------


def test_two_index_members_covering_one_platform_fail(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    first = [push_image(registry.url, repo_name, None), push_image(registry.url, repo_name, None, architecture="arm64")]
    second = [push_image(registry.url, repo_name, None, seed=1), push_image(registry.url, repo_name, None, architecture="s390x")]
    push_index(registry.url, repo_name, "one", first, oci=False)
    push_index(registry.url, repo_name, "two", second, oci=False)
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "one")), member(ref(registry, repo_name, "two"))))
    assert_clean_failure(
        result, "duplicate platform linux/amd64", f"manifests[0] {ref(registry, repo_name, 'one')}", f"manifests[1] {ref(registry, repo_name, 'two')}"
    )
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_platformless_member_duplicating_another_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    push_image(registry.url, repo_name, "arm64-v8", architecture="arm64", variant="v8")  # arm64 ≡ arm64/v8 to a puller
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "arm64"), LINUX_ARM64), member(ref(registry, repo_name, "arm64-v8"))
    ))
    assert_clean_failure(result, "duplicate platform", "manifests[0]", "manifests[1]", ref(registry, repo_name, "arm64-v8"))
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_index_member_with_two_entries_for_one_platform_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    twins = [push_image(registry.url, repo_name, None), push_image(registry.url, repo_name, None, seed=7)]  # both linux/amd64
    push_index(registry.url, repo_name, "twins", twins, oci=False)
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "twins"))))
    assert_clean_failure(result, "duplicate platform linux/amd64", "manifests[0]", "two entries")
    assert tag_digest(registry.url, repo_name, "v1") is None


def _artifact(registry: Registry, repo: str, tag: str) -> None:
    """An OCI manifest whose config names no platform (a Helm chart, an SBOM...)."""
    config = b"{}"
    layer = b"not an image"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": push_blob(registry.url, repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": push_blob(registry.url, repo, layer), "size": len(layer)}],
    }
    put_manifest(registry.url, repo, tag, json_bytes(manifest), OCI_MANIFEST)


def test_a_platform_claimed_for_a_config_without_one_fails_unless_skipped(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _artifact(registry, repo_name, "chart")
    the_spec = spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "chart"), LINUX_ARM64), type="oci")
    result = push_spec(tmp_path, the_spec)
    assert_clean_failure(result, "names no os/architecture", "--skip-platform-check")
    assert tag_digest(registry.url, repo_name, "v1") is None
    assert_ok(push_spec(tmp_path, the_spec, "--skip-platform-check"))
    assert entry_platforms(served_document(registry.url, repo_name, "v1")) == [LINUX_ARM64]


def test_index_entry_whose_size_disagrees_with_the_manifest_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    image = push_image(registry.url, repo_name, None)
    index = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [{**image.descriptor(), "size": image.size + 1}]}
    put_manifest(registry.url, repo_name, "lying", json_bytes(index), DOCKER_LIST)
    result = push_spec(tmp_path, spec(ref(registry, repo_name, "v1"), member(ref(registry, repo_name, "lying"))))
    assert_clean_failure(result, f"{image.size + 1} bytes", f"{image.size} bytes")
    assert tag_digest(registry.url, repo_name, "v1") is None


# -- Docker manifest list or OCI index ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_type", "flag", "expected"),
    [
        (None, None, DOCKER_LIST),
        (None, "oci", OCI_INDEX),
        ("oci", None, OCI_INDEX),
        ("oci", "docker", DOCKER_LIST),
        ("docker", "oci", OCI_INDEX),
    ],
)
def test_index_type_flag_wins_over_spec_wins_over_docker(
    registry: Registry, repo_name: str, tmp_path: Path, spec_type: str | None, flag: str | None, expected: str
) -> None:
    two_images(registry, repo_name)
    extra = {"type": spec_type} if spec_type else {}
    result = push_spec(tmp_path, two_image_spec(registry, repo_name, **extra), push_flags=("--type", flag) if flag else ())
    assert_ok(result)
    digest, _ = digest_line(result)
    data, media_type, served = get_manifest(registry.url, repo_name, "v1")
    assert (media_type, json.loads(data)["mediaType"], served) == (expected, expected, digest)


def test_oci_image_in_a_docker_list_fails_suggesting_oci(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64", oci=True)
    result = push_spec(tmp_path, two_image_spec(registry, repo_name))
    assert_clean_failure(result, "manifests[1]", "OCI", "--type oci")
    assert tag_digest(registry.url, repo_name, "v1") is None
    assert_ok(push_spec(tmp_path, two_image_spec(registry, repo_name), push_flags=("--type", "oci")))
    entries = served_document(registry.url, repo_name, "v1")["manifests"]
    assert [e["mediaType"] for e in entries] == [DOCKER_MANIFEST, OCI_MANIFEST]


def test_annotations_land_in_the_oci_index(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    two_images(registry, repo_name)
    the_spec = spec(
        ref(registry, repo_name, "v1"),
        member(ref(registry, repo_name, "amd64"), LINUX_AMD64, annotations={"com.example.note": "Tom & Jerry <x>"}),
        member(ref(registry, repo_name, "arm64"), LINUX_ARM64),
        type="oci",
        annotations={"org.opencontainers.image.source": "https://example.com/src", "com.example.a": "1"},
    )
    result = push_spec(tmp_path, the_spec)
    assert_ok(result)
    data, media_type, _ = get_manifest(registry.url, repo_name, "v1")
    document = json.loads(data)
    assert media_type == OCI_INDEX
    assert list(document["annotations"].items()) == [("com.example.a", "1"), ("org.opencontainers.image.source", "https://example.com/src")]
    assert document["manifests"][0]["annotations"] == {"com.example.note": "Tom & Jerry <x>"}
    assert "annotations" not in document["manifests"][1]
    assert b"Tom \\u0026 Jerry \\u003cx\\u003e" in data  # escaped as Go writes it


@pytest.mark.parametrize(
    ("extra", "push_flags"),
    [
        ({"annotations": {"com.example.a": "1"}}, ()),
        ({"type": "oci", "annotations": {"com.example.a": "1"}}, ("--type", "docker")),
    ],
    ids=["no-type", "flag-docker-over-spec-oci"],
)
def test_annotations_with_a_docker_list_fail(
    registry: Registry, repo_name: str, tmp_path: Path, extra: dict[str, Any], push_flags: tuple[str, ...]
) -> None:
    two_images(registry, repo_name)
    result = push_spec(tmp_path, two_image_spec(registry, repo_name, **extra), push_flags=push_flags)
    assert_clean_failure(result, "annotations", "oci")
    assert tag_digest(registry.url, repo_name, "v1") is None


# -- --output json -----------------------------------------------------------------------------


def test_output_json_is_one_object_describing_the_push(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64, arm64 = two_images(registry, repo_name)
    result = push_spec(tmp_path, two_image_spec(registry, repo_name, tags=["latest"]), "--output", "json")
    assert_ok(result)
    report = json.loads(result.stdout)
    data, _, digest = get_manifest(registry.url, repo_name, "v1")
    assert report["target"] == ref(registry, repo_name, "v1")
    assert (report["digest"], report["size"], report["mediaType"]) == (digest, len(data), DOCKER_LIST)
    assert report["tags"] == ["v1", "latest"]
    assert [{k: m[k] for k in ("image", "digest", "platform")} for m in report["members"]] == [
        {"image": ref(registry, repo_name, "amd64"), "digest": amd64.digest, "platform": {"os": "linux", "architecture": "amd64"}},
        {"image": ref(registry, repo_name, "arm64"), "digest": arm64.digest, "platform": {"os": "linux", "architecture": "arm64"}},
    ]


def test_output_json_failure_is_one_object_too(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    result = push_spec(tmp_path, two_image_spec(registry, repo_name), "--output", "json")
    assert_clean_failure(result, "manifests[0]")
    assert set(json.loads(result.stdout)) == {"error"}


# -- errors leave the registry as it was -------------------------------------------------------


def test_failed_push_leaves_existing_tags_unchanged(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    two_images(registry, repo_name)
    good = push_spec(tmp_path, two_image_spec(registry, repo_name, tags=["stable"]))
    assert_ok(good)
    old, _ = digest_line(good)

    push_image(registry.url, repo_name, "s390x", architecture="s390x")
    bad = spec(
        ref(registry, repo_name, "v1"),
        member(ref(registry, repo_name, "amd64"), LINUX_AMD64),
        member(ref(registry, repo_name, "s390x"), {"os": "linux", "architecture": "ppc64le"}),  # wrong platform
        tags=["stable", "new"],
    )
    assert_clean_failure(push_spec(tmp_path, bad), "exec format error")
    assert tag_digest(registry.url, repo_name, "v1") == old
    assert tag_digest(registry.url, repo_name, "stable") == old
    assert "new" not in list_tags(registry.url, repo_name)


def test_upper_case_target_repository_is_one_clear_line(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    two_images(registry, repo_name)
    the_spec = two_image_spec(registry, repo_name)
    the_spec["image"] = f"{registry.host}/{repo_name}/MyApp:v1"
    assert_clean_failure(push_spec(tmp_path, the_spec), "lower-case")


def test_registry_refusing_the_index_put_is_one_clear_line(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    two_images(registry, repo_name)
    assert_ok(push_spec(tmp_path, two_image_spec(registry, repo_name)))
    old = tag_digest(registry.url, repo_name, "v1")
    with FaultProxy(registry.host) as proxy:
        proxy.inject(
            "PUT", rf"/v2/{repo_name}/manifests/v1$",
            error(400, "NAME_INVALID", "invalid repository name", repo_name),
            forward=False,
        )
        the_spec = two_image_spec(registry, repo_name, tags=["new"])
        the_spec = json.loads(json.dumps(the_spec).replace(registry.host, proxy.host))
        the_spec["manifests"].reverse()  # a different index for the same tag
        result = push_spec(tmp_path, the_spec)
    assert_clean_failure(result, "HTTP 400", "NAME_INVALID", f"{proxy.host}/{repo_name}:v1")
    assert tag_digest(registry.url, repo_name, "v1") == old
    assert "new" not in list_tags(registry.url, repo_name)


# -- from-args ---------------------------------------------------------------------------------


def test_from_args_template_tags_and_annotations(registry: Registry, repo_name: str) -> None:
    amd64 = push_image(registry.url, repo_name, "linux-amd64")
    armv7 = push_image(registry.url, repo_name, "linux-armv7", architecture="arm", variant="v7")
    arm64 = push_image(registry.url, repo_name, "linux-arm64", architecture="arm64")
    result = run_cli(
        "push", "--type", "oci", "from-args",
        "--platforms", "linux/amd64,linux/arm/v7,linux/arm64",
        "--template", f"{registry.host}/{repo_name}:OS-ARCHVARIANT",
        "--target", f"{registry.host}/{repo_name}:multi",
        "--tags", "1.0,latest",
        "--annotations", "org.opencontainers.image.source=https://example.com/src,com.example.k=v",
    )

    assert_ok(result)
    digest, _ = digest_line(result)
    document = served_document(registry.url, repo_name, "multi")
    assert document["mediaType"] == OCI_INDEX
    assert [e["digest"] for e in document["manifests"]] == [amd64.digest, armv7.digest, arm64.digest]
    assert entry_platforms(document) == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "arm64", "os": "linux"},
    ]
    assert document["annotations"] == {"com.example.k": "v", "org.opencontainers.image.source": "https://example.com/src"}
    for tag in ("multi", "1.0", "latest"):
        assert tag_digest(registry.url, repo_name, tag) == digest


def test_from_args_annotations_need_oci(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "linux-amd64")
    result = run_cli(
        "push", "from-args", "--platforms", "linux/amd64",
        "--template", f"{registry.host}/{repo_name}:OS-ARCH", "--target", f"{registry.host}/{repo_name}:multi",
        "--annotations", "a=b",
    )
    assert_clean_failure(result, "oci")
    assert tag_digest(registry.url, repo_name, "multi") is None

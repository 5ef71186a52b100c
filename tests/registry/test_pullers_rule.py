"""The pullers' rule against the real registry: an index member narrowed by a spec platform, and
`inspect --platform`, pick index entries as containerd, skopeo and crane do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.clirun import assert_clean_failure, assert_ok, entry_platforms, push_spec, run_cli, served_document, tag_digest
from support.images import PushedImage, PushedIndex, push_image, push_index
from support.registry import Registry
from support.specs import repo_spec, spec

LTSC2019, LTSC2022 = "10.0.17763.1234", "10.0.20348.2340"


def _image(registry: Registry, repo: str, spec: str, os_version: str | None = None) -> PushedImage:
    os_, arch, *variant = spec.split("/")
    features = ["win32k"] if os_ == "windows" else None
    return push_image(
        registry.url, repo, None, os=os_, architecture=arch, variant=variant[0] if variant else None,
        os_version=os_version, os_features=features, seed=f"{spec}{os_version}",
    )


@pytest.fixture
def mixed(registry: Registry, repo_name: str) -> PushedIndex:
    """An index as real ones are: two Windows builds, arm variants, arm64 without a variant, amd64."""
    entries = [
        _image(registry, repo_name, "windows/amd64", LTSC2022),
        _image(registry, repo_name, "windows/amd64", LTSC2019),
        _image(registry, repo_name, "linux/arm/v6"),
        _image(registry, repo_name, "linux/arm/v7"),
        _image(registry, repo_name, "linux/arm64"),
        _image(registry, repo_name, "linux/amd64"),
    ]
    return push_index(registry.url, repo_name, "mixed", entries, oci=False)


def _take(registry: Registry, repo: str, tmp_path: Path, source: str, platform: dict[str, str]) -> object:
    the_spec = repo_spec(registry.host, repo, "v1", [(source, platform)])
    return push_spec(tmp_path, the_spec)


def test_a_windows_entry_with_os_version_is_taken_by_os_and_architecture(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """The case from the issue: skopeo, podman, containerd and crane all take this entry."""
    windows = _image(registry, repo_name, "windows/amd64", LTSC2019)
    push_index(registry.url, repo_name, "win", [windows, _image(registry, repo_name, "linux/amd64")], oci=False)

    result = _take(registry, repo_name, tmp_path, "win", {"os": "windows", "architecture": "amd64"})
    assert_ok(result)
    document = served_document(registry.url, repo_name, "v1")
    assert [e["digest"] for e in document["manifests"]] == [windows.digest]
    assert entry_platforms(document) == [{"architecture": "amd64", "os": "windows", "os.version": LTSC2019, "os.features": ["win32k"]}]


@pytest.mark.parametrize(
    ("platform", "position"),
    [
        ({"os": "windows", "architecture": "amd64", "os.version": "10.0.17763"}, 1),  # a build takes its revisions
        ({"os": "windows", "architecture": "amd64", "osversion": LTSC2022, "osfeatures": ["win32k"]}, 0),
        ({"os": "linux", "architecture": "arm", "variant": "v7"}, 3),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, 4),  # the entry names no variant: v8 is arm64's default
        ({"os": "linux", "architecture": "amd64", "variant": "v1"}, 5),
    ],
    ids=["windows-build", "windows-exact", "arm-v7", "arm64-default-variant", "amd64-default-variant"],
)
def test_spec_platform_takes_the_one_matching_entry(
    registry: Registry, repo_name: str, tmp_path: Path, mixed: PushedIndex, platform: dict[str, str], position: int
) -> None:
    assert_ok(_take(registry, repo_name, tmp_path, "mixed", platform))
    entries = served_document(registry.url, repo_name, "v1")["manifests"]
    assert [e["digest"] for e in entries] == [mixed.entries[position].digest]


@pytest.mark.parametrize(
    ("platform", "positions", "listed"),
    [
        ({"os": "windows", "architecture": "amd64"}, (0, 1), (f"os.version {LTSC2022}", f"os.version {LTSC2019}")),
        ({"os": "linux", "architecture": "arm"}, (2, 3), ("linux/arm/v6", "linux/arm/v7")),
    ],
    ids=["windows-builds", "arm-variants"],
)
def test_spec_platform_matching_several_entries_fails_listing_them(
    registry: Registry, repo_name: str, tmp_path: Path, mixed: PushedIndex,
    platform: dict[str, str], positions: tuple[int, ...], listed: tuple[str, ...],
) -> None:
    digests = [mixed.entries[p].digest[:19] for p in positions]
    result = _take(registry, repo_name, tmp_path, "mixed", platform)
    line = assert_clean_failure(result, "manifests[0]", f"{len(positions)} entries of the index match", *listed, *digests)
    assert "variant, os.version or os.features" in line
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_spec_platform_matching_no_entry_still_fails(registry: Registry, repo_name: str, tmp_path: Path, mixed: PushedIndex) -> None:
    result = _take(registry, repo_name, tmp_path, "mixed", {"os": "windows", "architecture": "amd64", "os.version": "10.0.14393"})
    assert_clean_failure(result, "no windows/amd64 (os.version 10.0.14393) entry", f"os.version {LTSC2019}")
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_spec_os_version_disagreeing_with_the_config_fails(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """The same rule for a plain image: an ltsc2022 image claimed as ltsc2019 would not start there."""
    windows = _image(registry, repo_name, "windows/amd64", LTSC2022)
    push_index(registry.url, repo_name, "win2022", [windows], oci=False)
    image_ref = f"{registry.host}/{repo_name}@{windows.digest}"
    the_spec = spec(f"{registry.host}/{repo_name}:v1", (image_ref, {"os": "windows", "architecture": "amd64", "os.version": LTSC2019}))
    assert_clean_failure(push_spec(tmp_path, the_spec), "manifests[0]", f"os.version {LTSC2019}", f"os.version {LTSC2022}")
    assert tag_digest(registry.url, repo_name, "v1") is None


# -- inspect --platform ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "position"),
    [
        ("windows/amd64", 0),  # several builds and no os.version asked for: the first, as crane and containerd
        (f"windows/amd64:{LTSC2019}", 1),
        ("windows/amd64:10.0.17763", 1),
        ("linux/arm", 3),  # arm is arm/v7
        ("linux/arm/v7", 3),
        ("linux/arm/v6", 2),
        ("linux/arm64/v8", 4),
        ("linux/arm64/v9", 4),  # a v9 machine runs v8 code
        ("linux/amd64", 5),
        ("linux/amd64/v3", 5),  # a v3 machine runs amd64 (v1) code
    ],
)
def test_inspect_platform_prints_the_digest_a_puller_gets(registry: Registry, repo_name: str, mixed: PushedIndex, machine: str, position: int) -> None:
    reference = f"{registry.host}/{repo_name}:mixed"
    expected = mixed.entries[position]

    text = run_cli("inspect", "--platform", machine, reference)
    assert_ok(text)
    assert text.stdout == f"{expected.digest}\n"

    as_json = run_cli("inspect", "--platform", machine, "--output", "json", reference)
    assert_ok(as_json)
    assert json.loads(as_json.stdout) == {
        "reference": reference, "mediaType": expected.media_type, "digest": expected.digest, "size": expected.size,
        "platform": expected.platform,
    }


def test_inspect_platform_falls_back_as_containerd_does(registry: Registry, repo_name: str) -> None:
    """An arm64 machine with no arm64 entry runs 32-bit arm/v7; an amd64 one runs 386."""
    arm, i386 = _image(registry, repo_name, "linux/arm/v7"), _image(registry, repo_name, "linux/386")
    push_index(registry.url, repo_name, "old", [arm, i386], oci=True)
    for machine, expected in (("linux/arm64", arm), ("linux/amd64", i386)):
        result = run_cli("inspect", "--platform", machine, f"{registry.host}/{repo_name}:old")
        assert_ok(result)
        assert result.stdout == f"{expected.digest}\n"


def test_inspect_platform_without_an_entry_fails_listing_what_there_is(registry: Registry, repo_name: str, mixed: PushedIndex) -> None:
    result = run_cli("inspect", "--platform", "linux/s390x", f"{registry.host}/{repo_name}:mixed")
    assert_clean_failure(result, "no entry a linux/s390x puller takes", "linux/arm/v6", f"windows/amd64 (os.version {LTSC2019})")


def test_inspect_platform_of_a_single_image(registry: Registry, repo_name: str) -> None:
    image = push_image(registry.url, repo_name, "arm64", architecture="arm64", variant="v8")
    reference = f"{registry.host}/{repo_name}:arm64"
    result = run_cli("inspect", "--platform", "linux/arm64", reference)
    assert_ok(result)
    assert result.stdout == f"{image.digest}\n"
    assert_clean_failure(run_cli("inspect", "--platform", "linux/amd64", reference), "an image for linux/arm64/v8, not for linux/amd64")


@pytest.mark.parametrize("bad", ["linux", "linux/", "linux/arm/v7/x", "windows/amd64:"])
def test_inspect_platform_that_is_not_one_is_a_usage_error(registry: Registry, repo_name: str, bad: str) -> None:
    result = run_cli("inspect", "--platform", bad, f"{registry.host}/{repo_name}:any")
    assert result.exit_code == 2
    assert "os/arch[/variant][:os.version]" in result.stderr and "Traceback" not in result.output

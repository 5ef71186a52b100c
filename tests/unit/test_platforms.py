"""manifest_spec.oci.platforms: known platforms, hints, and containerd's notion of "the same platform"."""

from __future__ import annotations

import pytest

from manifest_spec.oci.platforms import (
    KNOWN_ARCH,
    KNOWN_OS,
    KNOWN_OS_ARCH,
    Platform,
    normalized_variant,
    platform_key,
    platform_matches,
    platform_problems,
    puller_choice,
)


def P(spec: str, os_version: str = "", os_features: tuple[str, ...] = ()) -> Platform:
    os_, arch, *variant = spec.split("/")
    return Platform(os_, arch, variant[0] if variant else "", os_version, os_features)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64", "linux/arm64/v8.0"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/amd64", "linux/amd64/v1"),
        ("windows/arm64", "windows/arm64/v8"),
    ],
)
def test_same_platform(a: str, b: str) -> None:
    assert platform_key(P(a)) == platform_key(P(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("linux/arm", "linux/arm/v6"),
        ("linux/arm/v7", "linux/arm/v8"),
        ("linux/arm64", "linux/arm64/v9"),
        ("linux/arm64", "linux/arm64/v8.2"),
        ("linux/amd64", "linux/amd64/v2"),
        ("linux/amd64", "linux/386"),
        ("linux/amd64", "windows/amd64"),
        ("linux/riscv64", "linux/riscv64/rva22u64"),
    ],
)
def test_different_platforms(a: str, b: str) -> None:
    assert platform_key(P(a)) != platform_key(P(b))


def test_v8_is_only_the_default_for_arm64() -> None:
    # arm/v8 (32-bit code on an ARMv8 CPU) is not arm/v7, and not arm64.
    assert normalized_variant("arm", "v8") == "v8"
    assert normalized_variant("arm64", "v8") == ""
    assert normalized_variant("arm", "") == "v7"
    assert normalized_variant("386", "") == ""


def test_os_version_and_features_are_part_of_the_key() -> None:
    a = P("windows/amd64", "10.0.17763.2300")
    assert platform_key(a) == platform_key(P("windows/amd64", "10.0.17763.2300"))
    assert platform_key(a) != platform_key(P("windows/amd64", "10.0.20348.2113"))
    assert platform_key(a) != platform_key(P("windows/amd64"))
    assert platform_key(P("windows/amd64", os_features=("win32k",))) != platform_key(P("windows/amd64"))
    # features are a set: order does not matter
    assert platform_key(P("windows/amd64", os_features=("a", "b"))) == platform_key(
        P("windows/amd64", os_features=("b", "a"))
    )


def test_str() -> None:
    assert str(P("linux/arm/v7")) == "linux/arm/v7"
    assert str(P("linux/amd64")) == "linux/amd64"
    assert str(P("windows/amd64", "10.0.17763.2300", ("win32k",))) == (
        "windows/amd64 (os.version 10.0.17763.2300) (os.features win32k)"
    )


@pytest.mark.parametrize(
    "spec",
    [
        "linux/amd64", "linux/amd64/v3", "linux/arm64", "linux/arm64/v8", "linux/arm64/v9.2", "linux/arm/v5",
        "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/386", "linux/ppc64le", "linux/s390x",
        "linux/riscv64", "linux/riscv64/rva23u64", "linux/mips64le", "linux/loong64", "windows/amd64",
        "windows/arm64", "darwin/arm64", "freebsd/amd64", "wasip1/wasm", "wasi/wasm", "unknown/unknown",
    ],
)  # fmt: skip
def test_known_platforms_have_no_problems(spec: str) -> None:
    assert platform_problems(P(spec)) == []


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("linux/aarch64", "architecture", "unknown architecture 'aarch64' (did you mean arm64?)"),
        ("linux/x86_64", "architecture", "unknown architecture 'x86_64' (did you mean amd64?)"),
        ("linux/i686", "architecture", "unknown architecture 'i686' (did you mean 386?)"),
        ("linux/armhf", "architecture", "unknown architecture 'armhf' (did you mean arm (variant v7)?)"),
        ("linux/ARM64", "architecture", "unknown architecture 'ARM64' (did you mean arm64?)"),
        ("linux/ppc64el", "architecture", "unknown architecture 'ppc64el' (did you mean ppc64le"),
        ("macos/arm64", "os", "unknown os 'macos' (did you mean darwin?)"),
        ("Linux/amd64", "os", "unknown os 'Linux' (did you mean linux?)"),
        ("linux/AMD64", "architecture", "unknown architecture 'AMD64' (did you mean amd64?)"),
        ("win/amd64", "os", "unknown os 'win' (did you mean windows?)"),
        ("darwin/s390x", "architecture", "darwin/s390x is not a known platform; darwin images exist for amd64, arm64"),
        ("windows/ppc64le", "architecture", "windows/ppc64le is not a known platform; windows images exist for 386, amd64, arm, arm64"),
        ("linux/arm/v9", "variant", "unknown variant 'v9' for arm; known: v5, v6, v7, v8"),
        ("linux/arm64/v7", "variant", "unknown variant 'v7' for arm64; known: v8, v8.0, v8.1"),
        ("linux/amd64/v5", "variant", "unknown variant 'v5' for amd64; known: v1, v2, v3, v4"),
        ("linux/riscv64/rv64gc", "variant", "unknown variant 'rv64gc' for riscv64; known: rva20u64, rva22u64, rva23u64"),
        ("linux/386/v7", "variant", "architecture '386' has no variants, got 'v7'"),
        ("linux/arm/7", "variant", "unknown variant '7' for arm"),
    ],
)  # fmt: skip
def test_problems_and_hints(spec: str, field: str, message: str) -> None:
    problems = platform_problems(P(spec))
    assert len(problems) == 1, problems
    assert problems[0][0] == field
    assert problems[0][1].startswith(message), problems[0][1]


def test_no_hint_when_nothing_is_close() -> None:
    ((field, message),) = platform_problems(P("linux/zzzzzz"))
    assert field == "architecture"
    assert message == "unknown architecture 'zzzzzz'"


def test_unknown_os_and_arch_both_reported_and_no_pair_check() -> None:
    problems = platform_problems(P("plan10/z80"))
    assert [f for f, _ in problems] == ["os", "architecture"]


def test_variant_of_unknown_arch_is_not_judged() -> None:
    assert [f for f, _ in platform_problems(P("linux/aarch64/v8"))] == ["architecture"]


def test_tables_are_consistent() -> None:
    assert ("linux", "amd64") in KNOWN_OS_ARCH
    assert {"linux", "windows", "darwin"} <= KNOWN_OS
    assert {"amd64", "arm64", "arm", "386", "riscv64"} <= KNOWN_ARCH
    assert "aarch64" not in KNOWN_ARCH and "x86_64" not in KNOWN_ARCH


# -- the pullers' rule: what a spec platform (or a puller) takes from an index ---------------------


@pytest.mark.parametrize(
    ("wanted", "offered"),
    [
        (P("windows/amd64"), P("windows/amd64", "10.0.17763.1234")),  # os.version left out
        (P("windows/amd64", "10.0.17763"), P("windows/amd64", "10.0.17763.1234")),  # a build takes its revisions
        (P("windows/amd64", "10.0.17763.1234"), P("windows/amd64", "10.0.17763.1234", ("win32k",))),
        (P("windows/amd64", os_features=("win32k",)), P("windows/amd64", "10.0.1", ("win32k", "x"))),
        (P("linux/arm64"), P("linux/arm64/v8")),
        (P("linux/arm64/v8"), P("linux/arm64")),  # the default variant
        (P("linux/amd64/v1"), P("linux/amd64")),
        (P("linux/arm"), P("linux/arm/v6")),  # the spec leaves the variant out
        (P("linux/arm/v6"), P("linux/arm")),  # the entry leaves it out (an old config)
    ],
)
def test_platform_matches(wanted: Platform, offered: Platform) -> None:
    assert platform_matches(wanted, offered)


@pytest.mark.parametrize(
    ("wanted", "offered"),
    [
        (P("windows/amd64"), P("linux/amd64")),
        (P("linux/arm64"), P("linux/arm/v8")),
        (P("linux/arm/v7"), P("linux/arm/v6")),
        (P("linux/arm64/v8"), P("linux/arm64/v9")),
        (P("windows/amd64", "10.0.17763"), P("windows/amd64", "10.0.20348.1")),
        (P("windows/amd64", "10.0.1776"), P("windows/amd64", "10.0.17763.1")),  # whole components only
        (P("windows/amd64", "10.0.17763.1234"), P("windows/amd64", "10.0.17763")),
        (P("windows/amd64", os_features=("win32k",)), P("windows/amd64", "10.0.1", ("other",))),
    ],
)
def test_platform_does_not_match(wanted: Platform, offered: Platform) -> None:
    assert not platform_matches(wanted, offered)


@pytest.mark.parametrize(
    ("machine", "offered", "chosen"),
    [
        ("linux/amd64", ["linux/arm64", "linux/amd64", "linux/amd64/v1"], 1),  # the first of equals
        ("linux/amd64", ["linux/amd64/v3", "linux/386"], 1),  # v3 does not run on a v1 machine; 386 does
        ("linux/amd64/v3", ["linux/386", "linux/amd64/v2", "linux/amd64"], 1),
        ("linux/arm64", ["linux/arm64/v9", "linux/arm/v7", "linux/arm64/v8"], 2),
        ("linux/arm64/v9.1", ["linux/arm/v7", "linux/arm64/v8.6"], 1),
        ("linux/arm64/v8.2", ["linux/arm64/v8.3", "linux/arm/v7"], 1),
        ("linux/arm/v7", ["linux/arm/v5", "linux/arm/v6", "linux/arm/v8"], 1),
        ("linux/arm", ["linux/arm/v6", "linux/arm"], 1),  # arm means arm/v7 on both sides
        ("linux/arm/v6", ["linux/arm", "linux/arm/v5"], 1),
        ("linux/s390x", ["linux/amd64"], None),
        ("linux/arm/v5", ["linux/arm/v6"], None),
    ],
)
def test_puller_choice_follows_containerd_order(machine: str, offered: list[str], chosen: int | None) -> None:
    assert puller_choice(P(machine), [P(o) for o in offered]) == chosen


def test_puller_choice_on_windows_takes_the_first_build_unless_one_is_asked_for() -> None:
    offered = [None, P("windows/amd64", "10.0.20348.2340"), P("windows/amd64", "10.0.17763.1234")]
    assert puller_choice(P("windows/amd64"), offered) == 1
    assert puller_choice(P("windows/amd64", "10.0.17763"), offered) == 2

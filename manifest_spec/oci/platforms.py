"""Known OCI platforms, their normal forms, and the keys used to find duplicates. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

# `go tool dist list` (Go 1.22), plus what registries really carry: buildx attestation
# entries use unknown/unknown, and Docker's wasm images use wasi/wasm.
KNOWN_OS_ARCH: frozenset[tuple[str, str]] = frozenset(
    tuple(pair.split("/"))  # type: ignore[misc]
    for pair in """
    aix/ppc64 android/386 android/amd64 android/arm android/arm64 darwin/amd64 darwin/arm64
    dragonfly/amd64 freebsd/386 freebsd/amd64 freebsd/arm freebsd/arm64 freebsd/riscv64
    illumos/amd64 ios/amd64 ios/arm64 js/wasm linux/386 linux/amd64 linux/arm linux/arm64
    linux/loong64 linux/mips linux/mips64 linux/mips64le linux/mipsle linux/ppc64 linux/ppc64le
    linux/riscv64 linux/s390x netbsd/386 netbsd/amd64 netbsd/arm netbsd/arm64 openbsd/386
    openbsd/amd64 openbsd/arm openbsd/arm64 openbsd/ppc64 openbsd/riscv64 plan9/386 plan9/amd64
    plan9/arm solaris/amd64 wasip1/wasm wasi/wasm windows/386 windows/amd64 windows/arm
    windows/arm64 unknown/unknown
    """.split()
)
KNOWN_OS: frozenset[str] = frozenset(os for os, _ in KNOWN_OS_ARCH)
KNOWN_ARCH: frozenset[str] = frozenset(arch for _, arch in KNOWN_OS_ARCH)

# Variants per architecture (OCI image-spec "platform variants", Go's GOARM/GOAMD64,
# containerd's arm64 v8.x/v9.x, and the RISC-V profiles).
KNOWN_VARIANTS: dict[str, frozenset[str]] = {
    "arm": frozenset({"v5", "v6", "v7", "v8"}),
    "arm64": frozenset({"v8", "v9"} | {f"v8.{i}" for i in range(10)} | {f"v9.{i}" for i in range(6)}),
    "amd64": frozenset({"v1", "v2", "v3", "v4"}),
    "riscv64": frozenset({"rva20u64", "rva22u64", "rva23u64"}),
}

# Names people write that are not OCI names (uname, Debian); said as a hint, never accepted.
ALIASES: dict[str, str] = {
    "aarch64": "arm64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "armhf": "arm (variant v7)",
    "armel": "arm (variant v6)",
    "armv7": "arm (variant v7)",
    "armv7l": "arm (variant v7)",
    "armv6": "arm (variant v6)",
    "armv6l": "arm (variant v6)",
    "armv8": "arm64",
    "macos": "darwin",
    "osx": "darwin",
    "win": "windows",
    "win32": "windows",
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform as written in a spec or an image config (empty string = absent)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The OCI / Docker JSON form, in the Go structs' field order (what manifest-tool writes);
        architecture and os have no omitempty there, so they are written even when empty."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        if self.os_version:
            text += f" (os.version {self.os_version})"
        if self.os_features:
            text += f" (os.features {','.join(self.os_features)})"
        return text


def platform_json(platform: Optional[Platform]) -> Optional[dict[str, Any]]:
    """A platform as JSON (OCI field order), or None for an entry without one."""
    return platform.to_json() if platform else None


def platform_from_config(config: Any) -> Optional[Platform]:
    """The platform an image config declares, or None when it names no os/architecture."""
    if not isinstance(config, dict) or not config.get("os") or not config.get("architecture"):
        return None
    features = config.get("os.features") or []
    return Platform(
        os=str(config["os"]),
        architecture=str(config["architecture"]),
        variant=str(config.get("variant") or ""),
        os_version=str(config.get("os.version") or ""),
        os_features=tuple(str(f) for f in features) if isinstance(features, list) else (),
    )


def normalized_variant(architecture: str, variant: str) -> str:
    """The variant as containerd compares it: arm64 ≡ arm64/v8, arm ≡ arm/v7, amd64/v1 ≡ amd64."""
    if architecture == "arm64" and variant in ("", "v8", "v8.0"):
        return ""
    if architecture == "arm" and variant in ("", "v7"):
        return "v7"
    if architecture == "amd64" and variant in ("", "v1"):
        return ""
    return variant


def platform_matches(wanted: Platform, offered: Platform) -> bool:
    """Whether `offered` (an index entry, an image config) is what `wanted` asks for, as pullers see it.

    os and architecture must be equal. A variant, os.version or os.features that either side
    leaves out is not compared (containerd compares os.version only when both name one; crane
    compares only what is asked for). Variants compare normalised (arm64 = arm64/v8, arm = arm/v7,
    amd64 = amd64/v1); a wanted os.version matches by whole dot components (10.0.17763 takes
    10.0.17763.1234, as containerd compares Windows builds); wanted os.features must all be offered.
    """
    if (wanted.os, wanted.architecture) != (offered.os, offered.architecture):
        return False
    arch = wanted.architecture
    if wanted.variant and offered.variant and normalized_variant(arch, wanted.variant) != normalized_variant(arch, offered.variant):
        return False
    if wanted.os_version and offered.os_version:
        parts = wanted.os_version.split(".")
        if offered.os_version.split(".")[: len(parts)] != parts:
            return False
    if wanted.os_features and offered.os_features and not set(wanted.os_features) <= set(offered.os_features):
        return False
    return True


# The variant a machine of each architecture has when none is named (containerd's Normalize).
DEFAULT_VARIANTS: dict[str, str] = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


def _runs_also(machine: Platform) -> list[Platform]:
    """What a machine runs besides its own platform, best first: containerd's `platforms.Only`
    vector (lower arm and amd64 variants, 386 on amd64, 32-bit arm on arm64)."""
    arch, variant = machine.architecture, machine.variant

    def on(architecture: str, variant: str) -> Platform:
        return replace(machine, architecture=architecture, variant=variant)

    level = _variant_order(variant)
    if arch == "amd64":
        return [on("amd64", f"v{n}") for n in range(level[0] - 1, 0, -1)] + [on("386", "")] if level else []
    if arch == "arm":
        return [on("arm", f"v{n}") for n in range(level[0] - 1, 4, -1)] if level else []
    if arch == "arm64" and len(level) >= 1:
        major, minor = level[0], level[1] if len(level) > 1 else 0
        # arm64/v9.x also runs v8.0 to v8.(x+5); every arm64 runs 32-bit arm/v8 and below.
        lower = [(major, m) for m in range(minor - 1, -1, -1)]
        if major == 9:
            lower += [(8, m) for m in range(min(minor + 5, 9), -1, -1)]
        names = [f"v{a}" if b == 0 else f"v{a}.{b}" for a, b in lower]
        return [on("arm64", n) for n in names] + [on("arm", f"v{n}") for n in range(8, 4, -1)]
    return []


def puller_choice(machine: Platform, offered: Sequence[Optional[Platform]]) -> Optional[int]:
    """The position of the entry a puller on `machine` takes, or None: the first entry (in index
    order, as containerd's stable sort and crane keep it) matching the machine's own platform,
    else its next best compatible one (containerd's `platforms.Only`). A machine without a
    variant (on either side) has its architecture's default one, so linux/amd64 does not take
    amd64/v3 and linux/arm/v6 does not take an arm entry without a variant (that is arm/v7)."""
    machine = _with_default_variant(machine)
    concrete = [None if p is None else _with_default_variant(p) for p in offered]
    for candidate in [machine, *_runs_also(machine)]:
        for position, platform in enumerate(concrete):
            if platform is not None and platform_matches(candidate, platform):
                return position
    return None


def _with_default_variant(platform: Platform) -> Platform:
    if platform.variant or platform.architecture not in DEFAULT_VARIANTS:
        return platform
    return replace(platform, variant=DEFAULT_VARIANTS[platform.architecture])


def parse_platform(text: str) -> Platform:
    """`os/arch[/variant][:os.version]` (crane's --platform form); ValueError says what is wrong."""
    name, _, os_version = text.partition(":")
    parts = name.split("/")
    if len(parts) not in (2, 3) or not all(parts) or (":" in text and not os_version):
        raise ValueError(f"{text!r} is not os/arch[/variant][:os.version], e.g. linux/arm64 or windows/amd64:10.0.17763")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "", os_version)


def platform_key(platform: Platform) -> tuple[str, str, str, str, tuple[str, ...]]:
    """Two platforms with the same key are the same target for a puller."""
    return (
        platform.os,
        platform.architecture,
        normalized_variant(platform.architecture, platform.variant),
        platform.os_version,
        tuple(sorted(platform.os_features)),
    )


def _closest(word: str, candidates: frozenset[str] | set[str]) -> list[str]:
    alias = ALIASES.get(word.lower())
    if alias:
        return [alias]
    if word.lower() in candidates:  # ARM64, Linux: names are lower-case
        return [word.lower()]
    import difflib  # only for an unknown value: a valid spec never needs it

    return difflib.get_close_matches(word, sorted(candidates), n=3, cutoff=0.5)


def _hint(word: str, candidates: frozenset[str] | set[str]) -> str:
    close = _closest(word, candidates)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def platform_problems(platform: Platform) -> list[tuple[str, str]]:
    """Problems as (field, message) pairs; empty when the platform is a known one."""
    problems: list[tuple[str, str]] = []
    os_, arch = platform.os, platform.architecture
    if os_ not in KNOWN_OS:
        problems.append(("os", f"unknown os {os_!r}{_hint(os_, KNOWN_OS)}"))
    if arch not in KNOWN_ARCH:
        problems.append(("architecture", f"unknown architecture {arch!r}{_hint(arch, KNOWN_ARCH)}"))
    if not problems and (os_, arch) not in KNOWN_OS_ARCH:
        archs = sorted(a for o, a in KNOWN_OS_ARCH if o == os_)
        problems.append(
            ("architecture", f"{os_}/{arch} is not a known platform; {os_} images exist for {', '.join(archs)}")
        )
    if platform.variant and arch in KNOWN_ARCH:
        variants = KNOWN_VARIANTS.get(arch, frozenset())
        if not variants:
            problems.append(("variant", f"architecture {arch!r} has no variants, got {platform.variant!r}"))
        elif platform.variant not in variants:
            known = ", ".join(sorted(variants, key=_variant_order))
            problems.append(("variant", f"unknown variant {platform.variant!r} for {arch}; known: {known}"))
    return problems


def _variant_order(variant: str) -> tuple[int, ...]:
    digits = variant.lstrip("v").replace("rva", "").replace("u64", "")
    return tuple(int(p) for p in digits.split(".") if p.isdigit())

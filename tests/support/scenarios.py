"""The issue-8 push scenarios, seeded into the real registry; shared by the depth tests and tools/benchmark.py.

a: N platforms + 3 extra tags, members in the target repository, first push (b: the same again);
c: N platforms whose members live in other repositories of the registry (blobs mounted);
batch: several specs, each a few platforms in its own repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from support.images import push_image
from support.specs import spec

PLATFORMS = [
    ("amd64", ""), ("arm64", "v8"), ("arm", "v6"), ("arm", "v7"), ("386", ""), ("ppc64le", ""),
    ("s390x", ""), ("riscv64", ""), ("mips64le", ""), ("loong64", ""), ("amd64", "v3"), ("arm", "v5"),
]
EXTRA_TAGS = ["latest", "1", "1.0"]


def _platform(arch: str, variant: str) -> dict[str, str]:
    return {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}


def seed_members(registry_url: str, repo: str, count: int, *, own_repos: bool = False) -> list[tuple[str, dict[str, str]]]:
    """Push `count` per-platform images; (repository:tag, platform) of each, in `repo` or each in repo/<arch>."""
    members = []
    for arch, variant in PLATFORMS[:count]:
        tag = f"{arch}{variant}"
        where = f"{repo}/{tag}" if own_repos else repo
        push_image(registry_url, where, tag, architecture=arch, variant=variant or None, seed=f"{repo}|{tag}")
        members.append((f"{where}:{tag}", _platform(arch, variant)))
    return members


def spec_data(host: str, target: str, members: list[tuple[str, dict[str, str]]], tags: list[str]) -> dict[str, Any]:
    return spec(f"{host}/{target}", *[(f"{host}/{ref}", platform) for ref, platform in members], **({"tags": list(tags)} if tags else {}))


def write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def scenario_a(registry_url: str, host: str, repo: str, work: Path, count: int = 10) -> str:
    """A spec whose members sit in its target repository, with 3 extra tags."""
    return write(work / f"{repo.replace('/', '-')}-a.yaml", spec_data(host, f"{repo}:v1", seed_members(registry_url, repo, count), EXTRA_TAGS))


def scenario_c(registry_url: str, host: str, repo: str, work: Path, count: int = 10) -> str:
    """A spec whose members live in other repositories of the registry: every child is mounted in."""
    members = seed_members(registry_url, repo, count, own_repos=True)
    return write(work / f"{repo.replace('/', '-')}-c.yaml", spec_data(host, f"{repo}/app:v1", members, EXTRA_TAGS))


def batch(registry_url: str, host: str, repo: str, work: Path, specs: int, count: int = 4) -> list[str]:
    """`specs` specs of `count` platforms, each in its own repository, each with one extra tag."""
    paths = []
    for n in range(specs):
        where = f"{repo}/s{n}"
        paths.append(write(work / f"{repo.replace('/', '-')}-s{n}.yaml", spec_data(host, f"{where}:v1", seed_members(registry_url, where, count), ["latest"])))
    return paths

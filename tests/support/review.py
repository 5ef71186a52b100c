"""Helpers shared by the dry-run, plan, lock, idempotency and to-spec tests."""

from __future__ import annotations

from typing import Any, Optional

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64"}
S390X = {"os": "linux", "architecture": "s390x"}


def make_spec(host: str, repo: str, tag: str, members: list[tuple[str, Optional[dict[str, str]]]], **extra: Any) -> dict[str, Any]:
    """A spec pushing `members` ((tag or @digest in repo, platform)) to host/repo:tag."""
    manifests = []
    for ref, platform in members:
        image = f"{host}/{repo}{ref if ref.startswith('@') else ':' + ref}"
        manifests.append({"image": image, **({"platform": dict(platform)} if platform else {})})
    return {"image": f"{host}/{repo}:{tag}", **extra, "manifests": manifests}


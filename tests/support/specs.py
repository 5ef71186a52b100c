"""The one spec builder of the tests: a spec as data, for `clirun.write_spec` (or `api`) to use.

    spec("127.0.0.1:5000/app:v1", ("127.0.0.1:5000/app:amd64", "amd64"), tags=["latest"])
    repo_spec(host, "app", "v1", [("amd64", AMD64), (f"@{digest}", None)])   # members in host/app

A member's platform is an architecture name (linux/<arch>), a platform mapping, or None (no
`platform:` key: the image's config decides); a member with keys of its own (annotations) is
`member(image, platform, annotations={...})`. Extra keys of the spec (tags, type, annotations...)
go between `image` and `manifests`, the order a person writes them in.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64"}
S390X = {"os": "linux", "architecture": "s390x"}

PlatformLike = Union[str, Mapping[str, str], None]
Member = tuple[str, PlatformLike]


def platform(value: PlatformLike) -> Optional[dict[str, str]]:
    """An architecture name means linux/<it> ({"os": "linux", "architecture": ...}); a mapping is copied; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"os": "linux", "architecture": value}
    return dict(value)


def member(image: str, platform_of: PlatformLike = None, **keys: Any) -> dict[str, Any]:
    """One `manifests:` entry, with any keys of its own after the platform."""
    found = platform(platform_of)
    return {"image": image, **({"platform": found} if found is not None else {}), **keys}


def spec(target: str, *members: Member | dict[str, Any], **keys: Any) -> dict[str, Any]:
    """A spec pushing `members` ((image, platform) pairs, or `member(...)` entries) to `target`,
    with any other top-level keys."""
    entries = [m if isinstance(m, dict) else member(*m) for m in members]
    return {"image": target, **keys, "manifests": entries}


def in_repo(host: str, repo: str, ref: str) -> str:
    """host/repo:tag, or host/repo@digest when `ref` starts with "@"."""
    return f"{host}/{repo}{ref if ref.startswith('@') else ':' + ref}"


def repo_spec(host: str, repo: str, tag: str, members: list[Member], **keys: Any) -> dict[str, Any]:
    """`spec` for the common case: the target host/repo:tag, each member a tag (or @digest) in host/repo."""
    return spec(in_repo(host, repo, tag), *[(in_repo(host, repo, ref), where) for ref, where in members], **keys)

"""Image references: parse, normalise the way docker does, and build `/v2/` paths. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from manifest_spec.errors import InvalidReferenceError

# The distribution reference grammar (github.com/distribution/reference, regexp.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# sha512 is in the distribution grammar and containerd accepts it; content is verified with it.
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
NAME_MAX = 255

DOCKER_HUB = "docker.io"
# Where docker.io's API really answers; the name users write stays docker.io.
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Reference:
    """A normalised reference: registry host, repository path, and a tag and/or digest."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def ref(self) -> str:
        """What goes after `/manifests/`: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # docker's rule: the first component is a registry host only if it looks like one.
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return DOCKER_HUB, name


def parse_reference(text: str) -> Reference:
    """Parse `[host[:port]/]path[:tag][@sha256:hex]`; short names normalise to docker.io/library."""
    if not text or text != text.strip():
        raise InvalidReferenceError(f"invalid image reference {text!r}: empty or surrounded by spaces")
    remainder, at, digest = text.partition("@")
    if at and not DIGEST_RE.fullmatch(digest):
        raise InvalidReferenceError(
            f"invalid digest in {text!r}: expected sha256: and 64 lower-case hex digits (or sha512: and 128)"
        )
    tag = ""
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(
                f"invalid tag {tag!r} in {text!r}: a tag is up to 128 letters, digits, '_', '.' or '-', "
                "not starting with '.' or '-'"
            )
    domain, path = _split_domain(remainder)
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if not _DOMAIN_RE.fullmatch(domain):
        raise InvalidReferenceError(f"invalid registry host {domain!r} in {text!r}")
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.fullmatch(path):
        hint = " (repository names must be lower-case)" if path != path.lower() else ""
        raise InvalidReferenceError(f"invalid repository name {path!r} in {text!r}{hint}")
    if len(f"{domain}/{path}") > NAME_MAX:
        raise InvalidReferenceError(f"repository name in {text!r} is longer than {NAME_MAX} characters")
    return Reference(domain, path, tag=tag, digest=digest)

"""manifest_spec.oci.reference: the distribution reference grammar and docker's normalisation."""

from __future__ import annotations

import pytest

from manifest_spec.errors import InvalidReferenceError
from manifest_spec.oci.reference import Reference, parse_reference

D = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "", ""),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", ""),
        ("team/app:1.0", "docker.io", "team/app", "1.0", ""),
        ("docker.io/alpine", "docker.io", "library/alpine", "", ""),
        ("docker.io/library/alpine:latest", "docker.io", "library/alpine", "latest", ""),
        ("index.docker.io/team/app", "docker.io", "team/app", "", ""),
        ("localhost/app", "localhost", "app", "", ""),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", ""),
        ("127.0.0.1:5000/a/b/c:1", "127.0.0.1:5000", "a/b/c", "1", ""),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", ""),
        ("registry.example.com/team/app@" + D, "registry.example.com", "team/app", "", D),
        ("registry.example.com/team/app:1.0@" + D, "registry.example.com", "team/app", "1.0", D),
        ("ghcr.io/o/my_app-x.y__z:v1", "ghcr.io", "o/my_app-x.y__z", "v1", ""),
        ("quay.io/a/b---c:_tag", "quay.io", "a/b---c", "_tag", ""),
        ("alpine:" + "a" * 128, "docker.io", "library/alpine", "a" * 128, ""),
        # docker's rule: a first component with '.' or ':' (or localhost) is a host, else Docker Hub
        ("localhost:5000", "docker.io", "library/localhost", "5000", ""),
        ("example.com", "docker.io", "library/example.com", "", ""),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    assert parse_reference(text) == Reference(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty or surrounded by spaces"),
        (" alpine", "empty or surrounded by spaces"),
        ("alpine\n", "empty or surrounded by spaces"),
        ("Alpine", "invalid repository name 'library/Alpine' in 'Alpine' (repository names must be lower-case)"),
        ("example.com/Team/app", "(repository names must be lower-case)"),
        ("example.com/team//app", "invalid repository name 'team//app'"),
        ("example.com/team/app-", "invalid repository name"),
        ("example.com/-app", "invalid repository name"),
        ("example.com/team/app:", "invalid tag '' in"),
        ("alpine:-rc", "invalid tag '-rc'"),
        ("alpine:.hidden", "invalid tag '.hidden'"),
        ("alpine:1.0+build", "invalid tag '1.0+build'"),
        ("alpine:" + "a" * 129, "invalid tag"),
        ("alpine@sha256:abc", "invalid digest in 'alpine@sha256:abc': expected sha256: and 64 lower-case hex digits (or sha512: and 128)"),
        ("alpine@" + D.upper().replace("SHA256", "sha256"), "invalid digest"),
        ("alpine@sha512:" + "0" * 64, "invalid digest"),  # sha512 is accepted, with its 128 digits only
        ("alpine@sha384:" + "0" * 96, "invalid digest"),
        ("alpine@", "invalid digest in 'alpine@'"),
        ("alpine:1@", "invalid digest"),
        ("a@b@" + D, "invalid digest"),
        ("exa_mple.com/app", "invalid registry host 'exa_mple.com'"),
        ("-bad.com/app", "invalid registry host"),
        ("example.com:port/app", "invalid registry host 'example.com:port'"),
        ("example.com/" + "a" * 250, "longer than 255 characters"),
        ("/app", "invalid repository name"),
        ("example.com/", "invalid repository name ''"),
    ],
)
def test_invalid(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert fragment in str(info.value)


def test_name_and_str() -> None:
    ref = parse_reference("registry.example.com/team/app:1.0@" + D)
    assert ref.name == "registry.example.com/team/app"
    assert str(ref) == "registry.example.com/team/app:1.0@" + D
    assert ref.ref == D  # the digest wins when pinned
    assert str(parse_reference("alpine")) == "docker.io/library/alpine"


def test_with_tag_and_digest_replace_both() -> None:
    ref = parse_reference("registry.example.com/team/app:1.0@" + D)
    assert ref.with_tag("2.0") == Reference("registry.example.com", "team/app", tag="2.0")
    assert ref.with_digest(D) == Reference("registry.example.com", "team/app", digest=D)


def test_docker_hub_api_host() -> None:
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    assert parse_reference("index.docker.io/team/app").api_host == "registry-1.docker.io"
    assert parse_reference("localhost:5000/app").api_host == "localhost:5000"

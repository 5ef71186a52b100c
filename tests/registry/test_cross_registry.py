"""Members on other registries: blobs streamed across, each registry with its own credentials.

Real registries only: an htpasswd-protected source and a token-auth target (support/tokenserver.py),
plain ones for the size and skip checks; fault proxies in front count (and, for the source,
record the Authorization of) every request.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Iterator

import pytest
import requests
from support.clirun import assert_ok, digest_line, write_spec
from support.clirun import run_cli as cli
from support.faults import FaultProxy, upload_session_instead
from support.images import (
    get_blob,
    get_manifest,
    push_blob,
    push_image,
    sha256_digest,
)
from support.registry import Registry, unique_repo_name
from support.specs import spec
from support.tokenserver import TokenServer, grants, record_authorization

from manifest_spec.registry.upload import CHUNK_BYTES

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's

SRC_USER, SRC_PW = "source-user", "source:pw-1"
ALICE, ALICE_PW = "alice", "alice:target-pw"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- htpasswd source, token-auth target --------------------------------------------------------


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest): the source side."""
    return SRC_USER, SRC_PW


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    policy = grants({ALICE: [("team/*", "pull,push")]})  # nothing for anonymous
    with TokenServer(tmp_path_factory.mktemp("tokens"), users={ALICE: ALICE_PW}, policy=policy, algorithm="ES256") as server:
        yield server


def test_cross_registry_push_with_different_auth_on_each_side(
    basic_registry: Registry, tokens: TokenServer, token_registry: Registry, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = requests.Session()
    writer.auth = (SRC_USER, SRC_PW)
    amd64 = push_image(basic_registry.url, repo_name, "amd64", session=writer)
    arm64 = push_image(basic_registry.url, repo_name, "arm64", architecture="arm64", session=writer)
    target_repo = unique_repo_name("cross", prefix="team")
    tokens.reset_records()

    with FaultProxy(basic_registry.host) as source_proxy, FaultProxy(token_registry.host) as target_proxy:
        source_seen = record_authorization(source_proxy)
        target_seen = record_authorization(target_proxy)
        # The source's credentials come from the docker config, the target's from the flags.
        docker = tmp_path / "docker"
        docker.mkdir()
        (docker / "config.json").write_text(json.dumps({"auths": {source_proxy.host: {"auth": base64.b64encode(f"{SRC_USER}:{SRC_PW}".encode()).decode()}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(docker))
        the_spec = spec(
            f"{target_proxy.host}/{target_repo}:v1", (f"{source_proxy.host}/{repo_name}:amd64", "amd64"), (f"{source_proxy.host}/{repo_name}:arm64", "arm64")
        )
        result = cli("--username", ALICE, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=ALICE_PW)
        assert_ok(result)

        # Each host got its own credentials and nothing else.
        assert {auth for _, _, auth in source_seen} <= {"", basic(SRC_USER, SRC_PW)}
        assert basic(SRC_USER, SRC_PW) in {auth for _, _, auth in source_seen}
        assert all(auth == "" or auth.startswith("Bearer ") for _, _, auth in target_seen), {auth[:12] for _, _, auth in target_seen}
        assert {(r.auth_scheme, r.user) for r in tokens.snapshot()} == {("basic", ALICE)}
        # Blobs were streamed across: uploaded in PATCHes, never mounted (another registry).
        blobs = {b for image in (amd64, arm64) for b in (image.config_digest, *image.layer_digests)}
        assert len(target_proxy.requests("PATCH")) == len(blobs)
        assert not [p for p in target_proxy.requests("POST") if "mount" in p]

    reader = tokens.bearer_session([(target_repo, "pull")])
    assert get_manifest(token_registry.url, target_repo, "v1", session=reader)[2] == digest_line(result)[0]
    for image in (amd64, arm64):
        assert get_manifest(token_registry.url, target_repo, image.digest, session=reader)[0] == image.manifest_bytes
        for blob in (image.config_digest, *image.layer_digests):
            assert sha256_digest(get_blob(token_registry.url, target_repo, blob, session=reader)) == blob


# -- a registry that refuses mounts ------------------------------------------------------------


def test_a_refused_mount_on_the_same_registry_falls_back_to_copying(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    image = push_image(registry.url, source, "amd64")
    with FaultProxy(registry.host) as proxy:

        proxy.inject("POST", r"\?.*mount=", upload_session_instead(registry.url, proxy.host, target), forward=False)
        the_spec = spec(f"{proxy.host}/{target}:v1", (f"{proxy.host}/{source}:amd64", "amd64"))
        result = cli("push", "from-spec", str(write_spec(tmp_path, the_spec)))
        assert_ok(result)
        blobs = [image.config_digest, *image.layer_digests]
        assert proxy.requests("DELETE") == []  # never a DELETE: each refused mount's session carries the blob
        assert len(proxy.requests("POST")) == len(blobs)  # the mount only, no second session
        assert len(proxy.requests("PATCH")) == len(blobs)

    assert get_manifest(registry.url, target, "v1")[2] == digest_line(result)[0]
    assert get_manifest(registry.url, target, image.digest)[0] == image.manifest_bytes
    for blob in blobs:
        get_blob(registry.url, target, blob)


# -- size, and what is already there -----------------------------------------------------------


def test_a_30_mb_layer_is_streamed_in_chunks_and_verified(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    image = push_image(registry.url, repo_name, "amd64", layer_size=30 * 1024 * 1024, gzip_layer=False)
    layer = image.layer_digests[0]
    size = int(requests.head(f"{registry.url}/v2/{repo_name}/blobs/{layer}", timeout=10).headers["Content-Length"])
    assert size > 30 * 1024 * 1024
    with FaultProxy(other_registry.host) as target_proxy:
        the_spec = spec(f"{target_proxy.host}/{repo_name}:v1", (f"{registry.host}/{repo_name}:amd64", "amd64"))
        result = cli("push", "from-spec", str(write_spec(tmp_path, the_spec)))
        assert_ok(result)
        assert len(target_proxy.requests("PATCH")) == math.ceil(size / CHUNK_BYTES) + 1  # the layer in chunks, the config
    copied = requests.get(f"{other_registry.url}/v2/{repo_name}/blobs/{layer}", timeout=60)
    assert copied.status_code == 200 and len(copied.content) == size and sha256_digest(copied.content) == layer
    assert get_manifest(other_registry.url, repo_name, image.digest)[0] == image.manifest_bytes


def test_blobs_already_in_the_target_are_not_copied_again(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    image = push_image(registry.url, repo_name, "amd64", seed="already-there")
    blobs = [image.config_digest, *image.layer_digests]
    for blob in blobs:  # the blobs, not the manifest, are already in the target repository
        push_blob(other_registry.url, repo_name, get_blob(registry.url, repo_name, blob))

    with FaultProxy(registry.host) as source_proxy, FaultProxy(other_registry.host) as target_proxy:
        the_spec = spec(f"{target_proxy.host}/{repo_name}:v1", (f"{source_proxy.host}/{repo_name}:amd64", "amd64"))
        assert_ok(cli("push", "from-spec", str(write_spec(tmp_path, the_spec))))
        assert sorted(p.rsplit("/", 1)[1] for p in target_proxy.requests("HEAD") if "/blobs/" in p) == sorted(blobs)
        assert target_proxy.requests("POST") == [] and target_proxy.requests("PATCH") == []
        assert [p for p in source_proxy.requests("GET") if "/blobs/" in p] == [f"/v2/{repo_name}/blobs/{image.config_digest}"]  # resolve's config read only
        assert f"/v2/{repo_name}/manifests/{image.digest}" in target_proxy.requests("PUT")

        # Again, to another tag: the child manifest is there now, so not even its blobs are looked at.
        source_proxy.seen.clear()
        target_proxy.seen.clear()
        the_spec["image"] = f"{target_proxy.host}/{repo_name}:v2"
        result = cli("push", "from-spec", str(write_spec(tmp_path, the_spec, name="again.yaml")))
        assert_ok(result)
        assert [p for p in target_proxy.requests("HEAD") if "/blobs/" in p] == []
        assert target_proxy.requests("PUT") == [f"/v2/{repo_name}/manifests/v2"]
    assert get_manifest(other_registry.url, repo_name, "v2")[2] == digest_line(result)[0]

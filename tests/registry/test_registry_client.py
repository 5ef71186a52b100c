"""RegistryClient against the real registry, and against a fault-injecting proxy in front of it.

The real registry shows what a correct answer looks like; the proxy (support/faults.py) makes
the answers a real registry gives only on a bad day: wrong bytes, wrong digest headers, schema 1,
truncated or oversized bodies, OCI error bodies. Each must become one clear error, never a
traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from support.clirun import assert_clean_failure, push_spec, run_cli, tag_digest
from support.faults import (
    SCHEMA1,
    SCHEMA1_SIGNED,
    FaultProxy,
    Reply,
    corrupt_body,
    error,
    schema1_manifest,
    serve,
    set_header,
    truncate,
    upload_session_instead,
    without_length,
)
from support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    PushedImage,
    get_blob,
    get_manifest,
    json_bytes,
    list_tags,
    push_image,
    push_index,
    sha256_digest,
)
from support.registry import Registry, free_port
from support.specs import repo_spec, spec

from manifest_spec.errors import RegistryError, VerificationError
from manifest_spec.registry.client import MAX_MANIFEST_BYTES, ClientOptions, RegistryClient

OPTIONS = ClientOptions(plain_http=True, timeout=10.0)
NO_RETRIES = ClientOptions(plain_http=True, timeout=10.0, attempts=0)  # a fault is answered once, at once


@pytest.fixture
def client(registry: Registry) -> Iterator[RegistryClient]:
    c = RegistryClient(registry.host, OPTIONS)
    yield c
    c.close()


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> Iterator[RegistryClient]:
    c = RegistryClient(fault_proxy.host, NO_RETRIES)
    yield c
    c.close()


@pytest.fixture
def image(registry: Registry, repo_name: str) -> PushedImage:
    return push_image(registry.url, repo_name, "v1")


# -- a correct registry ------------------------------------------------------------------------


def test_manifest_by_digest_and_by_tag_is_the_exact_bytes(client: RegistryClient, repo_name: str, image: PushedImage) -> None:
    for ref in (image.digest, "v1"):
        manifest = client.get_manifest(repo_name, ref, "test")
        assert (manifest.data, manifest.digest, manifest.media_type, manifest.size) == (
            image.manifest_bytes, image.digest, DOCKER_MANIFEST, image.size
        )


def test_index_is_served_with_its_own_type(client: RegistryClient, registry: Registry, repo_name: str, image: PushedImage) -> None:
    oci = push_index(registry.url, repo_name, "oci", [image], oci=True)
    docker = push_index(registry.url, repo_name, "docker", [image], oci=False)
    assert client.get_manifest(repo_name, "oci", "test").media_type == OCI_INDEX
    assert client.get_manifest(repo_name, "docker", "test").data == docker.manifest_bytes
    assert client.get_manifest(repo_name, oci.digest, "test").media_type == OCI_INDEX


def test_exists_checks(client: RegistryClient, repo_name: str, image: PushedImage) -> None:
    absent = "sha256:" + "0" * 64
    assert client.manifest_exists(repo_name, image.digest, "test")
    assert not client.manifest_exists(repo_name, absent, "test")
    assert client.blob_exists(repo_name, image.config_digest, "test")
    assert not client.blob_exists(repo_name, absent, "test")


def test_blob_is_verified_and_limited(client: RegistryClient, registry: Registry, repo_name: str, image: PushedImage) -> None:
    config = client.get_blob(repo_name, image.config_digest, 1 << 20, "test")
    assert config == get_blob(registry.url, repo_name, image.config_digest)
    with pytest.raises(VerificationError, match="limit"):
        client.get_blob(repo_name, image.config_digest, 10, "test")


def test_mount_and_its_refusal(client: RegistryClient, repo_name: str, image: PushedImage) -> None:
    target = f"{repo_name}/copy"
    assert client.mount_blob(target, image.config_digest, repo_name, "test") is None
    assert client.blob_exists(target, image.config_digest, "test")
    assert client.mount_blob(target, image.config_digest, repo_name, "test") is None  # mounted: no session
    session = client.mount_blob(target, "sha256:" + "1" * 64, repo_name, "test")  # 202: an upload session instead
    assert session and session.startswith(client.base) and "/blobs/uploads/" in session


def test_put_manifest_returns_the_digest_of_the_bytes(client: RegistryClient, registry: Registry, repo_name: str, image: PushedImage) -> None:
    index = json_bytes({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [image.descriptor()]})
    assert client.put_manifest(repo_name, "list", index, DOCKER_LIST, "test") == sha256_digest(index)
    assert get_manifest(registry.url, repo_name, "list")[0] == index


def test_put_index_with_a_child_elsewhere_is_one_clear_error(client: RegistryClient, registry: Registry, repo_name: str, image: PushedImage) -> None:
    index = json_bytes({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [image.descriptor()]})
    with pytest.raises(RegistryError) as caught:
        client.put_manifest(f"{repo_name}/other", "list", index, DOCKER_LIST, "push other:list")
    assert caught.value.status == 400 and caught.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert str(caught.value).startswith("push other:list: ") and image.digest in str(caught.value)


def test_missing_manifest_is_not_found(client: RegistryClient, repo_name: str, image: PushedImage) -> None:
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(repo_name, "nope", "manifests[0] x:nope")
    error_ = caught.value
    assert (error_.status, error_.code, error_.not_found) == (404, "MANIFEST_UNKNOWN", True)
    assert str(error_).startswith("manifests[0] x:nope: ") and "HTTP 404" in str(error_)


def test_unreachable_registry(repo_name: str) -> None:
    c = RegistryClient(f"127.0.0.1:{free_port()}", NO_RETRIES)
    with pytest.raises(RegistryError, match="connection refused"):
        c.get_manifest(repo_name, "v1", "test")


# -- faults ------------------------------------------------------------------------------------


def test_wrong_bytes_for_a_digest(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", corrupt_body())
    with pytest.raises(VerificationError, match=f"not the {image.digest} asked for"):
        proxied.get_manifest(repo_name, image.digest, "test")


def test_wrong_bytes_for_a_tag_disagree_with_the_digest_header(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", corrupt_body())
    with pytest.raises(VerificationError, match=f"Docker-Content-Digest {image.digest} does not match"):
        proxied.get_manifest(repo_name, "v1", "test")


def test_wrong_digest_header(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    wrong = "sha256:" + "f" * 64
    fault_proxy.inject("GET", "/manifests/", set_header("Docker-Content-Digest", wrong))
    with pytest.raises(VerificationError, match=f"Docker-Content-Digest {wrong}"):
        proxied.get_manifest(repo_name, "v1", "test")


@pytest.mark.parametrize("content_type", [SCHEMA1_SIGNED, SCHEMA1, DOCKER_MANIFEST])
def test_schema1_is_rejected(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage, content_type: str) -> None:
    fault_proxy.inject("GET", "/manifests/", serve(schema1_manifest(repo_name, "v1"), content_type))
    with pytest.raises(VerificationError, match="schema 1"):
        proxied.get_manifest(repo_name, "v1", "test")


def test_content_type_must_match_the_media_type(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", set_header("Content-Type", OCI_INDEX))
    with pytest.raises(VerificationError, match=re.escape(f"served as {OCI_INDEX} but the manifest says mediaType {DOCKER_MANIFEST}")):
        proxied.get_manifest(repo_name, "v1", "test")


def test_oci_error_body(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "v1"}))
    with pytest.raises(RegistryError) as caught:
        proxied.get_manifest(repo_name, "v1", "what")
    assert caught.value.not_found
    assert str(caught.value) == f'what: {proxied.host} answered HTTP 404 MANIFEST_UNKNOWN: manifest unknown ({{"Tag": "v1"}})'


def test_server_error_with_an_html_body(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", serve(b"<html>\n<body>bad gateway</body>\n</html>\n", "text/html", status=502, digest_header=False))
    with pytest.raises(RegistryError) as caught:
        proxied.get_manifest(repo_name, "v1", "what")
    assert not caught.value.not_found
    assert "\n" not in str(caught.value) and "HTTP 502" in str(caught.value) and "bad gateway" in str(caught.value)


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "no-length"])
def test_manifest_over_4_mib(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage, announced: bool) -> None:
    huge = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "padding": "x" * MAX_MANIFEST_BYTES}).encode()
    fault = serve(huge, DOCKER_MANIFEST)
    fault_proxy.inject("GET", "/manifests/", fault if announced else (lambda reply: without_length()(fault(reply))))
    with pytest.raises(VerificationError, match="limit"):
        proxied.get_manifest(repo_name, "v1", "test")


def test_truncated_manifest(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", truncate(100))
    with pytest.raises(RegistryError) as caught:
        proxied.get_manifest(repo_name, "v1", "what")
    assert str(caught.value).startswith(f"what: the connection to {proxied.host} broke while reading the body")


def test_a_transient_server_error_is_retried(fault_proxy: FaultProxy, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", error(503, "UNAVAILABLE", "try again"), times=1, forward=False)
    c = RegistryClient(fault_proxy.host, OPTIONS)
    try:
        assert c.get_manifest(repo_name, "v1", "test").digest == image.digest
    finally:
        c.close()
    assert len(fault_proxy.requests("GET")) == 2


def test_truncated_manifest_without_length_fails_verification(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", lambda reply: without_length()(truncate(100)(reply)))
    with pytest.raises(VerificationError):
        proxied.get_manifest(repo_name, image.digest, "test")


def test_wrong_bytes_for_a_blob(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/blobs/", corrupt_body())
    with pytest.raises(VerificationError, match=f"not {image.config_digest}"):
        proxied.get_blob(repo_name, image.config_digest, 1 << 20, "test")


def test_put_answered_with_another_digest(fault_proxy: FaultProxy, proxied: RegistryClient, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("PUT", "/manifests/", set_header("Docker-Content-Digest", "sha256:" + "e" * 64))
    index = json_bytes({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [image.descriptor()]})
    with pytest.raises(VerificationError, match="stored digest"):
        proxied.put_manifest(repo_name, "list", index, DOCKER_LIST, "test")


# -- the same faults through the CLI: exit 1, one line, nothing written ------------------------


def test_cli_inspect_of_corrupt_content(fault_proxy: FaultProxy, repo_name: str, image: PushedImage) -> None:
    fault_proxy.inject("GET", "/manifests/", corrupt_body())
    assert_clean_failure(run_cli("inspect", f"{fault_proxy.host}/{repo_name}@{image.digest}"), "asked for")


@pytest.mark.parametrize(
    ("path", "fault", "message"),
    [
        ("/manifests/arm64$", serve(schema1_manifest("x", "arm64"), SCHEMA1_SIGNED), "schema 1"),
        ("/manifests/arm64$", truncate(50), "manifests[1]"),
        ("/manifests/arm64$", lambda reply: without_length()(truncate(50)(reply)), "Docker-Content-Digest"),
        ("/manifests/arm64$", error(404, "MANIFEST_UNKNOWN", "manifest unknown"), "MANIFEST_UNKNOWN"),
        ("/blobs/", corrupt_body(), "hashes to"),
    ],
    ids=["schema1", "truncated", "truncated-without-length", "oci-404", "corrupt-config"],
)
def test_cli_push_through_faults_writes_nothing(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, path: str, fault: object, message: str
) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    fault_proxy.inject("GET", path, fault)  # type: ignore[arg-type]
    result = push_spec(tmp_path, repo_spec(fault_proxy.host, repo_name, "target", [("amd64", "amd64"), ("arm64", "arm64")]))
    assert_clean_failure(result, message)
    assert fault_proxy.requests("PUT") == [] and fault_proxy.requests("POST") == []
    assert tag_digest(registry.url, repo_name, "target") is None


def test_cli_push_streams_blobs_the_registry_refuses_to_mount(registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    image = push_image(registry.url, source, "amd64")

    # What a registry without shared storage answers: an upload session instead of the mount.
    fault_proxy.inject("POST", r"/blobs/uploads/\?.*mount=", upload_session_instead(registry.url, fault_proxy.host, target), forward=False)
    the_spec = spec(f"{fault_proxy.host}/{target}:target", (f"{fault_proxy.host}/{source}:amd64", "amd64"))
    result = push_spec(tmp_path, the_spec)

    assert result.exit_code == 0, result.stderr
    assert fault_proxy.requests("DELETE") == []  # the blobs went into the sessions the refused mounts opened
    assert len(fault_proxy.requests("POST")) == 2 and len(fault_proxy.requests("PATCH")) == 2
    assert get_manifest(registry.url, target, image.digest)[0] == image.manifest_bytes
    for blob in (image.config_digest, *image.layer_digests):
        get_blob(registry.url, target, blob)
    assert list_tags(registry.url, target) == ["target"]


def test_cli_push_when_a_streamed_blob_is_cut_short(registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    source, target = f"{repo_name}/src", f"{repo_name}/app"
    image = push_image(registry.url, source, "amd64", layer_size=4096)
    fault_proxy.inject("POST", r"/blobs/uploads/\?.*mount=", lambda reply: Reply(202, (), b""), forward=False)
    fault_proxy.inject("GET", f"/blobs/{image.layer_digests[0]}$", truncate(10))
    the_spec = spec(f"{fault_proxy.host}/{target}:target", (f"{fault_proxy.host}/{source}:amd64", "amd64"))
    assert_clean_failure(push_spec(tmp_path, the_spec), image.layer_digests[0])
    assert list_tags(registry.url, target) == []

"""go-containerregistry's registry, the tests' second real registry: it starts, and it answers
the way its 0.14 source (``pkg/registry``) says. These are the behaviours manifest-spec's upload
protocol and referrer discovery must handle; each assertion would fail if the fixture served
distribution (or a fixed ggcr) instead, so a changed answer is noticed here first.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from support.artifacts import SPDX_JSON, push_sbom
from support.clirun import assert_ok, digest_line, push_spec, served_document
from support.ggcr import GgcrNotFoundError, GgcrRegistry
from support.images import OCI_INDEX, OCI_MANIFEST, json_bytes, push_image, sha256_digest
from support.specs import AMD64, ARM64, repo_spec

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def open_session(ggcr: GgcrRegistry, repo: str) -> str:
    start = f"{ggcr.url}/v2/{repo}/blobs/uploads/"
    answer = requests.post(start, timeout=10)
    assert answer.status_code == 202, answer.text
    return urljoin(start, answer.headers["Location"])


def test_starts_on_a_loopback_port_it_chose(ggcr: GgcrRegistry) -> None:
    assert ggcr.running and ggcr.host.startswith("127.0.0.1:") and not ggcr.host.endswith(":0")
    answer = requests.get(f"{ggcr.url}/v2/", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_a_missing_binary_is_a_failure_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(GgcrNotFoundError, match=r"make go-tools"):
        GgcrRegistry(binary=tmp_path / "ggcr-registry").start()


def test_stop_forgets_everything_and_is_idempotent() -> None:
    registry = GgcrRegistry().start()
    host = registry.host
    push_image(registry.url, "t/gone", "v1")
    registry.stop()
    registry.stop()
    assert not registry.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{host}/v2/", timeout=2)


def test_a_chunk_patch_is_answered_204_not_202(ggcr: GgcrRegistry) -> None:
    # The spec says 202 Accepted; ggcr's blobs.go answers 204 (and keeps the session URL in Location).
    location = open_session(ggcr, "t/patch")
    answer = requests.patch(location, data=b"abc", headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert answer.status_code == 204
    assert answer.headers["Range"] == "0-2"
    assert urljoin(location, answer.headers["Location"]) == location
    done = requests.put(f"{location}?digest={sha256_digest(b'abc')}", timeout=10)
    assert done.status_code == 201


def test_deleting_an_upload_session_is_400(ggcr: GgcrRegistry) -> None:
    # DELETE is routed to the blob handler and read as a digest: cancelling cannot be relied on.
    location = open_session(ggcr, "t/cancel")
    assert requests.delete(location, timeout=10).status_code == 400


def test_a_mount_is_never_done_and_blobs_are_global(ggcr: GgcrRegistry) -> None:
    image = push_image(ggcr.url, "t/mount-src", "v1")
    layer = image.layer_digests[0]
    mount = requests.post(f"{ggcr.url}/v2/t/mount-dst/blobs/uploads/?mount={layer}&from=t/mount-src", timeout=10)
    assert mount.status_code == 202 and "/blobs/uploads/" in mount.headers["Location"]
    # One store for every repository: a HEAD in a repository never written to still finds it.
    assert requests.head(f"{ggcr.url}/v2/t/never-written/blobs/{layer}", timeout=10).status_code == 200


def test_referrers_answer_has_no_index_content_type_and_the_config_type(ggcr: GgcrRegistry) -> None:
    image = push_image(ggcr.url, "t/refs", "v1", oci=True)
    sbom = push_sbom(ggcr.url, "t/refs", image)
    answer = requests.get(f"{ggcr.url}/v2/t/refs/referrers/{image.digest}",
                          params={"artifactType": "application/vnd.example.none"}, timeout=10)
    assert answer.status_code == 200
    assert not answer.headers.get("Content-Type", "").startswith(OCI_INDEX)  # Go sniffs: text/plain
    assert "OCI-Filters-Applied" not in answer.headers  # the filter is ignored (manifest.go: TODO)
    index = json.loads(answer.content)
    assert index["mediaType"] == OCI_INDEX
    (entry,) = index["manifests"]  # not filtered out though the artifactType asked for differs
    assert entry["digest"] == sbom.digest
    assert sbom.artifact_type == SPDX_JSON and entry["artifactType"] == EMPTY_CONFIG  # config.mediaType


def test_referrers_of_an_unknown_repository_is_404_name_unknown(ggcr: GgcrRegistry) -> None:
    answer = requests.get(f"{ggcr.url}/v2/t/no-such-repo/referrers/{sha256_digest(b'x')}", timeout=10)
    assert answer.status_code == 404 and "NAME_UNKNOWN" in answer.text


def test_a_put_with_a_subject_gets_no_oci_subject_header(ggcr: GgcrRegistry) -> None:
    image = push_image(ggcr.url, "t/subject", "v1", oci=True)
    manifest = json.loads(image.manifest_bytes)
    manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.size}
    data = json_bytes(manifest)
    answer = requests.put(f"{ggcr.url}/v2/t/subject/manifests/{sha256_digest(data)}", data=data,
                          headers={"Content-Type": OCI_MANIFEST}, timeout=10)
    assert answer.status_code == 201 and "OCI-Subject" not in answer.headers


def test_an_index_with_a_missing_child_is_404(ggcr: GgcrRegistry) -> None:
    # distribution answers 400 MANIFEST_BLOB_UNKNOWN for the same PUT.
    missing = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(b"absent"), "size": 6, "platform": AMD64}
    data = json_bytes({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [missing]})
    answer = requests.put(f"{ggcr.url}/v2/t/missing/manifests/v1", data=data, headers={"Content-Type": OCI_INDEX}, timeout=10)
    assert answer.status_code == 404


def test_manifest_spec_pushes_an_index_of_same_repository_members(ggcr: GgcrRegistry, tmp_path: Path) -> None:
    amd64 = push_image(ggcr.url, "t/same", "amd64", oci=True)
    arm64 = push_image(ggcr.url, "t/same", "arm64", architecture="arm64", oci=True)
    result = push_spec(tmp_path, repo_spec(ggcr.host, "t/same", "v1", [("amd64", AMD64), ("arm64", ARM64)], type="oci"))
    assert_ok(result)
    digest, _ = digest_line(result)
    document = served_document(ggcr.url, "t/same", "v1")
    assert [entry["digest"] for entry in document["manifests"]] == [amd64.digest, arm64.digest]
    assert served_document(ggcr.url, "t/same", digest) == document

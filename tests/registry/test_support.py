"""The test infrastructure itself, against the real registry."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import bcrypt
import pytest
import requests
import support.registry as registry_module
from support.images import (
    ATTESTATION_PLATFORM,
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    IN_TOTO,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    PushError,
    get_blob,
    get_manifest,
    list_tags,
    push_blob,
    push_image,
    push_index,
    sha256_digest,
)
from support.registry import (
    NOT_FOUND_HINT,
    Registry,
    RegistryNotFoundError,
    RegistryStartError,
    clean_environment,
    deep_merge,
    find_registry_binary,
    unique_repo_name,
)


def test_registry_answers_v2(registry: Registry) -> None:
    assert registry.running
    host, _, port = registry.host.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert registry.url == f"http://{registry.host}"
    resp = requests.get(f"{registry.url}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_registry_config_written_as_asked(registry: Registry) -> None:
    assert registry.config_path is not None and registry.root is not None
    written = json.loads(registry.config_path.read_text())
    assert written["version"] == 0.1
    assert written["http"]["addr"] == registry.host
    assert written["http"]["secret"]
    assert written["log"] == {"level": "error", "accesslog": {"disabled": True}}
    assert written["storage"]["filesystem"]["rootdirectory"].startswith(str(registry.root))
    assert written["storage"]["delete"] == {"enabled": True}
    assert written["storage"]["maintenance"] == {"uploadpurging": {"enabled": False}}


def test_push_blob_roundtrip(registry: Registry, repo_name: str) -> None:
    data = b"hello blob\n"
    digest = push_blob(registry.url, repo_name, data)
    assert digest == sha256_digest(data)
    assert get_blob(registry.url, repo_name, digest) == data


@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
def test_push_image_and_get_manifest_same_bytes(
    registry: Registry, repo_name: str, oci: bool
) -> None:
    img = push_image(registry.url, repo_name, "v1", architecture="arm64", variant="v8", oci=oci)
    assert img.repo == repo_name and img.tag == "v1"
    assert img.media_type == (OCI_MANIFEST if oci else DOCKER_MANIFEST)
    assert img.platform == {"architecture": "arm64", "os": "linux", "variant": "v8"}

    for ref in ("v1", img.digest):
        body, media_type, digest = get_manifest(registry.url, repo_name, ref)
        assert body == img.manifest_bytes
        assert media_type == img.media_type
        assert digest == img.digest == sha256_digest(body)
        assert len(body) == img.size

    manifest = json.loads(img.manifest_bytes)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == img.media_type
    assert manifest["config"]["mediaType"] == (OCI_CONFIG if oci else DOCKER_CONFIG)
    assert manifest["config"]["digest"] == img.config_digest
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == (OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP)
    assert (layer["digest"],) == img.layer_digests

    config = json.loads(get_blob(registry.url, repo_name, img.config_digest))
    assert config["architecture"] == "arm64" and config["os"] == "linux"
    assert config["variant"] == "v8"
    assert "os.version" not in config and "os.features" not in config
    layer_bytes = get_blob(registry.url, repo_name, layer["digest"])
    assert len(layer_bytes) == layer["size"]
    tar_bytes = gzip.decompress(layer_bytes)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256_digest(tar_bytes)]}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        (member,) = tar.getmembers()
        assert member.isfile() and member.size == 64
    assert list_tags(registry.url, repo_name) == ["v1"]


def test_push_image_windows_fields(registry: Registry, repo_name: str) -> None:
    img = push_image(
        registry.url,
        repo_name,
        None,
        os="windows",
        os_version="10.0.17763.1234",
        os_features=["win32k"],
        oci=True,
    )
    assert img.tag is None
    assert img.platform == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.1234",
        "os.features": ["win32k"],
    }
    config = json.loads(get_blob(registry.url, repo_name, img.config_digest))
    assert config["os.version"] == "10.0.17763.1234"
    assert config["os.features"] == ["win32k"]
    assert "variant" not in config
    body, _, digest = get_manifest(registry.url, repo_name, img.digest)
    assert digest == img.digest and body == img.manifest_bytes
    assert list_tags(registry.url, repo_name) == []


def test_push_image_digests_deterministic_and_distinct(registry: Registry, repo_name: str) -> None:
    a = push_image(registry.url, repo_name, None)
    again = push_image(registry.url, repo_name, None)
    other_seed = push_image(registry.url, repo_name, None, seed=1)
    other_arch = push_image(registry.url, repo_name, None, architecture="arm64")
    assert a.digest == again.digest and a.manifest_bytes == again.manifest_bytes
    digests = {a.digest, other_seed.digest, other_arch.digest}
    assert len(digests) == 3
    layers = {a.layer_digests, other_seed.layer_digests, other_arch.layer_digests}
    assert len(layers) == 3
    big = push_image(registry.url, repo_name, None, layer_size=4096, gzip_layer=False)
    layer = json.loads(big.manifest_bytes)["layers"][0]
    assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"
    assert layer["size"] > 4096


@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-list"])
def test_push_index_plain(registry: Registry, repo_name: str, oci: bool) -> None:
    amd = push_image(registry.url, repo_name, None, oci=oci)
    arm = push_image(registry.url, repo_name, None, architecture="arm", variant="v7", oci=oci)
    idx = push_index(registry.url, repo_name, "latest", [amd, arm], oci=oci)
    assert idx.media_type == (OCI_INDEX if oci else DOCKER_LIST)
    body, media_type, digest = get_manifest(registry.url, repo_name, "latest")
    assert (body, media_type, digest) == (idx.manifest_bytes, idx.media_type, idx.digest)
    doc = json.loads(body)
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == idx.media_type
    assert "annotations" not in doc
    assert [m["digest"] for m in doc["manifests"]] == [amd.digest, arm.digest]
    assert doc["manifests"][1]["platform"] == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert doc["manifests"][0]["size"] == amd.size
    assert list_tags(registry.url, repo_name) == ["latest"]


def test_push_index_with_attestations_has_2n_entries(registry: Registry, repo_name: str) -> None:
    platforms = [("amd64", None), ("arm64", "v8"), ("arm", "v7")]
    images = [
        push_image(registry.url, repo_name, None, architecture=a, variant=v, oci=True)
        for a, v in platforms
    ]
    idx = push_index(
        registry.url,
        repo_name,
        "v2",
        images,
        attestations=True,
        annotations={"org.opencontainers.image.source": "https://example.invalid/x"},
    )
    doc = json.loads(get_manifest(registry.url, repo_name, "v2")[0])
    assert doc["annotations"] == {"org.opencontainers.image.source": "https://example.invalid/x"}
    entries = doc["manifests"]
    assert len(entries) == 2 * len(images) == 6
    assert [e["digest"] for e in entries[:3]] == [i.digest for i in images]
    assert all("annotations" not in e for e in entries[:3])
    assert len(idx.attestations) == 3
    for img, att_entry, att in zip(images, entries[3:], idx.attestations):
        assert att_entry["platform"] == ATTESTATION_PLATFORM == {"architecture": "unknown", "os": "unknown"}
        assert att_entry["annotations"] == {
            "vnd.docker.reference.digest": img.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        }
        assert att_entry["mediaType"] == OCI_MANIFEST
        assert att_entry["digest"] == att.digest
        body, media_type, digest = get_manifest(registry.url, repo_name, att.digest)
        assert media_type == OCI_MANIFEST and digest == att.digest and len(body) == att_entry["size"]
        manifest = json.loads(body)
        assert manifest["config"]["mediaType"] == OCI_CONFIG
        (layer,) = manifest["layers"]
        assert layer["mediaType"] == IN_TOTO
        statement = json.loads(get_blob(registry.url, repo_name, layer["digest"]))
        assert statement["subject"][0]["digest"] == {"sha256": img.digest.split(":", 1)[1]}
    assert len({a.digest for a in idx.attestations}) == 3


def test_push_index_child_in_other_repo_is_rejected(registry: Registry, repo_name: str) -> None:
    other = unique_repo_name("elsewhere")
    img = push_image(registry.url, other, None, oci=True)
    with pytest.raises(PushError) as info:
        push_index(registry.url, repo_name, "x", [img])
    assert info.value.status == 400
    assert "MANIFEST_BLOB_UNKNOWN" in info.value.body


def test_get_manifest_unknown_raises(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "exists")
    with pytest.raises(PushError) as info:
        get_manifest(registry.url, repo_name, "missing")
    assert info.value.status == 404


def test_repo_names_unique_and_valid(repo_name: str) -> None:
    names = {unique_repo_name("Test_Foo[Bar-1]") for _ in range(3)}
    assert len(names) == 3
    for name in names | {repo_name}:
        assert name == name.lower()
        assert name.startswith("t/test")
    assert repo_name.startswith("t/test-repo-names-unique-and-valid-")


def test_deep_merge_and_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"http": {"addr": "a", "secret": "s"}, "log": {"level": "error"}}
    merged = deep_merge(base, {"http": {"tls": {"certificate": "c"}}, "auth": {"x": 1}})
    assert merged == {
        "http": {"addr": "a", "secret": "s", "tls": {"certificate": "c"}},
        "log": {"level": "error"},
        "auth": {"x": 1},
    }
    assert base == {"http": {"addr": "a", "secret": "s"}, "log": {"level": "error"}}
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", "0.0.0.0:1")
    monkeypatch.setenv("KEEP_ME", "1")
    env = clean_environment()
    assert "REGISTRY_HTTP_ADDR" not in env and env["KEEP_ME"] == "1"


def test_registry_ignores_registry_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", "127.0.0.1:1")
    monkeypatch.setenv("REGISTRY_LOG_LEVEL", "bogus")
    with Registry() as reg:
        assert requests.get(f"{reg.url}/v2/", timeout=5).status_code == 200


def test_htpasswd_registry_requires_credentials(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    htpasswd.write_text(f"alice:{hashed}\n")
    extra = {"auth": {"htpasswd": {"realm": "test-realm", "path": str(htpasswd)}}}
    with Registry(extra) as reg:
        resp = requests.get(f"{reg.url}/v2/", timeout=5)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].lower().startswith("basic ")
        assert 'realm="test-realm"' in resp.headers["WWW-Authenticate"]
        assert requests.get(f"{reg.url}/v2/", auth=("alice", "wrong"), timeout=5).status_code == 401
        assert requests.get(f"{reg.url}/v2/", auth=("alice", "s3cret"), timeout=5).status_code == 200

        with pytest.raises(PushError) as info:
            push_blob(reg.url, "t/auth", b"x")
        assert info.value.status == 401

        with requests.Session() as session:
            session.auth = ("alice", "s3cret")
            img = push_image(reg.url, "t/auth", "v1", session=session)
            assert get_manifest(reg.url, "t/auth", "v1", session=session)[2] == img.digest
            assert list_tags(reg.url, "t/auth", session=session) == ["v1"]
        proc = reg.process
    assert proc is not None and proc.poll() is not None
    assert htpasswd.read_text().startswith("alice:")


def test_stop_terminates_and_cleans_up() -> None:
    reg = Registry().start()
    proc, root, url = reg.process, reg.root, reg.url
    assert proc is not None and root is not None and root.is_dir()
    reg.stop()
    assert proc.poll() is not None
    assert not root.exists()
    assert not reg.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=2)
    reg.stop()  # idempotent


def test_registry_that_exits_reports_its_stderr() -> None:
    with pytest.raises(RegistryStartError) as info:
        Registry({"log": {"level": "no-such-level"}}).start()
    assert "exited" in str(info.value)
    assert "no-such-level" in str(info.value)


def test_missing_binary_fails_with_install_hint(tmp_path: Path) -> None:
    with pytest.raises(RegistryNotFoundError) as info:
        Registry(binary=str(tmp_path / "docker-registry")).start()
    assert NOT_FOUND_HINT in str(info.value)
    assert "make test" in NOT_FOUND_HINT and "apt-get install docker-registry" in NOT_FOUND_HINT
    assert isinstance(info.value, RuntimeError)
    assert not os.path.exists(tmp_path / "docker-registry")


def test_binary_lookup_falls_back_to_path_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_registry_binary() == "/usr/bin/docker-registry"
    monkeypatch.setattr(registry_module, "DEFAULT_BINARY", str(tmp_path / "absent"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryNotFoundError, match="run `make test`"):
        find_registry_binary()
    with pytest.raises(RegistryNotFoundError, match="apt-get install docker-registry"):
        Registry().start()
    (tmp_path / "docker-registry").symlink_to("/usr/bin/docker-registry")
    assert find_registry_binary() == str(tmp_path / "docker-registry")
    with Registry() as reg:
        assert requests.get(f"{reg.url}/v2/", timeout=5).status_code == 200

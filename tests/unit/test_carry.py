"""The pure parts of carrying referrers: classification, tag names, and the two merges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from manifest_spec.carry.plan import merge_cosign_tag, merge_referrers_index
from manifest_spec.carry.referrers import (
    ATTESTATION,
    OTHER,
    SBOM,
    SIGNATURE,
    VIA_COSIGN,
    VIA_TAG_SCHEMA,
    Artifact,
    classify,
    cosign_tags,
    referrers_tag,
    wanted,
)
from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import OCI_INDEX, OCI_MANIFEST, digest_of
from manifest_spec.oci.manifest import Manifest

HEX = "ab" * 32


def manifest(body: dict[str, Any], media_type: str = OCI_MANIFEST) -> Manifest:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Manifest(data, media_type, digest_of(data))


def artifact(body: dict[str, Any], kind: str = SIGNATURE, via: str = VIA_TAG_SCHEMA, tag: str = "") -> Artifact:
    m = manifest(body)
    return Artifact(m, kind, body.get("artifactType", ""), (), (), len(body.get("layers", [])), via, tag)


@pytest.mark.parametrize("artifact_type, layers, annotations, kind", [
    ("application/vnd.dev.cosign.artifact.sig.v1+json", [], {}, SIGNATURE),
    ("application/vnd.oci.image.config.v1+json", ["application/vnd.dev.cosign.simplesigning.v1+json"], {}, SIGNATURE),
    ("application/vnd.cncf.notary.signature", [], {}, SIGNATURE),
    ("application/vnd.oci.image.config.v1+json", ["application/vnd.dsse.envelope.v1+json"], {}, ATTESTATION),
    ("application/vnd.in-toto+json", [], {}, ATTESTATION),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", [], {"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}, ATTESTATION),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", [], {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}, SIGNATURE),
    ("application/spdx+json", [], {}, SBOM),
    ("application/vnd.cyclonedx+json", [], {}, SBOM),
    ("application/vnd.oci.image.config.v1+json", ["text/spdx+json"], {}, SBOM),
    ("application/vnd.example.scan-report", [], {}, OTHER),
])
def test_classify(artifact_type: str, layers: list[str], annotations: dict[str, str], kind: str) -> None:
    assert classify(artifact_type, layers, annotations) == kind


def test_tag_names() -> None:
    assert referrers_tag(f"sha256:{HEX}") == f"sha256-{HEX}"
    assert referrers_tag("sha512:" + "c" * 128) == "sha512-" + "c" * 64  # the tag schema cuts at 64
    assert [t for t, _ in cosign_tags(f"sha256:{HEX}")] == [f"sha256-{HEX}.sig", f"sha256-{HEX}.att", f"sha256-{HEX}.sbom"]


def test_wanted_by_kind_or_artifact_type() -> None:
    sbom = artifact({"artifactType": "application/spdx+json"}, kind=SBOM)
    assert wanted(sbom, frozenset()) and wanted(sbom, frozenset({"sbom"})) and wanted(sbom, frozenset({"application/spdx+json"}))
    assert not wanted(sbom, frozenset({"signature", "application/vnd.cyclonedx+json"}))


def test_merge_referrers_index_keeps_every_entry_and_field() -> None:
    ours = artifact({"artifactType": "application/spdx+json", "layers": []}, kind=SBOM)
    theirs = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 9, "artifactType": "x/y", "extra": {"kept": True}}
    current = manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [theirs], "annotations": {"a": "b"}}, OCI_INDEX)
    write = merge_referrers_index("sha256-t", current, (ours,))
    assert write is not None and write.previous == current.digest and write.kept == 1 and write.added == (ours.digest,)
    body = json.loads(write.data)
    assert body["manifests"][0] == theirs and body["annotations"] == {"a": "b"}
    assert body["manifests"][1] == {"mediaType": OCI_MANIFEST, "digest": ours.digest, "size": ours.manifest.size,
                                    "artifactType": "application/spdx+json"}
    assert merge_referrers_index("sha256-t", manifest(body, OCI_INDEX), (ours,)) is None  # already listed: nothing to write
    new = merge_referrers_index("sha256-t", None, (ours,))
    assert new is not None and not new.previous and json.loads(new.data)["mediaType"] == OCI_INDEX


def test_merge_referrers_index_refuses_what_is_not_an_index() -> None:
    with pytest.raises(VerificationError, match="not an OCI index of referrers"):
        merge_referrers_index("sha256-t", manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST}), (artifact({}),))


def test_merge_cosign_tag_appends_missing_signatures_and_extends_the_config() -> None:
    layer = lambda n: {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": f"sha256:{n * 64}",  # noqa: E731
                       "size": 10, "annotations": {"dev.cosignproject.cosign/signature": n}}
    config = {"architecture": "", "history": [{"created": "0001-01-01T00:00:00Z"}], "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}
    config_data = json.dumps(config).encode()
    target = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config_data), "size": len(config_data)},
                       "layers": [layer("1")]})
    source = artifact({"schemaVersion": 2, "layers": [layer("1"), layer("2")]}, via=VIA_COSIGN, tag="sha256-x.sig")
    write = merge_cosign_tag(source, (target, config_data))
    assert write is not None and write.previous == target.digest and write.kept == 1 and write.added == ("sha256:" + "2" * 64,)
    merged = json.loads(write.data)
    assert merged["layers"] == [layer("1"), layer("2")]
    new_config = json.loads(write.config)
    assert merged["config"] == {**target.json()["config"], "digest": digest_of(write.config), "size": len(write.config)}
    assert new_config["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, "sha256:" + "2" * 64] and len(new_config["history"]) == 2
    same = artifact({"schemaVersion": 2, "layers": [layer("1")]}, via=VIA_COSIGN, tag="sha256-x.sig")
    assert merge_cosign_tag(same, (target, config_data)) is None  # the target has every signature already
    copied = merge_cosign_tag(source, None)
    assert copied is not None and copied.data == source.manifest.data and not copied.config


def test_merge_cosign_tag_refuses_an_ordinary_image_under_the_tag() -> None:
    config_data = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    image = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config_data), "size": len(config_data)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "3" * 64, "size": 5}]})
    signature = artifact({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                                                          "digest": "sha256:" + "4" * 64, "size": 10}]}, via=VIA_COSIGN, tag="sha256-x.sig")
    with pytest.raises(VerificationError, match="is not a cosign signature, attestation or SBOM manifest"):
        merge_cosign_tag(signature, (image, config_data))

"""Supply-chain artifacts made the way cosign and buildx/oras write them, pushed over the HTTP API.

Three kinds, each in two placements:

- a cosign **simple-signing signature**: an OCI manifest whose layer is the simple-signing payload
  (`application/vnd.dev.cosign.simplesigning.v1+json`) with the base64 signature in the layer
  annotation `dev.cosignproject.cosign/signature`;
- a cosign **in-toto attestation**: a DSSE envelope layer whose payload is an in-toto statement
  naming the image in its `subject`;
- an **SPDX SBOM** as an OCI 1.1 artifact manifest (`artifactType: application/spdx+json`, the
  empty config) as `oras attach` writes it, or as cosign's `attach sbom` writes it under its tag.

Placed with `referrer=True` the manifest carries `subject` (cosign's OCI 1.1 mode stores the
artifact type in `config.mediaType`) and is listed in the `<alg>-<hex>` referrers tag index, as
clients do on a registry without the referrers API (distribution 2.8.2 has none). Placed with
`referrer=False` it goes to cosign's tag `sha256-<hex>.sig` / `.att` / `.sbom`, no `subject`.

Serialised compactly, as Go's `json.Marshal` does. Signatures are real ECDSA P-256 signatures
over the payload (nobody verifies them here; they only have to look like cosign's).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Optional

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from support.images import (
    ACCEPT_ALL,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    TIMEOUT,
    PushedImage,
    get_manifest,
    push_blob,
    put_manifest,
    sha256_digest,
)

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SPDX_JSON = "application/spdx+json"
COSIGN_SPDX_JSON = "text/spdx+json"  # what `cosign attach sbom --type spdx` puts on the layer
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"
# cosign's OCI 1.1 mode: `application/vnd.dev.cosign.artifact.<kind>.v1+json` in config.mediaType.
COSIGN_SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_ATT_TYPE = "application/vnd.dev.cosign.artifact.att.v1+json"
ZERO_TIME = "0001-01-01T00:00:00Z"  # go-containerregistry's empty image has no dates

_KEY = ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class PushedArtifact:
    """An artifact manifest in `repo`: under cosign's `tag`, or by digest as a referrer (tag None)."""

    repo: str
    digest: str
    size: int
    manifest_bytes: bytes
    artifact_type: str  # artifactType, else config.mediaType (what a referrers index lists)
    blobs: tuple[str, ...]
    tag: Optional[str]

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.manifest_bytes)
        return parsed

    def descriptor(self) -> dict[str, Any]:
        """Its entry in a referrers index (the referrers API answer's shape)."""
        entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.size,
                                 "artifactType": self.artifact_type}
        annotations = self.document.get("annotations")
        if annotations:
            entry["annotations"] = annotations
        return entry


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sign(data: bytes) -> str:
    return base64.b64encode(_KEY.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def cosign_tag(subject_digest: str, suffix: str) -> str:
    """`sha256:<hex>` → `sha256-<hex>.sig` (suffix "sig", "att", "sbom"), or the bare `sha256-<hex>` (suffix "")."""
    return subject_digest.replace(":", "-", 1) + (f".{suffix}" if suffix else "")


def _subject(subject: PushedImage) -> dict[str, Any]:
    return {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size}


def _ggcr_config(layer_digests: list[str]) -> bytes:
    """The config go-containerregistry's empty image gets when cosign appends its layers."""
    return compact({
        "architecture": "", "created": ZERO_TIME,
        "history": [{"created": ZERO_TIME} for _ in layer_digests],
        "os": "", "rootfs": {"type": "layers", "diff_ids": layer_digests}, "config": {},
    })


def _push(base_url: str, repo: str, subject: PushedImage, manifest: dict[str, Any], blobs: list[str],
          artifact_type: str, referrer: bool, suffix: str, session: Optional[requests.Session],
          listed: bool = True) -> PushedArtifact:
    if referrer:
        manifest["subject"] = _subject(subject)
    data = compact(manifest)
    digest = sha256_digest(data)
    tag = None if referrer else cosign_tag(subject.digest, suffix)
    put_manifest(base_url, repo, tag or digest, data, OCI_MANIFEST, session=session)
    pushed = PushedArtifact(repo, digest, len(data), data, artifact_type, tuple(blobs), tag)
    if referrer and listed:
        add_to_referrers_tag(base_url, repo, subject.digest, pushed.descriptor(), session=session)
    return pushed


def cosign_layers_manifest(config_type: str, config: bytes, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "size": len(config), "digest": sha256_digest(config)},
        "layers": layers,
    }


def push_signature(base_url: str, repo: str, subject: PushedImage, *, referrer: bool = False, note: str = "",
                   listed: bool = True, session: Optional[requests.Session] = None) -> PushedArtifact:
    """`cosign sign` of subject: a simple-signing payload (`-a note=…` makes another one). A referrer
    with listed=False is left out of the `<alg>-<hex>` index: only a referrers API finds it."""
    host = base_url.split("://", 1)[-1]
    payload = compact({
        "critical": {"identity": {"docker-reference": f"{host}/{repo}"},
                     "image": {"docker-manifest-digest": subject.digest},
                     "type": "cosign container image signature"},
        "optional": {"note": note} if note else None,
    })
    payload_digest = push_blob(base_url, repo, payload, session=session)
    config = _ggcr_config([payload_digest])
    config_digest = push_blob(base_url, repo, config, session=session)
    layer = {"mediaType": SIMPLE_SIGNING, "size": len(payload), "digest": payload_digest,
             "annotations": {SIGNATURE_ANNOTATION: sign(payload)}}
    config_type = COSIGN_SIG_TYPE if referrer else OCI_CONFIG
    manifest = cosign_layers_manifest(config_type, config, [layer])
    return _push(base_url, repo, subject, manifest, [config_digest, payload_digest], config_type, referrer, "sig", session, listed)


def in_toto_statement(host: str, repo: str, subject: PushedImage, predicate_type: str = SLSA_V1) -> bytes:
    return compact({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f"{host}/{repo}", "digest": {"sha256": subject.digest.split(":", 1)[1]}}],
        "predicateType": predicate_type,
        "predicate": {"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1"}, "runDetails": {}},
    })


def push_attestation(base_url: str, repo: str, subject: PushedImage, *, referrer: bool = False, predicate_type: str = SLSA_V1,
                     listed: bool = True, session: Optional[requests.Session] = None) -> PushedArtifact:
    """`cosign attest`: a DSSE envelope around an in-toto statement whose `subject` is the image."""
    statement = in_toto_statement(base_url.split("://", 1)[-1], repo, subject, predicate_type)
    # DSSE signs the pre-authentication encoding, not the bare payload.
    pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO_PAYLOAD), IN_TOTO_PAYLOAD.encode(), len(statement), statement)
    envelope = compact({"payloadType": IN_TOTO_PAYLOAD, "payload": base64.b64encode(statement).decode(),
                        "signatures": [{"keyid": "", "sig": sign(pae)}]})
    envelope_digest = push_blob(base_url, repo, envelope, session=session)
    config = _ggcr_config([envelope_digest])
    config_digest = push_blob(base_url, repo, config, session=session)
    layer = {"mediaType": DSSE_ENVELOPE, "size": len(envelope), "digest": envelope_digest,
             "annotations": {SIGNATURE_ANNOTATION: "", "predicateType": predicate_type}}
    config_type = COSIGN_ATT_TYPE if referrer else OCI_CONFIG
    manifest = cosign_layers_manifest(config_type, config, [layer])
    return _push(base_url, repo, subject, manifest, [config_digest, envelope_digest], config_type, referrer, "att", session, listed)


def spdx_document(subject: PushedImage, name: str = "app") -> bytes:
    return compact({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
        "documentNamespace": f"https://example.com/spdx/{subject.digest}",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: syft-1.0.0"]},
        "packages": [{"SPDXID": "SPDXRef-Package-musl", "name": "musl", "versionInfo": "1.2.5",
                      "downloadLocation": "NOASSERTION"}],
    })


def push_sbom(base_url: str, repo: str, subject: PushedImage, *, referrer: bool = True, name: str = "app",
              listed: bool = True, session: Optional[requests.Session] = None) -> PushedArtifact:
    """An SPDX SBOM: with referrer=True an OCI 1.1 artifact manifest (`oras attach --artifact-type
    application/spdx+json`), else what `cosign attach sbom` puts under `sha256-<hex>.sbom`."""
    document = spdx_document(subject, name)
    sbom_digest = push_blob(base_url, repo, document, session=session)
    if not referrer:
        config = _ggcr_config([sbom_digest])
        config_digest = push_blob(base_url, repo, config, session=session)
        layer = {"mediaType": COSIGN_SPDX_JSON, "size": len(document), "digest": sbom_digest}
        manifest = cosign_layers_manifest(OCI_CONFIG, config, [layer])
        return _push(base_url, repo, subject, manifest, [config_digest, sbom_digest], OCI_CONFIG, False, "sbom", session)
    empty_digest = push_blob(base_url, repo, EMPTY_JSON, session=session)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX_JSON,
        "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2, "data": "e30="},
        "layers": [{"mediaType": SPDX_JSON, "digest": sbom_digest, "size": len(document),
                    "annotations": {TITLE: "sbom.spdx.json"}}],
        "annotations": {CREATED: "2026-01-01T00:00:00Z"},
    }
    return _push(base_url, repo, subject, manifest, [empty_digest, sbom_digest], SPDX_JSON, True, "", session, listed)


# -- the referrers tag schema (OCI distribution-spec 1.1, for registries without the API) -------


def referrers_tag_entries(base_url: str, repo: str, subject_digest: str,
                          session: Optional[requests.Session] = None) -> Optional[list[dict[str, Any]]]:
    """The `manifests` of the `<alg>-<hex>` index, None when the tag does not exist."""
    url = f"{base_url.rstrip('/')}/v2/{repo}/manifests/{cosign_tag(subject_digest, '')}"
    http: Any = session if session is not None else requests
    if http.head(url, headers={"Accept": ACCEPT_ALL}, timeout=TIMEOUT).status_code == 404:
        return None
    data, media_type, _ = get_manifest(base_url, repo, cosign_tag(subject_digest, ""), session=session)
    assert media_type == OCI_INDEX, media_type
    entries: list[dict[str, Any]] = json.loads(data)["manifests"]
    return entries


def add_to_referrers_tag(base_url: str, repo: str, subject_digest: str, descriptor: dict[str, Any],
                         session: Optional[requests.Session] = None) -> str:
    """Read the tag's index (or start one), add the entry, PUT it back: what cosign/oras do."""
    entries = referrers_tag_entries(base_url, repo, subject_digest, session=session) or []
    if all(e["digest"] != descriptor["digest"] for e in entries):
        entries.append(descriptor)
    index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return put_manifest(base_url, repo, cosign_tag(subject_digest, ""), index, OCI_INDEX, session=session)

"""Manifests as received and the children an index points at: plain values, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import Descriptor

REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION = "attestation-manifest"


@dataclass(frozen=True)
class Manifest:
    """Manifest bytes exactly as received, with the digest they hash to."""

    data: bytes
    media_type: str
    digest: str

    @property
    def size(self) -> int:
        return len(self.data)

    def json(self) -> dict[str, Any]:
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise VerificationError(f"manifest {self.digest} is not a JSON object")
        return value


@dataclass(frozen=True)
class Child:
    """A manifest the index will point at, and the blobs that must sit beside it."""

    manifest: Manifest
    repository: str
    blobs: tuple[str, ...]
    registry: str


def is_attestation(descriptor: Descriptor) -> bool:
    return dict(descriptor.annotations).get(REFERENCE_TYPE) == ATTESTATION


def distributable(layer: dict[str, Any]) -> bool:
    """Foreign (Windows base) and non-distributable layers stay where their URLs say."""
    media_type = str(layer.get("mediaType", ""))
    return "foreign" not in media_type and "nondistributable" not in media_type and not layer.get("urls")


def blob_digests(body: dict[str, Any]) -> tuple[str, ...]:
    """Config and layers that must exist in a repository for this manifest to be accepted there."""
    parts = [body.get("config")] + list(body.get("layers") or [])
    return tuple(p["digest"] for p in parts if isinstance(p, dict) and isinstance(p.get("digest"), str) and distributable(p))

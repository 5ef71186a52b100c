"""An existing index → a spec that reproduces it (members pinned by digest), to adopt old images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import INDEX_TYPES, OCI_INDEX, Descriptor, parse_index
from manifest_spec.oci.manifest import is_attestation
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import RegistryClient


@dataclass(frozen=True)
class AdoptedSpec:
    """Spec data for an existing index, its digest, and what a spec could not carry over."""

    data: dict[str, Any]
    digest: str
    warnings: tuple[str, ...]


def index_to_spec(reference: Reference, client: RegistryClient) -> AdoptedSpec:
    """Read `reference` (an index, by tag or digest) and describe it as spec data."""
    what = f"inspect --to-spec {reference}"
    manifest = client.get_manifest(reference.repository, reference.ref, what)
    if manifest.media_type not in INDEX_TYPES:
        raise VerificationError(
            f"{what}: is a single image ({manifest.media_type}), not an index; a spec would wrap it in a new index: "
            f"write one yourself with `image: {reference.name}@{manifest.digest}`"
        )
    _, descriptors, annotations = parse_index(manifest.data)
    warnings: list[str] = []
    oci = manifest.media_type == OCI_INDEX
    data: dict[str, Any] = {"image": str(reference.with_tag(reference.tag)), "type": "oci" if oci else "docker"}
    if annotations:
        data["annotations"] = dict(sorted(annotations.items()))
    data["manifests"] = [_member(reference, d, warnings) for d in descriptors]
    return AdoptedSpec(data, manifest.digest, tuple(warnings))


def _member(reference: Reference, d: Descriptor, warnings: list[str]) -> dict[str, Any]:
    if d.media_type in INDEX_TYPES:
        raise VerificationError(
            f"entry {d.digest} is itself an index; a spec member that is an index is expanded into its entries, "
            "so no spec reproduces this index"
        )
    if d.urls or d.artifact_type:
        warnings.append(f"entry {d.digest}: urls / artifactType have no place in a spec and are left out")
    member: dict[str, Any] = {"image": f"{reference.name}@{d.digest}"}
    # Attestations (all unknown/unknown) would be duplicate platforms to the spec checker;
    # without a platform the tool takes it from the attestation's own config, which says the same.
    if d.platform is not None and not is_attestation(d):
        member["platform"] = d.platform.to_json()
    elif d.platform is None:
        warnings.append(f"entry {d.digest} has no platform; the spec takes it from the image config")
    if d.annotations:
        member["annotations"] = dict(d.annotations)
    return member


def render_spec(adopted: AdoptedSpec, source: str) -> str:
    """YAML in the README's style: leaf mappings inline, key order kept, a header saying where it came from."""
    body = yaml.safe_dump(adopted.data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=200)
    return f"# Written by `manifest-spec inspect --to-spec {source}` from index {adopted.digest}.\n{body}"

"""Read an existing manifest or index and describe it (for `inspect`). Read-only."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import INDEX_TYPES, Descriptor, parse_index
from manifest_spec.oci.manifest import Manifest
from manifest_spec.oci.platforms import Platform, platform_from_config, puller_choice
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import MAX_CONFIG_BYTES, RegistryClient


@dataclass(frozen=True)
class Layer:
    """One layer of a single image, as `inspect` shows it."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Entry:
    """One index entry, with the layers of the image it points at."""

    descriptor: Descriptor
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Description:
    """What `inspect` shows of one reference: an index's entries or an image's layers."""

    reference: Reference
    manifest: Manifest
    entries: tuple[Entry, ...]  # the index's entries; empty for a single image
    layers: tuple[Layer, ...]  # a single image's layers; empty for an index
    annotations: tuple[tuple[str, str], ...]
    platform: Optional[Platform] = None  # a single image's, from its config

    @property
    def is_index(self) -> bool:
        return self.manifest.media_type in INDEX_TYPES


def _layers(manifest: Manifest) -> tuple[Layer, ...]:
    body = manifest.json()
    return tuple(
        Layer(str(layer.get("mediaType", "")), str(layer.get("digest", "")), int(layer.get("size", 0)))
        for layer in body.get("layers") or []
        if isinstance(layer, dict)
    )


def describe(reference: Reference, client: RegistryClient, *, with_layers: bool = True, with_config: bool = False) -> Description:
    """GET the manifest (verified); for an index also each entry's manifest (with_layers), concurrently;
    for an image its config (with_layers or with_config) for its platform."""
    what = f"inspect {reference}"
    manifest = client.get_manifest(reference.repository, reference.ref, what)
    if manifest.media_type not in INDEX_TYPES:
        config = manifest.json().get("config")
        platform = None
        if (with_layers or with_config) and isinstance(config, dict) and isinstance(config.get("digest"), str):
            raw = client.get_blob(reference.repository, config["digest"], MAX_CONFIG_BYTES, f"{what} config")
            try:
                platform = platform_from_config(json.loads(raw))
            except ValueError:
                platform = None  # not a JSON config (an artifact): nothing to show
        return Description(reference, manifest, (), _layers(manifest), (), platform)
    _, descriptors, annotations = parse_index(manifest.data)

    def entry(descriptor: Descriptor) -> Entry:
        layers: tuple[Layer, ...] = ()
        if with_layers and descriptor.media_type not in INDEX_TYPES:
            child = client.get_manifest(reference.repository, descriptor.digest, f"{what} entry {descriptor.digest}")
            layers = _layers(child)
        return Entry(descriptor, layers)

    with ThreadPoolExecutor(max_workers=8) as pool:
        entries = tuple(pool.map(entry, descriptors))
    return Description(reference, manifest, entries, (), tuple(sorted(annotations.items())))


def pulled_by(description: Description, machine: Platform) -> Descriptor:
    """The entry a puller on `machine` gets (`inspect --platform`); a single image only if it runs there."""
    if not description.is_index:
        manifest = description.manifest
        if puller_choice(machine, [description.platform]) is None:
            raise VerificationError(f"{description.reference} is an image for {description.platform or 'no platform'}, not for {machine}")
        return Descriptor(manifest.media_type, manifest.digest, manifest.size, description.platform)
    # Attestations are unknown/unknown and nested indexes name no platform: neither is ever chosen.
    offered = [e.descriptor.platform if e.descriptor.media_type not in INDEX_TYPES else None for e in description.entries]
    position = puller_choice(machine, offered)
    if position is None:
        have = ", ".join(str(p) for p in offered if p is not None and p.os != "unknown") or "none"
        raise VerificationError(f"{description.reference}: no entry a {machine} puller takes (it has: {have})")
    return description.entries[position].descriptor

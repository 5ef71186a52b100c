"""Find a manifest's signatures, attestations and SBOMs in its source repository. Read-only.

Two conventions are read, as the trusted clients write them:
- OCI 1.1 referrers (manifests whose `subject` is the image): from the referrers API
  (`GET /v2/<name>/referrers/<digest>`, an OCI index), or where the registry answers 404 (as
  CNCF distribution 2.8.2 does) from the referrers tag schema: the `<alg>-<hex>` tag holding an
  index of them (OCI distribution-spec 1.1, "Referrers Tag Schema");
- cosign's tag scheme: `sha256-<hex>.sig`, `.att` and `.sbom` beside the image.
Which of those tags exist is read from the repository's tag list (lookups.py), so only existing
ones are fetched. Every listed manifest is fetched by digest and verified like any other
(registry.get_manifest).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Optional

from manifest_spec.carry.confirm import again_while_missing, missing_after_seen
from manifest_spec.carry.lookups import Lookups, parse_referrers_index
from manifest_spec.carry.submit import Submit, later
from manifest_spec.errors import RegistryError, VerificationError
from manifest_spec.oci.index import IMAGE_TYPES, Descriptor, descriptor_json
from manifest_spec.oci.manifest import Manifest, blob_digests
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import RegistryClient

log = logging.getLogger(__name__)

SIGNATURE, ATTESTATION, SBOM, OTHER = "signature", "attestation", "sbom", "other"
KINDS = (SIGNATURE, ATTESTATION, SBOM, OTHER)
VIA_API, VIA_TAG_SCHEMA, VIA_COSIGN = "referrers-api", "tag-schema", "cosign-tag"
COSIGN_SUFFIXES = (("sig", SIGNATURE), ("att", ATTESTATION), ("sbom", SBOM))

# Substrings of artifact / layer media types, most specific first (cosign, notation, in-toto, SPDX…).
_KIND_MARKS = (
    ("cosign.artifact.sig", SIGNATURE), ("cosign.simplesigning", SIGNATURE), ("cncf.notary.signature", SIGNATURE),
    ("cosign.artifact.att", ATTESTATION), ("dsse.envelope", ATTESTATION), ("in-toto", ATTESTATION),
    ("sigstore.bundle", ATTESTATION),
    ("cosign.artifact.sbom", SBOM), ("spdx", SBOM), ("cyclonedx", SBOM), ("syft", SBOM),
)
_SIGSTORE_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


@dataclass(frozen=True)
class Artifact:
    """One manifest to carry: a referrer of the image, or what one of its cosign tags holds."""

    manifest: Manifest
    kind: str  # SIGNATURE, ATTESTATION, SBOM or OTHER
    artifact_type: str  # artifactType, else config.mediaType (what a referrers index lists)
    annotations: tuple[tuple[str, str], ...]
    blobs: tuple[str, ...]  # config and layers that must be in a repository beside it
    layers: int
    via: str  # VIA_API, VIA_TAG_SCHEMA or VIA_COSIGN
    tag: str = ""  # the cosign tag it was found under

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def count(self) -> int:
        """Signatures (attestations, SBOMs) it holds: cosign appends one layer per signature."""
        return max(1, self.layers) if self.via == VIA_COSIGN else 1

    def descriptor(self) -> Descriptor:
        return Descriptor(self.manifest.media_type, self.digest, self.manifest.size, annotations=self.annotations,
                          artifact_type=self.artifact_type)

    def entry_json(self) -> dict[str, Any]:
        """Its entry in a referrers index, shaped as the referrers API answers."""
        entry = descriptor_json(self.manifest, artifactType=self.artifact_type)
        if self.annotations:
            entry["annotations"] = dict(self.annotations)
        return entry


@dataclass(frozen=True)
class Subject:
    """An image placed into the target from elsewhere, with what was found beside it at its source."""

    source: Reference  # registry/repository@digest
    referrers: tuple[Artifact, ...]
    cosign: tuple[Artifact, ...]
    missing: tuple[str, ...] = ()  # listed as referrers but no longer there: left out

    @property
    def digest(self) -> str:
        return self.source.digest

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return self.referrers + self.cosign


def referrers_tag(digest: str) -> str:
    """`sha256:<hex>` → `sha256-<hex>`, the hex cut at 64 characters as the tag schema says."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded[:64]}"


def cosign_tags(digest: str) -> list[tuple[str, str]]:
    """(tag, kind) of cosign's signature, attestation and SBOM tags for an image digest."""
    return [(f"{referrers_tag(digest)}.{suffix}", kind) for suffix, kind in COSIGN_SUFFIXES]


def wanted(artifact: Artifact, types: frozenset[str]) -> bool:
    """`--referrers-type`: a kind (signature, attestation, sbom, other) or an exact artifact type."""
    return not types or artifact.kind in types or artifact.artifact_type in types


def classify(artifact_type: str, layer_types: list[str], annotations: dict[str, str]) -> str:
    for media_type in [artifact_type, *layer_types]:
        for mark, kind in _KIND_MARKS:
            if mark in media_type:
                if mark == "sigstore.bundle" and annotations.get("dev.sigstore.bundle.predicateType") == _SIGSTORE_SIGN_PREDICATE:
                    return SIGNATURE
                return kind
    return OTHER


@dataclass(frozen=True)
class Discovery:
    """One image's first round in flight: its repository's tag list and the referrers API's answer."""

    source: Reference
    tags: Future[frozenset[str]]
    api: Future[Optional[list[Descriptor]]]  # None: the registry has no referrers API


@dataclass(frozen=True)
class Reading:
    """The second round: the `<alg>-<hex>` index and cosign tags the tag list shows."""

    discovery: Discovery
    index: Optional[Future[Manifest]]  # a 404 on a listed tag is an error, never "none" (confirm.py)
    cosign: tuple[tuple[str, str, Future[Manifest]], ...]  # (tag, kind, its manifest)


@dataclass(frozen=True)
class Fetching:
    """The third round: every listed referrer fetched by digest."""

    reading: Reading
    listed: tuple[tuple[Descriptor, str, Future[Optional[Manifest]]], ...]  # (entry, via, its manifest)


def start_discovery(lookups: Lookups, source: Reference) -> Discovery:
    return Discovery(source, lookups.tags(source), lookups.listing(source, source.digest))


def read_tags(submit: Submit, discovery: Discovery) -> Reading:
    """Ask for the tags the list shows; the index even where the API may answer (it costs no round then)."""
    source, tags = discovery.source, discovery.tags.result()
    where = f"{source.registry}/{source.repository}"
    index_tag = referrers_tag(source.digest)
    index = (later(submit, source, listed_manifest, source.repository, index_tag, f"referrers tag {where}:{index_tag}")
             if index_tag in tags else None)
    cosign = tuple((t, kind, later(submit, source, listed_manifest, source.repository, t, f"cosign tag {where}:{t}"))
                   for t, kind in cosign_tags(source.digest) if t in tags)
    return Reading(discovery, index, cosign)


def fetch_listed(submit: Submit, reading: Reading) -> Fetching:
    """Wait for the listing (API, else tag schema), then ask for every listed manifest at once."""
    source = reading.discovery.source
    entries, via = reading.discovery.api.result(), VIA_API
    if entries is None:
        via, tag = VIA_TAG_SCHEMA, referrers_tag(source.digest)
        index = reading.index.result() if reading.index is not None else None
        what = f"referrers tag {source.registry}/{source.repository}:{tag}"
        entries = parse_referrers_index(index.data, index.media_type, what) if index is not None else []
    return Fetching(reading, tuple((entry, via, later(submit, source, _fetch_listed, source, entry)) for entry in entries))


def complete(fetching: Fetching, types: frozenset[str] = frozenset()) -> Subject:
    """What the rounds found, filtered by `--referrers-type`; listed manifests that are gone left out."""
    source = fetching.reading.discovery.source
    referrers, missing = [], []
    for entry, via, future in fetching.listed:
        manifest = future.result()
        if manifest is None:
            missing.append(entry.digest)
            continue
        artifact = _artifact(manifest, via, f"referrer {entry.digest} of {source}")
        if wanted(artifact, types):
            referrers.append(artifact)
    cosign = []
    for tag, kind, found in fetching.reading.cosign:
        manifest = found.result()
        if manifest is not None:
            artifact = _artifact(manifest, VIA_COSIGN, tag, kind=kind, tag=tag)
            if wanted(artifact, types):
                cosign.append(artifact)
    return Subject(source, tuple(referrers), tuple(cosign), tuple(missing))


def discover_all(submit: Submit, sources: list[Reference], types: frozenset[str] = frozenset()) -> list[Subject]:
    """Every source's artifacts: each round for all sources at once."""

    lookups = Lookups(submit, types)
    readings = [read_tags(submit, d) for d in [start_discovery(lookups, ref) for ref in sources]]
    found = [complete(f, types) for f in [fetch_listed(submit, r) for r in readings]]
    for warning in lookups.warnings:  # lock and lock --check: no plan to show it in
        log.warning("%s", warning)
    return found


def _fetch_listed(client: RegistryClient, source: Reference, entry: Descriptor) -> Optional[Manifest]:
    """A listed referrer, verified: by digest, as listed, and pointing at the image. None: listed but gone
    (the tag schema's index is kept by clients, and may name a manifest deleted since)."""
    what = f"referrer {entry.digest} of {source}"
    # Gone only when it stays gone: one 404 from a registry's passing fault must not drop it.
    manifest, _ = again_while_missing(lambda: manifest_or_none(client, source.repository, entry.digest, what), what, client.timeout)
    if manifest is None:
        return None
    if (manifest.size, manifest.media_type) != (entry.size, entry.media_type):
        raise VerificationError(
            f"{what}: listed as {entry.media_type}, {entry.size} bytes, but the manifest is "
            f"{manifest.media_type}, {manifest.size} bytes"
        )
    if _subject_digest(manifest) != source.digest:
        raise VerificationError(f"{what}: its subject is {_subject_digest(manifest) or 'missing'}, not {source.digest}")
    return manifest


def _artifact(manifest: Manifest, via: str, what: str, *, kind: str = "", tag: str = "") -> Artifact:
    if manifest.media_type not in IMAGE_TYPES:
        raise VerificationError(f"{what}: is {manifest.media_type}; only image-manifest artifacts can be carried")
    body = manifest.json()
    config: dict[str, Any] = body["config"] if isinstance(body.get("config"), dict) else {}
    artifact_type = body.get("artifactType") or config.get("mediaType") or ""
    layers = [layer for layer in body.get("layers") or [] if isinstance(layer, dict)]
    raw = body.get("annotations") or {}
    annotations = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    kind = kind or classify(str(artifact_type), [str(layer.get("mediaType", "")) for layer in layers], annotations)
    return Artifact(manifest, kind, str(artifact_type), tuple(sorted(annotations.items())), blob_digests(body),
                    len(layers), via, tag)


def _subject_digest(manifest: Manifest) -> str:
    subject = manifest.json().get("subject")
    return str(subject.get("digest", "")) if isinstance(subject, dict) else ""


def listed_manifest(client: RegistryClient, repository: str, tag: str, what: str) -> Manifest:
    """A tag the repository's tag list has just shown: a 404 is read again, and an error if it stays."""
    manifest, reads = again_while_missing(lambda: manifest_or_none(client, repository, tag, what), what, client.timeout)
    if manifest is None:
        raise missing_after_seen(what, client.host, reads, "the repository's tag list has just shown it")
    return manifest


def manifest_or_none(client: RegistryClient, repository: str, ref: str, what: str) -> Optional[Manifest]:
    try:
        return client.get_manifest(repository, ref, what)
    except RegistryError as e:
        if e.not_found:
            return None
        raise

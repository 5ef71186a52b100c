"""Push tiny test images, indexes and buildx-style attestations over the registry HTTP API.

Every JSON document is serialised once (``json.dumps(obj, indent=2)``) and its digest is the
sha256 of exactly the bytes sent. Content is deterministic: the same arguments give the same
digests; a different ``seed`` or platform gives different ones.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import urljoin

import requests

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
IN_TOTO = "application/vnd.in-toto+json"
ACCEPT_ALL = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

ATTESTATION_PLATFORM: dict[str, str] = {"architecture": "unknown", "os": "unknown"}
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v0.2"

DEFAULT_LAYER_SIZE = 64
TIMEOUT = 30.0


class PushError(RuntimeError):
    """The registry answered a push or pull with an unexpected status."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(f"{message}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class PushedImage:
    """A manifest pushed into ``repo`` (``tag`` is None when pushed by digest)."""

    repo: str
    digest: str
    size: int
    media_type: str
    manifest_bytes: bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    platform: dict[str, Any] = field(hash=False)
    tag: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.repo}@{self.digest}"

    def descriptor(self, *, with_platform: bool = True) -> dict[str, Any]:
        """The index/list entry for this manifest (with its platform unless told not to)."""
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if with_platform and self.platform:
            desc["platform"] = dict(self.platform)
        return desc


@dataclass(frozen=True)
class PushedIndex:
    """An OCI index or Docker manifest list pushed into ``repo``."""

    repo: str
    digest: str
    size: int
    media_type: str
    manifest_bytes: bytes
    tag: str | None
    entries: tuple[PushedImage, ...]
    attestations: tuple[PushedImage, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.repo}@{self.digest}"

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.manifest_bytes)
        return parsed


# -- small helpers -----------------------------------------------------------------------------


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def json_bytes(obj: Any) -> bytes:
    """Deterministic serialisation used for everything pushed."""
    return json.dumps(obj, indent=2).encode("utf-8")


def _http(session: requests.Session | None) -> Any:
    return session if session is not None else requests


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def _expect(resp: requests.Response, status: int, what: str) -> None:
    if resp.status_code != status:
        raise PushError(f"{what} (expected {status})", resp.status_code, resp.text)


def _pseudo_random(seed_text: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed_text}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _tar_one_file(name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _platform(
    os: str,
    architecture: str,
    variant: str | None,
    os_version: str | None,
    os_features: Sequence[str] | None,
) -> dict[str, Any]:
    platform: dict[str, Any] = {"architecture": architecture, "os": os}
    if variant is not None:
        platform["variant"] = variant
    if os_version is not None:
        platform["os.version"] = os_version
    if os_features is not None:
        platform["os.features"] = list(os_features)
    return platform


def _layer_media_type(oci: bool, gzipped: bool) -> str:
    if oci:
        return OCI_LAYER_GZIP if gzipped else OCI_LAYER_TAR
    return DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER_TAR


# -- registry operations -----------------------------------------------------------------------


def push_blob(
    base_url: str, repo: str, data: bytes, session: requests.Session | None = None
) -> str:
    """Upload ``data`` as a blob (POST then monolithic PUT); return its digest."""
    http = _http(session)
    digest = sha256_digest(data)
    start = f"{_base(base_url)}/v2/{repo}/blobs/uploads/"
    resp = http.post(start, timeout=TIMEOUT)
    _expect(resp, 202, f"POST {start}")
    location = resp.headers.get("Location")
    if not location:
        raise PushError(f"POST {start}: no Location header", resp.status_code, resp.text)
    location = urljoin(start, location)
    sep = "&" if "?" in location else "?"
    resp = http.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=TIMEOUT,
    )
    _expect(resp, 201, f"PUT blob {digest} to {repo}")
    return digest


def put_manifest(
    base_url: str,
    repo: str,
    ref: str,
    manifest_bytes: bytes,
    media_type: str,
    session: requests.Session | None = None,
) -> str:
    """PUT a manifest/index by tag or digest with ``Content-Type: media_type``; return its digest."""
    digest = sha256_digest(manifest_bytes)
    url = f"{_base(base_url)}/v2/{repo}/manifests/{ref}"
    resp = _http(session).put(
        url, data=manifest_bytes, headers={"Content-Type": media_type}, timeout=TIMEOUT
    )
    _expect(resp, 201, f"PUT {url}")
    answered = resp.headers.get("Docker-Content-Digest")
    if answered and answered != digest:
        raise PushError(
            f"PUT {url}: Docker-Content-Digest {answered} != {digest}", resp.status_code, ""
        )
    return digest


def push_image(
    base_url: str,
    repo: str,
    tag_or_none: str | None,
    *,
    os: str = "linux",
    architecture: str = "amd64",
    variant: str | None = None,
    os_version: str | None = None,
    os_features: Sequence[str] | None = None,
    oci: bool = False,
    layer_size: int = DEFAULT_LAYER_SIZE,
    seed: int | str = 0,
    gzip_layer: bool = True,
    labels: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> PushedImage:
    """Push a one-layer image (config + layer + manifest); by tag if given, else by digest.

    The manifest is Docker v2 schema2, or OCI with ``oci=True``. The layer is a tar of one
    file of ``layer_size`` bytes derived from ``seed`` and the platform, gzip-compressed
    (``gzip_layer=False``: the raw tar, with the uncompressed layer media type).
    """
    platform = _platform(os, architecture, variant, os_version, os_features)
    platform_text = json.dumps(platform, sort_keys=True)
    content = _pseudo_random(f"{seed}|{platform_text}", layer_size)
    layer_tar = _tar_one_file("hello.bin", content)
    layer = gzip.compress(layer_tar, mtime=0) if gzip_layer else layer_tar

    config: dict[str, Any] = {"architecture": architecture, "os": os}
    if variant is not None:
        config["variant"] = variant
    if os_version is not None:
        config["os.version"] = os_version
    if os_features is not None:
        config["os.features"] = list(os_features)
    config["rootfs"] = {"type": "layers", "diff_ids": [sha256_digest(layer_tar)]}
    config["config"] = {"Labels": dict(labels)} if labels is not None else {}
    config_bytes = json_bytes(config)

    config_digest = push_blob(base_url, repo, config_bytes, session=session)
    layer_digest = push_blob(base_url, repo, layer, session=session)

    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "size": len(config_bytes),
            "digest": config_digest,
        },
        "layers": [
            {
                "mediaType": _layer_media_type(oci, gzip_layer),
                "size": len(layer),
                "digest": layer_digest,
            }
        ],
    }
    manifest_bytes = json_bytes(manifest)
    digest = sha256_digest(manifest_bytes)
    put_manifest(
        base_url, repo, tag_or_none or digest, manifest_bytes, media_type, session=session
    )
    return PushedImage(
        repo=repo,
        digest=digest,
        size=len(manifest_bytes),
        media_type=media_type,
        manifest_bytes=manifest_bytes,
        config_digest=config_digest,
        layer_digests=(layer_digest,),
        platform=platform,
        tag=tag_or_none,
    )


def push_attestation(
    base_url: str,
    repo: str,
    subject: PushedImage,
    *,
    session: requests.Session | None = None,
) -> PushedImage:
    """Push (by digest) a buildx-style attestation manifest for ``subject``."""
    platform_str = "/".join(
        str(subject.platform[k]) for k in ("os", "architecture", "variant") if k in subject.platform
    )
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_PROVENANCE,
        "subject": [
            {
                "name": f"pkg:docker/{repo}?platform={platform_str.replace('/', '%2F')}",
                "digest": {"sha256": subject.digest.split(":", 1)[1]},
            }
        ],
        "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1"},
    }
    statement_bytes = json_bytes(statement)
    statement_digest = push_blob(base_url, repo, statement_bytes, session=session)
    config = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [statement_digest]},
    }
    config_bytes = json_bytes(config)
    config_digest = push_blob(base_url, repo, config_bytes, session=session)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [
            {
                "mediaType": IN_TOTO,
                "digest": statement_digest,
                "size": len(statement_bytes),
                "annotations": {PREDICATE_TYPE_ANNOTATION: SLSA_PROVENANCE},
            }
        ],
    }
    manifest_bytes = json_bytes(manifest)
    digest = sha256_digest(manifest_bytes)
    put_manifest(base_url, repo, digest, manifest_bytes, OCI_MANIFEST, session=session)
    return PushedImage(
        repo=repo,
        digest=digest,
        size=len(manifest_bytes),
        media_type=OCI_MANIFEST,
        manifest_bytes=manifest_bytes,
        config_digest=config_digest,
        layer_digests=(statement_digest,),
        platform=dict(ATTESTATION_PLATFORM),
        tag=None,
    )


def attestation_descriptor(attestation: PushedImage, subject: PushedImage) -> dict[str, Any]:
    """Index entry for an attestation manifest, field order as buildx writes it."""
    return {
        "mediaType": attestation.media_type,
        "digest": attestation.digest,
        "size": attestation.size,
        "annotations": {
            REFERENCE_DIGEST: subject.digest,
            REFERENCE_TYPE: ATTESTATION_MANIFEST,
        },
        "platform": dict(ATTESTATION_PLATFORM),
    }


def push_index(
    base_url: str,
    repo: str,
    tag: str | None,
    entries: Sequence[PushedImage],
    *,
    oci: bool = True,
    attestations: bool = False,
    annotations: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> PushedIndex:
    """Push an OCI index (or Docker manifest list with ``oci=False``) of ``entries``.

    The children must already be in ``repo`` (the registry answers 400 otherwise, raised as
    :class:`PushError`). With ``attestations=True`` an attestation manifest is pushed for each
    entry and listed after all the platform entries, as docker buildx does. Pushed by tag if
    given, else by digest.
    """
    descriptors: list[dict[str, Any]] = [e.descriptor() for e in entries]
    pushed_attestations: list[PushedImage] = []
    if attestations:
        for entry in entries:
            att = push_attestation(base_url, repo, entry, session=session)
            pushed_attestations.append(att)
            descriptors.append(attestation_descriptor(att, entry))
    media_type = OCI_INDEX if oci else DOCKER_LIST
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": descriptors,
    }
    if annotations:
        index["annotations"] = dict(annotations)
    index_bytes = json_bytes(index)
    digest = sha256_digest(index_bytes)
    put_manifest(base_url, repo, tag or digest, index_bytes, media_type, session=session)
    return PushedIndex(
        repo=repo,
        digest=digest,
        size=len(index_bytes),
        media_type=media_type,
        manifest_bytes=index_bytes,
        tag=tag,
        entries=tuple(entries),
        attestations=tuple(pushed_attestations),
    )


def get_manifest(
    base_url: str, repo: str, ref: str, session: requests.Session | None = None
) -> tuple[bytes, str, str]:
    """GET a manifest or index (Accept: all four types); return (bytes, media type, digest).

    The digest is the sha256 of the bytes received; a differing ``Docker-Content-Digest``
    raises :class:`PushError`.
    """
    url = f"{_base(base_url)}/v2/{repo}/manifests/{ref}"
    resp = _http(session).get(url, headers={"Accept": ACCEPT_ALL}, timeout=TIMEOUT)
    _expect(resp, 200, f"GET {url}")
    body = resp.content
    digest = sha256_digest(body)
    answered = resp.headers.get("Docker-Content-Digest")
    if answered and answered != digest:
        raise PushError(f"GET {url}: Docker-Content-Digest {answered} != {digest}", 200, "")
    media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    return body, media_type, digest


def get_blob(
    base_url: str, repo: str, digest: str, session: requests.Session | None = None
) -> bytes:
    """GET a blob and check its digest."""
    url = f"{_base(base_url)}/v2/{repo}/blobs/{digest}"
    resp = _http(session).get(url, timeout=TIMEOUT)
    _expect(resp, 200, f"GET {url}")
    if sha256_digest(resp.content) != digest:
        raise PushError(f"GET {url}: body does not match digest", 200, "")
    return bytes(resp.content)


def list_tags(base_url: str, repo: str, session: requests.Session | None = None) -> list[str]:
    """Tags of ``repo`` (following ``Link`` pagination); [] for a repo with no tags."""
    http = _http(session)
    url: str | None = f"{_base(base_url)}/v2/{repo}/tags/list"
    tags: list[str] = []
    while url:
        resp = http.get(url, timeout=TIMEOUT)
        if resp.status_code == 404 and "NAME_UNKNOWN" in resp.text and not tags:
            return []
        _expect(resp, 200, f"GET {url}")
        tags.extend(resp.json().get("tags") or [])
        next_link = resp.links.get("next", {}).get("url")
        url = urljoin(url, next_link) if next_link else None
    return tags

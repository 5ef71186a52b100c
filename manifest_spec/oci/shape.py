"""Is a registry's manifest shaped as its media type says, before any field of it is used?"""

from __future__ import annotations

import json
from typing import Any

from manifest_spec.errors import VerificationError, json_kind
from manifest_spec.oci.index import DIGEST_GRAMMAR_RE, INDEX_TYPES, MANIFEST_ACCEPT

SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


def _descriptor(value: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} is {json_kind(value)}, not a descriptor object"]
    problems = []
    if not isinstance(value.get("mediaType"), str):
        problems.append(f"{where}.mediaType is {json_kind(value.get('mediaType'))}, not a text")
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST_GRAMMAR_RE.fullmatch(digest):
        problems.append(f"{where}.digest is not a digest")
    size = value.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        problems.append(f"{where}.size is {json_kind(size)}, not a byte count")
    platform = value.get("platform")
    if platform is not None:
        if not isinstance(platform, dict):
            problems.append(f"{where}.platform is {json_kind(platform)}, not an object")
        else:
            problems += [f"{where}.platform.{key} is not a text" for key in ("os", "architecture", "variant", "os.version")
                         if key in platform and not isinstance(platform[key], str)]
    annotations = value.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())):
        problems.append(f"{where}.annotations is not an object of texts")
    return problems


def check_manifest_shape(body: dict[str, Any], media_type: str, what: str) -> None:
    """Raise one VerificationError naming the first few fields that are not what the type promises."""
    if media_type in INDEX_TYPES:
        entries = body.get("manifests")
        if not isinstance(entries, list):
            problems = [f"manifests is {json_kind(entries)}, not a list"]
        else:
            problems = [p for i, entry in enumerate(entries) for p in _descriptor(entry, f"manifests[{i}]")]
    else:
        problems = _descriptor(body.get("config"), "config")
        layers = body.get("layers")
        if not isinstance(layers, list):
            problems.append(f"layers is {json_kind(layers)}, not a list")
        else:
            problems += [p for i, layer in enumerate(layers) for p in _descriptor(layer, f"layers[{i}]")]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise VerificationError(f"{what}: the registry's {media_type} is malformed: {'; '.join(problems[:3])}{more}")


def check_manifest(data: bytes, content_type: str, what: str) -> str:
    """The media type of manifest bytes as received, after checking JSON, type and shape."""
    try:
        body = json.loads(data)
    except ValueError as e:
        raise VerificationError(f"{what}: the manifest is not valid JSON ({e})") from e
    if not isinstance(body, dict):
        raise VerificationError(f"{what}: the manifest is not a JSON object")
    if content_type in SCHEMA1_TYPES or body.get("schemaVersion") == 1:
        raise VerificationError(
            f"{what}: is a Docker schema 1 manifest, which registries and docker no longer accept; rebuild and push the image again"
        )
    declared = body.get("mediaType")
    if isinstance(declared, str) and declared and content_type and declared != content_type:
        raise VerificationError(f"{what}: served as {content_type} but the manifest says mediaType {declared}")
    media_type = declared if isinstance(declared, str) and declared else content_type
    if media_type not in MANIFEST_ACCEPT:
        raise VerificationError(f"{what}: unsupported manifest media type {media_type or '(none)'}")
    check_manifest_shape(body, media_type, what)
    return media_type

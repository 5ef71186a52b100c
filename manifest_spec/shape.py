"""Is a registry's manifest shaped as its media type says, before any field of it is used?"""

from __future__ import annotations

from typing import Any

from manifest_spec.errors import VerificationError
from manifest_spec.index import DIGEST_GRAMMAR_RE, INDEX_TYPES


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "null"
    )


def _descriptor(value: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} is {_kind(value)}, not a descriptor object"]
    problems = []
    if not isinstance(value.get("mediaType"), str):
        problems.append(f"{where}.mediaType is {_kind(value.get('mediaType'))}, not a text")
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST_GRAMMAR_RE.fullmatch(digest):
        problems.append(f"{where}.digest is not a digest")
    size = value.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        problems.append(f"{where}.size is {_kind(size)}, not a byte count")
    platform = value.get("platform")
    if platform is not None:
        if not isinstance(platform, dict):
            problems.append(f"{where}.platform is {_kind(platform)}, not an object")
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
            problems = [f"manifests is {_kind(entries)}, not a list"]
        else:
            problems = [p for i, entry in enumerate(entries) for p in _descriptor(entry, f"manifests[{i}]")]
    else:
        problems = _descriptor(body.get("config"), "config")
        layers = body.get("layers")
        if not isinstance(layers, list):
            problems.append(f"layers is {_kind(layers)}, not a list")
        else:
            problems += [p for i, layer in enumerate(layers) for p in _descriptor(layer, f"layers[{i}]")]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise VerificationError(f"{what}: the registry's {media_type} is malformed: {'; '.join(problems[:3])}{more}")

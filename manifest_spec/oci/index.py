"""Build and parse Docker manifest lists and OCI image indexes, byte for byte as manifest-tool v2. Pure."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, Union

from manifest_spec.errors import ManifestSpecError
from manifest_spec.oci.platforms import Platform

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

INDEX_TYPES: frozenset[str] = frozenset({DOCKER_LIST, OCI_INDEX})
IMAGE_TYPES: frozenset[str] = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
# Index types first so a registry answering by preference returns the list, not one image.
MANIFEST_ACCEPT: tuple[str, ...] = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

# The OCI image-spec digest grammar: algorithm ":" encoded.
DIGEST_GRAMMAR_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")

_Json = Union[str, int, list[Any], dict[str, Any]]  # what an index holds once decoded


class Described(Protocol):
    """Anything a descriptor can be made of: a Descriptor, a Manifest, a BuiltIndex, a layer."""

    @property
    def media_type(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...


def descriptor_json(what: Described, **more: Any) -> dict[str, Any]:
    """`{"mediaType", "digest", "size"}` (the order of the OCI and Docker descriptors), then `more`."""
    return {"mediaType": what.media_type, "digest": what.digest, "size": what.size, **more}


@dataclass(frozen=True)
class Descriptor:
    """One entry of an index: what manifest-tool puts in `manifests`."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    def __post_init__(self) -> None:
        # Keep annotations canonical (sorted, unique keys) so equal descriptors hash equal and
        # serialize in Go's map-key order; a Mapping is accepted for convenience.
        raw = self.annotations
        items = list(raw.items()) if isinstance(raw, Mapping) else list(raw)
        for key, value in items:
            if not isinstance(key, str) or not isinstance(value, str):
                raise ManifestSpecError(f"descriptor {self.digest}: annotation {key!r}: {value!r} is not a string pair")
        pairs = tuple(sorted(items))
        if len({k for k, _ in pairs}) != len(pairs):
            raise ManifestSpecError(f"descriptor {self.digest}: duplicate annotation keys")
        object.__setattr__(self, "annotations", pairs)
        object.__setattr__(self, "urls", tuple(self.urls))

    @staticmethod
    def from_json(obj: Any) -> Descriptor:
        """Parse one descriptor as found in an index's `manifests` array."""
        if not isinstance(obj, dict):
            raise ManifestSpecError(f"descriptor must be a JSON object, got {_kind(obj)}")
        media_type = _str_field(obj, "mediaType", "descriptor", required=True)
        digest = _str_field(obj, "digest", "descriptor", required=True)
        where = f"descriptor {digest}"
        # Go decodes "platform": null to a nil pointer, i.e. absent.
        platform = None if obj.get("platform") is None else _platform_from_json(obj["platform"], where)
        annotations = _annotations_from_json(obj.get("annotations"), where)
        urls = _str_list(obj.get("urls"), f"{where}: urls")
        artifact_type = _str_field(obj, "artifactType", where)
        desc = Descriptor(
            media_type=media_type,
            digest=digest,
            size=obj.get("size"),  # type: ignore[arg-type]  # checked just below
            platform=platform,
            annotations=tuple(annotations.items()),
            urls=tuple(urls),
            artifact_type=artifact_type,
        )
        _check_descriptor(desc)
        return desc


@dataclass(frozen=True)
class BuiltIndex:
    """The exact bytes of an index and their content address."""

    media_type: str
    data: bytes
    digest: str
    size: int


def digest_of(data: bytes) -> str:
    """The sha256 content digest of data, as registries name it."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_as(data: bytes, like: str) -> str:
    """The digest of data by the algorithm `like` names (sha256 or sha512), to compare with it."""
    algorithm = like.partition(":")[0]
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest() if algorithm in ("sha256", "sha512") else digest_of(data)


def build_index(
    descriptors: Sequence[Descriptor],
    *,
    oci: bool,
    annotations: Mapping[str, str] | None = None,
) -> BuiltIndex:
    """Serialize descriptors as manifest-tool's json.MarshalIndent(index, "", "  ") would."""
    if not descriptors:
        # manifest-tool would write "manifests": null; an empty index is a mistake upstream.
        raise ManifestSpecError("an index needs at least one manifest")
    for desc in descriptors:
        _check_descriptor(desc)
    if oci:
        doc: dict[str, _Json] = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            # artifactType and subject (image-spec v1.1) sit here; manifest-tool never sets them.
            "manifests": [_oci_descriptor(d) for d in descriptors],
        }
        if annotations:
            doc["annotations"] = _go_map(annotations, "index annotations")
        media_type = OCI_INDEX
    else:
        if annotations:
            raise ManifestSpecError("Docker manifest lists carry no annotations; use --type oci")
        doc = {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [_docker_descriptor(d) for d in descriptors],
        }
        media_type = DOCKER_LIST
    data = _marshal_indent(doc).encode("utf-8")
    return BuiltIndex(media_type=media_type, data=data, digest=digest_of(data), size=len(data))


def parse_index(data: bytes) -> tuple[str, list[Descriptor], dict[str, str]]:
    """Parse index bytes into (media type, descriptors, annotations); media type "" if absent."""
    try:
        doc = json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both derive from it
        raise ManifestSpecError(f"index is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestSpecError(f"index must be a JSON object, got {_kind(doc)}")
    if doc.get("schemaVersion") != 2 or isinstance(doc.get("schemaVersion"), bool):
        raise ManifestSpecError(f"index schemaVersion must be 2, got {doc.get('schemaVersion')!r}")
    media_type = _str_field(doc, "mediaType", "index")
    if media_type and media_type not in INDEX_TYPES:
        raise ManifestSpecError(f"not an index: mediaType is {media_type!r}")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise ManifestSpecError(f"index manifests must be an array, got {_kind(manifests)}")
    descriptors = [Descriptor.from_json(item) for item in manifests]
    return media_type, descriptors, _annotations_from_json(doc.get("annotations"), "index")


# --- validation -------------------------------------------------------------------------


def _check_descriptor(desc: Descriptor) -> None:
    where = f"descriptor {desc.digest or '(no digest)'}"
    if not desc.media_type:
        raise ManifestSpecError(f"{where}: mediaType is empty")
    if not DIGEST_GRAMMAR_RE.fullmatch(desc.digest):
        raise ManifestSpecError(f"{where}: digest is not of the form algorithm:hex")
    # bool is an int subclass in Python; JSON true is not a size.
    if isinstance(desc.size, bool) or not isinstance(desc.size, int) or desc.size < 0:
        raise ManifestSpecError(f"{where}: size must be a non-negative integer, got {desc.size!r}")


def _go_map(mapping: Mapping[str, str], where: str) -> dict[str, str]:
    # Go's encoder sorts map keys bytewise; code-point order on str is the same order.
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ManifestSpecError(f"{where}: keys and values must be strings, got {key!r}: {value!r}")
    return dict(sorted(mapping.items()))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _str_field(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ManifestSpecError(f"{where}: {key} is missing")
        return ""
    if not isinstance(value, str):
        raise ManifestSpecError(f"{where}: {key} must be a string, got {_kind(value)}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestSpecError(f"{where} must be an array of strings")
    return value


def _annotations_from_json(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestSpecError(f"{where}: annotations must be an object of strings")
    return dict(value)


def _platform_from_json(value: Any, where: str) -> Platform:
    if not isinstance(value, dict):
        raise ManifestSpecError(f"{where}: platform must be an object, got {_kind(value)}")
    return Platform(
        os=_str_field(value, "os", f"{where}: platform"),
        architecture=_str_field(value, "architecture", f"{where}: platform"),
        variant=_str_field(value, "variant", f"{where}: platform"),
        os_version=_str_field(value, "os.version", f"{where}: platform"),
        os_features=tuple(_str_list(value.get("os.features"), f"{where}: platform os.features")),
    )


# --- Go struct layouts ------------------------------------------------------------------


def _oci_descriptor(desc: Descriptor) -> dict[str, _Json]:
    # image-spec v1.1 specs-go Descriptor: mediaType, digest, size, urls, annotations, data,
    # platform, artifactType. digest and size have no omitempty; `data` is never set here.
    out: dict[str, _Json] = descriptor_json(desc)
    if desc.urls:
        out["urls"] = list(desc.urls)
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)  # already sorted, see Descriptor
    if desc.platform is not None:
        out["platform"] = desc.platform.to_json()
    if desc.artifact_type:
        out["artifactType"] = desc.artifact_type
    return out


def _docker_descriptor(desc: Descriptor) -> dict[str, _Json]:
    # distribution manifestlist.ManifestDescriptor: the embedded distribution.Descriptor
    # (mediaType, size, digest, urls, annotations; all omitempty) then `platform` (no omitempty).
    where = f"manifest {desc.digest}"
    if desc.media_type in (OCI_MANIFEST, OCI_INDEX):
        raise ManifestSpecError(
            f"{where} is an OCI {'index' if desc.media_type == OCI_INDEX else 'manifest'} and cannot go "
            "in a Docker manifest list (registries such as Nexus and Quay reject it); use --type oci"
        )
    if desc.media_type != DOCKER_MANIFEST:
        raise ManifestSpecError(f"{where}: a Docker manifest list can only hold {DOCKER_MANIFEST}, not {desc.media_type}")
    if desc.annotations:
        raise ManifestSpecError(f"{where}: Docker manifest lists carry no annotations; use --type oci")
    if desc.artifact_type:
        # distribution.Descriptor has no artifactType field: Go would drop it silently.
        raise ManifestSpecError(f"{where}: Docker manifest lists carry no artifactType; use --type oci")
    if desc.platform is None:
        raise ManifestSpecError(f"{where}: a Docker manifest list entry needs a platform")
    out: dict[str, _Json] = {"mediaType": desc.media_type}
    if desc.size:  # omitempty: Go drops a zero size in Docker lists
        out["size"] = desc.size
    out["digest"] = desc.digest
    if desc.urls:
        out["urls"] = list(desc.urls)
    out["platform"] = desc.platform.to_json()
    return out


# --- Go encoding/json -------------------------------------------------------------------

# Go's encodeState string encoder with escapeHTML=true (what json.Marshal uses). Since Go 1.22
# \b and \f are written short; manifest-tool v2 releases are built with Go >= 1.22 (1.26 today),
# so we do too. Other C0 controls become \u00XX with lowercase hex; DEL (0x7f) stays raw;
# <, >, & and U+2028/U+2029 are escaped so the JSON is safe inside HTML <script>.
_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)
# Go coerces invalid UTF-8 to U+FFFD; a Python str's only invalid-UTF-8 case is a lone surrogate.
_ESCAPES.update({c: "\\ufffd" for c in range(0xD800, 0xE000)})


def _go_string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def _marshal_indent(value: _Json, depth: int = 0) -> str:
    """Go's MarshalIndent(value, "", "  ") for str/int/list/dict; dict keys kept in insertion order."""
    if isinstance(value, bool):  # never produced here; guard so True is not written as 1
        raise TypeError("booleans are not part of an index")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _go_string(value)
    inner = "  " * (depth + 1)
    close = "  " * depth
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [inner + _marshal_indent(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + close + "]"
    if not value:
        return "{}"
    # Struct-shaped dicts carry Go's field order; map-shaped ones were sorted when built.
    items = [inner + _go_string(k) + ": " + _marshal_indent(v, depth + 1) for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + close + "}"

"""Byte-exact index building against manifest-tool vectors, plus unit tests. No network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from manifest_spec.errors import ManifestSpecError
from manifest_spec.oci.index import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltIndex,
    Descriptor,
    build_index,
    parse_index,
)
from manifest_spec.oci.platforms import Platform

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# Digests and sizes as published in the vectors README (what manifest-tool pushed).
EXPECTED = {
    "docker-list.json": ("sha256:d87244fb1bb1eda45f99101fb660bde43f31c5423492118497cc5bb03f5936c1", 1391),
    "oci-index.json": ("sha256:61129ecea723f1eab628c09ef45accdea258f50a546321506ea18c1cb04d3558", 884),
}

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
AMD64 = Platform(os="linux", architecture="amd64")


def _vector(name: str) -> bytes:
    path = VECTORS / name
    # A missing shared dir must fail loudly, never skip: these bytes are the whole point.
    assert VECTORS.is_dir(), f"vector directory {VECTORS} is missing; the byte-exact tests cannot run"
    assert path.is_file(), f"vector {path} is missing"
    return path.read_bytes()


# --- vectors ----------------------------------------------------------------------------


def test_every_vector_file_has_an_expected_digest() -> None:
    assert VECTORS.is_dir(), f"vector directory {VECTORS} is missing"
    found = sorted(p.name for p in VECTORS.glob("*.json"))
    assert found == sorted(EXPECTED), f"vectors on disk {found} differ from those this test knows"


def test_readme_lists_the_same_digests() -> None:
    readme = (VECTORS / "README.md")
    assert readme.is_file(), f"{readme} is missing"
    text = readme.read_text(encoding="utf-8")
    for name, (digest, size) in EXPECTED.items():
        assert f"| {name} | {digest} | {size} |" in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_rebuilt_byte_for_byte(name: str) -> None:
    data = _vector(name)
    digest, size = EXPECTED[name]
    assert hashlib.sha256(data).hexdigest() == digest.split(":", 1)[1], "vector file itself changed"
    media_type, descriptors, annotations = parse_index(data)
    built = build_index(descriptors, oci=media_type == OCI_INDEX, annotations=annotations)
    assert built.data == data
    assert built.digest == digest
    assert built.size == size == len(data)
    assert built.media_type == media_type


def test_vector_descriptors_parsed_fully() -> None:
    media_type, descriptors, annotations = parse_index(_vector("docker-list.json"))
    assert media_type == DOCKER_LIST
    assert annotations == {}
    assert [str(d.platform) for d in descriptors] == [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "windows/amd64 (os.version 10.0.17763.2300) (os.features win32k)",
    ]
    assert descriptors[3].platform == Platform("windows", "amd64", "", "10.0.17763.2300", ("win32k",))
    assert {d.size for d in descriptors} == {497}

    media_type, descriptors, annotations = parse_index(_vector("oci-index.json"))
    assert media_type == OCI_INDEX
    assert annotations["org.opencontainers.image.title"] == "Tom & Jerry <demo>"
    assert annotations["org.opencontainers.image.description"] == "naïve café — déjà vu"
    assert all(d.media_type == OCI_MANIFEST for d in descriptors)


# --- unit tests -------------------------------------------------------------------------


def test_determinism_and_annotation_order_independence() -> None:
    descs = [Descriptor(OCI_MANIFEST, D1, 10, AMD64, (("b", "2"), ("a", "1")))]
    first = build_index(descs, oci=True, annotations={"z": "1", "a": "2", "m": "3"})
    second = build_index(
        [Descriptor(OCI_MANIFEST, D1, 10, AMD64, {"a": "1", "b": "2"})],  # type: ignore[arg-type]
        oci=True,
        annotations={"m": "3", "z": "1", "a": "2"},
    )
    assert first == second
    text = first.data.decode()
    assert text.index('"a": "2"') < text.index('"m": "3"') < text.index('"z": "1"')
    assert text.index('"a": "1"') < text.index('"b": "2"')
    assert first.digest == "sha256:" + hashlib.sha256(first.data).hexdigest()
    assert first.size == len(first.data)
    assert not first.data.endswith(b"\n")


def test_descriptor_order_is_kept() -> None:
    built = build_index(
        [Descriptor(OCI_MANIFEST, D2, 1, AMD64), Descriptor(OCI_MANIFEST, D1, 2, AMD64)], oci=True
    )
    text = built.data.decode()
    assert text.index(D2) < text.index(D1)


def test_escaping_like_go() -> None:
    value = "<a> & \u2028\u2029 naïve \"q\" \\ \n\r\t\b\f\x01\x1f\x7f é"
    built = build_index([Descriptor(OCI_MANIFEST, D1, 1, AMD64)], oci=True, annotations={"k<&>": value})
    expected_value = (
        '"\\u003ca\\u003e \\u0026 \\u2028\\u2029 naïve \\"q\\" \\\\ '
        '\\n\\r\\t\\b\\f\\u0001\\u001f\x7f é"'
    )
    line = f'    "k\\u003c\\u0026\\u003e": {expected_value}\n'
    assert line.encode("utf-8") in built.data
    # Raw UTF-8 for other non-ASCII; the result is valid JSON that decodes back to the input.
    assert "naïve".encode("utf-8") in built.data
    assert json.loads(built.data)["annotations"] == {"k<&>": value}


def test_lone_surrogate_becomes_replacement_like_go_invalid_utf8() -> None:
    built = build_index([Descriptor(OCI_MANIFEST, D1, 1, AMD64)], oci=True, annotations={"k": "a\udc80b"})
    assert b'"k": "a\\ufffdb"' in built.data


def test_empty_fields_omitted_exact_bytes() -> None:
    built = build_index(
        [Descriptor(OCI_MANIFEST, D1, 7, None), Descriptor(DOCKER_MANIFEST, D2, 8, Platform("linux", "arm64"))],
        oci=True,
        annotations={},
    )
    expected = (
        "{\n"
        '  "schemaVersion": 2,\n'
        f'  "mediaType": "{OCI_INDEX}",\n'
        '  "manifests": [\n'
        "    {\n"
        f'      "mediaType": "{OCI_MANIFEST}",\n'
        f'      "digest": "{D1}",\n'
        '      "size": 7\n'
        "    },\n"
        "    {\n"
        f'      "mediaType": "{DOCKER_MANIFEST}",\n'
        f'      "digest": "{D2}",\n'
        '      "size": 8,\n'
        '      "platform": {\n'
        '        "architecture": "arm64",\n'
        '        "os": "linux"\n'
        "      }\n"
        "    }\n"
        "  ]\n"
        "}"
    )
    assert built.data.decode("utf-8") == expected


def test_oci_member_annotations_and_attestation_in_oci_order() -> None:
    attestation = Descriptor(
        OCI_MANIFEST,
        D2,
        566,
        Platform("unknown", "unknown"),
        (("vnd.docker.reference.type", "attestation-manifest"), ("vnd.docker.reference.digest", D1)),
        urls=("https://example.com/blob",),
        artifact_type="application/vnd.example+json",
    )
    image = Descriptor(
        OCI_MANIFEST,
        D1,
        1000,
        Platform("linux", "arm", "v7", "", ()),
        (("org.opencontainers.image.ref.name", "v1"),),
    )
    built = build_index([image, attestation], oci=True, annotations={"org.opencontainers.image.source": "x"})
    expected = (
        "{\n"
        '  "schemaVersion": 2,\n'
        f'  "mediaType": "{OCI_INDEX}",\n'
        '  "manifests": [\n'
        "    {\n"
        f'      "mediaType": "{OCI_MANIFEST}",\n'
        f'      "digest": "{D1}",\n'
        '      "size": 1000,\n'
        '      "annotations": {\n'
        '        "org.opencontainers.image.ref.name": "v1"\n'
        "      },\n"
        '      "platform": {\n'
        '        "architecture": "arm",\n'
        '        "os": "linux",\n'
        '        "variant": "v7"\n'
        "      }\n"
        "    },\n"
        "    {\n"
        f'      "mediaType": "{OCI_MANIFEST}",\n'
        f'      "digest": "{D2}",\n'
        '      "size": 566,\n'
        '      "urls": [\n'
        '        "https://example.com/blob"\n'
        "      ],\n"
        '      "annotations": {\n'
        f'        "vnd.docker.reference.digest": "{D1}",\n'
        '        "vnd.docker.reference.type": "attestation-manifest"\n'
        "      },\n"
        '      "platform": {\n'
        '        "architecture": "unknown",\n'
        '        "os": "unknown"\n'
        "      },\n"
        '      "artifactType": "application/vnd.example+json"\n'
        "    }\n"
        "  ],\n"
        '  "annotations": {\n'
        '    "org.opencontainers.image.source": "x"\n'
        "  }\n"
        "}"
    )
    assert built.data.decode("utf-8") == expected
    # And what we write, we read back identically.
    assert parse_index(built.data) == (OCI_INDEX, [image, attestation], {"org.opencontainers.image.source": "x"})


def test_docker_list_descriptor_order_with_urls() -> None:
    desc = Descriptor(DOCKER_MANIFEST, D1, 5, Platform("windows", "amd64", "", "10.0", ("win32k",)), urls=("u",))
    text = build_index([desc], oci=False).data.decode()
    keys = [line.strip().split('"')[1] for line in text.splitlines() if line.startswith('      "')]
    assert keys == ["mediaType", "size", "digest", "urls", "platform"]
    assert '"os.version": "10.0",\n        "os.features": [\n          "win32k"\n        ]\n' in text


def test_docker_manifest_inside_oci_index_is_allowed() -> None:
    built = build_index([Descriptor(DOCKER_MANIFEST, D1, 3, AMD64)], oci=True)
    assert isinstance(built, BuiltIndex)
    assert built.media_type == OCI_INDEX
    assert json.loads(built.data)["manifests"][0]["mediaType"] == DOCKER_MANIFEST


def test_error_annotations_on_docker_list() -> None:
    with pytest.raises(ManifestSpecError, match=r"no annotations; use --type oci"):
        build_index([Descriptor(DOCKER_MANIFEST, D1, 3, AMD64)], oci=False, annotations={"a": "b"})
    with pytest.raises(ManifestSpecError, match=r"no annotations; use --type oci"):
        build_index([Descriptor(DOCKER_MANIFEST, D1, 3, AMD64, (("a", "b"),))], oci=False)


def test_error_oci_manifest_inside_docker_list() -> None:
    with pytest.raises(ManifestSpecError, match=r"OCI manifest.*--type oci"):
        build_index([Descriptor(OCI_MANIFEST, D1, 3, AMD64)], oci=False)


def test_error_docker_entry_without_platform() -> None:
    with pytest.raises(ManifestSpecError, match=r"needs a platform"):
        build_index([Descriptor(DOCKER_MANIFEST, D1, 3, None)], oci=False)


@pytest.mark.parametrize(
    "desc, message",
    [
        (Descriptor(OCI_MANIFEST, "not-a-digest", 3, AMD64), "digest"),
        (Descriptor(OCI_MANIFEST, D1, -1, AMD64), "size"),
        (Descriptor("", D1, 3, AMD64), "mediaType"),
    ],
)
def test_error_malformed_descriptor(desc: Descriptor, message: str) -> None:
    with pytest.raises(ManifestSpecError, match=message):
        build_index([desc], oci=True)


def test_error_empty_index() -> None:
    with pytest.raises(ManifestSpecError, match="at least one manifest"):
        build_index([], oci=True)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"schemaVersion": 1, "manifests": []}', "schemaVersion"),
        (b'{"schemaVersion": 2}', "manifests must be an array"),
        (b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "manifests": []}', "not an index"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "' + D1.encode() + b'", "size": 1}]}', "mediaType is missing"),
        (b'{"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "' + D1.encode() + b'", "size": true}]}', "size"),
        (b'{"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "' + D1.encode() + b'", "size": 1, "platform": []}]}', "platform"),
        (b'{"schemaVersion": 2, "manifests": [], "annotations": {"a": 1}}', "annotations"),
    ],
)
def test_parse_index_rejects_malformed(data: bytes, message: str) -> None:
    with pytest.raises(ManifestSpecError, match=message):
        parse_index(data)


def test_descriptor_is_hashable_and_canonical() -> None:
    a = Descriptor(OCI_MANIFEST, D1, 1, AMD64, (("z", "1"), ("a", "2")))
    b = Descriptor(OCI_MANIFEST, D1, 1, AMD64, (("a", "2"), ("z", "1")))
    assert a == b and hash(a) == hash(b)
    assert a.annotations == (("a", "2"), ("z", "1"))
    with pytest.raises(ManifestSpecError, match="duplicate"):
        Descriptor(OCI_MANIFEST, D1, 1, AMD64, (("a", "1"), ("a", "2")))

"""The upload protocol by the spec's letter and registries' practice: any 2xx where the spec allows it,
a missing Location keeps the session URL, a Location that is no upload URL is an error (and never sent a
DELETE), an answer the protocol does not allow names what was expected. Through a proxy in front of
the real registry, copying from go-containerregistry's (another registry: every blob is streamed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.clirun import assert_clean_failure, assert_ok, push_spec, tag_digest
from support.faults import FaultProxy, Reply, set_header
from support.ggcr import GgcrRegistry
from support.images import get_blob, push_image
from support.profiles import MiB, record_patch_sizes, watch_uploads
from support.registry import Registry, unique_repo_name
from support.specs import AMD64, spec


def copy_spec(ggcr: GgcrRegistry, source_repo: str, target_host: str, target_repo: str) -> dict[str, object]:
    return spec(f"{target_host}/{target_repo}:v1", (f"{ggcr.host}/{source_repo}:amd64", AMD64))


def status(code: int) -> "object":
    from dataclasses import replace

    return lambda reply: replace(reply, status=code)


@pytest.mark.parametrize("code", [200, 201, 204])
def test_a_chunk_answered_with_any_2xx_and_no_location_keeps_the_session(
    registry: Registry, ggcr: GgcrRegistry, tmp_path: Path, code: int
) -> None:
    # In front of ggcr, whose session URL never changes (distribution's carries state that does).
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    image = push_image(registry.url, source, "amd64", layer_size=6 * MiB, seed=f"2xx-{code}")
    with FaultProxy(ggcr.host) as proxy:
        ledger = watch_uploads(proxy)
        proxy.inject("PATCH", r"/blobs/uploads/", lambda r: set_header("Location", None)(status(code)(r)))  # type: ignore[operator]
        assert_ok(push_spec(tmp_path, spec(f"{proxy.host}/{target}:v1", (f"{registry.host}/{source}:amd64", AMD64))))
        assert len(proxy.requests("PATCH")) >= 2
    assert not ledger.left_open
    assert get_blob(ggcr.url, target, image.layer_digests[0])


def test_a_202_whose_location_is_no_upload_url_is_an_error_and_never_deleted(registry: Registry, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    push_image(ggcr.url, source, "amd64", seed="bad-location")
    with FaultProxy(registry.host) as proxy:
        ledger = watch_uploads(proxy)
        proxy.inject("POST", r"/blobs/uploads/", set_header("Location", f"/v2/{target}/manifests/latest"))
        line = assert_clean_failure(push_spec(tmp_path, copy_spec(ggcr, source, proxy.host, target)), "not an upload session URL")
    assert "/manifests/" not in " ".join(ledger.deleted), ledger.deleted
    assert all("/blobs/uploads/" in path for path in ledger.deleted)
    assert tag_digest(registry.url, target, "v1") is None, line


def test_an_upload_post_answered_201_says_what_was_expected(registry: Registry, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    push_image(ggcr.url, source, "amd64", seed="post-201")
    with FaultProxy(registry.host) as proxy:
        proxy.inject("POST", r"/blobs/uploads/$", lambda r: Reply(201, (), b""), forward=False)
        assert_clean_failure(push_spec(tmp_path, copy_spec(ggcr, source, proxy.host, target)),
                             "answered the POST with HTTP 201", "expects 202 Accepted")
    assert tag_digest(registry.url, target, "v1") is None


def test_oci_chunk_min_length_is_honoured(registry: Registry, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    # Distribution spec v1.1, "Pushing a blob in chunks": a registry with a minimum chunk size names it
    # in OCI-Chunk-Min-Length on the POST's answer. 6 MiB asked: a 9 MiB layer goes as 6 + 3, not 4 + 4 + 1.
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    image = push_image(ggcr.url, source, "amd64", layer_size=9 * MiB, seed="chunk-min")
    with FaultProxy(registry.host) as proxy:
        sizes = record_patch_sizes(proxy)
        ledger = watch_uploads(proxy)
        proxy.inject("POST", r"/blobs/uploads/$", set_header("OCI-Chunk-Min-Length", str(6 * MiB)))
        assert_ok(push_spec(tmp_path, copy_spec(ggcr, source, proxy.host, target)))
    layer = image.layer_digests[0]
    layer_size = len(get_blob(ggcr.url, source, layer))
    assert len(sizes) == 3 and sorted(sizes)[1:] == [layer_size - 6 * MiB, 6 * MiB], sizes  # the layer in two, the config
    assert not ledger.left_open
    assert get_blob(registry.url, target, layer) == get_blob(ggcr.url, source, layer)

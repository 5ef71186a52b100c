"""The upload protocol's pure decisions: chunk size from OCI-Chunk-Min-Length, what is an upload URL."""

from __future__ import annotations

import pytest

from manifest_spec.registry.upload import CHUNK_BYTES, MAX_CHUNK_BYTES, chunk_size, is_upload_url


@pytest.mark.parametrize("header, expected", [
    (None, CHUNK_BYTES), ("", CHUNK_BYTES), ("1024", CHUNK_BYTES), ("lots", CHUNK_BYTES), ("-5", CHUNK_BYTES),
    (str(CHUNK_BYTES + 1), CHUNK_BYTES + 1), (" 10485760 ", 10485760), (str(10 * MAX_CHUNK_BYTES), MAX_CHUNK_BYTES),
])
def test_chunk_size_honours_a_larger_minimum_within_the_memory_bound(header: str | None, expected: int) -> None:
    assert chunk_size(header) == expected


@pytest.mark.parametrize("location, upload", [
    ("http://r/v2/a/b/blobs/uploads/1234-abcd?_state=x", True),
    ("/v2/a/blobs/uploads/uuid", True),
    ("http://r/v2/a/blobs/uploads/", False),
    ("http://r/v2/a/manifests/latest", False),
    ("http://r/v2/a/blobs/sha256:00", False),
    ("http://r/upload/blobs/uploads/x", False),
])
def test_only_an_upload_session_url_is_one(location: str, upload: bool) -> None:
    assert is_upload_url(location) is upload

"""registry/upload.py: one blob streamed from a repository of one registry into another, in
chunks, verified before it is committed; a broken copy leaves no upload session open."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import pytest
from support.fakes import FakeClient, FakeRegistry, FakeResponse, digest_of

from manifest_spec.errors import RegistryError, VerificationError
from manifest_spec.events import BlobCopied, Event
from manifest_spec.registry import upload
from manifest_spec.registry.upload import commit_upload, copy_blob, start_upload

DATA = bytes(range(256)) * 40  # 10 240 bytes


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 KiB chunks, so a 10 KiB blob is three PATCHes (8 MiB in production)."""
    monkeypatch.setattr(upload, "CHUNK_BYTES", 4096)




def copy(source: FakeRegistry, target: FakeRegistry, digest: str, events: list[Event] | None = None, location: str | None = None) -> None:
    copy_blob(FakeClient(source), "ci/app", FakeClient(target), "team/app", digest,
              events.append if events is not None else None, location)


def test_a_blob_is_streamed_in_chunks_at_their_offsets_and_committed_once(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    events: list[Event] = []
    copy(source, target, digest, events)

    assert target.blobs[("team/app", digest)] == DATA
    assert [m for m, _ in target.calls] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert source.asked("GET") == [f"/v2/ci/app/blobs/{digest}"]  # read once, never held whole
    assert events == [BlobCopied(digest, 4096, len(DATA)), BlobCopied(digest, 8192, len(DATA)), BlobCopied(digest, len(DATA), len(DATA))]
    assert target.uploads == {}


def test_content_that_does_not_hash_to_the_digest_is_never_committed(source: FakeRegistry, target: FakeRegistry) -> None:
    claimed = digest_of(b"what the manifest promised")
    source.blobs[("ci/app", claimed)] = DATA  # a source serving other bytes under that digest
    with pytest.raises(VerificationError, match="nothing committed"):
        copy(source, target, claimed)
    assert ("team/app", claimed) not in target.blobs
    assert target.asked("PUT") == [] and len(target.asked("DELETE")) == 1 and target.uploads == {}  # the session cancelled


def test_a_body_cut_short_is_read_again_into_a_new_session(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    source.break_body(digest, after=5000, times=1)
    copy(source, target, digest)

    assert target.blobs[("team/app", digest)] == DATA
    assert len(source.asked("GET")) == 2
    assert len(target.asked("POST")) == 2 and len(target.asked("DELETE")) == 1  # the broken session cancelled, a new one
    assert target.uploads == {}


def test_a_body_that_keeps_breaking_gives_up_and_leaves_nothing_open(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    source.break_body(digest, after=100, times=99)
    with pytest.raises(RegistryError, match="broke off"):
        copy(source, target, digest)
    tries = len(source.asked("GET"))
    assert tries == 1 + FakeClient(target).attempts  # the target's retry budget, then no more
    assert len(target.asked("DELETE")) == tries and target.uploads == {} and target.blobs == {}


def test_a_503_to_a_patch_starts_over_and_a_400_does_not(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    target.fail("PATCH", "/blobs/uploads/", 503, times=1)
    copy(source, target, digest)
    assert target.blobs[("team/app", digest)] == DATA and len(target.asked("POST")) == 2

    other = source.add_blob("ci/app", DATA[::-1])
    target.fail("PATCH", "/blobs/uploads/", 400, times=2)  # the chunk, then the streamed PATCH
    with pytest.raises(RegistryError, match="HTTP 400"):
        copy(source, target, other)
    assert ("team/app", other) not in target.blobs and target.uploads == {}


def test_a_first_chunk_refused_starts_over_as_one_streamed_patch(source: FakeRegistry, target: FakeRegistry) -> None:
    # Google Artifact Registry takes no chunked uploads (its docs, quoted in dotnet/sdk-container-builds#287).
    digest = source.add_blob("ci/app", DATA)
    target.fail("PATCH", "/blobs/uploads/", 400, times=1)
    copy(source, target, digest)
    assert target.blobs[("team/app", digest)] == DATA and target.uploads == {}
    assert [m for m, _ in target.calls] == ["POST", "PATCH", "DELETE", "POST", "PATCH", "PUT"]


def test_a_refused_mounts_session_is_used_by_the_first_try(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    session = target.new_session("team/app")
    copy(source, target, digest, location=f"{target.base}/v2/team/app/blobs/uploads/{session}")
    assert target.blobs[("team/app", digest)] == DATA
    assert target.asked("POST") == []  # no session of its own


def test_a_source_that_answers_404_cancels_the_refused_mounts_session(source: FakeRegistry, target: FakeRegistry) -> None:
    session = target.new_session("team/app")
    with pytest.raises(RegistryError, match="404"):
        copy(source, target, digest_of(b"not there"), location=f"{target.base}/v2/team/app/blobs/uploads/{session}")
    assert target.asked("DELETE") == [f"/v2/team/app/blobs/uploads/{session}"] and target.uploads == {}


def test_start_upload_and_commit_upload_with_the_whole_blob_in_the_put(target: FakeRegistry) -> None:
    client = FakeClient(target)
    location = start_upload(client, "team/app", "upload config")
    assert location.startswith(target.base + "/v2/team/app/blobs/uploads/")
    commit_upload(client, location, digest_of(b"config"), "upload config", b"config")
    assert target.blobs[("team/app", digest_of(b"config"))] == b"config"


def test_a_commit_the_registry_refuses_is_an_error_not_a_success(target: FakeRegistry) -> None:
    client = FakeClient(target)
    location = start_upload(client, "team/app", "upload config")
    with pytest.raises(RegistryError, match="HTTP 400"):
        commit_upload(client, location, digest_of(b"other"), "upload config", b"config")  # DIGEST_INVALID
    assert target.blobs == {}


# -- registries' own ways of answering (the distribution spec allows them; ggcr, GHCR do them) ------------------


def answering(method: str, change: dict[str, Any]) -> Callable[[str, str, FakeResponse], FakeResponse]:
    """A `registry.rewrite` that answers every `method` request with `change` applied to the answer."""
    def rewrite(asked: str, path: str, answer: FakeResponse) -> FakeResponse:
        return replace(answer, **change) if asked == method else answer
    return rewrite


def test_a_chunk_taken_with_204_and_no_location_keeps_its_session(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    target.rewrite = answering("PATCH", {"status_code": 204, "headers": {}})  # go-containerregistry's answer
    copy(source, target, digest)
    assert target.blobs[("team/app", digest)] == DATA
    assert len(set(target.asked("PATCH"))) == 1 and len(target.asked("PATCH")) == 3  # one session throughout


def test_a_location_that_is_no_upload_session_is_refused_and_never_sent_a_delete(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)
    target.rewrite = answering("POST", {"headers": {"Location": "/v2/team/app/manifests/latest"}})
    with pytest.raises(RegistryError, match="not an upload session URL"):
        copy(source, target, digest)
    assert target.asked("PATCH") == [] and target.asked("DELETE") == []  # nothing sent to a manifest's URL


def test_a_registrys_minimum_chunk_size_is_honoured(source: FakeRegistry, target: FakeRegistry) -> None:
    digest = source.add_blob("ci/app", DATA)

    def minimum(method: str, path: str, answer: FakeResponse) -> FakeResponse:
        if method == "POST":
            answer.headers["OCI-Chunk-Min-Length"] = "6000"
        return answer

    target.rewrite = minimum
    copy(source, target, digest)
    assert target.blobs[("team/app", digest)] == DATA and len(target.asked("PATCH")) == 2  # 6000 + 4240 bytes


def test_an_upload_post_not_answered_202_says_what_the_protocol_expects(target: FakeRegistry) -> None:
    target.rewrite = answering("POST", {"status_code": 200, "reason": "OK"})
    with pytest.raises(RegistryError, match="answered the POST with HTTP 200 OK; the upload protocol expects 202 Accepted"):
        start_upload(FakeClient(target), "team/app", "upload")


def test_a_commit_answered_with_another_digest_is_not_a_success(target: FakeRegistry) -> None:
    client = FakeClient(target)
    location = start_upload(client, "team/app", "upload config")
    target.rewrite = answering("PUT", {"headers": {"Docker-Content-Digest": digest_of(b"something else")}})
    with pytest.raises(VerificationError, match=f"stored the blob as {digest_of(b'something else')}"):
        commit_upload(client, location, digest_of(b"config"), "upload config", b"config")

"""The chaos proxy's decisions are keyed by what a request is, not when it arrives (issue 17: the
same seed gives the same faults whatever order concurrent requests arrive in)."""

from __future__ import annotations

from support.chaos import KINDS, decide, request_key

RUN = "r1234abcd"


def test_an_upload_session_id_and_the_runs_name_part_are_not_part_of_the_key() -> None:
    one = request_key("PUT", f"/v2/chaos/s1{RUN}/blobs/uploads/aaa?digest=sha256:1&_state=x", RUN)
    other = request_key("PUT", f"/v2/chaos/s1{RUN}/blobs/uploads/bbb?_state=y&digest=sha256:1", RUN)
    assert one == other == ("PUT", "/v2/chaos/s1/blobs/uploads/ID?digest=sha256:1")


def test_two_uploads_patching_one_repository_at_once_are_told_apart_by_their_bodies() -> None:
    path = f"/v2/chaos/s1{RUN}/blobs/uploads/%s"
    first, second = b"layer one", b"layer two"
    # Whichever session each lands in, and whichever comes first, each body keeps its own key.
    assert request_key("PATCH", path % "aaa", RUN, first) == request_key("PATCH", path % "bbb", RUN, first)
    assert request_key("PATCH", path % "aaa", RUN, first) != request_key("PATCH", path % "aaa", RUN, second)
    keys = [request_key("PATCH", path % "aaa", RUN, body) for body in (first, second)]
    decisions = {key: decide(7, key, 1, 0.5, KINDS) for key in keys}
    assert {key: decide(7, key, 1, 0.5, KINDS) for key in reversed(keys)} == decisions


def test_other_methods_are_keyed_by_their_url_alone() -> None:
    path = f"/v2/chaos/s1{RUN}/manifests/v1"
    assert request_key("PUT", path, RUN, b"{}") == request_key("PUT", path, RUN, b"[]") == ("PUT", "/v2/chaos/s1/manifests/v1")

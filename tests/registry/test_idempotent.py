"""Idempotent push: a tag already holding the index and a child already in the repository are not written again."""

from __future__ import annotations

import json
from pathlib import Path

from support.clirun import assert_ok, digest_line, push_spec, tag_digest
from support.images import push_image
from support.recorder import RecordingProxy
from support.registry import Registry
from support.specs import AMD64, ARM64, member, repo_spec


def test_second_identical_push_sends_zero_write_requests(registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, f"{repo_name}/arm", "arm64", architecture="arm64")  # another repo: mounted the first time
    spec = repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", AMD64)], tags=["latest"])
    spec["manifests"].append(member(f"{recording_proxy.host}/{repo_name}/arm:arm64", ARM64))

    first = push_spec(tmp_path, spec)
    assert_ok(first)
    first_writes = recording_proxy.writes()
    assert ("PUT", f"/v2/{repo_name}/manifests/v1") in first_writes
    assert any(method == "POST" for method, _ in first_writes)  # the arm64 blobs were mounted
    recording_proxy.clear()

    second = push_spec(tmp_path, spec, "--output", "json")

    assert_ok(second)
    assert recording_proxy.writes() == [], recording_proxy.writes()
    body = json.loads(second.stdout)
    assert body["digest"] == digest_line(first)[0]
    assert [(t["tag"], t["status"], t["previous"]) for t in body["tagStatus"]] == [
        ("v1", "unchanged", body["digest"]), ("latest", "unchanged", body["digest"])
    ]
    # The child from the other repository was found by HEAD, not copied again.
    assert ("HEAD", f"/v2/{repo_name}/manifests/{body['members'][1]['digest']}") in recording_proxy.seen


def test_text_output_keeps_the_digest_line_and_notes_unchanged_tags_on_stderr(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    spec = repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)])
    first = push_spec(tmp_path, spec)
    assert_ok(first)
    assert first.stderr == ""  # a first push says nothing more than manifest-tool does

    second = push_spec(tmp_path, spec)

    assert_ok(second)
    assert digest_line(second) == digest_line(first)
    assert second.stderr.startswith(f"unchanged: {registry.host}/{repo_name}:v1 already points at {digest_line(first)[0]}")


def test_only_the_tags_that_differ_are_written(registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "old", [("amd64", AMD64)])))
    old = tag_digest(registry.url, repo_name, "old")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)])))
    recording_proxy.clear()

    result = push_spec(
        tmp_path, repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)], tags=["old", "new"]), "--output", "json"
    )

    assert_ok(result)
    body = json.loads(result.stdout)
    assert {t["tag"]: (t["status"], t["previous"]) for t in body["tagStatus"]} == {
        "v1": ("unchanged", body["digest"]), "old": ("updated", old), "new": ("created", None)
    }
    # The extra tags go out together: in either order.
    assert sorted(recording_proxy.writes()) == [("PUT", f"/v2/{repo_name}/manifests/new"), ("PUT", f"/v2/{repo_name}/manifests/old")]
    assert tag_digest(registry.url, repo_name, "old") == tag_digest(registry.url, repo_name, "new") == body["digest"]

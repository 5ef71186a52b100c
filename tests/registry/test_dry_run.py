"""`push --dry-run`: resolves, verifies and builds like a push, then writes nothing at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.clirun import assert_clean_failure, assert_ok, digest_line, push_spec, run_cli, tag_digest
from support.images import get_blob, get_manifest, list_tags, push_blob, push_image
from support.recorder import RecordingProxy
from support.registry import Registry
from support.specs import AMD64, ARM64, member, repo_spec

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's


def _dry_run_output(stdout: str) -> tuple[bytes, str, int]:
    """Split dry-run text output into the index JSON and the `Digest:` line."""
    body, _, last = stdout.rstrip("\n").rpartition("\n")
    assert last.startswith("Digest: sha256:"), stdout
    _, digest, size = last.split()
    return body.encode(), digest, int(size)


def test_from_spec_dry_run_prints_the_exact_index_and_writes_nothing(
    registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy
) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    push_image(registry.url, f"{repo_name}/other", "s390x", architecture="s390x")  # another repo: a push would mount it
    tags_before = sorted(list_tags(registry.url, repo_name))
    spec = repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)], tags=["latest"])
    spec["manifests"].append(member(f"{recording_proxy.host}/{repo_name}/other:s390x", "s390x"))

    result = push_spec(tmp_path, spec, "--dry-run")

    assert_ok(result)
    data, digest, size = _dry_run_output(result.stdout)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest() and size == len(data)
    assert [e["platform"]["architecture"] for e in json.loads(data)["manifests"]] == ["amd64", "arm64", "s390x"]
    assert "would create" in result.stderr
    assert recording_proxy.writes() == [], recording_proxy.writes()
    assert any(method == "GET" for method, _ in recording_proxy.seen)  # it did read: members were resolved
    assert sorted(list_tags(registry.url, repo_name)) == tags_before
    assert list_tags(registry.url, f"{repo_name}/other") == ["s390x"]

    # The real push then publishes exactly those bytes.
    pushed = push_spec(tmp_path, json.loads(json.dumps(spec).replace(recording_proxy.host, registry.host)))
    assert_ok(pushed)
    assert digest_line(pushed)[0] == digest
    assert get_manifest(registry.url, repo_name, "v1")[0] == data


def test_dry_run_leaves_an_existing_tag_as_it_was(registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)])))
    old = tag_digest(registry.url, repo_name, "v1")

    result = push_spec(tmp_path, repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)]), "--dry-run")

    assert_ok(result)
    _, digest, _ = _dry_run_output(result.stdout)
    assert digest != old
    assert f"would update (now {old})" in result.stderr
    assert recording_proxy.writes() == []
    assert tag_digest(registry.url, repo_name, "v1") == old


def test_from_args_dry_run_json_is_the_full_result_and_writes_nothing(
    registry: Registry, repo_name: str, recording_proxy: RecordingProxy
) -> None:
    amd64 = push_image(registry.url, repo_name, "linux-amd64")
    arm64 = push_image(registry.url, repo_name, "linux-arm64", architecture="arm64")

    result = run_cli(
        "push", "from-args", "--platforms", "linux/amd64,linux/arm64",
        "--template", f"{recording_proxy.host}/{repo_name}:OS-ARCH", "--target", f"{recording_proxy.host}/{repo_name}:1.0",
        "--tags", "latest", "--dry-run", "--output", "json",
    )

    assert_ok(result)
    body = json.loads(result.stdout)
    assert body["dryRun"] is True
    assert [m["digest"] for m in body["members"]] == [amd64.digest, arm64.digest]
    assert [m["digest"] for m in body["index"]["manifests"]] == [amd64.digest, arm64.digest]
    assert body["tags"] == ["1.0", "latest"]
    assert [(t["tag"], t["action"]) for t in body["tagPlan"]] == [("1.0", "create"), ("latest", "create")]
    assert "tagStatus" not in body  # one key, one shape: tagStatus is what a push did
    assert recording_proxy.writes() == []
    assert sorted(list_tags(registry.url, repo_name)) == ["linux-amd64", "linux-arm64"]


def test_dry_run_still_verifies_members(registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy) -> None:
    push_image(registry.url, repo_name, "amd64")
    spec = repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", ARM64)])  # the image is amd64, the spec says arm64

    assert_clean_failure(push_spec(tmp_path, spec, "--dry-run"), "exec format error")
    assert recording_proxy.writes() == []


def test_the_recorder_sees_uploads_that_follow_a_location_header(registry: Registry, repo_name: str, recording_proxy: RecordingProxy) -> None:
    """The proof above is only as good as the proxy: an upload's PUT goes to the Location the registry names."""
    digest = push_blob(f"http://{recording_proxy.host}", repo_name, b"through the proxy")

    assert [m for m, _ in recording_proxy.writes()] == ["POST", "PUT"]
    assert recording_proxy.writes()[1][1].startswith(f"/v2/{repo_name}/blobs/uploads/")
    assert get_blob(registry.url, repo_name, digest) == b"through the proxy"

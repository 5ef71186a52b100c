"""Lock files: written deterministically, checked for drift, and pushed exactly with `push --locked`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.clirun import assert_clean_failure, assert_ok, digest_line, run_cli, served_document, tag_digest, write_spec
from support.images import OCI_INDEX, list_tags, push_image, push_index
from support.registry import Registry
from support.specs import AMD64, ARM64, repo_spec

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's

VARIABLE_SPEC = """\
image: ${{REGISTRY}}/{repo}:${{VERSION:-1.0}}
tags: [latest]
manifests:
  - image: ${{REGISTRY}}/{repo}:amd64
    platform: {{os: linux, architecture: amd64}}
  - image: ${{REGISTRY}}/{repo}:arm64
    platform: {{os: linux, architecture: arm64}}
"""


def locked_spec(registry: Registry, repo: str, tmp_path: Path) -> Path:
    return write_spec(tmp_path, VARIABLE_SPEC.format(repo=repo), "app.yaml")


def test_lock_records_spec_hash_substituted_references_and_each_member(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    path = locked_spec(registry, repo_name, tmp_path)

    result = run_cli("lock", str(path), "--var", f"REGISTRY={registry.host}")

    assert_ok(result)
    lock_file = tmp_path / "app.lock"
    assert result.stdout.startswith(f"{lock_file}: locked {path}")
    text = lock_file.read_text()
    lock = json.loads(text)
    assert text == json.dumps(lock, indent=2, sort_keys=True) + "\n"  # sorted, stable layout
    assert lock["spec"] == {"file": "app.yaml", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert lock["target"] == f"{registry.host}/{repo_name}:1.0" and lock["tags"] == ["latest"] and lock["type"] == "docker"
    assert [(m["image"], m["digest"], m["size"], m["mediaType"], m["platform"]) for m in lock["members"]] == [
        (f"{registry.host}/{repo_name}:amd64", amd64.digest, amd64.size, amd64.media_type, {"architecture": "amd64", "os": "linux"}),
        (f"{registry.host}/{repo_name}:arm64", arm64.digest, arm64.size, arm64.media_type, {"architecture": "arm64", "os": "linux"}),
    ]
    assert sorted(list_tags(registry.url, repo_name)) == ["amd64", "arm64"]  # locking pushes nothing
    # Deterministic: locking again gives the same bytes.
    assert_ok(run_cli("lock", str(path), "--var", f"REGISTRY={registry.host}"))
    assert lock_file.read_text() == text


def test_lock_push_locked_then_member_moves(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """lock → push --locked → a member tag moves → lock --check fails, push --locked still pushes the locked digest."""
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    path = locked_spec(registry, repo_name, tmp_path)
    var = f"REGISTRY={registry.host}"
    assert_ok(run_cli("lock", str(path), "--var", var))
    locked_index = json.loads((tmp_path / "app.lock").read_text())["index"]["digest"]

    pushed = run_cli("push", "from-spec", str(path), "--var", var, "--locked")
    assert_ok(pushed)
    assert digest_line(pushed)[0] == locked_index == tag_digest(registry.url, repo_name, "1.0")
    assert_ok(run_cli("lock", "--check", str(path), "--var", var))

    moved = push_image(registry.url, repo_name, "amd64", seed="rebuilt")  # CI rebuilt amd64 under the same tag
    check = run_cli("lock", "--check", str(path), "--var", var)
    assert check.exit_code == 1
    assert f"manifests[0] {registry.host}/{repo_name}:amd64 now points at {moved.digest}, locked {amd64.digest}" in check.stdout
    assert "out of date" in check.stderr and "arm64" not in check.stdout

    # A plain push takes what the tag says now: the moved image.
    assert_ok(run_cli("push", "from-spec", str(path), "--var", var))
    assert [e["digest"] for e in served_document(registry.url, repo_name, "latest")["manifests"]] == [moved.digest, arm64.digest]

    result = run_cli("push", "from-spec", str(path), "--var", var, "--locked", "--lock-file", str(tmp_path / "app.lock"), "--output", "json")
    assert_ok(result)
    body = json.loads(result.stdout)
    assert body["digest"] == locked_index and {t["status"] for t in body["tagStatus"]} == {"updated"}
    assert [e["digest"] for e in served_document(registry.url, repo_name, "latest")["manifests"]] == [amd64.digest, arm64.digest]
    assert tag_digest(registry.url, repo_name, "1.0") == locked_index

    # Another ${VERSION}: the substituted target is not the locked one, so it refuses.
    other = run_cli("push", "from-spec", str(path), "--var", var, "--var", "VERSION=1.0.1", "--locked")
    assert_clean_failure(other, "disagree", f"the target is {registry.host}/{repo_name}:1.0.1, locked {registry.host}/{repo_name}:1.0")
    assert tag_digest(registry.url, repo_name, "1.0.1") is None


def test_locked_push_fetches_the_locked_digest_whatever_the_tag_holds_now(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)]), "one.yaml")
    assert_ok(run_cli("lock", str(path)))
    push_image(registry.url, repo_name, "amd64", architecture="arm64", seed="other")  # the tag now holds an arm64 image

    assert_clean_failure(run_cli("push", "from-spec", str(path)), "exec format error")
    result = run_cli("push", "from-spec", str(path), "--locked", "--output", "json")
    assert_ok(result)
    assert [m["digest"] for m in json.loads(result.stdout)["members"]] == [amd64.digest]


def test_spec_changed_since_the_lock(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)]), "app.yaml")
    assert_ok(run_cli("lock", str(path)))
    write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)]), "app.yaml")

    check = run_cli("lock", "--check", str(path), "--output", "json")
    assert check.exit_code == 1
    body = json.loads(check.stdout)
    assert body["upToDate"] is False
    assert any(f"{path} changed since it was locked" in d for d in body["locks"][0]["drift"])

    refused = run_cli("push", "from-spec", str(path), "--locked")
    assert_clean_failure(refused, "disagree", "changed since it was locked", "manifest-spec lock")
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_missing_lock_file(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)]), "app.yaml")

    assert_clean_failure(run_cli("push", "from-spec", str(path), "--locked"), "no lock file", "app.lock")
    check = run_cli("lock", "--check", str(path))
    assert check.exit_code == 1 and "no lock file" in check.stdout
    usage = run_cli("push", "from-spec", str(path), "--locked", "--ignore-missing")
    assert usage.exit_code == 2


def test_index_member_locks_the_index_and_its_entries(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, None, oci=True)
    arm64 = push_image(registry.url, repo_name, None, architecture="arm64", oci=True)
    built = push_index(registry.url, repo_name, "multi", [amd64, arm64])
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("multi", None)], type="oci"), "app.yaml")

    assert_ok(run_cli("lock", str(path)))

    member = json.loads((tmp_path / "app.lock").read_text())["members"][0]
    assert (member["digest"], member["mediaType"], member["size"], member["platform"]) == (built.digest, OCI_INDEX, built.size, None)
    assert [e["digest"] for e in member["entries"]] == [amd64.digest, arm64.digest]
    result = run_cli("push", "from-spec", str(path), "--locked")
    assert_ok(result)
    assert [e["digest"] for e in served_document(registry.url, repo_name, "v1")["manifests"]] == [amd64.digest, arm64.digest]


def test_locked_push_refuses_a_lock_that_contradicts_a_pinned_member(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """The spec (what was reviewed) pins a digest; a lock naming another must not be published."""
    pinned = push_image(registry.url, repo_name, "amd64")
    other = push_image(registry.url, repo_name, "amd64-rebuilt", seed=9)
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [(f"@{pinned.digest}", AMD64)]), "app.yaml")
    assert_ok(run_cli("lock", str(path)))
    lock_file = tmp_path / "app.lock"
    lock = json.loads(lock_file.read_text())
    assert lock["members"][0]["digest"] == pinned.digest
    # Someone edits the lock by hand (or a merge goes wrong): member and index both point elsewhere.
    lock["members"][0]["digest"] = other.digest
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")

    result = run_cli("push", "from-spec", "--locked", str(path))

    assert_clean_failure(result, f"manifests[0] pins {pinned.digest}, but the lock says {other.digest}")
    assert tag_digest(registry.url, repo_name, "v1") is None
    check = run_cli("lock", "--check", str(path))
    assert check.exit_code == 1 and f"pins {pinned.digest}" in check.stdout + check.stderr

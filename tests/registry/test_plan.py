"""`plan`: per tag create / update / unchanged and per platform added / removed / changed, against a real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support.clirun import assert_clean_failure, assert_ok, push_spec, run_cli, tag_digest, write_spec
from support.images import push_image
from support.recorder import RecordingProxy
from support.registry import Registry
from support.specs import AMD64, ARM64, S390X, repo_spec

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's


def plan_json(tmp_path: Path, spec: dict[str, Any], *flags: str) -> tuple[Result, dict[str, Any]]:
    result = run_cli("plan", str(write_spec(tmp_path, spec, "plan.yaml")), "--output", "json", *flags)
    assert result.exit_code in (0, 2), f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result, json.loads(result.stdout)


def tags_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tag"]: t for t in body["specs"][0]["tags"]}


def platforms_of(tag: dict[str, Any]) -> dict[str, tuple[str, Any, Any]]:
    return {p["platform"]: (p["change"], p["before"], p["after"]) for p in tag["platforms"]}


def test_create_when_the_tags_do_not_exist(registry: Registry, repo_name: str, tmp_path: Path, recording_proxy: RecordingProxy) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    spec = repo_spec(recording_proxy.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)], tags=["latest"])

    result, body = plan_json(tmp_path, spec, "--detailed-exitcode")

    assert result.exit_code == 2
    assert body["changes"] is True and body["summary"] == {"create": 2, "update": 0, "unchanged": 0}
    for tag in ("v1", "latest"):
        planned = tags_of(body)[tag]
        assert planned["action"] == "create" and planned["current"]["state"] == "missing"
        assert platforms_of(planned) == {"linux/amd64": ("added", None, amd64.digest), "linux/arm64": ("added", None, arm64.digest)}
    assert recording_proxy.writes() == []
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_unchanged_after_the_push_and_exit_0(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    spec = repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)], tags=["latest"])
    assert_ok(push_spec(tmp_path, spec))

    result, body = plan_json(tmp_path, spec, "--detailed-exitcode")

    assert result.exit_code == 0
    assert body["changes"] is False
    assert {t["action"] for t in body["specs"][0]["tags"]} == {"unchanged"}
    text = run_cli("plan", str(tmp_path / "plan.yaml"))
    assert_ok(text)
    assert "No changes" in text.stdout and "= unchanged" in text.stdout


def test_update_with_a_platform_added_and_one_removed(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    s390x = push_image(registry.url, repo_name, "s390x", architecture="s390x")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)])))
    old = tag_digest(registry.url, repo_name, "v1")

    result, body = plan_json(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("s390x", S390X)]), "--detailed-exitcode")

    assert result.exit_code == 2
    planned = tags_of(body)["v1"]
    assert planned["action"] == "update" and planned["current"] == {"state": "index", "digest": old, "mediaType": planned["current"]["mediaType"]}
    assert platforms_of(planned) == {
        "linux/amd64": ("unchanged", amd64.digest, amd64.digest),
        "linux/s390x": ("added", None, s390x.digest),
        "linux/arm64": ("removed", arm64.digest, None),
    }
    assert tag_digest(registry.url, repo_name, "v1") == old


def test_member_rebuilt_under_the_same_tag_is_a_changed_platform(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    first = push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    spec = repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)])
    assert_ok(push_spec(tmp_path, spec))
    rebuilt = push_image(registry.url, repo_name, "amd64", seed="rebuilt")
    assert rebuilt.digest != first.digest

    _, body = plan_json(tmp_path, spec)

    planned = tags_of(body)["v1"]
    assert planned["action"] == "update"
    assert platforms_of(planned) == {
        "linux/amd64": ("changed", first.digest, rebuilt.digest),
        "linux/arm64": ("unchanged", arm64.digest, arm64.digest),
    }
    text = run_cli("plan", str(tmp_path / "plan.yaml"))
    assert f"{first.digest[:19]} → {rebuilt.digest[:19]}" in text.stdout


def test_tag_holding_a_single_image_is_shown_not_crashed_on(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    single = push_image(registry.url, repo_name, "v1")  # the target tag holds an image, not an index
    push_image(registry.url, repo_name, "amd64")
    spec = repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)], tags=["new"])

    _, body = plan_json(tmp_path, spec)

    v1, new = tags_of(body)["v1"], tags_of(body)["new"]
    assert v1["action"] == "update" and v1["current"]["state"] == "not-index" and v1["current"]["digest"] == single.digest
    assert any("not an index" in note for note in v1["notes"])
    assert new["action"] == "create"
    text = run_cli("plan", str(tmp_path / "plan.yaml"))
    assert_ok(text)
    assert "not an index" in text.stdout and single.digest[:19] in text.stdout


def test_markdown_for_a_pull_request_comment(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64")
    assert_ok(push_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64)])))
    path = write_spec(tmp_path, repo_spec(registry.host, repo_name, "v1", [("amd64", AMD64), ("arm64", ARM64)], tags=["stable"]), "pr.yaml")

    result = run_cli("plan", str(path), "--output", "markdown")

    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("#### manifest-spec plan")
    assert "| tag | action | now | after |" in lines
    assert any(line.startswith("| `v1` | **update** |") for line in lines)
    assert any(line.startswith("| `stable` | **create** | missing |") for line in lines)
    assert f"| linux/arm64 | **added** | — | `{arm64.digest[:19]}` |" in lines


def test_a_missing_member_is_one_error_line_exit_1(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = repo_spec(registry.host, repo_name, "v1", [("nope", AMD64)])
    result = run_cli("plan", str(write_spec(tmp_path, spec)), "--detailed-exitcode")
    assert_clean_failure(result, "manifests[0]", "404")

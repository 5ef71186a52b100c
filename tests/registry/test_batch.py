"""Several specs in one run: validated first, all verified before any write, pushed together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.clirun import assert_ok, run_cli, tag_digest, write_spec
from support.faults import FaultProxy, error, upload_session_instead
from support.images import push_image
from support.registry import Registry
from support.specs import AMD64, ARM64, repo_spec, spec


@pytest.fixture
def images(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")


def two_specs(tmp_path: Path, host: str, repo: str) -> list[str]:
    first = repo_spec(host, repo, "one", [("amd64", AMD64)], tags=["one-latest"])
    second = repo_spec(host, repo, "two", [("amd64", AMD64), ("arm64", ARM64)])
    return [str(write_spec(tmp_path, first, "one.yaml")), str(write_spec(tmp_path, second, "two.yaml"))]


def writes(fault_proxy: FaultProxy) -> list[tuple[str, str]]:
    return [(m, p) for m, p in fault_proxy.seen if m in ("PUT", "POST", "PATCH", "DELETE")]


def test_all_specs_land_with_one_line_each_naming_its_file(registry: Registry, fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    specs = two_specs(tmp_path, fault_proxy.host, repo_name)
    result = run_cli("push", "from-spec", *specs)
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert [line.split(": Digest: ")[0] for line in lines] == specs
    for line, tags in zip(lines, [("one", "one-latest"), ("two",)]):
        digest = line.split()[2]
        assert all(tag_digest(registry.url, repo_name, tag) == digest for tag in tags)

    again = run_cli("push", "from-spec", *specs, "--output", "json")

    assert_ok(again)
    bodies = json.loads(again.stdout)
    assert [b["spec"] for b in bodies] == specs
    assert {t["status"] for b in bodies for t in b["tagStatus"]} == {"unchanged"}


def test_the_same_member_in_two_specs_is_fetched_once(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    assert_ok(run_cli("push", "from-spec", *two_specs(tmp_path, fault_proxy.host, repo_name)))
    assert fault_proxy.requests("GET").count(f"/v2/{repo_name}/manifests/amd64") == 1
    configs = [p for p in fault_proxy.requests("GET") if "/blobs/" in p]
    assert len(configs) == len(set(configs)) == 2  # amd64's config once, arm64's once


def test_one_invalid_spec_writes_nothing_and_every_problem_is_listed(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    good = two_specs(tmp_path, fault_proxy.host, repo_name)
    # Invalid on purpose: written as the YAML a person gets wrong, not built.
    bad = write_spec(tmp_path, f"image: {fault_proxy.host}/{repo_name}:bad\nmanifests:\n- image: x\n  platfrom: {{os: linux, architecture: amd64}}\n", "bad.yaml")
    worse = write_spec(tmp_path, f"image: {fault_proxy.host}/{repo_name}:worse\ntags: ['.dot']\nmanifests: []\n", "worse.yaml")
    result = run_cli("push", "from-spec", good[0], str(bad), good[1], str(worse))
    assert result.exit_code == 1, result.output
    assert fault_proxy.seen == []  # not even a read: validation comes first
    assert "bad.yaml" in result.stderr and "platfrom" in result.stderr
    assert "worse.yaml" in result.stderr and ".dot" in result.stderr and "manifests" in result.stderr


def test_a_member_that_fails_in_one_spec_writes_nothing_for_any(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    specs = two_specs(tmp_path, fault_proxy.host, repo_name)
    missing = write_spec(tmp_path, repo_spec(fault_proxy.host, repo_name, "three", [("s390x", None)]), "three.yaml")
    result = run_cli("push", "from-spec", *specs, str(missing))
    assert result.exit_code == 1, result.output
    assert writes(fault_proxy) == []
    assert result.stderr.startswith(f"error: {missing}: ") and "s390x" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    as_json = run_cli("push", "from-spec", "--output", "json", *specs, str(missing))
    assert as_json.exit_code == 1
    assert [e["spec"] for e in json.loads(as_json.stdout)["errors"]] == [str(missing)]


def test_two_specs_writing_one_tag_are_refused_naming_both(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    first = write_spec(tmp_path, repo_spec(fault_proxy.host, repo_name, "v1", [("amd64", AMD64)], tags=["latest"]), "first.yaml")
    second = write_spec(tmp_path, repo_spec(fault_proxy.host, repo_name, "v2", [("arm64", ARM64)], tags=["latest"]), "second.yaml")
    result = run_cli("push", "from-spec", str(first), str(second))
    assert result.exit_code == 1, result.output
    assert fault_proxy.seen == []
    assert str(first) in result.stderr and str(second) in result.stderr and f"{repo_name}:latest" in result.stderr


def test_a_write_failure_in_one_spec_names_its_file_and_exits_1(registry: Registry, fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    specs = two_specs(tmp_path, fault_proxy.host, repo_name)
    fault_proxy.inject("PUT", f"/v2/{repo_name}/manifests/two$", error(400, "MANIFEST_INVALID", "manifest invalid"), forward=False)
    result = run_cli("push", "from-spec", *specs)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"{specs[0]}: Digest: ") and result.stdout.count("\n") == 1  # the other spec landed
    assert result.stderr.startswith(f"error: {specs[1]}: ") and "MANIFEST_INVALID" in result.stderr
    assert tag_digest(registry.url, repo_name, "one") is not None and tag_digest(registry.url, repo_name, "two") is None


def test_dry_run_of_several_writes_nothing_and_prints_a_line_each(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    specs = two_specs(tmp_path, fault_proxy.host, repo_name)
    result = run_cli("push", "from-spec", "--dry-run", *specs)
    assert_ok(result)
    assert writes(fault_proxy) == []
    assert [line.split(": Digest: ")[0] for line in result.stdout.splitlines()] == specs
    as_json = run_cli("push", "from-spec", "--dry-run", "--output", "json", *specs)
    assert_ok(as_json)
    assert [b["spec"] for b in json.loads(as_json.stdout)] == specs


def test_lock_and_check_several_specs_and_push_them_locked(fault_proxy: FaultProxy, images: None, repo_name: str, tmp_path: Path) -> None:
    specs = two_specs(tmp_path, fault_proxy.host, repo_name)
    assert_ok(run_cli("lock", *specs))
    checked = run_cli("lock", "--check", *specs)
    assert_ok(checked)
    assert checked.stdout.count("up to date") == 2
    assert_ok(run_cli("push", "from-spec", "--locked", *specs))
    assert len(fault_proxy.requests("PUT")) == 3


def test_one_lock_file_for_several_specs_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("push", "from-spec", "--lock-file", "x.lock", "a.yaml", "b.yaml")
    assert result.exit_code == 2 and "--lock-file" in result.stderr


def test_the_engine_reports_progress_as_events(registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    from manifest_spec import api
    from manifest_spec.events import BlobCopied, MembersResolved, TagWritten
    from manifest_spec.registry.client import ClientOptions

    source, target = f"{repo_name}/src", f"{repo_name}/app"
    image = push_image(registry.url, source, "amd64")
    push_image(registry.url, source, "arm64", architecture="arm64")
    fault_proxy.inject("POST", r"\?.*mount=", upload_session_instead(registry.url, fault_proxy.host, target), forward=False)
    spec_path = write_spec(tmp_path, repo_spec(fault_proxy.host, source, "v1", [("amd64", AMD64), ("arm64", ARM64)], tags=["latest"]))
    spec_path.write_text(spec_path.read_text().replace(f"{source}:v1", f"{target}:v1"))
    seen: list[object] = []
    settings = api.Settings(client=ClientOptions(plain_http=True), listener=seen.append)

    outcomes = api.push(api.load([str(spec_path)], settings), settings)

    assert [o.error for o in outcomes] == [None]
    resolved = [e for e in seen if isinstance(e, MembersResolved)]
    assert sorted(e.done for e in resolved) == [1, 2] and {(e.spec, e.total) for e in resolved} == {(str(spec_path), 2)}
    copied = {e.digest: e for e in seen if isinstance(e, BlobCopied)}
    assert image.config_digest in copied and all(e.done == e.total for e in copied.values())
    assert [(e.tag, e.status) for e in seen if isinstance(e, TagWritten)] == [("v1", "created"), ("latest", "created")]


def test_the_jobs_default_is_the_api_one() -> None:
    from manifest_spec import api
    from manifest_spec.cli.main import main

    assert next(p for p in main.params if p.name == "jobs").default == api.DEFAULT_JOBS


def test_a_failing_tag_head_stops_the_push_before_any_write(fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    from support.clirun import assert_clean_failure

    source = f"{repo_name}/src"
    push_image(proxy_url(fault_proxy), source, "amd64")
    the_spec = spec(f"{fault_proxy.host}/{repo_name}/app:v1", (f"{fault_proxy.host}/{source}:amd64", AMD64), tags=["latest"])  # mounted: a write
    fault_proxy.inject("HEAD", r"/manifests/latest$", error(403, "DENIED", "requested access to the resource is denied"), forward=False)
    fault_proxy.forget()
    assert_clean_failure(run_cli("push", "from-spec", str(write_spec(tmp_path, the_spec))), "403", ":latest")
    assert writes(fault_proxy) == []


def proxy_url(fault_proxy: FaultProxy) -> str:
    return f"http://{fault_proxy.host}"


def test_a_tag_conflict_is_caught_whatever_the_case_of_the_host(tmp_path: Path) -> None:
    # Host names know no case: both would write one tag. Refused offline, before any request.
    specs = [
        str(write_spec(tmp_path, repo_spec(host, "team/app", "v1", [("amd64", AMD64)], tags=["latest"]), f"{n}.yaml"))
        for n, host in enumerate(("localhost:1", "LOCALHOST:1"))
    ]
    result = run_cli("push", "from-spec", *specs)
    assert result.exit_code == 1, result.stderr
    assert specs[0] in result.stderr and specs[1] in result.stderr and "nothing was written" in result.stderr


def test_a_copy_that_cannot_read_its_source_leaves_no_upload_session_open(registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    import requests

    image = push_image(registry.url, f"{repo_name}/ci", "amd64")
    layer = image.layer_digests[0]
    assert requests.delete(f"{registry.url}/v2/{repo_name}/ci/blobs/{layer}", timeout=10).status_code == 202
    the_spec = spec(f"{fault_proxy.host}/{repo_name}/app:v1", (f"{fault_proxy.host}/{repo_name}/ci:amd64", AMD64))

    result = run_cli("push", "from-spec", "--no-referrers", str(write_spec(tmp_path, the_spec)))

    assert result.exit_code == 1 and layer in result.stderr
    # The mount was refused (202: the source lost the blob), its session cancelled, never left dangling.
    cancelled = [p for p in fault_proxy.requests("DELETE") if "/blobs/uploads/" in p]
    assert len(cancelled) == 1
    assert tag_digest(registry.url, f"{repo_name}/app", "v1") is None

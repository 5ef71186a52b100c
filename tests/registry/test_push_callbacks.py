"""The push engine's callback-driven reads and placement (push/readahead.py, push/placement.py),
tested from outside: at the smallest --jobs a callback that waited on a request of its own pool
would deadlock; a failed run's last stderr line is its error line, even with --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.clirun import tag_digest
from support.faults import Fault, FaultProxy, Reply, drip, error, late, upload_session_instead
from support.images import push_image
from support.registry import Registry
from support.scenarios import batch, scenario_a, scenario_c, spec_data, write

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "manifest_spec", "--plain-http", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


@pytest.mark.parametrize("jobs", [1, 2])
def test_members_elsewhere_and_a_batch_complete_at_the_smallest_jobs(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, jobs: int
) -> None:
    spec = scenario_c(registry.url, fault_proxy.host, f"{repo_name}-c", tmp_path)
    specs = batch(registry.url, fault_proxy.host, f"{repo_name}-b", tmp_path, 3)
    for _ in range(2):  # a first push (mounts while reading), then a repeat (nothing written)
        done = run("--jobs", str(jobs), "push", "from-spec", spec)
        assert done.returncode == 0, done.stderr
        done = run("--jobs", str(jobs), "push", "from-spec", *specs)
        assert done.returncode == 0, done.stderr
    assert tag_digest(registry.url, f"{repo_name}-c/app", "latest") == tag_digest(registry.url, f"{repo_name}-c/app", "v1") is not None
    for s in range(3):
        assert tag_digest(registry.url, f"{repo_name}-b/s{s}", "v1") is not None


def test_a_failed_run_with_debug_ends_on_its_error_line(registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path) -> None:
    """One member missing at once, a tag HEAD still out: the error is reported after the read in
    flight ends (bounded by its deadline), not before its DEBUG lines (chaosrun checks the same)."""
    spec = scenario_a(registry.url, fault_proxy.host, repo_name, tmp_path, count=3)
    fault_proxy.inject("GET", r"/manifests/amd64$", error(404, "MANIFEST_UNKNOWN", "manifest unknown"), forward=False)
    fault_proxy.inject("HEAD", r"/manifests/1\.0$", late(1.5))  # a tag HEAD still out when the member fails
    done = run("--debug", "push", "from-spec", spec)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), lines[-6:]
    assert any("/manifests/1.0 ->" in line for line in lines), lines  # the slow read was waited for, and logged
    assert tag_digest(registry.url, repo_name, "v1") is None


def _two_members_elsewhere(registry: Registry, proxy: FaultProxy, repo_name: str, tmp_path: Path) -> tuple[str, str]:
    """The target tag already holds an index of one member; the spec now has a second: a repeat, so
    every placement step (child HEAD, mounts, child PUT) runs in the push phase, from callbacks."""
    first = scenario_c(registry.url, proxy.host, f"{repo_name}-one", tmp_path, count=1)
    spec = scenario_c(registry.url, proxy.host, repo_name, tmp_path, count=2)
    old = Path(first).read_text(encoding="utf-8").replace(f"{repo_name}-one/app", f"{repo_name}/app")
    Path(first).write_text(old, encoding="utf-8")
    done = run("push", "from-spec", first)
    assert done.returncode == 0, done.stderr
    return spec, tag_digest(registry.url, f"{repo_name}/app", "v1") or ""


@pytest.mark.parametrize("method,where,fault,forward", [
    ("HEAD", r"/app/manifests/sha256:", error(500, "UNKNOWN", "the child HEAD broke"), True),
    ("POST", r"/app/blobs/uploads/\?mount=", error(403, "DENIED", "no mounts today"), True),
    ("PUT", r"/app/manifests/sha256:", error(400, "MANIFEST_INVALID", "the child PUT refused"), True),
    # A child PUT answered 201 that never reached the registry (a broken front end): not taken on its word.
    ("PUT", r"/app/manifests/sha256:", lambda reply: Reply(201, (), b""), False),
])
def test_a_failed_placement_step_fails_the_push_and_moves_no_tag(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, method: str, where: str, fault: Fault,
    forward: bool,
) -> None:
    spec, before = _two_members_elsewhere(registry, fault_proxy, repo_name, tmp_path)
    rule = fault_proxy.inject(method, where, fault, forward=forward)
    fault_proxy.forget()
    done = run("--debug", "push", "from-spec", spec)
    assert done.returncode == 1, done.stderr
    assert rule.hits >= 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), lines[-6:]
    assert [line for line in lines if line.startswith("error: ")] == [lines[-1]], lines
    for tag in ("v1", "latest", "1", "1.0"):
        assert tag_digest(registry.url, f"{repo_name}/app", tag) == before, tag
    assert not [p for p in fault_proxy.requests("PUT") if "/manifests/sha256:" not in p], fault_proxy.requests("PUT")


def test_mounts_answered_with_upload_sessions_complete_at_one_job(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path
) -> None:
    """A registry without cross-repository mounts opens a session instead: each blob is then streamed
    from the request thread that asked, on the one request slot (--jobs 1), none left open."""
    spec = scenario_c(registry.url, fault_proxy.host, repo_name, tmp_path, count=3)
    rule = fault_proxy.inject("POST", r"/app/blobs/uploads/\?mount=", upload_session_instead(registry.url, fault_proxy.host, f"{repo_name}/app"),
                              forward=False)
    done = run("--jobs", "1", "push", "from-spec", spec)
    assert done.returncode == 0, done.stderr
    assert rule.hits >= 3
    sessions_closed = [p for p in fault_proxy.requests("PUT") if "/blobs/uploads/" in p]
    assert len(sessions_closed) == rule.hits, (rule.hits, fault_proxy.requests("PUT"))
    assert tag_digest(registry.url, f"{repo_name}/app", "v1") is not None


def test_a_failed_first_push_leaves_no_upload_session_cut_off(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path
) -> None:
    """A first push mounts while it reads; a registry answering the mount with a session gets the
    blob streamed into it. Another member then fails its check: the copy in flight is not cut off by
    the exit (its session committed or cancelled), and still no manifest and no tag is written."""
    push_image(registry.url, f"{repo_name}/amd64", "amd64", architecture="amd64", layer_size=8000, seed=repo_name)
    push_image(registry.url, f"{repo_name}/arm64", "arm64", architecture="arm64", variant="v8", seed=repo_name)
    members = [(f"{repo_name}/amd64:amd64", {"os": "linux", "architecture": "amd64"}),
               (f"{repo_name}/arm64:arm64", {"os": "linux", "architecture": "s390x"})]  # not what its config says
    spec = write(tmp_path / "spec.yaml", spec_data(fault_proxy.host, f"{repo_name}/app:v1", members, []))
    mounts = fault_proxy.inject("POST", r"/app/blobs/uploads/\?mount=", upload_session_instead(registry.url, fault_proxy.host, f"{repo_name}/app"),
                                forward=False)
    fault_proxy.inject("GET", rf"/{repo_name}/amd64/blobs/", drip(0.0005))  # the 8 kB layer: ~4 s; its config: ~0.1 s
    done = run("push", "from-spec", spec)
    assert done.returncode == 1 and "s390x" in done.stderr.strip().splitlines()[-1], done.stderr
    assert mounts.hits >= 1
    ended = [(m, p) for m, p in fault_proxy.seen if m in ("PUT", "DELETE") and "/blobs/uploads/" in p]
    assert len(ended) == mounts.hits, (mounts.hits, fault_proxy.seen)
    assert not [p for m, p in fault_proxy.seen if m == "PUT" and "/manifests/" in p]
    assert tag_digest(registry.url, f"{repo_name}/app", "v1") is None


def test_a_batch_with_a_failing_spec_at_one_job_ends_on_an_error_line(
    registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path
) -> None:
    """One spec's member missing, the others fine, one request slot, --debug: the run ends (no
    callback waits on its own pool), exit 1, writes nothing, its last stderr line an error line."""
    specs = batch(registry.url, fault_proxy.host, repo_name, tmp_path, 3)
    fault_proxy.inject("GET", rf"/{repo_name}/s1/manifests/arm64v8$", error(404, "MANIFEST_UNKNOWN", "manifest unknown"), forward=False)
    fault_proxy.inject("HEAD", r"/manifests/latest$", late(0.5))
    done = run("--debug", "--jobs", "1", "push", "from-spec", *specs)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr.strip().splitlines()[-6:]
    assert not [p for m, p in fault_proxy.seen if m in ("PUT", "POST", "PATCH", "DELETE")], fault_proxy.seen

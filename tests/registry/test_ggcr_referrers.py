"""Signatures, attestations and SBOMs carried through go-containerregistry's real referrers API.

ggcr answers the API with an OCI index and no Content-Type, lists `config.mediaType` as each
entry's artifactType and ignores the artifactType filter: discovery decides by the answer's
content, reads the type from the referrer manifest and filters client-side. Filtering and paging
of a conforming server stay with the imitation in test_referrers.py (ggcr does neither)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from support.artifacts import SPDX_JSON, push_attestation, push_sbom, push_signature
from support.clirun import assert_ok, digest_line, push_spec, run_cli, write_spec
from support.ggcr import GgcrRegistry
from support.images import OCI_INDEX, get_manifest, push_image
from support.registry import Registry, unique_repo_name
from support.specs import AMD64, spec


def spec_for(source_host: str, source_repo: str, target_host: str, target_repo: str) -> dict[str, object]:
    return spec(f"{target_host}/{target_repo}:v1", (f"{source_host}/{source_repo}:amd64", AMD64), type="oci")


def referrers(ggcr: GgcrRegistry, repo: str, digest: str) -> list[str]:
    answer = requests.get(f"{ggcr.url}/v2/{repo}/referrers/{digest}", timeout=10)
    assert answer.status_code == 200
    body = json.loads(answer.content)
    assert body["mediaType"] == OCI_INDEX
    return sorted(entry["digest"] for entry in body["manifests"])


@pytest.mark.parametrize("source_on", ["ggcr", "distribution"])
def test_sboms_and_attestations_are_carried_through_ggcrs_referrers_api(
    ggcr: GgcrRegistry, registry: Registry, tmp_path: Path, source_on: str
) -> None:
    source = ggcr if source_on == "ggcr" else registry
    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    image = push_image(source.url, source_repo, "amd64", oci=True, seed=f"carry-{source_on}")
    sbom = push_sbom(source.url, source_repo, image, referrer=True)
    attestation = push_attestation(source.url, source_repo, image, referrer=True)
    signature = push_signature(source.url, source_repo, image)
    result = push_spec(tmp_path, spec_for(source.host, source_repo, ggcr.host, target_repo))
    assert_ok(result)
    digest_line(result)
    assert f"carried 1 signature, 1 attestation, 1 SBOM of 1 image into {ggcr.host}/{target_repo}" in result.stderr
    assert f"sbom {sbom.digest} of sha256:{image.digest[7:19]}: referrer" in result.stderr
    assert f", {SPDX_JSON}" in result.stderr  # the manifest's own artifactType, not ggcr's listed config type
    assert referrers(ggcr, target_repo, image.digest) == sorted([sbom.digest, attestation.digest])
    for artifact in (sbom, attestation):
        assert get_manifest(ggcr.url, target_repo, artifact.digest)[0] == artifact.manifest_bytes
    assert get_manifest(ggcr.url, target_repo, f"sha256-{image.digest[7:]}.sig")[0] == signature.manifest_bytes


def test_only_the_asked_type_is_carried_though_ggcr_ignores_the_filter(ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    image = push_image(ggcr.url, source_repo, "amd64", oci=True, seed="filter")
    sbom = push_sbom(ggcr.url, source_repo, image, referrer=True)
    push_attestation(ggcr.url, source_repo, image, referrer=True)
    result = push_spec(tmp_path, spec_for(ggcr.host, source_repo, ggcr.host, target_repo), "--referrers-type", SPDX_JSON)
    assert_ok(result)
    assert f"carried 1 SBOM of 1 image into {ggcr.host}/{target_repo}" in result.stderr
    assert referrers(ggcr, target_repo, image.digest) == [sbom.digest]


def test_lock_check_sees_an_sbom_attached_later_on_ggcr(ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    image = push_image(ggcr.url, source_repo, "amd64", oci=True, seed="lock")
    signature = push_signature(ggcr.url, source_repo, image, referrer=True)
    path = write_spec(tmp_path, spec_for(ggcr.host, source_repo, ggcr.host, target_repo))
    assert_ok(run_cli("lock", str(path)))
    assert_ok(run_cli("lock", str(path), "--check"))
    late = push_sbom(ggcr.url, source_repo, image, referrer=True)
    check = run_cli("lock", str(path), "--check")
    assert check.exit_code == 1
    assert f"sbom {late.digest} of {ggcr.host}/{source_repo}@{image.digest} was added since the lock" in check.stdout
    result = run_cli("push", "from-spec", "--locked", str(path))
    assert_ok(result)
    assert "carried 1 signature of 1 image" in result.stderr
    assert referrers(ggcr, target_repo, image.digest) == [signature.digest]


def test_a_referrers_answer_that_is_no_index_is_said_without_debug(registry: Registry, tmp_path: Path) -> None:
    from support.faults import FaultProxy, serve

    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    push_image(registry.url, source_repo, "amd64", oci=True, seed="html-200")
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", r"/referrers/", serve(b"<html>welcome</html>", "text/html"))
        # A process of its own, as a user runs it: the warning goes through logging to stderr.
        run = subprocess.run([sys.executable, "-m", "manifest_spec", "--plain-http", "push", "from-spec",
                              str(write_spec(tmp_path, spec_for(proxy.host, source_repo, proxy.host, target_repo)))],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    warning = [line for line in run.stderr.splitlines() if "not an OCI index" in line]
    # One line per repository asked (the verdict stays per repository while nothing proves the registry's).
    assert sorted(w.split(":")[2].split("/", 1)[1] for w in warning) == sorted([source_repo, target_repo]), run.stderr
    assert all(w.startswith("warning: referrers of ") and "only the referrers tag schema" in w for w in warning), run.stderr


def test_the_verdict_is_per_repository_while_no_answer_proves_the_registrys(ggcr: GgcrRegistry, tmp_path: Path) -> None:
    # One repository's referrers answer is a web page (a proxy rule for it alone), the other's is ggcr's
    # real API: the second repository's SBOM is carried whichever was asked first, the first's is said.
    from support.faults import FaultProxy, serve

    hidden, shown, target_repo = unique_repo_name("hidden"), unique_repo_name("shown"), unique_repo_name("dst")
    images = {repo: push_image(ggcr.url, repo, arch, architecture=arch, oci=True, seed=f"per-repo-{repo}") for repo, arch in ((hidden, "amd64"), (shown, "arm64"))}
    # Listed by the API only (no referrers tag beside them), as a client that saw the API would leave them.
    sboms = {repo: push_sbom(ggcr.url, repo, images[repo], referrer=True, listed=False) for repo in (hidden, shown)}
    with FaultProxy(ggcr.host) as proxy:
        proxy.inject("GET", rf"^/v2/{hidden}/referrers/", serve(b"<html>sign in</html>", "text/html"))
        path = write_spec(tmp_path, spec(f"{proxy.host}/{target_repo}:v1", (f"{proxy.host}/{hidden}:amd64", AMD64),
                                         (f"{proxy.host}/{shown}:arm64", "arm64"), type="oci"))
        plan = run_cli("plan", str(path))
        result = run_cli("push", "from-spec", str(path))
    assert_ok(result)
    for output in (plan.stdout, result.stderr):
        assert f"warning: referrers of {proxy.host}/{hidden}: the referrers API answered 200 with something that is not an OCI index" in output
        assert f"/{shown}:" not in output.split("warning:", 1)[1].split("\n", 1)[0]
    assert "would carry 1 SBOM of 2 images" in plan.stdout
    assert f"carried 1 SBOM of 2 images into {proxy.host}/{target_repo}" in result.stderr
    assert referrers(ggcr, target_repo, images[shown].digest) == [sboms[shown].digest]
    assert referrers(ggcr, target_repo, images[hidden].digest) == []


def test_plan_shows_the_warning_even_when_nothing_is_found(registry: Registry, tmp_path: Path) -> None:
    from support.faults import FaultProxy, serve

    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    push_image(registry.url, source_repo, "amd64", oci=True, seed="plan-warning")
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", r"/referrers/", serve(b"<html>welcome</html>", "text/html"))
        path = write_spec(tmp_path, spec_for(proxy.host, source_repo, proxy.host, target_repo))
        text = run_cli("plan", str(path))
        as_json = json.loads(run_cli("plan", str(path), "--output", "json").stdout)
        markdown = run_cli("plan", str(path), "--output", "markdown")
    assert f"  warning: referrers of {proxy.host}/{source_repo}: the referrers API answered 200" in text.stdout, text.output
    assert "would carry" not in text.stdout
    assert any(source_repo in w for w in as_json["specs"][0]["referrers"]["warnings"])
    assert "warning: referrers of" in markdown.stdout


def test_lock_says_what_discovery_could_not_tell(registry: Registry, tmp_path: Path) -> None:
    from support.faults import FaultProxy, serve

    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("dst")
    push_image(registry.url, source_repo, "amd64", oci=True, seed="lock-warning")
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", r"/referrers/", serve(b"<html>welcome</html>", "text/html"))
        path = write_spec(tmp_path, spec_for(proxy.host, source_repo, proxy.host, target_repo))
        assert_ok(run_cli("lock", str(path)))
        # lock --check has no plan to show it in: a process of its own, the warning goes through logging to stderr.
        run = subprocess.run([sys.executable, "-m", "manifest_spec", "--plain-http", "lock", "--check", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"referrers of {proxy.host}/{source_repo}: the referrers API answered 200 with something that is not an OCI index" in run.stderr

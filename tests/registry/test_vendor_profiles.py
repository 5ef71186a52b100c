"""The registries users push to, imitated: each profile is a proxy in front of the real registry
doing what that vendor's docs or its users' issue threads show (support/profiles.py cites each one),
and the flows a user runs go through it: a push with extra tags whose members are mounted from
another repository and copied from another registry, carrying a signature and an SBOM; plan, lock,
lock --check, inspect and dry-run after it; the same push again. None may end in a traceback, a
false success, a silent drop or an upload session left open.

ACR's token answer with `access_token` only and Harbor's one-scope token service are token-service
behaviour: test_auth.py and test_registry_profiles.py run them against the token server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from support.artifacts import push_sbom, push_signature
from support.clirun import assert_clean_failure, assert_ok, digest_line, run_cli, served_document, write_spec
from support.faults import FaultProxy
from support.ggcr import GgcrRegistry
from support.images import get_blob, push_image
from support.profiles import (
    bare_manifest_heads,
    blobs_redirected_to,
    immutable_tags,
    never_mount,
    no_chunked_uploads,
    no_digest_on_manifest_put,
    rate_limited_once,
    refuse_docker_lists_naming_oci,
    refuse_large_patches,
    subject_header_without_api,
    watch_uploads,
)
from support.registry import Registry, unique_repo_name
from support.specs import AMD64, ARM64, spec
from support.tokenserver import record_authorization


@dataclass
class Front:
    """The proxy a profile put in front of the registry, and what its imitation recorded."""

    proxy: FaultProxy
    registry: Registry
    seen: dict[str, list[Any]]


def ghcr(front: Front) -> None:
    front.seen["refused patches"] = refuse_large_patches(front.proxy)


def ecr(front: Front) -> None:
    front.seen["mounts"] = never_mount(front.proxy)
    front.seen["refused tags"] = immutable_tags(front.proxy, front.registry.url)
    subject_header_without_api(front.proxy)


def docker_hub(front: Front) -> None:
    cdn = FaultProxy(front.registry.host).start()
    front.seen["cdn"] = [cdn]
    front.seen["cdn authorization"] = record_authorization(cdn)
    front.seen["redirected"] = blobs_redirected_to(front.proxy, cdn)
    rate_limited_once(front.proxy)


def quay(front: Front) -> None:
    front.seen["refused lists"] = refuse_docker_lists_naming_oci(front.proxy)


def nexus(front: Front) -> None:
    no_digest_on_manifest_put(front.proxy)
    front.seen["refused lists"] = refuse_docker_lists_naming_oci(front.proxy)


def artifactory(front: Front) -> None:
    bare_manifest_heads(front.proxy)


def gar(front: Front) -> None:
    front.seen["ranged patches"] = no_chunked_uploads(front.proxy)


def harbor(front: Front) -> None:
    front.seen["mounts"] = never_mount(front.proxy)


PROFILES: dict[str, Callable[[Front], None]] = {
    "ghcr": ghcr, "ecr": ecr, "docker-hub": docker_hub, "quay": quay, "nexus": nexus, "artifactory": artifactory, "harbor": harbor, "gar": gar,
}


@pytest.fixture(params=sorted(PROFILES))
def front(request: pytest.FixtureRequest, registry: Registry, fault_proxy: FaultProxy) -> Iterator[Front]:
    front = Front(fault_proxy, registry, {})
    front.seen["ledger"] = [watch_uploads(fault_proxy)]
    PROFILES[request.param](front)
    try:
        yield front
    finally:
        for cdn in front.seen.get("cdn", []):
            cdn.stop()


def test_a_users_flows_through_the_profile(front: Front, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    registry, host = front.registry, front.proxy.host
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    mounted = push_image(registry.url, source, "amd64", oci=True, seed="profile-amd64")
    signature = push_signature(registry.url, source, mounted)
    sbom = push_sbom(registry.url, source, mounted, referrer=True)
    elsewhere_repo = unique_repo_name("far")
    copied = push_image(ggcr.url, elsewhere_repo, "arm64", architecture="arm64", oci=True, layer_size=5 * 1024 * 1024, seed="profile-arm64")
    path = write_spec(tmp_path, spec(f"{host}/{target}:v1", (f"{host}/{source}:amd64", AMD64),
                                     (f"{ggcr.host}/{elsewhere_repo}:arm64", ARM64), tags=["latest"], type="oci"))

    dry = run_cli("push", "from-spec", str(path), "--dry-run")
    assert_ok(dry)
    assert "would carry 1 signature, 1 SBOM of 2 images" in dry.stderr
    pushed = run_cli("push", "from-spec", str(path))
    assert_ok(pushed)
    digest, _ = digest_line(pushed)
    assert f"carried 1 signature, 1 SBOM of 2 images into {host}/{target}" in pushed.stderr
    for tag in ("v1", "latest"):
        assert [m["digest"] for m in served_document(registry.url, target, tag)["manifests"]] == [mounted.digest, copied.digest]
    assert get_blob(registry.url, target, copied.layer_digests[0]) == get_blob(ggcr.url, elsewhere_repo, copied.layer_digests[0])
    assert served_document(registry.url, target, signature.digest)["layers"] == signature.document["layers"]
    assert served_document(registry.url, target, sbom.digest)["subject"]["digest"] == mounted.digest

    plan = run_cli("plan", str(path), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # nothing left to do: a plan that saw through the profile
    assert_ok(run_cli("lock", str(path)))
    assert_ok(run_cli("lock", str(path), "--check"))
    inspected = run_cli("inspect", f"{host}/{target}:v1")
    assert_ok(inspected)
    assert "linux/amd64" in inspected.stdout and "linux/arm64" in inspected.stdout
    again = run_cli("push", "from-spec", str(path))
    assert_ok(again)
    assert digest_line(again)[0] == digest
    assert "unchanged:" in again.stderr and "Traceback" not in again.output + pushed.output

    ledger = front.seen["ledger"][0]
    assert not ledger.left_open, ledger.left_open
    assert all("/blobs/uploads/" in p for p in ledger.deleted), ledger.deleted
    _profile_checks(front)


def _profile_checks(front: Front) -> None:
    """What each imitation must have seen: the behaviour was met, not bypassed."""
    seen = front.seen
    assert seen.get("refused patches", []) == []  # GHCR: no chunk over 4 MiB sent (the 5 MiB layer went in two)
    assert seen.get("refused tags", []) == []  # ECR immutable: the unchanged push wrote no tag
    if "mounts" in seen:  # ECR/Harbor: mounts asked, answered with a session, streamed into it
        assert seen["mounts"]
    if "redirected" in seen:  # Docker Hub: blobs read from the CDN host, which got no credentials
        assert seen["redirected"] and seen["cdn"][0].requests("GET")
        assert all(not authorization for _, _, authorization in seen["cdn authorization"])
    assert seen.get("refused lists", []) == []
    if "ranged patches" in seen:  # GAR: each blob's first chunk refused, then one streamed PATCH took it
        assert seen["ranged patches"]


@pytest.mark.parametrize("profile", ["quay", "nexus"])
def test_a_docker_list_naming_oci_manifests_is_refused_before_any_write(registry: Registry, tmp_path: Path, profile: str) -> None:
    source, target = unique_repo_name("src"), unique_repo_name("dst")
    push_image(registry.url, source, "amd64", oci=True, seed=f"{profile}-oci-member")
    with FaultProxy(registry.host) as proxy:
        front = Front(proxy, registry, {})
        PROFILES[profile](front)
        the_spec = spec(f"{proxy.host}/{target}:v1", (f"{proxy.host}/{source}:amd64", AMD64), type="docker")
        assert_clean_failure(run_cli("push", "from-spec", str(write_spec(tmp_path, the_spec))), "--type oci")
        writes = proxy.requests("PUT") + proxy.requests("POST")
    assert writes == [] and front.seen["refused lists"] == []
